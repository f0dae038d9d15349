//! Manifests: the bytes as pushed, under their digest, with their media type as the object's
//! Content-Type; and for a manifest with a subject, its descriptor among the subject's
//! referrers.

use futures::future::join_all;

use super::listing::{Entry, Page};
use super::tags::{is_untagged, DIGEST_META};
use super::{layout, Environment, Records};
use crate::oci::manifest::{self, Descriptor};
use crate::oci::{Digest, Reference, RepositoryName};
use crate::storage::{
    MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions, SessionStore, StorageError,
    StorageResult,
};

/// A manifest as a pull finds it, by digest or through a tag.
pub(crate) struct StoredManifest {
    pub digest: String,
    /// The media type it was pushed with.
    pub content_type: Option<String>,
    pub size: u64,
}

impl StoredManifest {
    /// `None` for an untag marker; a tag names its manifest's digest in its metadata.
    fn of(key: &str, reference: &Reference, info: ObjectInfo) -> StorageResult<Option<Self>> {
        if is_untagged(&info) {
            return Ok(None);
        }
        let digest = match reference {
            Reference::Digest(digest) => digest.to_string(),
            Reference::Tag(_) => info
                .metadata
                .get(DIGEST_META)
                .cloned()
                .ok_or_else(|| StorageError::Corrupt(format!("{key} has no digest")))?,
        };
        Ok(Some(StoredManifest {
            digest,
            content_type: info.content_type,
            size: info.size,
        }))
    }
}

fn manifest_key(name: &RepositoryName, reference: &Reference) -> String {
    match reference {
        Reference::Digest(digest) => layout::manifest(name, digest),
        Reference::Tag(tag) => layout::tag(name, tag),
    }
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Stores a manifest's `bytes` (an idempotent overwrite: they are what the digest says).
    pub(crate) async fn put_manifest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> StorageResult<()> {
        let options = PutOptions {
            mode: PutMode::Overwrite,
            content_type: Some(media_type.to_string()),
            ..PutOptions::default()
        };
        let key = layout::manifest(name, digest);
        self.store.put(&key, bytes, options).await?;
        Ok(())
    }

    pub(crate) async fn has_manifest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<bool> {
        let manifest = self.store.head(&layout::manifest(name, digest)).await?;
        Ok(manifest.is_some())
    }

    /// What `reference` names in `name`, without its bytes; `None` when nothing (or a
    /// deleted tag).
    pub(crate) async fn manifest_info(
        &self,
        name: &RepositoryName,
        reference: &Reference,
    ) -> StorageResult<Option<StoredManifest>> {
        let key = manifest_key(name, reference);
        match self.store.head(&key).await? {
            Some(info) => StoredManifest::of(&key, reference, info),
            None => Ok(None),
        }
    }

    /// What `reference` names in `name`, and its bytes, read at once.
    pub(crate) async fn manifest(
        &self,
        name: &RepositoryName,
        reference: &Reference,
    ) -> StorageResult<Option<(StoredManifest, S::Body)>> {
        let key = manifest_key(name, reference);
        let Some((info, body)) = self.store.get(&key, None).await? else {
            return Ok(None);
        };
        Ok(StoredManifest::of(&key, reference, info)?.map(|stored| (stored, body)))
    }

    /// Deletes a manifest and its entry among its subject's referrers; what was deleted (its
    /// bytes and media type), if it was there. Tags that name it are the caller's to untag.
    pub(crate) async fn delete_manifest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<(Vec<u8>, Option<String>)>> {
        let key = layout::manifest(name, digest);
        let Some((info, bytes)) = self.store.get_bytes(&key).await? else {
            return Ok(None);
        };
        if let Ok(parsed) = manifest::parse(&bytes, info.content_type.as_deref()) {
            if let Some(subject) = parsed.subject {
                self.store
                    .delete(&[layout::referrer(name, &subject, digest)])
                    .await?;
            }
        }
        self.store.delete(&[key]).await?;
        Ok(Some((bytes, info.content_type)))
    }

    /// Lists the manifest `referrer`, described by `descriptor`, among `subject`'s referrers.
    pub(crate) async fn put_referrer(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &Descriptor,
    ) -> StorageResult<()> {
        let json = serde_json::to_vec(descriptor).expect("descriptor serialises");
        let key = layout::referrer(name, subject, referrer);
        self.store.put(&key, json, PutOptions::default()).await?;
        Ok(())
    }

    /// A page of the descriptors of `subject`'s referrers, after `last`: a listing, then a
    /// read per referrer. A referrer deleted between the two is simply gone.
    pub(crate) async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        last: Option<&str>,
        n: usize,
    ) -> StorageResult<Page<Descriptor>> {
        let prefix = layout::referrers_prefix(name, subject);
        let page = self
            .names_page(&prefix, last, n, false, |_| Entry::Show)
            .await?;
        let keys: Vec<String> = page
            .entries
            .iter()
            .map(|entry| format!("{prefix}{entry}"))
            .collect();
        let reads = keys.iter().map(|key| self.read_record::<Descriptor>(key));
        let descriptors = join_all(reads)
            .await
            .into_iter()
            .filter_map(Result::transpose)
            .collect::<StorageResult<_>>()?;
        Ok(Page {
            entries: descriptors,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::oci::{Algorithm, Tag};
    use crate::records::memory_records;
    use crate::storage::memory::MemoryStore;

    /// A pull through a tag finds the manifest's digest in the tag's metadata; an untagged
    /// tag is unknown, and a tag object without a digest is a corrupt record.
    #[test]
    fn a_manifest_through_a_tag_carries_its_digest() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let tag = Tag::parse("v1").unwrap();
        let digest = Digest::of(Algorithm::Sha256, b"{}");
        let reference = Reference::Tag(tag.clone());
        block_on(records.put_tag(&name, &tag, &digest, b"{}".to_vec(), "m")).unwrap();
        let (found, body) = block_on(records.manifest(&name, &reference))
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.digest, found.content_type, found.size, body),
            (digest.to_string(), Some("m".to_string()), 2, b"{}".to_vec())
        );
        assert!(block_on(records.untag(&name, &tag, None)).unwrap());
        assert!(block_on(records.manifest_info(&name, &reference))
            .unwrap()
            .is_none());
        let key = layout::tag(&name, &tag);
        let bare = ObjectStore::put(&records.store, &key, b"{}".to_vec(), PutOptions::default());
        block_on(bare).unwrap();
        assert!(matches!(
            block_on(records.manifest_info(&name, &reference)),
            Err(StorageError::Corrupt(_))
        ));
    }

    /// Deleting a manifest with a subject takes it out of the subject's referrers.
    #[test]
    fn a_deleted_manifest_leaves_its_subjects_referrers() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let subject = Digest::of(Algorithm::Sha256, b"subject");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_MANIFEST,
            "config": {"mediaType": "c", "digest": subject.to_string(), "size": 1},
            "layers": [],
            "subject": {"mediaType": manifest::OCI_MANIFEST, "digest": subject.to_string(), "size": 1},
        });
        let bytes = manifest.to_string().into_bytes();
        let digest = Digest::of(Algorithm::Sha256, &bytes);
        let descriptor = Descriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: digest.to_string(),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: None,
        };
        let media_type = manifest::OCI_MANIFEST;
        block_on(records.put_manifest(&name, &digest, bytes, media_type)).unwrap();
        block_on(records.put_referrer(&name, &subject, &digest, &descriptor)).unwrap();
        let listed = block_on(records.referrers(&name, &subject, None, 10)).unwrap();
        assert_eq!(listed.entries, [descriptor]);
        assert!(block_on(records.delete_manifest(&name, &digest))
            .unwrap()
            .is_some());
        let listed = block_on(records.referrers(&name, &subject, None, 10)).unwrap();
        assert!(listed.entries.is_empty());
        assert!(!block_on(records.has_manifest(&name, &digest)).unwrap());
        assert!(block_on(records.delete_manifest(&name, &digest))
            .unwrap()
            .is_none());
    }
}
