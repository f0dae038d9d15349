//! The upload state machine.
//!
//! A blob arrives as any sequence of request bodies: one streamed PATCH of unknown length,
//! a POST or PUT with everything, or many PATCHes of arbitrary sizes. R2 multipart uploads
//! need parts of one fixed size (at least 5 MiB, the last may be shorter), so the bytes are
//! re-blocked into parts of the session's `part_size`; whatever is left over at the end of a
//! request (the carry) is saved with the progress and goes first into the next part. The
//! hash (SHA-256, or SHA-512 when the upload was started with `digest-algorithm=sha512`) is
//! computed as the bytes arrive and saved with the progress, so a blob's digest is verified
//! without reading it back. A blob that never fills one part is written with a
//! single put, no multipart upload at all.

mod hash;

use std::future::Future;
use std::pin::Pin;

use futures::future::{select, Either};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

pub use hash::ResumableHash;

use crate::oci::{Algorithm, Digest, DigestHasher};
use crate::storage::body::{BodyChunk, BodyReadError, RequestBody};
use crate::storage::{MultipartStore, ObjectStore, PutOptions, StorageError, MAX_SINGLE_PUT};

/// R2 allows at most 10,000 parts in a multipart upload; a segment holds one part fewer of
/// full parts, so that its last, shorter part always fits.
pub const MAX_SEGMENT_PARTS: u64 = 9_999;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The client's body could not be read (connection closed, malformed chunking).
    Read(String),
    Storage(StorageError),
    /// A body over a bounded read's limit.
    TooLarge {
        limit: usize,
    },
    DigestMismatch {
        expected: Digest,
        actual: Digest,
    },
    /// The store checked the bytes against the digest as it wrote them, and they differ.
    ContentMismatch {
        expected: Digest,
    },
}

impl From<StorageError> for UploadError {
    fn from(err: StorageError) -> Self {
        UploadError::Storage(err)
    }
}

impl From<BodyReadError> for UploadError {
    fn from(err: BodyReadError) -> Self {
        UploadError::Read(err.0)
    }
}

/// The session record, written once to KV when an upload starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub repository: String,
    /// Where the blob's bytes land; the key is unreachable until the digest is verified
    /// and a blob record points at it.
    pub data_key: String,
    pub part_size: u64,
    /// Full parts per segment: a blob larger than one multipart upload can hold is stored as
    /// several objects (segments), `data_key`, `data_key.1`, `data_key.2`, ...
    pub segment_parts: u64,
    pub started_ms: u64,
    /// What the upload hashes as the bytes arrive (`digest-algorithm`); a closing digest of
    /// another algorithm is checked by reading the blob back.
    #[serde(default)]
    pub algorithm: Algorithm,
}

/// One completed object of a blob's bytes; a blob is its segments in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub key: String,
    pub size: u64,
}

/// The keys of a blob's data objects, in order.
pub fn segment_keys(segments: &[Segment]) -> Vec<String> {
    segments.iter().map(|s| s.key.clone()).collect()
}

/// Progress after some number of accepted requests.
#[derive(Clone, Default)]
pub struct UploadState {
    /// How many requests have been accepted; the next one writes step `step + 1`.
    pub step: u32,
    pub offset: u64,
    hasher: ResumableHash,
    /// Segments already completed; the multipart upload below writes the next one.
    segments: Vec<Segment>,
    multipart: Option<String>,
    etags: Vec<String>,
    carry: Vec<u8>,
    /// The session's data key, kept with the progress so that an expired upload's parts can
    /// be found after its session record is gone.
    data_key: Option<String>,
    /// The upload was finished or cancelled (see [`UploadState::end_mark`]).
    ended: bool,
    /// The digest a finished upload was closed with, whose blob record names the data when
    /// the blob was stored.
    closing: Option<Digest>,
}

#[derive(Serialize, Deserialize)]
struct ProgressRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_key: Option<String>,
    offset: u64,
    /// The hash state: exactly one of the two, after the session's algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha512: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    segments: Vec<Segment>,
    multipart: Option<String>,
    etags: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ended: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closing: Option<String>,
}

impl UploadState {
    /// The state of an upload that has received nothing yet and hashes with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        UploadState {
            hasher: ResumableHash::new(algorithm),
            ..UploadState::default()
        }
    }

    /// `[u32 big-endian length of the JSON record][JSON record][carry bytes]`: one object per
    /// step holds both, so a step is written and read with one operation.
    pub fn encode(&self) -> Vec<u8> {
        let hash = Some(self.hasher.save());
        let (sha256, sha512) = match self.hasher.algorithm() {
            Algorithm::Sha256 => (hash, None),
            Algorithm::Sha512 => (None, hash),
        };
        let record = ProgressRecord {
            data_key: self.data_key.clone(),
            offset: self.offset,
            sha256,
            sha512,
            segments: self.segments.clone(),
            multipart: self.multipart.clone(),
            etags: self.etags.clone(),
            ended: self.ended,
            closing: self.closing.as_ref().map(Digest::to_string),
        };
        let json = serde_json::to_vec(&record).expect("progress record serialises");
        let mut out = Vec::with_capacity(4 + json.len() + self.carry.len());
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.carry);
        out
    }

    pub fn decode(step: u32, bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = || StorageError::Corrupt(format!("upload progress at step {step}"));
        let len = bytes.get(..4).ok_or_else(corrupt)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        let json = bytes.get(4..4 + len).ok_or_else(corrupt)?;
        let record: ProgressRecord = serde_json::from_slice(json).map_err(|_| corrupt())?;
        let closing = match &record.closing {
            Some(digest) => Some(digest.parse::<Digest>().map_err(|_| corrupt())?),
            None => None,
        };
        let hasher = match (&record.sha256, &record.sha512) {
            (Some(state), None) => ResumableHash::restore(Algorithm::Sha256, state),
            (None, Some(state)) => ResumableHash::restore(Algorithm::Sha512, state),
            _ => None,
        };
        Ok(UploadState {
            step,
            offset: record.offset,
            hasher: hasher.ok_or_else(corrupt)?,
            segments: record.segments,
            multipart: record.multipart,
            etags: record.etags,
            carry: bytes[4 + len..].to_vec(),
            data_key: record.data_key,
            ended: record.ended,
            closing,
        })
    }

    /// What an upload's last step holds once it is finished or cancelled: nothing to resume
    /// (no carry), only the fact, and what the end may leave behind should it fail: the data
    /// key, the open multipart upload and the completed segments, and the digest a finish
    /// closes with. Step numbers of deleted steps are free again, so without it a request
    /// that began before the end (or read a stale session record from KV) could start the
    /// upload over and write to the data key of the blob it became.
    pub fn end_mark(&self, data_key: &str, closing: Option<&Digest>) -> Self {
        UploadState {
            step: self.step,
            offset: self.offset,
            segments: self.segments.clone(),
            multipart: self.multipart.clone(),
            data_key: Some(data_key.to_string()),
            ended: true,
            closing: closing.cloned(),
            ..UploadState::default()
        }
    }

    /// The end mark of an upload whose end left nothing behind (all of it was discarded).
    pub fn bare_end_mark(&self) -> Self {
        UploadState {
            step: self.step,
            ended: true,
            ..UploadState::default()
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether the upload has started a multipart upload or completed a segment.
    pub fn has_objects(&self) -> bool {
        self.multipart.is_some() || !self.segments.is_empty()
    }

    pub fn data_key(&self) -> Option<&str> {
        self.data_key.as_deref()
    }

    pub fn closing(&self) -> Option<&Digest> {
        self.closing.as_ref()
    }

    /// Drops what an upload that will never finish has written: its open multipart upload
    /// and any completed segments. Progress written before data keys were recorded names no
    /// data; R2 aborts its multipart upload after 7 days.
    pub async fn discard<S>(&self, store: &S) -> Result<(), UploadError>
    where
        S: ObjectStore + MultipartStore,
    {
        match &self.data_key {
            Some(data_key) => discard(store, data_key, self).await,
            None => Ok(()),
        }
    }

    /// Deletes the data objects of a finished upload whose blob another upload stored: its
    /// own copy is surplus, and its seal most likely completed its multipart upload.
    pub async fn discard_data<S: ObjectStore>(&self, store: &S) -> Result<(), UploadError> {
        if let Some(data_key) = &self.data_key {
            store.delete(&data_keys(data_key, self)).await?;
        }
        Ok(())
    }
}

/// The completed segments of the blob whose bytes start at `data_key`, and the next one,
/// which a seal that failed after writing it may have left.
fn data_keys(data_key: &str, state: &UploadState) -> Vec<String> {
    let mut keys = segment_keys(&state.segments);
    keys.push(segment_key(data_key, state.segments.len()));
    keys
}

/// Deletes the data objects of the blob whose bytes start at `data_key` and aborts its open
/// multipart upload. The deletion comes first: an abort fails when a seal completed the upload.
async fn discard<S>(store: &S, data_key: &str, state: &UploadState) -> Result<(), UploadError>
where
    S: ObjectStore + MultipartStore,
{
    let deleted = store.delete(&data_keys(data_key, state)).await;
    if let Some(id) = &state.multipart {
        let next = segment_key(data_key, state.segments.len());
        store.abort_multipart(&next, id).await?;
    }
    Ok(deleted?)
}

/// Segment `index` of the blob whose bytes start at `key`: `key`, `key.1`, `key.2`, ...
fn segment_key(key: &str, index: usize) -> String {
    match index {
        0 => key.to_string(),
        n => format!("{key}.{n}"),
    }
}

type PartFuture<'a> = Pin<Box<dyn Future<Output = Result<String, StorageError>> + 'a>>;

/// Writes one session's bytes to its data key (and, for very large blobs, further segments).
pub struct Uploader<'a, S> {
    store: &'a S,
    key: &'a str,
    part_size: usize,
    segment_parts: usize,
}

impl<'a, S: ObjectStore + MultipartStore> Uploader<'a, S> {
    pub fn new(store: &'a S, session: &'a SessionRecord) -> Self {
        Uploader {
            store,
            key: &session.data_key,
            part_size: session.part_size as usize,
            segment_parts: session.segment_parts.clamp(1, MAX_SEGMENT_PARTS) as usize,
        }
    }

    fn segment_key(&self, index: usize) -> String {
        segment_key(self.key, index)
    }

    /// Writes a blob sent whole, its length and SHA-256 known before the first byte (a
    /// monolithic upload), as one object that the store checks as it writes: the bytes never
    /// enter the core. `None` when that cannot be done (no length, another algorithm, more than
    /// one put holds, a body already read) and the blob must be appended instead.
    pub async fn put_whole<B>(
        &self,
        body: &mut B,
        length: Option<u64>,
        expected: &Digest,
    ) -> Result<Option<Vec<Segment>>, UploadError>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let Some(length) = length.filter(|&l| l > 0 && l <= MAX_SINGLE_PUT) else {
            return Ok(None);
        };
        let sha256 = match expected.algorithm() {
            Algorithm::Sha256 => hex::decode(expected.hex()).ok(),
            Algorithm::Sha512 => None,
        };
        let Some(sha256) = sha256.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) else {
            return Ok(None);
        };
        let Some(whole) = body.take_whole() else {
            return Ok(None);
        };
        if !self
            .store
            .put_checked(self.key, whole, length, sha256)
            .await?
        {
            return Err(UploadError::ContentMismatch {
                expected: expected.clone(),
            });
        }
        Ok(Some(vec![Segment {
            key: self.key.to_string(),
            size: length,
        }]))
    }

    /// Streams `body` into the upload. At most one part is in flight while the next one
    /// fills, so memory stays at a few parts whatever the blob's size.
    pub async fn append<B>(&self, state: &mut UploadState, mut body: B) -> Result<(), UploadError>
    where
        B: Stream<Item = BodyChunk> + Unpin,
    {
        state.data_key = Some(self.key.to_string());
        let mut in_flight: Option<PartFuture<'a>> = None;
        loop {
            let next = match in_flight.as_mut() {
                None => body.next().await,
                Some(part) => match select(body.next(), part.as_mut()).await {
                    Either::Left((chunk, _)) => chunk,
                    Either::Right((etag, _)) => {
                        state.etags.push(etag?);
                        in_flight = None;
                        continue;
                    }
                },
            };
            let Some(chunk) = next else { break };
            let chunk = chunk?;
            state.hasher.update(&chunk);
            state.offset += chunk.len() as u64;
            let mut rest = chunk.as_slice();
            while !rest.is_empty() {
                let take = (self.part_size - state.carry.len()).min(rest.len());
                self.reserve_carry(&mut state.carry, take);
                state.carry.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if state.carry.len() == self.part_size {
                    if let Some(part) = in_flight.take() {
                        state.etags.push(part.await?);
                    }
                    let part = std::mem::take(&mut state.carry);
                    in_flight = Some(self.start_part(state, part).await?);
                }
            }
        }
        if let Some(part) = in_flight {
            state.etags.push(part.await?);
        }
        Ok(())
    }

    /// Grows the carry geometrically but never beyond one part, so that small blobs stay
    /// small and large ones do not copy a part's worth of bytes over and over.
    fn reserve_carry(&self, carry: &mut Vec<u8>, additional: usize) {
        let needed = carry.len() + additional;
        if needed > carry.capacity() {
            let target = needed.max(carry.capacity() * 2).min(self.part_size);
            carry.reserve_exact(target - carry.len());
        }
    }

    async fn start_part(
        &self,
        state: &mut UploadState,
        part: Vec<u8>,
    ) -> Result<PartFuture<'a>, UploadError> {
        if state.etags.len() == self.segment_parts {
            let size = (self.segment_parts * self.part_size) as u64;
            self.complete_segment(state, size).await?;
        }
        let key = self.segment_key(state.segments.len());
        let upload_id = match &state.multipart {
            Some(id) => id.clone(),
            None => {
                let id = self.store.create_multipart(&key).await?;
                state.multipart = Some(id.clone());
                id
            }
        };
        let number = (state.etags.len() + 1) as u16;
        let store = self.store;
        Ok(Box::pin(async move {
            store.upload_part(&key, &upload_id, number, part).await
        }))
    }

    /// Completes the current multipart upload, of `size` bytes, as the next segment.
    async fn complete_segment(
        &self,
        state: &mut UploadState,
        size: u64,
    ) -> Result<(), UploadError> {
        let key = self.segment_key(state.segments.len());
        if let Some(id) = state.multipart.take() {
            self.store
                .complete_multipart(&key, &id, &state.etags)
                .await?;
        }
        state.segments.push(Segment { key, size });
        state.etags.clear();
        Ok(())
    }

    /// Makes the blob's segments complete, if and only if its digest is `expected`, and
    /// returns them. On a mismatch nothing is left behind.
    pub async fn seal(
        &self,
        mut state: UploadState,
        expected: &Digest,
    ) -> Result<Vec<Segment>, UploadError> {
        let hashed = state.hasher.algorithm() == expected.algorithm();
        if state.multipart.is_none() && state.segments.is_empty() {
            // The whole blob is in the carry: check it before anything is written.
            let actual = if hashed {
                state.hasher.digest()
            } else {
                Digest::of(expected.algorithm(), &state.carry)
            };
            check(expected, actual)?;
            let segment = Segment {
                key: self.key.to_string(),
                size: state.carry.len() as u64,
            };
            self.put_octets(self.key, state.carry).await?;
            return Ok(vec![segment]);
        }
        if hashed {
            if let Err(mismatch) = check(expected, state.hasher.digest()) {
                self.abort(&state).await?;
                return Err(mismatch);
            }
        }
        let key = self.segment_key(state.segments.len());
        match state.multipart.clone() {
            Some(upload_id) => {
                if !state.carry.is_empty() {
                    let last = std::mem::take(&mut state.carry);
                    let number = (state.etags.len() + 1) as u16;
                    state.etags.push(
                        self.store
                            .upload_part(&key, &upload_id, number, last)
                            .await?,
                    );
                }
                let stored: u64 = state.segments.iter().map(|s| s.size).sum();
                let size = state.offset - stored;
                self.complete_segment(&mut state, size).await?;
            }
            None if !state.carry.is_empty() => {
                let size = state.carry.len() as u64;
                self.put_octets(&key, std::mem::take(&mut state.carry))
                    .await?;
                state.segments.push(Segment { key, size });
            }
            None => {}
        }
        if !hashed {
            // A digest in another algorithm than the upload announced (a sha512 upload that
            // did not say so) is rare: the blob is read back.
            let actual = self
                .digest_stored(&state.segments, expected.algorithm())
                .await?;
            if let Err(mismatch) = check(expected, actual) {
                self.store.delete(&segment_keys(&state.segments)).await?;
                return Err(mismatch);
            }
        }
        Ok(state.segments)
    }

    async fn put_octets(&self, key: &str, bytes: Vec<u8>) -> Result<(), UploadError> {
        let options = PutOptions {
            content_type: Some("application/octet-stream".into()),
            ..PutOptions::default()
        };
        self.store.put(key, bytes, options).await?;
        Ok(())
    }

    async fn digest_stored(
        &self,
        segments: &[Segment],
        algorithm: Algorithm,
    ) -> Result<Digest, UploadError> {
        let mut hasher = DigestHasher::new(algorithm);
        for segment in segments {
            let mut reader = self.store.read(&segment.key).await?.ok_or_else(|| {
                StorageError::Backend(format!("segment {} is missing", segment.key))
            })?;
            while let Some(chunk) = reader.next().await {
                hasher.update(&chunk?);
            }
        }
        Ok(hasher.finish())
    }

    /// Drops the parts uploaded so far and any completed segments.
    pub async fn abort(&self, state: &UploadState) -> Result<(), UploadError> {
        discard(self.store, self.key, state).await?;
        Ok(())
    }
}

fn check(expected: &Digest, actual: Digest) -> Result<(), UploadError> {
    if &actual == expected {
        Ok(())
    } else {
        Err(UploadError::DigestMismatch {
            expected: expected.clone(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::stream;

    use super::*;
    use crate::storage::memory::MemoryStore;
    use crate::storage::metered::{Metered, OpCounter};
    use crate::storage::ByteRange;

    const PART: u64 = 8;

    fn session(segment_parts: u64) -> SessionRecord {
        SessionRecord {
            repository: "r".into(),
            data_key: "data/x".into(),
            part_size: PART,
            segment_parts,
            started_ms: 0,
            algorithm: Algorithm::Sha256,
        }
    }

    fn body(chunks: &[&[u8]]) -> impl Stream<Item = BodyChunk> + Unpin {
        stream::iter(chunks.iter().map(|c| Ok(c.to_vec())).collect::<Vec<_>>())
    }

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// The bytes of sealed segments, read back in order.
    fn stored<S: ObjectStore<Body = Vec<u8>>>(store: &S, segments: &[Segment]) -> Vec<u8> {
        let pieces = segments
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    ByteRange {
                        offset: 0,
                        length: s.size,
                    },
                )
            })
            .collect();
        block_on(store.concat(pieces)).unwrap()
    }

    /// Sends `data` split at `cuts`, one request per piece, saving and restoring the state
    /// between requests as the registry does.
    fn upload_in_requests(
        store: &MemoryStore,
        session: &SessionRecord,
        data: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Segment>, UploadError> {
        block_on(async {
            let uploader = Uploader::new(store, session);
            let mut state = UploadState::default();
            let mut start = 0;
            for &end in cuts.iter().chain(std::iter::once(&data.len())) {
                uploader
                    .append(&mut state, body(&[&data[start..end]]))
                    .await?;
                state = UploadState::decode(state.step + 1, &state.encode()).unwrap();
                start = end;
            }
            uploader
                .seal(state, &Digest::of(Algorithm::Sha256, data))
                .await
        })
    }

    #[test]
    fn reblocks_any_cut_into_equal_parts() {
        let data = blob(53);
        for cuts in [
            vec![],
            vec![1],
            vec![7, 8, 9],
            vec![3, 20, 21, 40],
            (1..53).collect(),
        ] {
            let store = MemoryStore::with_min_part(PART as usize);
            let segments =
                upload_in_requests(&store, &session(MAX_SEGMENT_PARTS), &data, &cuts).unwrap();
            assert_eq!(
                segments,
                [Segment {
                    key: "data/x".into(),
                    size: 53
                }],
                "cuts {cuts:?}"
            );
            assert_eq!(
                block_on(store.get_bytes("data/x")).unwrap().unwrap().1,
                data
            );
        }
    }

    #[test]
    fn exact_multiples_of_the_part_size_complete() {
        for len in [0, 8, 16, 24] {
            let store = MemoryStore::with_min_part(PART as usize);
            let segments =
                upload_in_requests(&store, &session(MAX_SEGMENT_PARTS), &blob(len), &[]).unwrap();
            assert_eq!(segments.len(), 1);
            assert_eq!(stored(&store, &segments), blob(len));
        }
    }

    #[test]
    fn blobs_beyond_one_multipart_upload_continue_in_segments() {
        // Two full parts per segment; the last segment also takes the final, shorter part.
        for (len, cuts, expected) in [
            (53, vec![], vec![16, 16, 21]),
            (53, vec![5, 17, 40], vec![16, 16, 21]),
            (48, vec![], vec![16, 16, 16]),
            (40, vec![], vec![16, 16, 8]),
        ] {
            let data = blob(len);
            let store = MemoryStore::with_min_part(PART as usize);
            let segments = upload_in_requests(&store, &session(2), &data, &cuts).unwrap();
            let sizes: Vec<u64> = segments.iter().map(|s| s.size).collect();
            assert_eq!(sizes, expected, "len {len}, cuts {cuts:?}");
            assert_eq!(segments[1].key, "data/x.1");
            assert_eq!(stored(&store, &segments), data);
            assert_eq!(store.open_multiparts(), 0);
        }
    }

    #[test]
    fn small_blobs_use_a_single_put() {
        let store = MemoryStore::with_min_part(PART as usize);
        let session = session(MAX_SEGMENT_PARTS);
        let state = block_on(async {
            let uploader = Uploader::new(&store, &session);
            let mut state = UploadState::default();
            uploader
                .append(&mut state, body(&[b"abc", b"de"]))
                .await
                .unwrap();
            state
        });
        assert!(state.multipart.is_none());
        assert_eq!(store.open_multiparts(), 0);
    }

    #[test]
    fn digest_mismatch_leaves_nothing_visible() {
        for segment_parts in [MAX_SEGMENT_PARTS, 1] {
            let data = blob(30);
            let store = MemoryStore::with_min_part(PART as usize);
            let session = session(segment_parts);
            let result = block_on(async {
                let uploader = Uploader::new(&store, &session);
                let mut state = UploadState::default();
                uploader.append(&mut state, body(&[&data])).await.unwrap();
                uploader
                    .seal(state, &Digest::of(Algorithm::Sha256, b"other"))
                    .await
            });
            assert!(matches!(result, Err(UploadError::DigestMismatch { .. })));
            assert!(store.keys().is_empty(), "{:?}", store.keys());
            assert_eq!(store.open_multiparts(), 0);
        }
    }

    #[test]
    fn sha512_is_verified_for_single_multipart_and_segmented_blobs() {
        for (len, segment_parts) in [(5, MAX_SEGMENT_PARTS), (30, MAX_SEGMENT_PARTS), (30, 1)] {
            let data = blob(len);
            let store = MemoryStore::with_min_part(PART as usize);
            let session = session(segment_parts);
            let seal = |expected: Digest| {
                block_on(async {
                    let uploader = Uploader::new(&store, &session);
                    let mut state = UploadState::default();
                    uploader.append(&mut state, body(&[&data])).await.unwrap();
                    uploader.seal(state, &expected).await
                })
            };
            assert!(matches!(
                seal(Digest::of(Algorithm::Sha512, b"x")),
                Err(UploadError::DigestMismatch { .. })
            ));
            assert!(store.keys().is_empty(), "len {len}");
            let segments = seal(Digest::of(Algorithm::Sha512, &data)).unwrap();
            assert_eq!(stored(&store, &segments), data);
        }
    }

    /// An upload that announced sha512 hashes it across requests and never reads the blob
    /// back; one that did not reads it back to check a sha512 digest.
    #[test]
    fn sha512_uploads_hash_as_they_go_when_announced() {
        let data = blob(53);
        let expected = Digest::of(Algorithm::Sha512, &data);
        for (announced, reads_back) in [(Algorithm::Sha512, false), (Algorithm::Sha256, true)] {
            let counter = OpCounter::default();
            let store = Metered::new(MemoryStore::with_min_part(PART as usize), counter.clone());
            let session = session(MAX_SEGMENT_PARTS);
            let segments = block_on(async {
                let uploader = Uploader::new(&store, &session);
                let mut state = UploadState::new(announced);
                for piece in data.chunks(20) {
                    uploader.append(&mut state, body(&[piece])).await.unwrap();
                    state = UploadState::decode(state.step + 1, &state.encode()).unwrap();
                }
                let before_seal = counter.counts().class_b;
                let segments = uploader.seal(state, &expected).await.unwrap();
                assert_eq!(
                    counter.counts().class_b > before_seal,
                    reads_back,
                    "announced {announced:?}"
                );
                segments
            });
            assert_eq!(stored(&store, &segments), data);
        }
    }

    #[test]
    fn corrupt_progress_is_reported() {
        assert!(UploadState::decode(1, b"\0\0\0\x09{}").is_err());
        assert!(UploadState::decode(1, b"").is_err());
    }
}
