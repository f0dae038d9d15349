//! The records layer: every record the registry stores, and the conventions that go with it
//! (where its key is, how it is encoded, which metadata it carries). The API handlers and
//! maintenance read and write records through it, never a key of their own making.

pub mod collect;
pub mod gc;
pub mod layout;
pub mod walk;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::oci::{Digest, RepositoryName, Tag};
use crate::storage::{
    ByteRange, ListOptions, MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions,
    SessionStore, StorageError, StorageResult, LIST_PAGE_MAX,
};
use crate::upload::{segment_keys, Segment};

/// Tag objects carry the digest of the manifest they hold in this metadata field.
pub(crate) const DIGEST_META: &str = "digest";
/// A deleted tag: R2 deletes are unconditional, so a tag is untagged with a compare-and-swap
/// put of this marker instead, which cannot undo a concurrent re-tag.
pub(crate) const UNTAGGED_META: &str = "untagged";
pub(crate) fn is_untagged(info: &ObjectInfo) -> bool {
    info.metadata.contains_key(UNTAGGED_META)
}

/// The digest a tag object points at; `None` for an untagged marker.
pub(crate) fn tag_target(info: &ObjectInfo) -> Option<&String> {
    info.metadata
        .get(DIGEST_META)
        .filter(|_| !is_untagged(info))
}

/// The clock and randomness the core needs (wasm32 has no `SystemTime`).
pub trait Environment {
    fn now_ms(&self) -> u64;
    /// A new unguessable id (upload sessions, data objects): 128 random bits, [`is_id`].
    fn new_id(&self) -> String;
}

/// Whether `text` has the form of [`Environment::new_id`]'s ids, 32 lowercase hex characters:
/// anything else names nothing the registry made.
pub fn is_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a blob's bytes are: the global blob record and each repository's link hold this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    pub size: u64,
    /// The blob's first, and almost always only, data object.
    pub key: String,
    /// Every data object in order, for a blob too large for one multipart upload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
}

impl BlobRecord {
    pub fn from_segments(mut segments: Vec<Segment>) -> Self {
        let size = segments.iter().map(|s| s.size).sum();
        let key = segments.first().map(|s| s.key.clone()).unwrap_or_default();
        if segments.len() == 1 {
            segments.clear();
        }
        BlobRecord {
            size,
            key,
            segments,
        }
    }

    pub fn keys(&self) -> Vec<String> {
        if self.segments.is_empty() {
            vec![self.key.clone()]
        } else {
            segment_keys(&self.segments)
        }
    }

    /// The data objects that hold `range` of the blob, each with the range to read from it.
    pub fn pieces(&self, range: ByteRange) -> Vec<(String, ByteRange)> {
        if self.segments.is_empty() {
            return vec![(self.key.clone(), range)];
        }
        let (start, end) = (range.offset, range.offset + range.length);
        let mut pieces = Vec::new();
        let mut segment_start = 0;
        for segment in &self.segments {
            let segment_end = segment_start + segment.size;
            let (from, to) = (start.max(segment_start), end.min(segment_end));
            if from < to {
                let offset = from - segment_start;
                pieces.push((
                    segment.key.clone(),
                    ByteRange {
                        offset,
                        length: to - from,
                    },
                ));
            }
            segment_start = segment_end;
        }
        pieces
    }
}

/// The registry's stored state: the bucket, the public-blobs bucket, the upload sessions, and
/// the clock and ids new records are made with.
pub struct Records<S, K, E> {
    pub(crate) store: S,
    /// The public-blobs bucket, when public repositories' large blobs are served from a
    /// public bucket (README "Pulls"): it holds their bytes and nothing else.
    pub(crate) public_blobs: Option<S>,
    pub(crate) sessions: K,
    pub(crate) env: E,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub fn new(store: S, public_blobs: Option<S>, sessions: K, env: E) -> Self {
        Records {
            store,
            public_blobs,
            sessions,
            env,
        }
    }

    /// Reads a small JSON record of ours.
    pub(crate) async fn read_record<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> StorageResult<Option<T>> {
        let Some((_, bytes)) = self.store.get_bytes(key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::Corrupt(format!("{key}: {e}")))?;
        Ok(Some(record))
    }

    /// Every object under `prefix`, page after page.
    pub(crate) async fn list_all(
        &self,
        prefix: &str,
        with_metadata: bool,
    ) -> StorageResult<Vec<ObjectInfo>> {
        let mut options = ListOptions {
            prefix: prefix.to_string(),
            limit: LIST_PAGE_MAX,
            with_metadata,
            ..ListOptions::default()
        };
        let mut objects: Vec<ObjectInfo> = Vec::new();
        loop {
            let page = self.store.list(&options).await?;
            objects.extend(page.objects);
            if !page.truncated {
                return Ok(objects);
            }
            options.start_after = objects.last().map(|o| o.key.clone());
        }
    }

    pub(crate) async fn blob_link(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<BlobRecord>> {
        self.read_record(&layout::layer_link(name, digest)).await
    }

    /// Records that `name` holds the blob (an idempotent overwrite), then checks that the
    /// blob's record is still there. Garbage collection deletes a record before its bytes
    /// and looks for new links afterwards, so a link written while it collects is either
    /// seen by it (and the record restored) or sees the record gone: then the link is
    /// removed again and the answer is `false`.
    pub(crate) async fn write_link(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        record: &BlobRecord,
    ) -> StorageResult<bool> {
        let json = serde_json::to_vec(record).expect("blob record serialises");
        let link = layout::layer_link(name, digest);
        self.store.put(&link, json, PutOptions::default()).await?;
        if self.store.head(&layout::blob(digest)).await?.is_some() {
            return Ok(true);
        }
        self.store.delete(&[link]).await?;
        Ok(false)
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
}

/// The one id [`FixedEnvironment`] makes, in the form of the registry's ids.
#[cfg(test)]
pub(crate) const FIXED_ID: &str = "0123456789abcdef0123456789abcdef";

/// A clock standing at 0 and one id, for unit tests.
#[cfg(test)]
pub(crate) struct FixedEnvironment;

#[cfg(test)]
impl Environment for FixedEnvironment {
    fn now_ms(&self) -> u64 {
        0
    }

    fn new_id(&self) -> String {
        FIXED_ID.into()
    }
}
