//! TEMPORARY stand-in (never committed).
use crate::error::Result;
use crate::records::{Environment, Records};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
pub async fn index_step<S: ObjectStore + MultipartStore, K: SessionStore, E: Environment>(
    _records: &Records<S, K, E>,
    _ecosystem: &str,
    _load: &str,
) -> Result<()> {
    Ok(())
}
