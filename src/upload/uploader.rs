//! Re-blocking a request body into equal parts, and sealing the blob once its digest checks.

use std::future::Future;
use std::pin::Pin;

use futures::future::{select, Either};
use futures::{Stream, StreamExt};

use super::segments::{segment_key, segment_keys, Segment, MAX_SEGMENT_PARTS};
use super::state::{discard, UploadState};
use super::UploadError;
use crate::oci::{Algorithm, Digest, DigestHasher};
use crate::storage::body::{BodyChunk, RequestBody};
use crate::storage::{MultipartStore, ObjectStore, PutOptions, StorageError, MAX_SINGLE_PUT};

type PartFuture<'a> = Pin<Box<dyn Future<Output = Result<String, StorageError>> + 'a>>;

/// Writes one session's bytes to its data key (and, for very large blobs, further segments).
pub struct Uploader<'a, S> {
    store: &'a S,
    key: &'a str,
    part_size: usize,
    segment_parts: usize,
}

impl<'a, S: ObjectStore + MultipartStore> Uploader<'a, S> {
    /// Writes to `data_key` in parts of `part_size`, a new segment after `segment_parts`
    /// full parts (at most [`MAX_SEGMENT_PARTS`]).
    pub fn new(store: &'a S, data_key: &'a str, part_size: u64, segment_parts: u64) -> Self {
        Uploader {
            store,
            key: data_key,
            part_size: part_size as usize,
            segment_parts: segment_parts.clamp(1, MAX_SEGMENT_PARTS) as usize,
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
