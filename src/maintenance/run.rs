//! A run's context and its position: where maintenance stands between runs (`gc/state`),
//! the phases a run goes through within its budget of storage calls, and what it reports.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::graph::{RepoGraph, Roots};
use super::{Counts, Maintenance, Phase, Report, LEASE_SECONDS};
use crate::error::Result;
use crate::oci::RepositoryName;
use crate::records::gc::GcRecord;
use crate::records::walk::Listing;
use crate::records::{Environment, Records};
use crate::storage::{
    ListPage, MultipartStore, ObjectInfo, ObjectStore, PutMode, SessionStore, StorageError,
    StorageResult, LIST_PAGE_MAX,
};

/// The report names at most this many of the things a run deleted.
const REPORTED_DELETIONS: usize = 200;

/// Where maintenance stands between runs.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) cycle: u64,
    pub(super) phase: Phase,
    /// The last key dealt with in the phase's walk.
    pub(super) after: Option<String>,
    /// In the repositories phase: how far the manifests of the repository after `after` have
    /// been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) manifests_after: Option<String>,
    /// Links deleted since which a manifest naming them may have been pushed, by repository:
    /// their restoration comes before any other work.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) relink: BTreeMap<String, Relink>,
}

/// Blobs whose links to one repository were deleted, and how far the repository's manifests
/// have been read since, looking for one that names them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct Relink {
    pub(super) digests: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) after: Option<String>,
}

/// What reading one of the registry's records found. One that does not decode is told
/// apart from one that is gone: maintenance deletes nothing on the strength of either.
pub(super) enum Found<T> {
    Gone,
    Undecodable,
    Record(T),
}

impl<T> Found<T> {
    pub(super) fn of(read: StorageResult<Option<T>>) -> Result<Found<T>> {
        Ok(match read {
            Ok(Some(record)) => Found::Record(record),
            Ok(None) => Found::Gone,
            Err(StorageError::Corrupt(_)) => Found::Undecodable,
            Err(error) => return Err(error.into()),
        })
    }
}

impl<S, K, E> Maintenance<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    async fn save_state(&self, dry_run: bool, state: &State) -> Result<()> {
        self.records
            .gc(dry_run)
            .write(GcRecord::State, state, PutMode::Overwrite)
            .await?;
        Ok(())
    }

    /// The run proper, under the lease taken at `now_ms` with `operations` storage calls.
    pub(super) async fn maintain_alone(
        &self,
        dry_run: bool,
        now_ms: u64,
        operations: u32,
    ) -> Result<Report> {
        let mut state: State = self
            .records
            .gc(dry_run)
            .read(GcRecord::State)
            .await?
            .unwrap_or_default();
        let run = Run {
            maintenance: self,
            dry_run,
            now_ms,
            grace_ms: self.config.grace_seconds * 1000,
            operations: Cell::new(operations + 1),
            report: RefCell::new(Report {
                dry_run,
                cycle: state.cycle,
                ..Report::default()
            }),
            graphs: RefCell::new(BTreeMap::new()),
            referenced: RefCell::new(BTreeMap::new()),
            refreshed: RefCell::new(BTreeSet::new()),
        };
        let started = state.clone();
        let mut cycle_complete = false;
        let worked: Result<()> = async {
            while !run.exhausted() {
                // Links to restore come first: until then, a manifest may lack them.
                if !state.relink.is_empty() {
                    run.relink(&mut state.relink).await?;
                    continue;
                }
                if cycle_complete {
                    break;
                }
                let finished = match state.phase {
                    Phase::Uploads => run.uploads(&mut state.after).await?,
                    Phase::Repositories => {
                        run.repositories(&mut state.after, &mut state.manifests_after)
                            .await?
                    }
                    Phase::Blobs => run.blobs(&mut state.after, &mut state.relink).await?,
                };
                if finished {
                    state.after = None;
                    state.phase = match state.phase {
                        Phase::Uploads => Phase::Repositories,
                        Phase::Repositories => Phase::Blobs,
                        Phase::Blobs => {
                            state.cycle += 1;
                            cycle_complete = true;
                            Phase::Uploads
                        }
                    };
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = worked {
            // The work since the position saved last is done again, but the links deleted
            // meanwhile are restored first, read from the start of their repositories.
            let mut retry = started;
            for (name, pending) in state.relink {
                let entry = retry.relink.entry(name).or_default();
                entry.digests.extend(pending.digests);
                entry.after = None;
            }
            self.save_state(dry_run, &retry).await?;
            return Err(error);
        }
        self.save_state(dry_run, &state).await?;
        let mut report = run.report.into_inner();
        report.phase = state.phase;
        report.cycle_complete = cycle_complete;
        report.operations = run.operations.get() + 1;
        let (examined, deleted) = (&report.examined, &report.deleted);
        report.kept = Counts {
            uploads: examined.uploads.saturating_sub(deleted.uploads),
            tags: examined.tags.saturating_sub(deleted.tags),
            manifests: examined.manifests.saturating_sub(deleted.manifests),
            links: examined.links.saturating_sub(deleted.links),
            blobs: examined.blobs.saturating_sub(deleted.blobs),
        };
        Ok(report)
    }
}

/// One run's context: counts the storage calls it makes, and caches repository graphs.
pub(super) struct Run<'r, S, K, E> {
    pub(super) maintenance: &'r Maintenance<'r, S, K, E>,
    pub(super) dry_run: bool,
    pub(super) now_ms: u64,
    grace_ms: u64,
    operations: Cell<u32>,
    pub(super) report: RefCell<Report>,
    pub(super) graphs: RefCell<BTreeMap<RepositoryName, RepoGraph>>,
    /// The blobs each cached graph refers to.
    pub(super) referenced: RefCell<BTreeMap<RepositoryName, BTreeSet<String>>>,
    /// Repositories whose graph already has every manifest pushed before this run's blobs phase.
    pub(super) refreshed: RefCell<BTreeSet<RepositoryName>>,
}

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(super) fn records(&self) -> &Records<S, K, E> {
        self.maintenance.records
    }

    /// The bucket, for objects a listing named.
    pub(super) fn store(&self) -> &S {
        &self.maintenance.records.store
    }

    pub(super) fn spend(&self, operations: u32) {
        self.operations.set(self.operations.get() + operations);
    }

    pub(super) fn exhausted(&self) -> bool {
        self.operations.get() >= self.maintenance.config.step_operations
            || self.records().env.now_ms() >= self.now_ms + LEASE_SECONDS * 1000 / 2
    }

    pub(super) fn roots<'t>(
        &self,
        tagged: &'t BTreeSet<String>,
        untagged_max_age_ms: Option<u64>,
    ) -> Roots<'t> {
        Roots {
            tagged,
            now_ms: self.now_ms,
            grace_ms: self.grace_ms,
            untagged_max_age_ms,
        }
    }

    pub(super) fn older_than_grace(&self, uploaded_ms: u64) -> bool {
        self.now_ms.saturating_sub(uploaded_ms) >= self.grace_ms
    }

    pub(super) fn deleted(&self, what: String, count: impl FnOnce(&mut Counts), bytes: u64) {
        let mut report = self.report.borrow_mut();
        count(&mut report.deleted);
        report.bytes_reclaimed += bytes;
        if report.deletions.len() < REPORTED_DELETIONS {
            report.deletions.push(what);
        }
    }

    /// Deletes objects a listing or a record named (not in a dry run).
    pub(super) async fn delete(&self, keys: &[String]) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        for batch in keys.chunks(LIST_PAGE_MAX as usize) {
            self.spend(1);
            self.store().delete(batch).await?;
        }
        Ok(())
    }

    pub(super) async fn list_page(
        &self,
        listing: Listing<'_>,
        after: Option<String>,
        with_metadata: bool,
    ) -> Result<ListPage> {
        self.spend(1);
        Ok(self
            .records()
            .list_page(listing, after, with_metadata)
            .await?)
    }

    pub(super) async fn list_all(
        &self,
        listing: Listing<'_>,
        with_metadata: bool,
    ) -> Result<Vec<ObjectInfo>> {
        let mut objects: Vec<ObjectInfo> = Vec::new();
        loop {
            let after = objects.last().map(|o| o.key.clone());
            let page = self.list_page(listing, after, with_metadata).await?;
            objects.extend(page.objects);
            if !page.truncated {
                return Ok(objects);
            }
        }
    }

    /// An object a listing named.
    pub(super) async fn get_bytes(&self, key: &str) -> Result<Option<(ObjectInfo, Vec<u8>)>> {
        self.spend(1);
        Ok(self.store().get_bytes(key).await?)
    }
}
