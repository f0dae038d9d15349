//! The advisory indexing job: one bounded step per message (see `records::advisories`).

use crate::error::Result;
use crate::records::{Environment, Records};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// Runs one step of indexing `load` of `ecosystem` (or of deleting what it replaced); the
/// step queues the next one in the records' outbox.
pub async fn index_step<S, K, E>(
    records: &Records<S, K, E>,
    ecosystem: &str,
    load: &str,
) -> Result<()>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    Ok(records.index_advisories_step(ecosystem, load).await?)
}
