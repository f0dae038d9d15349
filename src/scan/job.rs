//! The work that goes through the queue: one message per job, as JSON.

use serde::{Deserialize, Serialize};

/// One unit of asynchronous work. Each is idempotent: a job delivered twice, or retried after
/// it partly ran, leaves the records as one run would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Catalogue an image manifest of a repository (its SBOM), then match it.
    Scan {
        repository: String,
        digest: String,
        /// The registry's origin as the push that queued the scan reached it, for the
        /// `scan.completed` event's `source` (none for scans the sweep queues).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Match an image's stored SBOM against the advisories again; no layer is read.
    Match { repository: String, digest: String },
    /// The next bounded step of indexing an ecosystem's loaded advisories.
    IndexAdvisories { ecosystem: String, load: String },
    /// The next bounded step of the sweep over every repository's manifests, which scans
    /// images that have no scan yet (a backfill) and matches again those matched before the
    /// advisories last changed; `after` is where the previous step stopped.
    Sweep { after: Option<String> },
    /// POST one webhook event to one receiver, named by its URL (see `webhooks`).
    Deliver {
        receiver: String,
        /// Boxed: an event is several times the size of the other jobs.
        event: Box<crate::webhooks::Event>,
    },
}
