//! TEMPORARY stand-in (never committed).
use super::{Environment, Records};
use crate::scan::osv::Advisory;
use crate::scan::version::Ecosystem;
use crate::storage::{MultipartStore, ObjectStore, SessionStore, StorageResult};
use std::collections::BTreeSet;
impl<S: ObjectStore + MultipartStore, K: SessionStore, E: Environment> Records<S, K, E> {
    pub(crate) async fn advisories_for(
        &self,
        _e: Ecosystem,
        _n: &BTreeSet<String>,
    ) -> StorageResult<Vec<Advisory>> {
        Ok(Vec::new())
    }
    pub(crate) async fn advisories_updated_at(&self) -> StorageResult<Option<u64>> {
        Ok(None)
    }
}
