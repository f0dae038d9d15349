//! Artifacts the registry writes itself (an image's SBOM and scan report): a document stored as
//! a blob of the image's repository, and an OCI manifest whose `subject` is the image, so that
//! it is listed among the image's referrers and lives and dies with it. And reading a blob's
//! bytes as a stream, for the scanner.

use futures::StreamExt;
use serde_json::json;

use super::{BlobRecord, Environment, Records};
use crate::oci::manifest::{Descriptor, OCI_MANIFEST};
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::storage::{
    MultipartStore, ObjectStore, PutOptions, SessionStore, StorageError, StorageResult,
};

/// OCI's empty descriptor: an artifact's config when it has none.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// A document to attach to an image.
pub(crate) struct Artifact<'a> {
    /// The manifest's `artifactType`.
    pub artifact_type: &'a str,
    /// The document's media type and bytes.
    pub media_type: &'a str,
    pub document: Vec<u8>,
    /// The document's file name (`org.opencontainers.image.title`).
    pub title: &'a str,
}

/// A blob's data objects, read one after the other.
pub(crate) struct BlobChunks<R> {
    keys: std::vec::IntoIter<String>,
    current: Option<R>,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Attaches `artifact` to the image `subject` of `name`, and returns its manifest's
    /// digest. The same artifact attached twice is the same manifest: attaching is idempotent.
    pub(crate) async fn put_artifact(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        artifact: Artifact<'_>,
    ) -> StorageResult<Digest> {
        let subject_info = self
            .manifest_object(name, subject)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("{subject} is gone from {name}")))?
            .0;
        let document_digest = Digest::of(Algorithm::Sha256, &artifact.document);
        let document_size = artifact.document.len() as u64;
        let empty_digest = Digest::of(Algorithm::Sha256, EMPTY);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact.artifact_type,
            "config": {
                "mediaType": EMPTY_MEDIA_TYPE,
                "digest": empty_digest.to_string(),
                "size": EMPTY.len(),
                "data": "e30=",
            },
            "layers": [{
                "mediaType": artifact.media_type,
                "digest": document_digest.to_string(),
                "size": document_size,
                "annotations": {"org.opencontainers.image.title": artifact.title},
            }],
            "subject": {
                "mediaType": subject_info.content_type.as_deref().unwrap_or(OCI_MANIFEST),
                "digest": subject.to_string(),
                "size": subject_info.size,
            },
        });
        let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let digest = Digest::of(Algorithm::Sha256, &bytes);
        let blobs = [
            (empty_digest, EMPTY.to_vec()),
            (document_digest, artifact.document),
        ];
        for (blob_digest, blob) in &blobs {
            self.put_small_blob(name, blob_digest, blob.clone()).await?;
        }
        let size = bytes.len() as u64;
        self.put_manifest(name, &digest, bytes, OCI_MANIFEST)
            .await?;
        // Garbage collection may have taken a blob between its link and the manifest: as
        // for a push, the links are checked after the manifest is written.
        for (blob_digest, blob) in blobs {
            if !self.has_blob_link(name, &blob_digest).await? {
                self.put_small_blob(name, &blob_digest, blob).await?;
            }
        }
        let descriptor = Descriptor {
            media_type: OCI_MANIFEST.to_string(),
            digest: digest.to_string(),
            size,
            artifact_type: Some(artifact.artifact_type.to_string()),
            annotations: None,
        };
        self.put_referrer(name, subject, &digest, &descriptor)
            .await?;
        Ok(digest)
    }

    /// Stores `bytes`, whose digest the caller computed, as a blob of `name`.
    async fn put_small_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        bytes: Vec<u8>,
    ) -> StorageResult<()> {
        let key = self.new_data_key();
        let size = bytes.len() as u64;
        self.store.put(&key, bytes, PutOptions::default()).await?;
        let record = BlobRecord {
            size,
            key,
            segments: Vec::new(),
        };
        self.commit_blob(name, digest, record).await
    }

    /// The bytes of blob `digest` as `name` links it, as a stream; `None` if `name` does
    /// not link it.
    pub(crate) async fn blob_chunks(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<BlobChunks<S::Reader>>> {
        let Some(record) = self.blob_link(name, digest).await? else {
            return Ok(None);
        };
        Ok(Some(BlobChunks {
            keys: record.keys().into_iter(),
            current: None,
        }))
    }

    /// The next piece of `chunks`, or `None` at the end.
    pub(crate) async fn next_chunk(
        &self,
        chunks: &mut BlobChunks<S::Reader>,
    ) -> StorageResult<Option<Vec<u8>>> {
        loop {
            if let Some(reader) = &mut chunks.current {
                match reader.next().await {
                    Some(chunk) => return chunk.map(Some),
                    None => chunks.current = None,
                }
            }
            let Some(key) = chunks.keys.next() else {
                return Ok(None);
            };
            let reader = self.store.read(&key).await?.ok_or_else(|| {
                StorageError::Corrupt(format!("{key}: the blob's bytes are gone"))
            })?;
            chunks.current = Some(reader);
        }
    }
}
