//! `/v2/<name>/blobs/uploads/`: starting, appending to, finishing, inspecting and cancelling
//! uploads, and cross-repository mounts.
//!
//! The session record lives in KV, written once when the upload starts. Progress lives in R2:
//! each accepted request writes step `n + 1` with create-if-absent, so of two requests racing
//! from step `n` exactly one wins, and the newest step is what a status request or a stale
//! Location reads back, with R2's strong consistency.

use futures::Stream;

use crate::api::{Request, Response};
use crate::app::{is_id, parse_digest, BlobRecord, Environment, Registry};
use crate::error::{Error, Result};
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::storage::{
    layout, MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore, LIST_PAGE_MAX,
};
use crate::upload::{BodyChunk, RequestBody, SessionRecord, UploadState, Uploader};

/// A session, its newest progress, and the keys of every step written so far.
struct Session {
    id: String,
    record: SessionRecord,
    state: UploadState,
    step_keys: Vec<String>,
}

impl<S, K, E> Registry<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// `may_pull` says which repositories the caller may read, and so mount from, or fails
    /// with the challenge that would let them.
    pub(crate) async fn start_upload<B>(
        &self,
        name: &RepositoryName,
        request: Request<B>,
        may_pull: impl Fn(&RepositoryName) -> Result<bool>,
    ) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        // What a chunked upload hashes as it goes; an algorithm we cannot verify is refused.
        let algorithm = request
            .query("digest-algorithm")
            .map(Algorithm::from_name)
            .transpose()?
            .unwrap_or_default();
        // A mount answered 201 says what the repositories hold: only for callers who may read
        // them; for anyone else it is a plain upload.
        if let Some(digest) = request.query("mount") {
            if may_pull(name)? {
                let digest = parse_digest(digest)?;
                let from = match request.query("from") {
                    Some(from) => {
                        let from = RepositoryName::parse(from, &request.host)?;
                        may_pull(&from)?.then_some(from)
                    }
                    None => None,
                };
                if let Some(response) = self.mount(name, from.as_ref(), &digest).await? {
                    return Ok(response);
                }
            }
        }
        if let Some(digest) = request.query("digest") {
            // A monolithic upload: the whole blob in this one request, no session needed.
            let digest = parse_digest(digest)?;
            let record = self.new_session(name, digest.algorithm());
            let uploader = Uploader::new(&self.store, &record);
            let length = request.content_length();
            let mut body = request.body;
            let segments = match uploader.put_whole(&mut body, length, &digest).await? {
                Some(segments) => segments,
                None => {
                    let mut state = UploadState::new(digest.algorithm());
                    uploader.append(&mut state, body).await?;
                    uploader.seal(state, &digest).await?
                }
            };
            self.commit_blob(name, &digest, BlobRecord::from_segments(segments))
                .await?;
            return Ok(blob_created(name, &digest));
        }
        let record = self.new_session(name, algorithm);
        let id = self.env.new_id();
        let json = serde_json::to_vec(&record).expect("session record serialises");
        self.sessions
            .put(&layout::session(&id), json, self.config.upload_ttl_seconds)
            .await?;
        let mut response = upload_accepted(name, &id, 0).header("Content-Length", "0");
        if let Some(max) = self.config.chunk_max_length {
            response = response.header("OCI-Chunk-Max-Length", max.to_string());
        }
        Ok(response)
    }

    fn new_session(&self, name: &RepositoryName, algorithm: Algorithm) -> SessionRecord {
        SessionRecord {
            repository: name.to_string(),
            data_key: layout::data(&self.env.new_id()),
            part_size: self.config.part_size,
            segment_parts: self.config.segment_parts,
            started_ms: self.env.now_ms(),
            algorithm,
        }
    }

    /// Answers a mount with 201 when `name` already holds the blob or `from` does (then it is
    /// linked into `name`); `None` otherwise. Without `from`, no other repository is looked
    /// at, so a mount never reveals what another repository holds.
    async fn mount(
        &self,
        name: &RepositoryName,
        from: Option<&RepositoryName>,
        digest: &Digest,
    ) -> Result<Option<Response<S::Body>>> {
        if self.blob_link(name, digest).await?.is_some() {
            return Ok(Some(blob_created(name, digest)));
        }
        let Some(from) = from else { return Ok(None) };
        let Some(record) = self.blob_link(from, digest).await? else {
            return Ok(None);
        };
        if !self.write_link(name, digest, &record).await? {
            return Ok(None);
        }
        Ok(Some(blob_created(name, digest)))
    }

    async fn load_session(&self, name: &RepositoryName, id: &str) -> Result<Session> {
        // Checked before any key is made of it: a long id would not even fit KV's keys.
        if !is_id(id) {
            return Err(Error::BlobUploadUnknown);
        }
        let bytes = self
            .sessions
            .get(&layout::session(id))
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        let record: SessionRecord =
            serde_json::from_slice(&bytes).map_err(|_| Error::BlobUploadUnknown)?;
        // KV keeps records for at least 60 s, whatever the TTL; the session ends at its TTL
        // all the same, so that maintenance may discard what it wrote from then on.
        let expires_ms = record.started_ms + self.config.upload_ttl_seconds * 1000;
        if record.repository != name.as_str() || self.env.now_ms() >= expires_ms {
            return Err(Error::BlobUploadUnknown);
        }
        let step_keys: Vec<String> = self
            .list_all(&layout::upload_prefix(id), false)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let state = match step_keys.last() {
            None => UploadState::new(record.algorithm),
            Some(key) => {
                let step = layout::upload_step_number(id, key)
                    .ok_or_else(|| Error::Internal(format!("bad step key {key}")))?;
                let (_, bytes) = self
                    .store
                    .get_bytes(key)
                    .await?
                    .ok_or(Error::BlobUploadUnknown)?;
                UploadState::decode(step, &bytes)?
            }
        };
        Ok(Session {
            id: id.to_string(),
            record,
            state,
            step_keys,
        })
    }

    /// Checks a `Content-Range: <start>-<end>` against where the upload stands.
    fn check_chunk<B>(&self, session: &Session, request: &Request<B>) -> Result<()> {
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

    pub(crate) async fn patch_upload<B>(
        &self,
        name: &RepositoryName,
        id: &str,
        request: Request<B>,
    ) -> Result<Response<S::Body>>
    where
        B: Stream<Item = BodyChunk> + Unpin,
    {
        let session = self.append_request(name, id, request).await?;
        Ok(upload_accepted(name, id, session.state.offset).header("Content-Length", "0"))
    }

    /// Checks a request's chunk against the session, appends its body, and records the
    /// progress as the next step.
    async fn append_request<B>(
        &self,
        name: &RepositoryName,
        id: &str,
        request: Request<B>,
    ) -> Result<Session>
    where
        B: Stream<Item = BodyChunk> + Unpin,
    {
        let mut session = self.load_session(name, id).await?;
        self.check_chunk(&session, &request)?;
        let uploader = Uploader::new(&self.store, &session.record);
        uploader.append(&mut session.state, request.body).await?;
        self.save_step(&mut session).await?;
        Ok(session)
    }

    /// Records the progress as the next step; fails if another request got there first.
    async fn save_step(&self, session: &mut Session) -> Result<()> {
        let key = layout::upload_step(&session.id, session.state.step + 1);
        let create = PutOptions {
            mode: PutMode::CreateOnly,
            ..PutOptions::default()
        };
        match self.store.put(&key, session.state.encode(), create).await? {
            Some(_) => {
                session.step_keys.push(key);
                Ok(())
            }
            None => Err(Error::RangeInvalid(
                "another request on this upload was accepted first".into(),
            )),
        }
    }

    pub(crate) async fn finish_upload<B>(
        &self,
        name: &RepositoryName,
        id: &str,
        mut request: Request<B>,
    ) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let digest = request
            .query("digest")
            .ok_or_else(|| Error::DigestInvalid("the closing PUT needs ?digest=".into()))
            .and_then(parse_digest)?;
        let mut session = self.load_session(name, id).await?;
        self.check_chunk(&session, &request)?;
        let record = session.record.clone();
        let uploader = Uploader::new(&self.store, &record);
        let length = request.content_length();
        // The closing step is claimed before anything is sealed, so that a racing PUT cannot
        // also commit. When nothing was sent before, the whole blob may be in this request
        // (oras, containerd), and the step is claimed before it is stored.
        let fresh = session.step_keys.is_empty();
        let whole = if fresh {
            self.save_step(&mut session).await?;
            uploader
                .put_whole(&mut request.body, length, &digest)
                .await
                .transpose()
        } else {
            None
        };
        let sealed = match whole {
            Some(stored) => stored,
            None => {
                uploader.append(&mut session.state, request.body).await?;
                if !fresh {
                    self.save_step(&mut session).await?;
                }
                let state = std::mem::take(&mut session.state);
                uploader.seal(state, &digest).await
            }
        };
        // Whatever the outcome, the session is over; on a digest mismatch nothing was kept,
        // so nothing of the upload becomes or stays visible.
        self.forget(&session).await?;
        self.commit_blob(name, &digest, BlobRecord::from_segments(sealed?))
            .await?;
        Ok(blob_created(name, &digest))
    }

    pub(crate) async fn upload_status(
        &self,
        name: &RepositoryName,
        id: &str,
    ) -> Result<Response<S::Body>> {
        let session = self.load_session(name, id).await?;
        let mut response = upload_accepted(name, id, session.state.offset);
        response.status = 204;
        Ok(response)
    }

    pub(crate) async fn cancel_upload(
        &self,
        name: &RepositoryName,
        id: &str,
    ) -> Result<Response<S::Body>> {
        let session = self.load_session(name, id).await?;
        let uploader = Uploader::new(&self.store, &session.record);
        uploader.abort(&session.state).await?;
        self.forget(&session).await?;
        Ok(Response::new(204))
    }

    /// Deletes the session's progress records and its KV record.
    async fn forget(&self, session: &Session) -> Result<()> {
        for batch in session.step_keys.chunks(LIST_PAGE_MAX as usize) {
            self.store.delete(batch).await?;
        }
        self.sessions.delete(&layout::session(&session.id)).await?;
        Ok(())
    }
}

fn upload_location(name: &RepositoryName, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// 202 with where the upload stands: `Range: 0-<last byte>` (`0-0` when empty, as clients expect).
fn upload_accepted<O>(name: &RepositoryName, id: &str, offset: u64) -> Response<O> {
    Response::new(202)
        .header("Location", upload_location(name, id))
        .header("Range", format!("0-{}", offset.saturating_sub(1)))
        .header("Docker-Upload-UUID", id)
}

fn blob_created<O>(name: &RepositoryName, digest: &Digest) -> Response<O> {
    Response::new(201)
        .header("Location", format!("/v2/{name}/blobs/{digest}"))
        .header("Docker-Content-Digest", digest.to_string())
        .header("Content-Length", "0")
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use futures::executor::block_on;
    use sha2::{Digest as _, Sha256};

    use crate::api::{Method, Request};
    use crate::app::{Config, Environment, Registry};
    use crate::auth::{Auth, Policy};
    use crate::oci::{Algorithm, Digest};
    use crate::storage::memory::{MemoryBody, MemoryStore};
    use crate::storage::SessionStore;

    const FIXED_ID: &str = "0123456789abcdef0123456789abcdef";

    struct Ids;

    impl Environment for Ids {
        fn now_ms(&self) -> u64 {
            0
        }

        fn new_id(&self) -> String {
            FIXED_ID.into()
        }
    }

    fn request(
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> Request<MemoryBody> {
        let admin = format!("Basic {}", STANDARD.encode("admin:pw"));
        Request {
            method,
            origin: "http://localhost".into(),
            host: "localhost".into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: vec![("authorization".into(), admin)],
            body: MemoryBody::new(body, body.len()),
        }
    }

    /// A finished or cancelled upload leaves neither progress objects nor a session record.
    #[test]
    fn finished_and_cancelled_uploads_leave_no_session_state() {
        let config = Config {
            part_size: 8,
            ..Config::default()
        };
        let admin = format!("admin {}", hex::encode(Sha256::digest(b"pw")));
        let auth = Auth {
            policy: Policy::parse("", Some(&admin), "").unwrap(),
            ..Auth::default()
        };
        let registry = Registry::new(
            MemoryStore::with_min_part(8),
            MemoryStore::new(),
            Ids,
            config,
            auth,
        );
        let blob = b"twenty bytes of blob";
        let digest = Digest::of(Algorithm::Sha256, blob).to_string();
        let path = format!("/v2/a/blobs/uploads/{FIXED_ID}");
        block_on(async {
            for finish in [Method::Put, Method::Delete] {
                let (started, _) = registry
                    .handle(request(Method::Post, "/v2/a/blobs/uploads/", &[], b""))
                    .await;
                assert_eq!(started.status, 202);
                let (patched, _) = registry
                    .handle(request(Method::Patch, &path, &[], blob))
                    .await;
                assert_eq!(patched.status, 202);
                assert!(registry
                    .store
                    .keys()
                    .iter()
                    .any(|k| k.starts_with(&format!("uploads/{FIXED_ID}/"))));
                let (done, _) = registry
                    .handle(request(finish, &path, &[("digest", &digest)], b""))
                    .await;
                assert!(matches!(done.status, 201 | 204), "{}", done.status);
                assert!(
                    !registry
                        .store
                        .keys()
                        .iter()
                        .any(|k| k.starts_with("uploads/")),
                    "{:?}",
                    registry.store.keys()
                );
                assert_eq!(registry.store.open_multiparts(), 0);
                let session = format!("upload/{FIXED_ID}");
                assert_eq!(registry.sessions.get(&session).await, Ok(None));
            }
        });
    }
}
