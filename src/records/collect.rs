//! What maintenance reads, deletes and puts back among the registry's records: an upload's
//! progress, blob records, manifests and their referrer entries.

use super::{layout, BlobRecord, Environment, Records};
use crate::oci::{Digest, RepositoryName};
use crate::storage::{
    MultipartStore, ObjectInfo, ObjectStore, PutOptions, SessionStore, StorageResult,
};

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The blob's record, `None` once it is gone; [`crate::storage::StorageError::Corrupt`] if it does not
    /// decode.
    pub(crate) async fn blob_record(&self, digest: &Digest) -> StorageResult<Option<BlobRecord>> {
        self.read_record(&layout::blob(digest)).await
    }

    /// Puts back a blob record deleted a moment ago, which a link written since needs.
    pub(crate) async fn restore_blob_record(
        &self,
        digest: &Digest,
        record: &BlobRecord,
    ) -> StorageResult<()> {
        let json = serde_json::to_vec(record).expect("blob record serialises");
        self.store
            .put(&layout::blob(digest), json, PutOptions::default())
            .await?;
        Ok(())
    }

    /// Manifest `digest` of `name` as stored: its object and bytes.
    pub(crate) async fn manifest_object(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>> {
        self.store.get_bytes(&layout::manifest(name, digest)).await
    }

    /// Puts a deleted manifest back, with the media type it was pushed with.
    pub(crate) async fn restore_manifest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        bytes: Vec<u8>,
        content_type: Option<String>,
    ) -> StorageResult<()> {
        let options = PutOptions {
            content_type,
            ..PutOptions::default()
        };
        self.store
            .put(&layout::manifest(name, digest), bytes, options)
            .await?;
        Ok(())
    }

    /// Deletes manifest `digest` of `name` (its tags and referrer entry are left alone).
    pub(crate) async fn delete_manifest_object(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<()> {
        self.store.delete(&[layout::manifest(name, digest)]).await
    }

    /// Deletes manifest `digest`'s entry among the referrers of `subject` in `name`.
    pub(crate) async fn delete_referrer(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        digest: &Digest,
    ) -> StorageResult<()> {
        self.store
            .delete(&[layout::referrer(name, subject, digest)])
            .await
    }
}
