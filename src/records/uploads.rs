//! Uploads: the session record in KV, written once when an upload starts, and its progress in
//! the bucket, one object per accepted request (a step).
//!
//! Each accepted request writes step `n + 1` with create-if-absent, so of two requests racing
//! from step `n` exactly one wins, and the newest step is what a status request or a stale
//! Location reads back, with R2's strong consistency. Once step `n + 1` is written the steps
//! before it are deleted, so an upload keeps about one step (its carry, under one part), and a
//! request lists and reads a constant number of objects however many came before it.

use serde::{Deserialize, Serialize};

use super::{is_id, layout, Environment, Records};
use crate::oci::Algorithm;
use crate::storage::{
    MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore, StorageError, StorageResult,
    LIST_PAGE_MAX,
};
use crate::upload::{UploadState, Uploader};

/// Reads of an upload's newest step that may find it superseded and deleted by a request
/// that finished meanwhile, before the reader gives up with 429.
const PROGRESS_READ_ATTEMPTS: usize = 3;

/// The session record, written once to KV when an upload starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
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

/// The progress steps of an upload found beside its newest, the newest last.
#[derive(Default)]
pub(crate) struct Steps {
    keys: Vec<String>,
}

impl Steps {
    /// Whether the upload has accepted no request yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// A session of an upload to `repository` starting now, with a new data key.
    pub(crate) fn new_session(
        &self,
        repository: &str,
        algorithm: Algorithm,
        part_size: u64,
        segment_parts: u64,
    ) -> SessionRecord {
        SessionRecord {
            repository: repository.to_string(),
            data_key: self.new_data_key(),
            part_size,
            segment_parts,
            started_ms: self.env.now_ms(),
            algorithm,
        }
    }

    /// Writes `record` under a new upload id, kept by KV for `ttl_seconds`; returns the id.
    pub(crate) async fn start_session(
        &self,
        record: &SessionRecord,
        ttl_seconds: u64,
    ) -> StorageResult<String> {
        let id = self.env.new_id();
        let json = serde_json::to_vec(record).expect("session record serialises");
        self.sessions
            .put(&layout::session(&id), json, ttl_seconds)
            .await?;
        Ok(id)
    }

    /// The session record of upload `id`; `None` when there is none (or `id` could not be
    /// one of ours: it is checked before any key is made of it, as a long id would not even
    /// fit KV's keys).
    pub(crate) async fn session(&self, id: &str) -> StorageResult<Option<SessionRecord>> {
        if !is_id(id) {
            return Ok(None);
        }
        let Some(bytes) = self.sessions.get(&layout::session(id)).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Writes the session's bytes to its data key (see [`Uploader`]).
    pub(crate) fn uploader<'a>(&'a self, session: &'a SessionRecord) -> Uploader<'a, S> {
        Uploader::new(
            &self.store,
            &session.data_key,
            session.part_size,
            session.segment_parts,
        )
    }

    /// The keys of an upload's steps, oldest first (zero-padded: key order is step order).
    /// Every accepted request deletes the steps before its own, so this is one list call;
    /// steps whose deletion failed are followed all the same.
    async fn step_keys(&self, id: &str) -> StorageResult<Vec<String>> {
        let steps = self.list_all(&layout::upload_prefix(id), false).await?;
        Ok(steps.into_iter().map(|o| o.key).collect())
    }

    /// The progress that step `key` of upload `id` holds (a key of its steps' listing);
    /// `None` once the step is gone, [`StorageError::Corrupt`] if it does not decode.
    pub(crate) async fn read_upload_step(
        &self,
        id: &str,
        key: &str,
    ) -> StorageResult<Option<UploadState>> {
        let step = layout::upload_step_number(id, key)
            .ok_or_else(|| StorageError::Corrupt(format!("bad step key {key}")))?;
        let Some((_, bytes)) = self.store.get_bytes(key).await? else {
            return Ok(None);
        };
        UploadState::decode(step, &bytes).map(Some)
    }

    /// The newest progress of upload `id` (`None` inside when nothing was accepted yet), and
    /// its steps; `None` once it ended, or if `id` could not be one of ours. It needs nothing
    /// of the session record, so that the two are read at once. A step deleted between the
    /// listing and the read was superseded by a newer one, which a second listing finds; an
    /// upload whose steps all vanished ended and expired meanwhile.
    pub(crate) async fn newest_progress(
        &self,
        id: &str,
    ) -> StorageResult<Option<(Option<UploadState>, Steps)>> {
        if !is_id(id) {
            return Ok(None);
        }
        for attempt in 0..PROGRESS_READ_ATTEMPTS {
            let keys = self.step_keys(id).await?;
            let Some(newest) = keys.last() else {
                if attempt > 0 {
                    return Ok(None);
                }
                return Ok(Some((None, Steps { keys })));
            };
            if let Some(state) = self.read_upload_step(id, newest).await? {
                if state.is_ended() {
                    return Ok(None);
                }
                return Ok(Some((Some(state), Steps { keys })));
            }
        }
        Err(StorageError::TooManyRequests)
    }

    /// Records `progress` as step `step` of upload `id`; returns the upload's steps from then
    /// on, the steps before it to be forgotten (see [`Self::forget_steps`]) when the caller
    /// has nothing more urgent to do, or `None` if another request was accepted first (and
    /// nothing was recorded).
    pub(crate) async fn save_step(
        &self,
        id: &str,
        step: u32,
        progress: Vec<u8>,
    ) -> StorageResult<Option<Steps>> {
        let key = layout::upload_step(id, step);
        let create = PutOptions {
            mode: PutMode::CreateOnly,
            ..PutOptions::default()
        };
        if self.store.put(&key, progress, create).await?.is_none() {
            return Ok(None);
        }
        // Deleted steps free their numbers: a request that began from an older step can still
        // create its key after newer ones were accepted. A newer step beside it means it lost.
        let keys = self.step_keys(id).await?;
        let (older, newer): (Vec<String>, Vec<String>) = keys
            .into_iter()
            .filter(|k| *k != key)
            .partition(|k| *k < key);
        if !newer.is_empty() {
            // Best effort, as in `forget_steps`.
            let _ = self.store.delete(&[key]).await;
            return Ok(None);
        }
        let keys = older.into_iter().chain([key]).collect();
        Ok(Some(Steps { keys }))
    }

    /// Deletes the steps but the newest (the one just saved). Best effort: R2 takes
    /// about one write per second to a key, so a step written moments ago may refuse
    /// deletion; whatever stays is older than the newest step, and the next request, the end
    /// of the upload or its expiry deletes it.
    pub(crate) async fn forget_steps(&self, steps: &Steps) {
        let before_newest = steps.keys.split_last().map_or(&[][..], |(_, rest)| rest);
        for batch in before_newest.chunks(LIST_PAGE_MAX as usize) {
            let _ = self.store.delete(batch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::records::{memory_records, FIXED_ID};
    use crate::storage::memory::MemoryStore;
    use crate::storage::metered::{Metered, OpCounter};

    /// An id that cannot be one of ours is unknown before KV or the bucket is asked; a started
    /// session reads back as written.
    #[test]
    fn sessions_are_looked_up_by_their_ids_only() {
        let counter = OpCounter::default();
        let sessions = Metered::new(MemoryStore::new(), counter.clone());
        let store = Metered::new(MemoryStore::new(), counter.clone());
        let records = memory_records(store, sessions);
        for id in ["", "../x", &"a".repeat(600), &FIXED_ID.to_uppercase()] {
            assert_eq!(block_on(records.session(id)).unwrap(), None);
            assert!(block_on(records.newest_progress(id)).unwrap().is_none());
        }
        assert_eq!(counter.counts(), Default::default());
        let record = records.new_session("a", Algorithm::Sha512, 8, 2);
        let id = block_on(records.start_session(&record, 60)).unwrap();
        assert_eq!(block_on(records.session(&id)).unwrap(), Some(record));
    }

    /// Of two requests from one step, the second finds the next step taken and records
    /// nothing; an ended upload has no progress to resume.
    #[test]
    fn a_step_is_recorded_once_and_an_end_is_final() {
        let records = memory_records(MemoryStore::new(), MemoryStore::new());
        let fresh = block_on(records.newest_progress(FIXED_ID)).unwrap();
        let (state, steps) = fresh.unwrap();
        assert!(state.is_none() && steps.is_empty());
        let state = UploadState::new(Algorithm::Sha256);
        let first = block_on(records.save_step(FIXED_ID, 1, state.encode())).unwrap();
        assert!(first.is_some_and(|steps| !steps.is_empty()));
        let second = block_on(records.save_step(FIXED_ID, 1, state.encode())).unwrap();
        assert!(second.is_none());
        let end = state.bare_end_mark().encode();
        let ended = block_on(records.save_step(FIXED_ID, 2, end))
            .unwrap()
            .unwrap();
        block_on(records.forget_steps(&ended));
        assert_eq!(records.store.keys(), [layout::upload_step(FIXED_ID, 2)]);
        let after = block_on(records.newest_progress(FIXED_ID)).unwrap();
        assert!(after.is_none());
    }
}
