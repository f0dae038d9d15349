//! An upload's progress between requests, and how it is saved as one object per step.

use serde::{Deserialize, Serialize};

use super::hash::ResumableHash;
use super::segments::{segment_key, segment_keys, Segment};
use super::UploadError;
use crate::oci::{Algorithm, Digest};
use crate::storage::{MultipartStore, ObjectStore, StorageError};

/// Progress after some number of accepted requests.
#[derive(Clone, Default)]
pub struct UploadState {
    /// How many requests have been accepted; the next one writes step `step + 1`.
    pub step: u32,
    pub offset: u64,
    pub(super) hasher: ResumableHash,
    /// Segments already completed; the multipart upload below writes the next one.
    pub(super) segments: Vec<Segment>,
    pub(super) multipart: Option<String>,
    pub(super) etags: Vec<String>,
    pub(super) carry: Vec<u8>,
    /// The session's data key, kept with the progress so that an expired upload's parts can
    /// be found after its session record is gone.
    pub(super) data_key: Option<String>,
    /// The upload was finished or cancelled (see [`UploadState::end_mark`]).
    pub(super) ended: bool,
    /// The digest a finished upload was closed with, whose blob record names the data when
    /// the blob was stored.
    pub(super) closing: Option<Digest>,
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

    /// The digest of the bytes received so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
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
pub(super) async fn discard<S>(
    store: &S,
    data_key: &str,
    state: &UploadState,
) -> Result<(), UploadError>
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
