//! Blobs: the global record of where a digest's bytes are, each repository's link to it, the
//! data objects themselves, and their copies in the public-blobs bucket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{layout, Environment, Records};
use crate::oci::{Digest, RepositoryName};
use crate::storage::{
    ByteRange, MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore, StorageError,
    StorageResult,
};
use crate::upload::{segment_keys, Segment};

/// Tries of a blob commit whose global record garbage collection keeps removing.
const COMMIT_ATTEMPTS: usize = 3;

/// The metadata of a link that holds its record (see [`BlobRecord::link_metadata`]).
const LINK_SIZE: &str = "size";
const LINK_KEY: &str = "key";

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

    /// The record as a link's metadata, which a head reads without the body: for a blob of
    /// one data object (a segment list may not fit R2's 2 KiB of metadata).
    fn link_metadata(&self) -> BTreeMap<String, String> {
        if !self.segments.is_empty() {
            return BTreeMap::new();
        }
        BTreeMap::from([
            (LINK_SIZE.to_string(), self.size.to_string()),
            (LINK_KEY.to_string(), self.key.clone()),
        ])
    }

    fn from_link_metadata(metadata: &BTreeMap<String, String>) -> Option<Self> {
        Some(BlobRecord {
            size: metadata.get(LINK_SIZE)?.parse().ok()?,
            key: metadata.get(LINK_KEY)?.clone(),
            segments: Vec::new(),
        })
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

/// Where a blob stands in the public-blobs bucket after [`Records::copy_to_public_bucket`].
pub(crate) enum PublicCopy {
    /// Its bytes are there, under this key (its path below the bucket's public URL).
    At(String),
    /// There is no public-blobs bucket.
    NoBucket,
    /// A concurrent pull is copying it (R2 refuses a second write to one key within a second).
    Busy,
    /// Its data object is gone from under its record.
    DataGone,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// A new, unique key for the bytes of a blob being uploaded: unreachable until the
    /// blob's digest is verified and a blob record names it.
    pub(crate) fn new_data_key(&self) -> String {
        layout::data(&self.env.new_id())
    }

    /// Where the bytes of a blob that `name` holds are; `None` if `name` does not hold it.
    pub(crate) async fn blob_link(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<BlobRecord>> {
        let link = layout::layer_link(name, digest);
        // A head answers sooner than a read and carries the record of almost every blob; a
        // segmented blob's link, or one written before links carried their record, is read.
        let Some(info) = self.store.head(&link).await? else {
            return Ok(None);
        };
        match BlobRecord::from_link_metadata(&info.metadata) {
            Some(record) => Ok(Some(record)),
            None => self.read_record(&link).await,
        }
    }

    /// Whether `name` links the blob (one head, the record unread).
    pub(crate) async fn has_blob_link(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<bool> {
        let link = self.store.head(&layout::layer_link(name, digest)).await?;
        Ok(link.is_some())
    }

    /// Removes the blob from `name`; says whether `name` linked it. The bytes stay for
    /// garbage collection to judge.
    pub(crate) async fn delete_blob_link(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<bool> {
        let key = layout::layer_link(name, digest);
        if self.store.head(&key).await?.is_none() {
            return Ok(false);
        }
        self.store.delete(&[key]).await?;
        Ok(true)
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
        let options = PutOptions {
            metadata: record.link_metadata(),
            ..PutOptions::default()
        };
        self.store.put(&link, json, options).await?;
        if self.store.head(&layout::blob(digest)).await?.is_some() {
            return Ok(true);
        }
        self.store.delete(&[link]).await?;
        Ok(false)
    }

    /// Links into `name` the blob that `from` links (a mount); `false` when `from` does not
    /// link it, or garbage collection is taking it (see [`Self::write_link`]).
    pub(crate) async fn link_from(
        &self,
        name: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<bool> {
        match self.blob_link(from, digest).await? {
            Some(record) => self.write_link(name, digest, &record).await,
            None => Ok(false),
        }
    }

    /// Links a blob the registry still holds into `name` again (see [`Self::write_link`]);
    /// `false` when it holds it no more.
    pub(crate) async fn relink_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<bool> {
        match self.read_record(&layout::blob(digest)).await? {
            Some(record) => self.write_link(name, digest, &record).await,
            None => Ok(false),
        }
    }

    /// Makes a verified blob, stored as `own`, visible in `name`. Concurrent uploads of one
    /// digest race on a create-if-absent of the global record; the loser links the winner's
    /// bytes and drops its own. Should garbage collection remove the winner's record
    /// meanwhile, the next attempt stores this upload's own bytes.
    pub(crate) async fn commit_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        own: BlobRecord,
    ) -> StorageResult<()> {
        let global = layout::blob(digest);
        let json = serde_json::to_vec(&own).expect("blob record serialises");
        let create = PutOptions {
            mode: PutMode::CreateOnly,
            ..PutOptions::default()
        };
        for _ in 0..COMMIT_ATTEMPTS {
            let record = match self
                .store
                .put(&global, json.clone(), create.clone())
                .await?
            {
                Some(_) => own.clone(),
                None => match self.existing_record(&global, &own, &json).await? {
                    Some(existing) => existing,
                    None => continue,
                },
            };
            if self.write_link(name, digest, &record).await? {
                if record.key != own.key {
                    self.store.delete(&own.keys()).await?;
                }
                return Ok(());
            }
        }
        Err(StorageError::TooManyRequests)
    }

    /// The blob's global record, or `None` if it is gone. A record whose bytes are gone (which
    /// two collections at once could once leave) is replaced by `own`, with a compare-and-swap,
    /// so that it never makes a push link missing bytes: the bytes are always written before
    /// their record, and deleted after it.
    async fn existing_record(
        &self,
        global: &str,
        own: &BlobRecord,
        own_json: &[u8],
    ) -> StorageResult<Option<BlobRecord>> {
        let Some((info, bytes)) = self.store.get_bytes(global).await? else {
            return Ok(None);
        };
        let existing: BlobRecord = serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::Corrupt(format!("{global}: {e}")))?;
        for key in existing.keys() {
            if self.store.head(&key).await?.is_none() {
                let replace = PutOptions {
                    mode: PutMode::IfEtag(info.etag),
                    ..PutOptions::default()
                };
                let replaced = self.store.put(global, own_json.to_vec(), replace).await?;
                return Ok(replaced.map(|_| own.clone()));
            }
        }
        Ok(Some(existing))
    }

    /// A blob's bytes, whole or `range` of them; `None` if its (one) data object is gone.
    /// One object is handed to the runtime as is; segments are stitched by the store.
    pub(crate) async fn blob_bytes(
        &self,
        record: &BlobRecord,
        range: Option<ByteRange>,
    ) -> StorageResult<Option<S::Body>> {
        if record.segments.is_empty() {
            let object = self.store.get(&record.key, range).await?;
            return Ok(object.map(|(_, body)| body));
        }
        let whole = ByteRange {
            offset: 0,
            length: record.size,
        };
        let pieces = record.pieces(range.unwrap_or(whole));
        Ok(Some(self.store.concat(pieces).await?))
    }

    /// The whole data object at `key` and its size, in one read (as R2 serves a signed URL);
    /// `None` as for [`Self::data_object`].
    pub(crate) async fn data_object_bytes(
        &self,
        key: &str,
    ) -> StorageResult<Option<(u64, S::Body)>> {
        if !key.starts_with(layout::DATA_PREFIX) {
            return Ok(None);
        }
        let object = self.store.get(key, None).await?;
        Ok(object.map(|(info, body)| (info.size, body)))
    }

    /// The data object at `key`, as the record of a blob of that one object; `None` if `key`
    /// names no data object (only data objects are ever served by key) or it is gone.
    pub(crate) async fn data_object(&self, key: &str) -> StorageResult<Option<BlobRecord>> {
        if !key.starts_with(layout::DATA_PREFIX) {
            return Ok(None);
        }
        let record = self.store.head(key).await?.map(|info| BlobRecord {
            size: info.size,
            key: key.to_string(),
            segments: Vec::new(),
        });
        Ok(record)
    }

    /// Copies the blob's bytes (one data object, at most one put's worth) to the public-blobs
    /// bucket unless they are there already. The runtime streams them from bucket to bucket,
    /// of known length, checked against the digest.
    pub(crate) async fn copy_to_public_bucket(
        &self,
        digest: &Digest,
        record: &BlobRecord,
    ) -> StorageResult<PublicCopy> {
        let Some(public) = &self.public_blobs else {
            return Ok(PublicCopy::NoBucket);
        };
        let key = layout::public_blob(digest);
        if public.head(&key).await?.is_none() {
            let Some((_, body)) = self.store.get(&record.key, None).await? else {
                return Ok(PublicCopy::DataGone);
            };
            match public.put_body(&key, body, record.size, digest).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(StorageError::Corrupt(format!(
                        "data object {} does not hold {digest}",
                        record.key
                    )))
                }
                Err(StorageError::TooManyRequests) => return Ok(PublicCopy::Busy),
                Err(error) => return Err(error),
            }
        }
        Ok(PublicCopy::At(key))
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::oci::Algorithm;
    use crate::records::memory_records;
    use crate::storage::memory::MemoryStore;
    use crate::storage::metered::{Metered, OpCounter};

    fn put(store: &MemoryStore, key: &str, bytes: &[u8]) {
        block_on(ObjectStore::put(
            store,
            key,
            bytes.to_vec(),
            PutOptions::default(),
        ))
        .unwrap();
    }

    fn one_object(key: &str, size: u64) -> BlobRecord {
        BlobRecord::from_segments(vec![Segment {
            key: key.into(),
            size,
        }])
    }

    /// Every range of a segmented blob reads exactly those bytes, across segment boundaries.
    #[test]
    fn any_range_of_a_segmented_blob_reads_its_bytes() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let data: Vec<u8> = (0..13).collect();
        let mut segments = Vec::new();
        for (i, piece) in [&data[..5], &data[5..10], &data[10..]].iter().enumerate() {
            let key = format!("data/x.{i}");
            put(&records.store, &key, piece);
            let size = piece.len() as u64;
            segments.push(Segment { key, size });
        }
        let record = BlobRecord::from_segments(segments);
        assert_eq!(record.size, 13);
        let whole = block_on(records.blob_bytes(&record, None)).unwrap();
        assert_eq!(whole, Some(data.clone()));
        for offset in 0..13 {
            for length in 1..=13 - offset {
                let range = ByteRange { offset, length };
                let read = block_on(records.blob_bytes(&record, Some(range))).unwrap();
                let (from, to) = (offset as usize, (offset + length) as usize);
                assert_eq!(read.as_deref(), Some(&data[from..to]), "{range:?}");
            }
        }
    }

    #[test]
    fn only_data_objects_are_served_by_key() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let digest = Digest::of(Algorithm::Sha256, b"blob");
        put(&records.store, "data/x", b"blob");
        put(&records.store, &layout::blob(&digest), b"{}");
        let served = block_on(records.data_object("data/x")).unwrap();
        assert_eq!(served, Some(one_object("data/x", 4)));
        for key in [
            layout::blob(&digest),
            "data/gone".into(),
            "uploads/x".into(),
        ] {
            assert_eq!(block_on(records.data_object(&key)).unwrap(), None, "{key}");
        }
    }

    /// The second commit of a digest links the first one's bytes and drops its own; a record
    /// whose bytes are gone is replaced by the next commit's.
    #[test]
    fn commits_of_one_digest_share_the_bytes_and_replace_lost_ones() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let digest = Digest::of(Algorithm::Sha256, b"blob");
        let names = ["a", "b", "c"].map(|n| RepositoryName::parse(n, "").unwrap());
        let commit = |name: &RepositoryName, key: &str| {
            put(&records.store, key, b"blob");
            block_on(records.commit_blob(name, &digest, one_object(key, 4))).unwrap();
            block_on(records.blob_link(name, &digest))
                .unwrap()
                .unwrap()
                .key
        };
        assert_eq!(commit(&names[0], "data/first"), "data/first");
        assert_eq!(commit(&names[1], "data/second"), "data/first");
        assert!(!records.store.keys().contains(&"data/second".to_string()));
        block_on(ObjectStore::delete(&records.store, &["data/first".into()])).unwrap();
        assert_eq!(commit(&names[2], "data/third"), "data/third");
        let global: BlobRecord = block_on(records.read_record(&layout::blob(&digest)))
            .unwrap()
            .unwrap();
        assert_eq!(global.key, "data/third");
    }

    /// A link carries its record in its metadata, so that a pull or HEAD reads it with one
    /// head; a segmented blob's link, and one written before links carried it, are read.
    #[test]
    fn a_link_is_read_with_one_head_and_older_links_still_read() {
        let counter = OpCounter::default();
        let store = Metered::new(MemoryStore::new(), counter.clone());
        let records = memory_records(store, MemoryStore::new());
        let name = RepositoryName::parse("a", "").unwrap();
        let segmented = BlobRecord::from_segments(vec![
            Segment {
                key: "data/s".into(),
                size: 3,
            },
            Segment {
                key: "data/s.1".into(),
                size: 2,
            },
        ]);
        for (blob, record, reads) in [
            (&b"one"[..], one_object("data/one", 3), 1),
            (b"segments", segmented, 2),
        ] {
            let digest = Digest::of(Algorithm::Sha256, blob);
            put(records.store.inner(), &layout::blob(&digest), b"{}");
            assert!(block_on(records.write_link(&name, &digest, &record)).unwrap());
            let before = counter.counts().class_b;
            let read = block_on(records.blob_link(&name, &digest)).unwrap();
            assert_eq!(read, Some(record));
            assert_eq!(counter.counts().class_b - before, reads);
        }
        let digest = Digest::of(Algorithm::Sha256, b"old");
        let old = one_object("data/old", 3);
        let json = serde_json::to_vec(&old).unwrap();
        put(
            records.store.inner(),
            &layout::layer_link(&name, &digest),
            &json,
        );
        assert_eq!(
            block_on(records.blob_link(&name, &digest)).unwrap(),
            Some(old)
        );
        let unknown = Digest::of(Algorithm::Sha256, b"unknown");
        assert_eq!(block_on(records.blob_link(&name, &unknown)).unwrap(), None);
    }
}
