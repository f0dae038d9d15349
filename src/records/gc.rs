//! Maintenance's own records: where it stands between runs, the lease of the run at work,
//! and each repository's graph (what its manifests refer to). Dry runs keep records of their
//! own, so that what a dry run read never stands in for what a real run did.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{layout, Environment, Records};
use crate::oci::RepositoryName;
use crate::storage::{
    MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore, StorageResult,
};

/// One of maintenance's records.
#[derive(Debug, Clone, Copy)]
pub enum GcRecord<'a> {
    /// Where maintenance stands between runs.
    State,
    /// Until when one run works alone.
    Lease,
    /// A repository's manifests and what they refer to.
    Graph(&'a RepositoryName),
}

/// Maintenance's records, of real runs or of dry runs.
pub struct GcRecords<'r, S, K, E> {
    records: &'r Records<S, K, E>,
    dry_run: bool,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) fn gc(&self, dry_run: bool) -> GcRecords<'_, S, K, E> {
        GcRecords {
            records: self,
            dry_run,
        }
    }
}

impl<S, K, E> GcRecords<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    fn key(&self, record: GcRecord) -> String {
        match record {
            GcRecord::State => layout::gc_state(self.dry_run).to_string(),
            GcRecord::Lease => layout::gc_lease(self.dry_run).to_string(),
            GcRecord::Graph(name) => layout::gc_repository(name, self.dry_run),
        }
    }

    /// The record, `None` if it was never written; an error if it does not decode.
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        record: GcRecord<'_>,
    ) -> StorageResult<Option<T>> {
        self.records.read_record(&self.key(record)).await
    }

    /// The record's etag and value, `None` for a value that does not decode; `None` if the
    /// record was never written.
    pub(crate) async fn read_versioned<T: DeserializeOwned>(
        &self,
        record: GcRecord<'_>,
    ) -> StorageResult<Option<(String, Option<T>)>> {
        let Some((info, bytes)) = self.records.store.get_bytes(&self.key(record)).await? else {
            return Ok(None);
        };
        Ok(Some((info.etag, serde_json::from_slice(&bytes).ok())))
    }

    /// Writes the record as `mode` allows: its etag then, `None` when the condition failed.
    pub(crate) async fn write<T: Serialize>(
        &self,
        record: GcRecord<'_>,
        value: &T,
        mode: PutMode,
    ) -> StorageResult<Option<String>> {
        let json = serde_json::to_vec(value).expect("maintenance record serialises");
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let written = self
            .records
            .store
            .put(&self.key(record), json, options)
            .await?;
        Ok(written.map(|info| info.etag))
    }
}
