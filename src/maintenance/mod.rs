//! Zero-ops maintenance, run by the Cron Trigger (and on demand by an administrator): expired
//! uploads, retention policies and garbage collection, in bounded steps.
//!
//! A cycle has three phases, each a walk over one keyspace in key order (`records::walk`),
//! and the position is saved (`gc/state`) after every run, so that a registry of any size is
//! maintained over as many runs as it takes, each within the Workers limits
//! (`step_operations` storage calls; `run.rs` holds a run's context and its position):
//!
//! 1. `uploads/` (`uploads.rs`): an upload whose newest progress is older than the upload TTL
//!    can no longer be continued (its session has ended); its multipart upload is aborted
//!    and its progress and completed segments deleted.
//! 2. `catalog/` (`repositories.rs`): per repository, the manifests pushed since the last
//!    cycle are read (what a manifest refers to never changes, so it is kept in
//!    `gc/repos/<name>`), the retention rule picks the tags to delete, and manifests nothing
//!    keeps any more are deleted ([`graph::RepoGraph::live`]).
//! 3. `blobs/` (`blobs.rs`): each blob's record is followed by its links, one per repository;
//!    a link that no manifest of its repository refers to is deleted, and a blob without
//!    links loses its record and then its bytes. The public-blobs bucket is swept alongside
//!    (`public_blobs.rs`).
//!
//! A repository's manifests are listed page by page, and the position within them is saved
//! too (`manifests_after`), so that no repository is too large to be maintained.
//!
//! Only one run works at a time: it holds a lease (`lease.rs`, `gc/lease`, written
//! create-only, taken over once expired with a compare-and-swap); a run that finds the lease
//! held does nothing. Dry runs hold a lease of their own, and keep their own position and
//! graphs.
//!
//! Nothing younger than the grace period is deleted, so that a layer pushed before its
//! manifest, or a child manifest before its index, survives. Pushes that race a deletion are
//! settled by the order of writes and checks on both sides (`relink.rs` gives deleted links
//! back to manifests pushed meanwhile); the README's "Maintenance" section gives the argument.
//!
//! Maintenance reads and writes through the records layer ([`crate::records`]): no key is
//! made here.

mod blobs;
pub mod graph;
mod lease;
mod public_blobs;
mod relink;
mod repositories;
pub mod retention;
mod run;
mod uploads;

use serde::{Deserialize, Serialize};

use crate::auth::Policy;
use crate::error::Result;
use crate::immutable_tags::ImmutableTags;
use crate::records::{Environment, Records};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use lease::LeaseOutcome;
use retention::Retention;

pub const DEFAULT_GRACE_SECONDS: u64 = 60 * 60;
/// Storage calls per run: well under the 1,000 subrequests of a paid Workers invocation.
pub const DEFAULT_STEP_OPERATIONS: u32 = 500;
/// Fewer would leave a run no room to get anything done after reading its position.
pub const MIN_STEP_OPERATIONS: u32 = 20;
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
    /// Tags retention never deletes (nor counts towards `keep`), so that their manifests
    /// and blobs stay too.
    pub immutable_tags: &'a ImmutableTags,
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
}

#[cfg(test)]
mod tests;
