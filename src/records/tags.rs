//! Tags: each one an object holding the tagged manifest's bytes again (so a pull by tag is one
//! read), with the manifest's digest in its metadata; a deleted tag is an untag marker. A tag
//! is written over whatever it held ([`Records::put_tag`]), or, for an immutable tag's first
//! push, only if it still holds what was read ([`Records::create_tag`]).

use std::collections::BTreeMap;

use super::listing::{Entry, Page};
use super::{layout, Environment, Records};
use crate::oci::{Digest, RepositoryName, Tag};
use crate::storage::{
    MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions, SessionStore, StorageError,
    StorageResult,
};

/// Tag objects carry the digest of the manifest they hold in this metadata field.
pub const DIGEST_META: &str = "digest";
/// A deleted tag: R2 deletes are unconditional, so a tag is untagged with a compare-and-swap
/// put of this marker instead, which cannot undo a concurrent re-tag.
pub const UNTAGGED_META: &str = "untagged";
/// How often an untag retries when a concurrent push keeps moving the tag.
const UNTAG_ATTEMPTS: usize = 3;

pub fn is_untagged(info: &ObjectInfo) -> bool {
    info.metadata.contains_key(UNTAGGED_META)
}

/// The digest a tag object points at; `None` for an untagged marker.
pub fn tag_target(info: &ObjectInfo) -> Option<&String> {
    info.metadata
        .get(DIGEST_META)
        .filter(|_| !is_untagged(info))
}

/// What a tag's key holds, as read before a conditional write of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagState {
    /// Never pushed.
    Absent,
    /// Deleted: an untag marker with this etag.
    Untagged { etag: String },
    /// Pointing at the manifest with this digest.
    Points { digest: String },
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Points `tag` at the manifest `digest`, whose `bytes` of `media_type` it holds again.
    pub(crate) async fn put_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> StorageResult<()> {
        let options = PutOptions {
            mode: PutMode::Overwrite,
            content_type: Some(media_type.to_string()),
            metadata: BTreeMap::from([(DIGEST_META.to_string(), digest.to_string())]),
        };
        self.store
            .put(&layout::tag(name, tag), bytes, options)
            .await?;
        Ok(())
    }

    /// What `tag` holds now.
    pub(crate) async fn tag_state(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> StorageResult<TagState> {
        let Some(info) = self.store.head(&layout::tag(name, tag)).await? else {
            return Ok(TagState::Absent);
        };
        Ok(match tag_target(&info) {
            Some(digest) => TagState::Points {
                digest: digest.clone(),
            },
            None => TagState::Untagged { etag: info.etag },
        })
    }

    /// Points `tag`, which was `read` absent or untagged, at the manifest `digest` (as
    /// [`Self::put_tag`]), only if nothing has written it since: of two racing first pushes
    /// exactly one creates it. The new object's etag, or `None` when the tag was written
    /// meanwhile (and is left as it is).
    pub(crate) async fn create_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
        read: &TagState,
        digest: &Digest,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> StorageResult<Option<String>> {
        let mode = match read {
            TagState::Absent => PutMode::CreateOnly,
            TagState::Untagged { etag } => PutMode::IfEtag(etag.clone()),
            TagState::Points { .. } => return Ok(None),
        };
        let options = PutOptions {
            mode,
            content_type: Some(media_type.to_string()),
            metadata: BTreeMap::from([(DIGEST_META.to_string(), digest.to_string())]),
        };
        let written = self
            .store
            .put(&layout::tag(name, tag), bytes, options)
            .await?;
        Ok(written.map(|info| info.etag))
    }

    /// The bytes of the manifest `tag` holds; `None` when there is no such tag.
    pub(crate) async fn tagged_bytes(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> StorageResult<Option<Vec<u8>>> {
        let object = self.store.get_bytes(&layout::tag(name, tag)).await?;
        Ok(object
            .filter(|(info, _)| !is_untagged(info))
            .map(|(_, bytes)| bytes))
    }

    /// The tags of `name` that point at `digest`.
    pub(crate) async fn tags_pointing_at(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Vec<Tag>> {
        let prefix = layout::tags_prefix(name);
        let wanted = digest.to_string();
        self.list_all(&prefix, true)
            .await?
            .iter()
            .filter(|object| tag_target(object) == Some(&wanted))
            .map(|object| {
                let tag = object
                    .key
                    .strip_prefix(&prefix)
                    .and_then(|t| Tag::parse(t).ok());
                tag.ok_or_else(|| StorageError::Corrupt(format!("tag key {}", object.key)))
            })
            .collect()
    }

    /// Untags `tag` if it exists (and, with `only`, still points at that digest); says
    /// whether it did. A tag that a concurrent push keeps moving is `TooManyRequests`.
    pub(crate) async fn untag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
        only: Option<&Digest>,
    ) -> StorageResult<bool> {
        let key = layout::tag(name, tag);
        for _ in 0..UNTAG_ATTEMPTS {
            let Some(info) = self.store.head(&key).await?.filter(|i| !is_untagged(i)) else {
                return Ok(false);
            };
            if only.is_some_and(|d| info.metadata.get(DIGEST_META) != Some(&d.to_string())) {
                return Ok(false);
            }
            if self.untag_if_unchanged(name, tag, info.etag).await? {
                return Ok(true);
            }
        }
        Err(StorageError::TooManyRequests)
    }

    /// Untags `tag` if its object is still the one with `etag`, so that a push of the tag
    /// since `etag` was read is never undone; says whether it did.
    pub(crate) async fn untag_if_unchanged(
        &self,
        name: &RepositoryName,
        tag: &Tag,
        etag: String,
    ) -> StorageResult<bool> {
        let marker = PutOptions {
            mode: PutMode::IfEtag(etag),
            content_type: None,
            metadata: BTreeMap::from([(UNTAGGED_META.to_string(), "1".to_string())]),
        };
        let key = layout::tag(name, tag);
        Ok(self.store.put(&key, Vec::new(), marker).await?.is_some())
    }

    /// A page of `name`'s tags after `last`, untag markers left out (see [`Self::names_page`]).
    pub(crate) async fn tags_page(
        &self,
        name: &RepositoryName,
        last: Option<&str>,
        n: usize,
    ) -> StorageResult<Page<String>> {
        let untagged = |o: &ObjectInfo| match is_untagged(o) {
            true => Entry::Skip,
            false => Entry::Show,
        };
        self.names_page(&layout::tags_prefix(name), last, n, true, untagged)
            .await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::oci::Algorithm;
    use crate::records::memory_records;
    use crate::storage::memory::MemoryStore;

    /// An untag that names a digest leaves a tag pointing elsewhere alone; an untagged tag is
    /// gone for every reader and cannot be untagged twice.
    #[test]
    fn untag_only_removes_the_tag_it_names() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let tag = Tag::parse("v1").unwrap();
        let [pushed, other] = [b"one", b"two"].map(|m| Digest::of(Algorithm::Sha256, m));
        let tagged = records.put_tag(&name, &tag, &pushed, b"one".to_vec(), "m");
        block_on(tagged).unwrap();
        assert!(!block_on(records.untag(&name, &tag, Some(&other))).unwrap());
        assert_eq!(
            block_on(records.tags_pointing_at(&name, &pushed)).unwrap(),
            std::slice::from_ref(&tag)
        );
        assert!(block_on(records.untag(&name, &tag, Some(&pushed))).unwrap());
        assert_eq!(block_on(records.tagged_bytes(&name, &tag)).unwrap(), None);
        assert!(block_on(records.tags_pointing_at(&name, &pushed))
            .unwrap()
            .is_empty());
        assert!(block_on(records.tags_page(&name, None, 10))
            .unwrap()
            .entries
            .is_empty());
        assert!(!block_on(records.untag(&name, &tag, None)).unwrap());
    }

    /// A create-only tag write: of two writers that both read the tag absent (or untagged),
    /// only the first creates it; the second leaves it alone.
    #[test]
    fn create_tag_succeeds_only_over_what_was_read() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let tag = Tag::parse("v1").unwrap();
        let [first, second] = [b"one", b"two"].map(|m| Digest::of(Algorithm::Sha256, m));
        let read = block_on(records.tag_state(&name, &tag)).unwrap();
        assert_eq!(read, TagState::Absent);
        let create = |digest: &Digest, bytes: &[u8], read: &TagState| {
            block_on(records.create_tag(&name, &tag, read, digest, bytes.to_vec(), "m")).unwrap()
        };
        assert!(create(&first, b"one", &read).is_some());
        assert!(create(&second, b"two", &read).is_none());
        let now = block_on(records.tag_state(&name, &tag)).unwrap();
        assert_eq!(
            now,
            TagState::Points {
                digest: first.to_string()
            }
        );
        assert!(create(&second, b"two", &now).is_none());
        // Over an untag marker: only over the marker that was read.
        assert!(block_on(records.untag(&name, &tag, None)).unwrap());
        let untagged = block_on(records.tag_state(&name, &tag)).unwrap();
        assert!(matches!(untagged, TagState::Untagged { .. }));
        assert!(create(&second, b"two", &untagged).is_some());
        assert!(create(&first, b"one", &untagged).is_none());
        let bytes = block_on(records.tagged_bytes(&name, &tag)).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"two"[..]));
    }

    /// A tag moved since it was read is not untagged: the push that moved it wins.
    #[test]
    fn untag_if_unchanged_never_undoes_a_retag() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let tag = Tag::parse("v1").unwrap();
        let [first, second] = [b"one", b"two"].map(|m| Digest::of(Algorithm::Sha256, m));
        block_on(records.put_tag(&name, &tag, &first, b"one".to_vec(), "m")).unwrap();
        let read = block_on(ObjectStore::head(&records.store, &layout::tag(&name, &tag)));
        let etag = read.unwrap().unwrap().etag;
        block_on(records.put_tag(&name, &tag, &second, b"two".to_vec(), "m")).unwrap();
        assert!(!block_on(records.untag_if_unchanged(&name, &tag, etag)).unwrap());
        let bytes = block_on(records.tagged_bytes(&name, &tag)).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"two"[..]));
    }
}
