//! The upload session a request works on: its record, checked against the repository and its
//! time to live, and its newest progress; each accepted request records the next step.

use crate::api::Api;
use crate::api::Request;
use crate::error::{Error, Result};
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::records::{Environment, SessionRecord, Steps};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::upload::UploadState;

/// A session, its newest progress, and the steps found beside it.
pub(super) struct Session {
    pub id: String,
    pub record: SessionRecord,
    pub state: UploadState,
    pub steps: Steps,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// A new session of an upload to `name`, in this deployment's part sizes.
    pub(super) fn new_session(&self, name: &RepositoryName, algorithm: Algorithm) -> SessionRecord {
        let (part_size, segment_parts) = (self.config.part_size, self.config.segment_parts);
        self.records
            .new_session(name.as_str(), algorithm, part_size, segment_parts)
    }

    /// Upload `id` to `name` and its newest progress: unknown when there is no such upload,
    /// or it is another repository's, has expired, or has ended.
    pub(super) async fn load_session(&self, name: &RepositoryName, id: &str) -> Result<Session> {
        // The record and the progress are read at once: one round trip less per request.
        let (record, progress) =
            futures::join!(self.records.session(id), self.records.newest_progress(id));
        let record = record?.ok_or(Error::BlobUploadUnknown)?;
        // KV keeps records for at least 60 s, whatever the TTL; the session ends at its TTL
        // all the same, so that maintenance may discard what it wrote from then on.
        let expires_ms = record.started_ms + self.config.upload_ttl_seconds * 1000;
        if record.repository != name.as_str() || self.records.env.now_ms() >= expires_ms {
            return Err(Error::BlobUploadUnknown);
        }
        let (state, steps) = progress?.ok_or(Error::BlobUploadUnknown)?;
        let state = state.unwrap_or_else(|| UploadState::new(record.algorithm));
        Ok(Session {
            id: id.to_string(),
            record,
            state,
            steps,
        })
    }

    /// Checks a `Content-Range: <start>-<end>` against where the upload stands.
    pub(super) fn check_chunk<B>(&self, session: &Session, request: &Request<B>) -> Result<()> {
        let Some(range) = request.header("content-range") else {
            return Ok(());
        };
        let spec = range
            .trim()
            .trim_start_matches("bytes")
            .trim_start_matches([' ', '=']);
        let (start, end) = spec
            .split_once('-')
            .and_then(|(s, e)| Some((s.trim().parse::<u64>().ok()?, e.trim().parse::<u64>().ok()?)))
            .ok_or_else(|| {
                Error::BlobUploadInvalid(format!("Content-Range {range:?} is not <start>-<end>"))
            })?;
        if start != session.state.offset {
            return Err(Error::RangeInvalid(format!(
                "chunk starts at {start} but the upload has {} bytes",
                session.state.offset
            )));
        }
        // `end - start + 1` overflows for `0-18446744073709551615`: compare one less.
        if end < start
            || request
                .content_length()
                .is_some_and(|len| len.checked_sub(1) != Some(end - start))
        {
            return Err(Error::BlobUploadInvalid(format!(
                "Content-Range {range:?} does not match the body's length"
            )));
        }
        Ok(())
    }

    /// Records the progress as the next step and deletes the steps before it; fails if
    /// another request got there first.
    pub(super) async fn save_step(&self, session: &mut Session) -> Result<()> {
        let progress = session.state.encode();
        self.record_step(session, progress).await
    }

    /// Records the upload's end as the next step, which it keeps until it expires; fails if
    /// another request got there first. The mark names what a failure of the end would leave
    /// behind, for maintenance to discard; a finish's `closing` digest lets it see that the
    /// blob was stored instead.
    pub(super) async fn save_end(
        &self,
        session: &mut Session,
        closing: Option<&Digest>,
    ) -> Result<()> {
        let data_key = session.record.data_key.clone();
        let end = session.state.end_mark(&data_key, closing).encode();
        self.record_step(session, end).await
    }

    /// Records that the end left nothing behind. Best effort: without it, maintenance
    /// discards what the previous end mark names once more.
    pub(super) async fn save_bare_end(&self, session: &mut Session) {
        let end = session.state.bare_end_mark().encode();
        let _ = self.record_step(session, end).await;
    }

    async fn record_step(&self, session: &mut Session, progress: Vec<u8>) -> Result<()> {
        let step = session.state.step + 1;
        session.steps = self
            .records
            .save_step(&session.id, step, progress)
            .await?
            .ok_or_else(|| {
                Error::RangeInvalid("another request on this upload was accepted first".into())
            })?;
        session.state.step = step;
        Ok(())
    }
}
