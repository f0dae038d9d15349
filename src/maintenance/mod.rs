//! Zero-ops maintenance, run by the Cron Trigger (and on demand by an administrator): expired
//! uploads, retention policies and garbage collection, in bounded steps.
//!
//! A cycle has three phases, each a walk over one key prefix in order, and the position is
//! saved (`gc/state`) after every run, so that a registry of any size is maintained over as
//! many runs as it takes, each within the Workers limits (`step_operations` storage calls):
//!
//! 1. `uploads/`: an upload whose newest progress is older than the upload TTL can no longer
//!    be continued (its session has ended); its multipart upload is aborted and its progress
//!    and completed segments deleted.
//! 2. `catalog/`: per repository, the manifests pushed since the last cycle are read (what a
//!    manifest refers to never changes, so it is kept in `gc/repos/<name>`), the retention
//!    rule picks the tags to delete, and manifests nothing keeps any more are deleted
//!    ([`graph::RepoGraph::live`]).
//! 3. `blobs/`: each blob's record is followed by its links, one per repository; a link that
//!    no manifest of its repository refers to is deleted, and a blob without links loses its
//!    record and then its bytes.
//!
//! A repository's manifests are listed page by page, and the position within them is saved
//! too (`manifests_after`), so that no repository is too large to be maintained.
//!
//! Only one run works at a time: it holds a lease (`gc/lease`, written create-only, taken
//! over once expired with a compare-and-swap); a run that finds the lease held does nothing.
//! Dry runs hold a lease of their own, and keep their own position and graphs.
//!
//! Nothing younger than the grace period is deleted, so that a layer pushed before its
//! manifest, or a child manifest before its index, survives. Pushes that race a deletion are
//! settled by the order of writes and checks on both sides; the README's "Maintenance" section
//! gives the argument.

pub mod graph;
mod public_blobs;
pub mod retention;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::auth::Policy;
use crate::error::Result;
use crate::oci::{manifest, Digest, RepositoryName, Tag};
use crate::records::layout::{self, BlobKey};
use crate::records::{tag_target, BlobRecord, Environment, Records};
use crate::storage::{
    ListOptions, MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions, SessionStore,
    LIST_PAGE_MAX,
};
use crate::upload::UploadState;
use graph::{Node, RepoGraph, Roots};
use retention::{subject_of_tag, Retention};

pub const DEFAULT_GRACE_SECONDS: u64 = 60 * 60;
/// Storage calls per run: well under the 1,000 subrequests of a paid Workers invocation.
pub const DEFAULT_STEP_OPERATIONS: u32 = 500;
/// Fewer would leave a run no room to get anything done after reading its position.
pub const MIN_STEP_OPERATIONS: u32 = 20;
/// The report names at most this many of the things a run deleted.
const REPORTED_DELETIONS: usize = 200;
/// How long a run's lease lasts: as long as a Cron Trigger's invocation may run. A run takes
/// up no new work after half of it, so that it ends well before another may take over.
pub const LEASE_SECONDS: u64 = 15 * 60;

#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Nothing younger is deleted.
    pub grace_seconds: u64,
    pub retention: Retention,
    /// A run stops at the first unit of work after this many storage calls.
    pub step_operations: u32,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            grace_seconds: DEFAULT_GRACE_SECONDS,
            retention: Retention::default(),
            step_operations: DEFAULT_STEP_OPERATIONS,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Uploads,
    Repositories,
    Blobs,
}

/// Where maintenance stands between runs.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct State {
    cycle: u64,
    phase: Phase,
    /// The last key dealt with in the phase's walk.
    after: Option<String>,
    /// In the repositories phase: how far the manifests of the repository after `after` have
    /// been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifests_after: Option<String>,
    /// Links deleted since which a manifest naming them may have been pushed, by repository:
    /// their restoration comes before any other work.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    relink: BTreeMap<String, Relink>,
}

/// Blobs whose links to one repository were deleted, and how far the repository's manifests
/// have been read since, looking for one that names them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Relink {
    digests: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// `gc/lease`: the run holding it works alone until `expires_ms`.
#[derive(Serialize, Deserialize)]
struct Lease {
    expires_ms: u64,
}

enum LeaseOutcome {
    /// The lease is this run's, as the object with this etag; taking it cost `operations`.
    Taken { etag: String, operations: u32 },
    /// Another run holds it, until about this time.
    Held { until_ms: u64 },
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub uploads: u64,
    pub tags: u64,
    pub manifests: u64,
    pub links: u64,
    pub blobs: u64,
}

/// What one run did (or, in a dry run, would have done): logged after every run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub cycle: u64,
    /// The phase the next run starts in.
    pub phase: Phase,
    pub cycle_complete: bool,
    pub operations: u32,
    pub examined: Counts,
    pub deleted: Counts,
    pub kept: Counts,
    /// Bytes of blobs, manifests and upload parts deleted.
    pub bytes_reclaimed: u64,
    /// What was deleted, up to 200 entries: `upload <id>`, `tag <repo>:<tag>`,
    /// `manifest <repo>@<digest>`, `link <repo>@<digest>`, `blob <digest>`.
    pub deletions: Vec<String>,
    /// What could not be cleaned up, and why.
    pub errors: Vec<String>,
    /// Set when another run held the lease, until about this time (ms): this run did nothing.
    pub lease_held_until_ms: Option<u64>,
}

/// Maintenance of one deployment's records: what a run needs besides its own settings.
pub struct Maintenance<'a, S, K, E> {
    pub records: &'a Records<S, K, E>,
    pub config: &'a MaintenanceConfig,
    /// Uploads older than this can no longer be continued: their leftovers go.
    pub upload_ttl_seconds: u64,
    /// Which repositories are public: their blobs are copied to the public-blobs bucket.
    pub policy: &'a Policy,
}

impl<S, K, E> Maintenance<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// One maintenance run: as much of the current cycle as `step_operations` allows, unless
    /// another run holds the lease. A dry run deletes nothing and keeps a position (and a
    /// lease) of its own.
    pub async fn run(&self, dry_run: bool) -> Result<Report> {
        let now_ms = self.records.env.now_ms();
        let (etag, operations) = match self.take_lease(dry_run, now_ms).await? {
            LeaseOutcome::Taken { etag, operations } => (etag, operations),
            LeaseOutcome::Held { until_ms } => {
                return Ok(Report {
                    dry_run,
                    lease_held_until_ms: Some(until_ms),
                    ..Report::default()
                })
            }
        };
        let outcome = self.maintain_alone(dry_run, now_ms, operations).await;
        // Given back even after a failure, so that the next run need not wait for the expiry.
        let released = self.release_lease(dry_run, etag).await;
        let mut report = outcome?;
        released?;
        report.operations += 1;
        Ok(report)
    }

    /// Creates the lease, or takes it over if it has expired.
    async fn take_lease(&self, dry_run: bool, now_ms: u64) -> Result<LeaseOutcome> {
        let key = layout::gc_lease(dry_run);
        let expires_ms = now_ms + LEASE_SECONDS * 1000;
        let lease = serde_json::to_vec(&Lease { expires_ms }).expect("lease serialises");
        let put = |mode| PutOptions {
            mode,
            ..PutOptions::default()
        };
        if let Some(info) = self
            .records
            .store
            .put(key, lease.clone(), put(PutMode::CreateOnly))
            .await?
        {
            return Ok(LeaseOutcome::Taken {
                etag: info.etag,
                operations: 1,
            });
        }
        // Leases are given back, never deleted: one that vanished was taken a moment ago.
        let Some((info, bytes)) = self.records.store.get_bytes(key).await? else {
            return Ok(LeaseOutcome::Held {
                until_ms: expires_ms,
            });
        };
        // A lease that does not parse protects nothing.
        let held_until = serde_json::from_slice::<Lease>(&bytes).map_or(0, |l| l.expires_ms);
        if held_until > now_ms {
            return Ok(LeaseOutcome::Held {
                until_ms: held_until,
            });
        }
        // Of two runs that find it expired, the compare-and-swap lets one take it.
        Ok(
            match self
                .records
                .store
                .put(key, lease, put(PutMode::IfEtag(info.etag)))
                .await?
            {
                Some(info) => LeaseOutcome::Taken {
                    etag: info.etag,
                    operations: 3,
                },
                None => LeaseOutcome::Held {
                    until_ms: expires_ms,
                },
            },
        )
    }

    /// Marks the lease expired, unless another run has taken it over since (this run outlived
    /// it): a compare-and-swap, as R2 deletes are unconditional.
    async fn release_lease(&self, dry_run: bool, etag: String) -> Result<()> {
        let expired = serde_json::to_vec(&Lease { expires_ms: 0 }).expect("lease serialises");
        let options = PutOptions {
            mode: PutMode::IfEtag(etag),
            ..PutOptions::default()
        };
        self.records
            .store
            .put(layout::gc_lease(dry_run), expired, options)
            .await?;
        Ok(())
    }

    async fn save_state(&self, key: &str, state: &State) -> Result<()> {
        let json = serde_json::to_vec(state).expect("maintenance state serialises");
        self.records
            .store
            .put(key, json, PutOptions::default())
            .await?;
        Ok(())
    }

    /// The run proper, under the lease taken at `now_ms` with `operations` storage calls.
    async fn maintain_alone(&self, dry_run: bool, now_ms: u64, operations: u32) -> Result<Report> {
        let state_key = layout::gc_state(dry_run);
        let mut state: State = self
            .records
            .read_record(state_key)
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
            self.save_state(state_key, &retry).await?;
            return Err(error);
        }
        self.save_state(state_key, &state).await?;
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
struct Run<'r, S, K, E> {
    maintenance: &'r Maintenance<'r, S, K, E>,
    dry_run: bool,
    now_ms: u64,
    grace_ms: u64,
    operations: Cell<u32>,
    report: RefCell<Report>,
    graphs: RefCell<BTreeMap<RepositoryName, RepoGraph>>,
    /// The blobs each cached graph refers to.
    referenced: RefCell<BTreeMap<RepositoryName, BTreeSet<String>>>,
    /// Repositories whose graph already has every manifest pushed before this run's blobs phase.
    refreshed: RefCell<BTreeSet<RepositoryName>>,
}

/// What an ended upload left behind.
enum Leftovers {
    /// Nothing: the upload discarded its data itself, or its blob record names it.
    None,
    /// What the cancel or the seal did not finish: discarded as an abandoned upload's.
    Unsealed,
    /// A copy of a blob that another upload stored first.
    Surplus,
}

/// Consecutive keys under `blobs/` of one digest: its record, then its links.
struct BlobGroup {
    digest: Digest,
    record: Option<ObjectInfo>,
    links: Vec<(RepositoryName, ObjectInfo)>,
}

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    fn store(&self) -> &S {
        &self.maintenance.records.store
    }

    fn spend(&self, operations: u32) {
        self.operations.set(self.operations.get() + operations);
    }

    fn exhausted(&self) -> bool {
        self.operations.get() >= self.maintenance.config.step_operations
            || self.maintenance.records.env.now_ms() >= self.now_ms + LEASE_SECONDS * 1000 / 2
    }

    fn roots<'t>(
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

    fn older_than_grace(&self, uploaded_ms: u64) -> bool {
        self.now_ms.saturating_sub(uploaded_ms) >= self.grace_ms
    }

    fn deleted(&self, what: String, count: impl FnOnce(&mut Counts), bytes: u64) {
        let mut report = self.report.borrow_mut();
        count(&mut report.deleted);
        report.bytes_reclaimed += bytes;
        if report.deletions.len() < REPORTED_DELETIONS {
            report.deletions.push(what);
        }
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        for batch in keys.chunks(LIST_PAGE_MAX as usize) {
            self.spend(1);
            self.store().delete(batch).await?;
        }
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<String>,
        with_metadata: bool,
    ) -> Result<crate::storage::ListPage> {
        self.spend(1);
        let options = ListOptions {
            prefix: prefix.to_string(),
            start_after: after,
            limit: LIST_PAGE_MAX,
            with_metadata,
        };
        Ok(self.store().list(&options).await?)
    }

    async fn list_all(&self, prefix: &str, with_metadata: bool) -> Result<Vec<ObjectInfo>> {
        let mut objects: Vec<ObjectInfo> = Vec::new();
        loop {
            let after = objects.last().map(|o| o.key.clone());
            let page = self.list_page(prefix, after, with_metadata).await?;
            objects.extend(page.objects);
            if !page.truncated {
                return Ok(objects);
            }
        }
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<(ObjectInfo, Vec<u8>)>> {
        self.spend(1);
        Ok(self.store().get_bytes(key).await?)
    }

    // --- 1. uploads -----------------------------------------------------------------------

    /// One page of `uploads/`; `true` once the walk is over.
    async fn uploads(&self, after: &mut Option<String>) -> Result<bool> {
        let page = self
            .list_page(layout::UPLOADS_PREFIX, after.clone(), false)
            .await?;
        let mut ids: Vec<(String, Vec<ObjectInfo>)> = Vec::new();
        for object in page.objects {
            let Some(id) = layout::upload_id(&object.key).map(str::to_string) else {
                continue;
            };
            match ids.last_mut() {
                Some((last, steps)) if *last == id => steps.push(object),
                _ => ids.push((id, vec![object])),
            }
        }
        let count = ids.len();
        for (index, (id, steps)) in ids.into_iter().enumerate() {
            if self.exhausted() {
                return Ok(false);
            }
            // The last upload of a full page may go on in the next one.
            let steps = if page.truncated && index + 1 == count {
                self.list_all(&layout::upload_prefix(&id), false).await?
            } else {
                steps
            };
            self.expire_upload(&id, &steps).await?;
            // Past every step of this upload: step numbers are digits, '~' sorts after them.
            *after = Some(format!("{}~", layout::upload_prefix(&id)));
        }
        Ok(!page.truncated)
    }

    async fn expire_upload(&self, id: &str, steps: &[ObjectInfo]) -> Result<()> {
        self.report.borrow_mut().examined.uploads += 1;
        let ttl_ms = self.maintenance.upload_ttl_seconds * 1000;
        let newest = steps.iter().map(|s| s.uploaded_ms).max().unwrap_or(0);
        if self.now_ms.saturating_sub(newest) < ttl_ms {
            return Ok(());
        }
        let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
        // Step keys are zero-padded: the last one is the newest progress.
        let mut offset = 0;
        if let Some(last) = steps.last() {
            let step = layout::upload_step_number(id, &last.key).unwrap_or(0);
            // Progress that does not decode names nothing to discard; its steps still go.
            let state = self
                .get_bytes(&last.key)
                .await?
                .and_then(|(_, bytes)| UploadState::decode(step, &bytes).ok());
            if let Some(state) = state {
                if state.is_ended() {
                    // A finished or cancelled upload's end mark: reported only if the end
                    // failed and left data behind.
                    match self.end_leftovers(&state).await? {
                        Leftovers::Unsealed => {}
                        Leftovers::None => return self.delete(&keys).await,
                        Leftovers::Surplus => {
                            if !self.dry_run {
                                self.spend(1);
                                state.discard_data(self.store()).await?;
                            }
                            return self.delete(&keys).await;
                        }
                    }
                }
                offset = state.offset;
                if !self.dry_run {
                    self.spend(2);
                    if let Err(error) = state.discard(self.store()).await {
                        // Most likely completed or aborted already; R2 drops incomplete
                        // multipart uploads after 7 days in any case.
                        self.report
                            .borrow_mut()
                            .errors
                            .push(format!("upload {id}: {error:?}"));
                    }
                }
            }
        }
        self.delete(&keys).await?;
        self.deleted(format!("upload {id}"), |c| c.uploads += 1, offset);
        Ok(())
    }

    /// What an ended upload may have left behind, from its end mark and, for a finish, the
    /// blob record of the digest it closed with, which names the data once the blob is stored.
    async fn end_leftovers(&self, end: &UploadState) -> Result<Leftovers> {
        let Some(data_key) = end.data_key() else {
            return Ok(Leftovers::None);
        };
        let Some(digest) = end.closing() else {
            return Ok(Leftovers::Unsealed);
        };
        let Some((_, bytes)) = self.get_bytes(&layout::blob(digest)).await? else {
            return Ok(Leftovers::Unsealed);
        };
        // A record that does not parse is left alone: never discard what may be a blob.
        let Ok(record) = serde_json::from_slice::<BlobRecord>(&bytes) else {
            return Ok(Leftovers::None);
        };
        Ok(if record.key == data_key {
            Leftovers::None
        } else {
            Leftovers::Surplus
        })
    }

    // --- 2. repositories: retention, and the manifests' references --------------------------

    /// Repositories from the catalog, one at a time; `true` once the walk is over.
    /// `manifests_after` is the position within the repository at hand.
    async fn repositories(
        &self,
        after: &mut Option<String>,
        manifests_after: &mut Option<String>,
    ) -> Result<bool> {
        let page = self
            .list_page(layout::CATALOG_PREFIX, after.clone(), false)
            .await?;
        for entry in &page.objects {
            if self.exhausted() {
                return Ok(false);
            }
            let raw = &entry.key[layout::CATALOG_PREFIX.len()..];
            if let Some(name) = layout::stored_name(raw) {
                if !self.repository(&name, manifests_after).await? {
                    // Out of operations half-way: this repository goes on next run.
                    return Ok(false);
                }
            }
            *after = Some(entry.key.clone());
            *manifests_after = None;
        }
        Ok(!page.truncated)
    }

    /// Brings the repository's graph up to date (reading on from `manifests_after`), applies
    /// retention, and deletes the manifests nothing keeps. `false` when the run ran out of
    /// operations first.
    async fn repository(
        &self,
        name: &RepositoryName,
        manifests_after: &mut Option<String>,
    ) -> Result<bool> {
        let mut graph = self.load_graph(name).await?;
        if !self
            .walk_manifests(name, &mut graph, manifests_after, |_, _| {})
            .await?
        {
            self.save_graph(name, &graph).await?;
            return Ok(false);
        }
        self.report.borrow_mut().examined.manifests += graph.manifests.len() as u64;

        let tags = self.list_all(&layout::tags_prefix(name), true).await?;
        let prefix_len = layout::tags_prefix(name).len();
        // (tag, digest it points at, pushed at, etag)
        let tags: Vec<(String, String, u64, String)> = tags
            .iter()
            .filter_map(|info| {
                let digest = tag_target(info)?;
                Some((
                    info.key[prefix_len..].to_string(),
                    digest.clone(),
                    info.uploaded_ms,
                    info.etag.clone(),
                ))
            })
            .collect();
        self.report.borrow_mut().examined.tags += tags.len() as u64;

        let rule = self.maintenance.config.retention.rule_for(name.as_str());
        let pushed: Vec<(String, u64)> =
            tags.iter().map(|(t, _, at, _)| (t.clone(), *at)).collect();
        let mut expired: BTreeSet<String> = rule
            .map(|rule| rule.expired_tags(&pushed, self.now_ms))
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut tagged: BTreeSet<String> = tags
            .iter()
            .filter(|(tag, ..)| !expired.contains(tag) && subject_of_tag(tag).is_none())
            .map(|(_, digest, ..)| digest.clone())
            .collect();
        let untagged_max_age_ms = rule.and_then(|rule| rule.untagged_max_age_ms());
        let live = graph.live(&self.roots(&tagged, untagged_max_age_ms));
        // Tags such as sha256-<hex>.sig stay while the manifest they name does.
        for (tag, digest, pushed_ms, _) in &tags {
            if let Some(subject) = subject_of_tag(tag) {
                if live.contains(&subject.to_string()) || !self.older_than_grace(*pushed_ms) {
                    tagged.insert(digest.clone());
                } else {
                    expired.insert(tag.clone());
                }
            }
        }
        let live = graph.live(&self.roots(&tagged, untagged_max_age_ms));

        for (tag, _, _, etag) in tags.iter().filter(|(tag, ..)| expired.contains(tag)) {
            let Ok(parsed) = Tag::parse(tag) else {
                continue;
            };
            // A tag pushed again since it was listed is not the one retention judged.
            if !self.dry_run {
                self.spend(1);
                if !self
                    .maintenance
                    .records
                    .untag_if_unchanged(name, &parsed, etag.clone())
                    .await?
                {
                    continue;
                }
            }
            self.deleted(format!("tag {name}:{tag}"), |c| c.tags += 1, 0);
        }
        let dead: BTreeSet<String> = graph
            .manifests
            .keys()
            .filter(|digest| !live.contains(*digest))
            .cloned()
            .collect();
        // Indexes go before their children, and manifests that a tag pushed meanwhile names
        // come back before their children are judged (see `delete_manifest`).
        let parents = graph.parents();
        let mut gone = BTreeSet::new();
        for level in graph.parents_first(&dead) {
            let mut deleted = BTreeSet::new();
            for digest in level {
                let parents = parents.get(&digest).map(Vec::as_slice).unwrap_or_default();
                // A parent still there keeps it, whatever it was judged.
                if parents.iter().any(|p| !gone.contains(p)) {
                    continue;
                }
                if self.delete_manifest(name, &graph, &digest, parents).await? {
                    if !self.dry_run {
                        graph.manifests.remove(&digest);
                    }
                    deleted.insert(digest);
                }
            }
            if !deleted.is_empty() && !self.dry_run {
                self.restore_tagged(name, &deleted).await?;
            }
            gone.extend(deleted);
        }
        self.save_graph(name, &graph).await?;
        Ok(true)
    }

    /// Lists the repository's manifests page by page after `after`, which it moves on,
    /// reading those not yet in the graph and dropping from it those no longer listed;
    /// `visit` sees every manifest listed, with what it refers to. `false` if the run ran out
    /// of operations before the listing's end.
    async fn walk_manifests(
        &self,
        name: &RepositoryName,
        graph: &mut RepoGraph,
        after: &mut Option<String>,
        mut visit: impl FnMut(&str, &Node),
    ) -> Result<bool> {
        let prefix = layout::manifests_prefix(name);
        loop {
            if self.exhausted() {
                return Ok(false);
            }
            let page = self.list_page(&prefix, after.clone(), false).await?;
            let listed: BTreeSet<String> = page
                .objects
                .iter()
                .filter_map(|info| Some(layout::manifest_digest(name, &info.key)?.to_string()))
                .collect();
            // The page covers the keys after `after` up to its last (to the end if it is the
            // last page): what the graph has there and the listing does not was deleted.
            let upper = page
                .objects
                .last()
                .filter(|_| page.truncated)
                .map(|o| o.key.clone());
            graph.manifests.retain(|digest, _| {
                let Ok(parsed) = digest.parse::<Digest>() else {
                    return false;
                };
                let key = layout::manifest(name, &parsed);
                let in_page = after.as_ref().is_none_or(|a| &key > a)
                    && upper.as_ref().is_none_or(|u| &key <= u);
                !in_page || listed.contains(digest)
            });
            for info in &page.objects {
                let Some(digest) = layout::manifest_digest(name, &info.key).map(|d| d.to_string())
                else {
                    *after = Some(info.key.clone());
                    continue;
                };
                if let Some(node) = graph.manifests.get_mut(&digest) {
                    // A manifest pushed again is young again.
                    node.uploaded_ms = info.uploaded_ms;
                } else {
                    if self.exhausted() {
                        return Ok(false);
                    }
                    // Gone since it was listed: nothing to know about it.
                    if let Some((info, bytes)) = self.get_bytes(&info.key).await? {
                        // A stored manifest was valid when pushed; one that no longer parses
                        // refers to nothing.
                        let node = manifest::parse(&bytes, info.content_type.as_deref())
                            .map(|m| Node::new(&m, info.uploaded_ms))
                            .unwrap_or(Node {
                                uploaded_ms: info.uploaded_ms,
                                ..Node::default()
                            });
                        graph.manifests.insert(digest.clone(), node);
                    }
                }
                if let Some(node) = graph.manifests.get(&digest) {
                    visit(&digest, node);
                }
                *after = Some(info.key.clone());
            }
            if !page.truncated {
                return Ok(true);
            }
            *after = upper;
        }
    }

    /// Deletes a manifest that nothing keeps, unless it was pushed again since it was listed.
    /// `parents` are the deleted indexes that list it: should one be there again after this
    /// deletion (pushed again, or restored for a tag), its push may have found this child
    /// before the deletion, and the child is put back.
    async fn delete_manifest(
        &self,
        name: &RepositoryName,
        graph: &RepoGraph,
        digest: &str,
        parents: &[String],
    ) -> Result<bool> {
        let Ok(parsed) = digest.parse::<Digest>() else {
            return Ok(false);
        };
        let node = &graph.manifests[digest];
        let key = layout::manifest(name, &parsed);
        let Some((info, bytes)) = self.get_bytes(&key).await? else {
            return Ok(false);
        };
        if info.uploaded_ms != node.uploaded_ms {
            return Ok(false);
        }
        self.delete(std::slice::from_ref(&key)).await?;
        if !self.dry_run && self.any_present(name, parents).await? {
            self.spend(1);
            let options = PutOptions {
                content_type: info.content_type,
                ..PutOptions::default()
            };
            self.store().put(&key, bytes, options).await?;
            return Ok(false);
        }
        if let Some(subject) = node.subject.as_ref().and_then(|s| s.parse::<Digest>().ok()) {
            self.delete(&[layout::referrer(name, &subject, &parsed)])
                .await?;
        }
        self.deleted(
            format!("manifest {name}@{digest}"),
            |c| c.manifests += 1,
            info.size,
        );
        Ok(true)
    }

    /// Whether any of these manifests is stored.
    async fn any_present(&self, name: &RepositoryName, digests: &[String]) -> Result<bool> {
        for digest in digests.iter().filter_map(|d| d.parse::<Digest>().ok()) {
            self.spend(1);
            if self
                .store()
                .head(&layout::manifest(name, &digest))
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A tag pushed while its manifest was being deleted brings the manifest back: tag
    /// objects hold the manifest's bytes too.
    async fn restore_tagged(
        &self,
        name: &RepositoryName,
        deleted: &BTreeSet<String>,
    ) -> Result<()> {
        let tags = self.list_all(&layout::tags_prefix(name), true).await?;
        for info in &tags {
            let Some(digest) = tag_target(info) else {
                continue;
            };
            let (true, Ok(parsed)) = (deleted.contains(digest), digest.parse::<Digest>()) else {
                continue;
            };
            if let Some((tag_info, bytes)) = self.get_bytes(&info.key).await? {
                self.spend(1);
                let options = PutOptions {
                    content_type: tag_info.content_type,
                    ..PutOptions::default()
                };
                self.store()
                    .put(&layout::manifest(name, &parsed), bytes, options)
                    .await?;
            }
        }
        Ok(())
    }

    /// The repository's graph as last saved: a cache, empty for a repository never seen
    /// (one that holds blobs but has no manifest yet, say).
    async fn load_graph(&self, name: &RepositoryName) -> Result<RepoGraph> {
        if let Some(graph) = self.graphs.borrow().get(name) {
            return Ok(graph.clone());
        }
        self.spend(1);
        let graph: RepoGraph = self
            .maintenance
            .records
            .read_record(&layout::gc_repository(name, self.dry_run))
            .await?
            .unwrap_or_default();
        self.remember(name, graph.clone());
        Ok(graph)
    }

    /// Caches the graph for the rest of the run, with the set of blobs it refers to, which
    /// the blobs phase asks about once per link.
    fn remember(&self, name: &RepositoryName, graph: RepoGraph) {
        let blobs = graph.blobs().into_iter().map(str::to_string).collect();
        self.referenced.borrow_mut().insert(name.clone(), blobs);
        self.graphs.borrow_mut().insert(name.clone(), graph);
    }

    /// Dry runs keep graphs of their own, so that they never stand in for what a real run read.
    async fn save_graph(&self, name: &RepositoryName, graph: &RepoGraph) -> Result<()> {
        self.remember(name, graph.clone());
        self.spend(1);
        let json = serde_json::to_vec(graph).expect("graph serialises");
        self.store()
            .put(
                &layout::gc_repository(name, self.dry_run),
                json,
                PutOptions::default(),
            )
            .await?;
        Ok(())
    }

    // --- 3. blobs: links and records ------------------------------------------------------

    /// One page of `blobs/`; `true` once the walk is over. Links deleted are added to
    /// `relink`.
    async fn blobs(
        &self,
        after: &mut Option<String>,
        relink: &mut BTreeMap<String, Relink>,
    ) -> Result<bool> {
        let page = self
            .list_page(layout::BLOBS_PREFIX, after.clone(), false)
            .await?;
        let last_key = page.objects.last().map(|o| o.key.clone());
        let mut groups: Vec<BlobGroup> = Vec::new();
        for object in page.objects {
            let Some(key) = BlobKey::parse(&object.key) else {
                continue;
            };
            if groups.last().is_none_or(|g| &g.digest != key.digest()) {
                groups.push(BlobGroup {
                    digest: key.digest().clone(),
                    record: None,
                    links: Vec::new(),
                });
            }
            let group = groups.last_mut().expect("just pushed");
            match key {
                BlobKey::Record(_) => group.record = Some(object),
                BlobKey::Link(_, name) => group.links.push((name, object)),
            }
        }
        if page.truncated {
            // The last blob's links may go on in the next page: read them all now.
            if let Some(last) = groups.last_mut() {
                let links = self
                    .list_all(&layout::layer_links_prefix(&last.digest), false)
                    .await?;
                last.links = links
                    .into_iter()
                    .filter_map(|info| match BlobKey::parse(&info.key)? {
                        BlobKey::Link(_, name) => Some((name, info)),
                        BlobKey::Record(_) => None,
                    })
                    .collect();
            }
        }
        let swept_from = after.clone();
        if groups.is_empty() {
            // Nothing here is ours to judge; the walk (and the sweep) goes on past it.
            *after = last_key.or(after.take());
        }
        let mut unlinked: BTreeMap<RepositoryName, BTreeSet<Digest>> = BTreeMap::new();
        let mut finished = !page.truncated;
        for group in &groups {
            if self.exhausted() {
                finished = false;
                break;
            }
            self.blob(group, &mut unlinked, relink).await?;
            // Past the blob's record and every link to it: '~' sorts after name characters.
            *after = Some(format!("{}~", layout::layer_links_prefix(&group.digest)));
        }
        let swept_to = self
            .sweep_public_blobs(
                swept_from.as_deref(),
                after.as_deref(),
                finished,
                &groups,
                &unlinked,
            )
            .await?;
        if let Some(swept_to) = swept_to {
            // Out of operations before the sweep caught up: the walk goes on from there.
            *after = Some(format!("{}{swept_to}", layout::BLOBS_PREFIX));
            finished = false;
        }
        Ok(finished)
    }

    /// Deletes the blob's links that no manifest of their repository refers to, and the blob
    /// itself when no repository links it. Each link is added to `relink` before it is
    /// deleted, so that no failure later in the run can lose it.
    async fn blob(
        &self,
        group: &BlobGroup,
        unlinked: &mut BTreeMap<RepositoryName, BTreeSet<Digest>>,
        relink: &mut BTreeMap<String, Relink>,
    ) -> Result<()> {
        let digest = group.digest.to_string();
        {
            let mut report = self.report.borrow_mut();
            report.examined.links += group.links.len() as u64;
            report.examined.blobs += u64::from(group.record.is_some());
        }
        for (name, link) in &group.links {
            if !self.older_than_grace(link.uploaded_ms) || self.refers_to(name, &digest).await? {
                continue;
            }
            // A manifest push may have written the link again since it was listed.
            self.spend(1);
            let Some(current) = self.store().head(&link.key).await? else {
                continue;
            };
            if current.uploaded_ms != link.uploaded_ms {
                continue;
            }
            if !self.dry_run {
                let pending = relink.entry(name.to_string()).or_default();
                pending.digests.insert(digest.clone());
            }
            self.delete(std::slice::from_ref(&link.key)).await?;
            unlinked
                .entry(name.clone())
                .or_default()
                .insert(group.digest.clone());
            self.deleted(format!("link {name}@{digest}"), |c| c.links += 1, 0);
        }
        // A blob whose last links went just now keeps its record until the next cycle, so
        // that a manifest pushed meanwhile can still link it again.
        match &group.record {
            Some(record) if group.links.is_empty() && self.older_than_grace(record.uploaded_ms) => {
                self.delete_blob(&group.digest, record).await
            }
            _ => Ok(()),
        }
    }

    /// Whether a manifest of `name` refers to the blob: its graph says so, or a manifest
    /// pushed since the graph was made does.
    async fn refers_to(&self, name: &RepositoryName, digest: &str) -> Result<bool> {
        let known = |run: &Self| {
            run.referenced
                .borrow()
                .get(name)
                .map(|b| b.contains(digest))
        };
        let refers = match known(self) {
            Some(refers) => refers,
            None => {
                self.load_graph(name).await?;
                known(self).unwrap_or(true)
            }
        };
        if refers || self.refreshed.borrow().contains(name) {
            return Ok(refers);
        }
        let mut fresh = self.load_graph(name).await?;
        if !self
            .walk_manifests(name, &mut fresh, &mut None, |_, _| {})
            .await?
        {
            return Ok(true);
        }
        self.remember(name, fresh);
        self.refreshed.borrow_mut().insert(name.clone());
        Ok(known(self).unwrap_or(true))
    }

    /// After links were deleted: a manifest pushed in the meantime that refers to one of
    /// them gets it back (the blob's record outlives its links by a cycle). Every manifest
    /// of the repository is looked at, whatever the graph knew: one that names a deleted link
    /// was pushed after the graph the deletion went by. Returns when all are done or the run
    /// is out of operations; the rest is in `relink`, for the next run to do first.
    async fn relink(&self, relink: &mut BTreeMap<String, Relink>) -> Result<()> {
        while let Some(mut entry) = relink.first_entry() {
            let Some(name) = layout::stored_name(entry.key()) else {
                entry.remove();
                continue;
            };
            let pending = entry.get_mut();
            let mut graph = self.load_graph(&name).await?;
            let mut wanted = BTreeSet::new();
            let finished = self
                .walk_manifests(&name, &mut graph, &mut pending.after, |_, node| {
                    wanted.extend(
                        node.blobs
                            .iter()
                            .filter(|b| pending.digests.contains(*b))
                            .cloned(),
                    );
                })
                .await?;
            for digest in wanted.iter().filter_map(|d| d.parse::<Digest>().ok()) {
                self.spend(3);
                if let Some(record) = self
                    .maintenance
                    .records
                    .read_record::<BlobRecord>(&layout::blob(&digest))
                    .await?
                {
                    self.maintenance
                        .records
                        .write_link(&name, &digest, &record)
                        .await?;
                }
            }
            self.save_graph(&name, &graph).await?;
            pending.digests.retain(|digest| !wanted.contains(digest));
            if !finished && !pending.digests.is_empty() {
                return Ok(());
            }
            entry.remove();
        }
        Ok(())
    }

    /// Deletes the record first, then looks for links once more: a link written meanwhile
    /// gets the record back, and one written later finds it gone (see `write_link`). Only
    /// then are the bytes deleted.
    async fn delete_blob(&self, digest: &Digest, info: &ObjectInfo) -> Result<()> {
        let Some((_, bytes)) = self.get_bytes(&info.key).await? else {
            return Ok(());
        };
        let Ok(record) = serde_json::from_slice::<BlobRecord>(&bytes) else {
            return Ok(());
        };
        if !self.dry_run {
            self.delete(std::slice::from_ref(&info.key)).await?;
            let links = self
                .list_page(&layout::layer_links_prefix(digest), None, false)
                .await?;
            if !links.objects.is_empty() {
                self.spend(1);
                self.store()
                    .put(&info.key, bytes, PutOptions::default())
                    .await?;
                return Ok(());
            }
            self.delete(&record.keys()).await?;
        }
        self.deleted(format!("blob {digest}"), |c| c.blobs += 1, record.size);
        Ok(())
    }
}
