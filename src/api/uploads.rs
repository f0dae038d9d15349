//! `/v2/<name>/blobs/uploads/`: starting, appending to, finishing, inspecting and cancelling
//! uploads, and cross-repository mounts.
//!
//! The session record lives in KV, written once when the upload starts; progress lives in the
//! bucket, one step per accepted request (see `records::uploads`). A request that finds its
//! step taken by another one loses. An ended upload keeps its end mark, its newest step, and
//! its session record stays in KV until its TTL: the end mark already makes the upload
//! unknown, and deleting a record written within the second (a POST and then its PUT) may be
//! refused.

mod session;

use futures::Stream;

use self::session::Session;
use crate::api::parse_digest;
use crate::api::routes::Route;
use crate::api::Api;
use crate::api::{Request, Response, StatusCode};
use crate::error::{Error, Result};
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::records::{BlobRecord, Environment};
use crate::storage::body::{BodyChunk, RequestBody};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::upload::{UploadError, UploadState};

impl<S, K, E> Api<'_, S, K, E>
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
                if self.mount(name, from.as_ref(), &digest).await? {
                    return Ok(blob_created(name, &digest));
                }
            }
        }
        if let Some(digest) = request.query("digest") {
            // A monolithic upload: the whole blob in this one request, no session needed.
            let digest = parse_digest(digest)?;
            let record = self.new_session(name, digest.algorithm());
            let uploader = self.records.uploader(&record);
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
            self.records
                .commit_blob(name, &digest, BlobRecord::from_segments(segments))
                .await?;
            return Ok(blob_created(name, &digest));
        }
        let record = self.new_session(name, algorithm);
        let id = self
            .records
            .start_session(&record, self.config.upload_ttl_seconds)
            .await?;
        let mut response = upload_accepted(name, &id, 0).header("Content-Length", "0");
        // Without a chunk size of its own, the body limit is the largest chunk that passes.
        if let Some(max) = self.config.chunk_max_length.or(self.config.body_limit) {
            response = response.header("OCI-Chunk-Max-Length", max.to_string());
        }
        Ok(response)
    }

    /// Whether `name` holds the blob after a mount: it did already, or `from` does and it is
    /// linked into `name`. Without `from`, no other repository is looked at, so a mount never
    /// reveals what another repository holds.
    async fn mount(
        &self,
        name: &RepositoryName,
        from: Option<&RepositoryName>,
        digest: &Digest,
    ) -> Result<bool> {
        let held = self.records.blob_link(name, digest).await?.is_some();
        Ok(held
            || match from {
                Some(from) => self.records.link_from(name, from, digest).await?,
                None => false,
            })
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
        let uploader = self.records.uploader(&session.record);
        uploader.append(&mut session.state, request.body).await?;
        self.save_step(&mut session).await?;
        self.records.forget_steps(&session.steps).await;
        Ok(session)
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
        let uploader = self.records.uploader(&record);
        let length = request.content_length();
        // The closing step, the upload's end, is claimed before anything is sealed, so that a
        // racing PUT cannot also commit. When nothing was sent before, the whole blob may be in
        // this request (oras, containerd), and the step is claimed before it is stored.
        let fresh = session.steps.is_empty();
        let whole = if fresh {
            self.save_end(&mut session, Some(&digest)).await?;
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
                // The end mark must name every object the seal may leave behind.
                if !fresh || session.state.has_objects() {
                    self.save_end(&mut session, Some(&digest)).await?;
                }
                let bare = session.state.bare_end_mark();
                let state = std::mem::replace(&mut session.state, bare);
                uploader.seal(state, &digest).await
            }
        };
        if let Err(UploadError::DigestMismatch { .. } | UploadError::ContentMismatch { .. }) =
            sealed
        {
            // Nothing of the blob was kept, so nothing of the upload becomes or stays visible.
            self.save_bare_end(&mut session).await;
        }
        // Whatever the outcome, the session is over: the steps before its end go, while the
        // blob is committed. The end mark names what a seal that failed otherwise left
        // behind, for maintenance to discard.
        let commit = async {
            let record = BlobRecord::from_segments(sealed?);
            Ok::<_, Error>(self.records.commit_blob(name, &digest, record).await?)
        };
        let (_, committed) = futures::join!(self.records.forget_steps(&session.steps), commit);
        committed?;
        Ok(blob_created(name, &digest))
    }

    pub(crate) async fn upload_status(
        &self,
        name: &RepositoryName,
        id: &str,
    ) -> Result<Response<S::Body>> {
        let session = self.load_session(name, id).await?;
        let mut response = upload_accepted(name, id, session.state.offset);
        response.status = StatusCode::NO_CONTENT;
        Ok(response)
    }

    pub(crate) async fn cancel_upload(
        &self,
        name: &RepositoryName,
        id: &str,
    ) -> Result<Response<S::Body>> {
        let mut session = self.load_session(name, id).await?;
        self.save_end(&mut session, None).await?;
        let uploader = self.records.uploader(&session.record);
        // Should the abort fail, the end mark names what maintenance discards instead.
        uploader.abort(&session.state).await?;
        self.save_bare_end(&mut session).await;
        self.records.forget_steps(&session.steps).await;
        Ok(Response::new(StatusCode::NO_CONTENT))
    }
}

/// 202 with where the upload stands: `Range: 0-<last byte>` (`0-0` when empty, as clients expect).
fn upload_accepted<O>(name: &RepositoryName, id: &str, offset: u64) -> Response<O> {
    Response::new(StatusCode::ACCEPTED)
        .header("Location", Route::upload(name, id).to_string())
        .header("Range", format!("0-{}", offset.saturating_sub(1)))
        .header("Docker-Upload-UUID", id)
}

fn blob_created<O>(name: &RepositoryName, digest: &Digest) -> Response<O> {
    Response::new(StatusCode::CREATED)
        .header("Location", Route::blob(name, digest).to_string())
        .header("Docker-Content-Digest", digest.to_string())
        .header("Content-Length", "0")
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use futures::executor::block_on;
    use futures::FutureExt;
    use sha2::{Digest as _, Sha256};

    use crate::api::{Method, Request};
    use crate::app::Registry;
    use crate::auth::{Auth, Policy};
    use crate::config::Config;
    use crate::oci::{Algorithm, Digest};
    use crate::records::{FixedEnvironment, FIXED_ID};
    use crate::storage::memory::{MemoryBody, MemoryStore};
    use crate::storage::metered::{Metered, OpCounter, OpCounts};
    use crate::storage::{MultipartStore, ObjectStore, SessionStore, LIST_PAGE_MAX};
    use crate::upload::UploadState;

    fn request(
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> Request<MemoryBody> {
        let admin = format!("Basic {}", STANDARD.encode("admin:pw"));
        let body = MemoryBody::new(body, body.len());
        let mut request = Request::local(method, path, &[("authorization", &admin)], body);
        request.query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request
    }

    /// A registry with parts of `part_size` bytes, administered by [`request`]'s credentials.
    fn registry<S, K>(store: S, sessions: K, part_size: u64) -> Registry<S, K, FixedEnvironment>
    where
        S: ObjectStore + MultipartStore,
        K: SessionStore,
    {
        let admin = format!("admin {}", hex::encode(Sha256::digest(b"pw")));
        let auth = Auth {
            policy: Policy::parse("", Some(&admin), "").unwrap(),
            ..Auth::default()
        };
        let config = Config {
            part_size,
            ..Config::default()
        };
        Registry::new(store, sessions, FixedEnvironment, config, auth)
    }

    fn small_part_registry() -> Registry<MemoryStore, MemoryStore, FixedEnvironment> {
        registry(MemoryStore::with_min_part(8), MemoryStore::new(), 8)
    }

    /// A finished or cancelled upload leaves of its progress only the end mark, which holds
    /// no bytes of the blob, and is unknown from then on. A cancel that discarded everything
    /// records so in a second end mark.
    #[test]
    fn finished_and_cancelled_uploads_leave_only_their_end_mark() {
        let blob = b"twenty bytes of blob";
        let digest = Digest::of(Algorithm::Sha256, blob).to_string();
        let path = &format!("/v2/a/blobs/uploads/{FIXED_ID}");
        for (finish, end_step) in [(Method::PUT, 2), (Method::DELETE, 3)] {
            let registry = small_part_registry();
            block_on(async {
                let (started, _) = registry
                    .handle(request(Method::POST, "/v2/a/blobs/uploads/", &[], b""))
                    .await;
                assert_eq!(started.status, 202);
                let (patched, _) = registry
                    .handle(request(Method::PATCH, path, &[], blob))
                    .await;
                assert_eq!(patched.status, 202);
                let (done, _) = registry
                    .handle(request(finish, path, &[("digest", &digest)], b""))
                    .await;
                assert!(matches!(done.status.as_u16(), 201 | 204), "{}", done.status);
                let progress: Vec<String> = registry
                    .store()
                    .keys()
                    .into_iter()
                    .filter(|k| k.starts_with("uploads/"))
                    .collect();
                assert_eq!(progress, [format!("uploads/{FIXED_ID}/{end_step:010}")]);
                let read = registry.store().get_bytes(&progress[0]).await;
                let (_, mark) = read.unwrap().unwrap();
                // The record and nothing more: no carry after it.
                let record_len = u32::from_be_bytes(mark[..4].try_into().unwrap()) as usize;
                assert_eq!(mark.len(), 4 + record_len);
                assert!(UploadState::decode(end_step, &mark).unwrap().is_ended());
                assert_eq!(registry.store().open_multiparts(), 0);
                let (after, _) = registry.handle(request(Method::GET, path, &[], b"")).await;
                assert_eq!(after.status, 404);
            });
        }
    }

    /// A request on a finished upload still reads its session record (it stays in KV until its
    /// TTL, and KV, eventually consistent, could serve even a deleted one for a minute). The
    /// end mark makes the upload unknown all the same, so such a request cannot start it over
    /// and overwrite the data object of the blob it became.
    #[test]
    fn a_stale_session_record_cannot_restart_a_finished_upload() {
        let registry = small_part_registry();
        let blob = b"twenty bytes of blob";
        let digest = Digest::of(Algorithm::Sha256, blob).to_string();
        let other = b"other bytes";
        let other_digest = Digest::of(Algorithm::Sha256, other).to_string();
        let path = &format!("/v2/a/blobs/uploads/{FIXED_ID}");
        block_on(async {
            registry
                .handle(request(Method::POST, "/v2/a/blobs/uploads/", &[], b""))
                .await;
            let (done, _) = registry
                .handle(request(Method::PUT, path, &[("digest", &digest)], blob))
                .await;
            assert_eq!(done.status, 201);
            for method in [Method::PATCH, Method::PUT, Method::GET] {
                let query = [("digest", other_digest.as_str())];
                let (stale, _) = registry
                    .handle(request(method.clone(), path, &query, other))
                    .await;
                assert_eq!(stale.status, 404, "{method:?}");
            }
            let read = registry
                .store()
                .get_bytes(&format!("data/{FIXED_ID}"))
                .await;
            let (_, stored) = read.unwrap().unwrap();
            assert_eq!(stored, blob);
        });
    }

    const PART: u64 = 4096;

    /// A registry whose storage operations are counted, with parts larger than the tests send.
    fn metered_registry(
        counter: &OpCounter,
    ) -> Registry<Metered<MemoryStore>, Metered<MemoryStore>, FixedEnvironment> {
        let store = Metered::new(MemoryStore::with_min_part(PART as usize), counter.clone());
        registry(
            store,
            Metered::new(MemoryStore::new(), counter.clone()),
            PART,
        )
    }

    /// The progress objects an upload holds, and their bytes.
    fn progress(store: &Metered<MemoryStore>) -> (usize, usize) {
        let keys: Vec<String> = store
            .inner()
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("uploads/"))
            .collect();
        let bytes = keys
            .iter()
            .map(|k| {
                // The in-memory store answers at once, also inside a test's executor.
                let read = store.inner().get_bytes(k);
                read.now_or_never().unwrap().unwrap().unwrap().1.len()
            })
            .sum();
        (keys.len(), bytes)
    }

    /// Many 1-byte PATCHes: each leaves one progress object of under a part, and each costs
    /// the same storage operations, however many came before it (more than one list page).
    #[test]
    fn small_patches_keep_one_step_and_cost_the_same() {
        let counter = OpCounter::default();
        let registry = metered_registry(&counter);
        let path = &format!("/v2/a/blobs/uploads/{FIXED_ID}");
        let patches = LIST_PAGE_MAX as usize + 2;
        let mut costs: Vec<OpCounts> = Vec::new();
        block_on(async {
            let (started, _) = registry
                .handle(request(Method::POST, "/v2/a/blobs/uploads/", &[], b""))
                .await;
            assert_eq!(started.status, 202);
            for i in 0..patches {
                let before = counter.counts();
                let range = format!("{i}-{i}");
                let mut patch = request(Method::PATCH, path, &[], b"x");
                patch
                    .headers
                    .insert("content-range", range.parse().unwrap());
                let (patched, _) = registry.handle(patch).await;
                assert_eq!(patched.status, 202, "PATCH {}", i + 1);
                let after = counter.counts();
                costs.push(OpCounts {
                    class_a: after.class_a - before.class_a,
                    class_b: after.class_b - before.class_b,
                    kv_reads: after.kv_reads - before.kv_reads,
                    kv_writes: after.kv_writes - before.kv_writes,
                });
                let (objects, bytes) = progress(registry.store());
                assert_eq!(objects, 1, "progress objects after PATCH {}", i + 1);
                assert!(bytes < PART as usize + 200, "{bytes} bytes of progress");
            }
        });
        assert!(
            costs[1..].iter().all(|cost| *cost == costs[1]),
            "PATCH 2: {:?}, PATCH {patches}: {:?}",
            costs[1],
            costs[patches - 1]
        );
    }

    /// Deleted steps free their numbers: a request that began before later ones were accepted
    /// can create its step key again, and must still lose, leaving the newest progress alone.
    #[test]
    fn a_request_from_a_superseded_step_loses() {
        let counter = OpCounter::default();
        let registry = metered_registry(&counter);
        let path = &format!("/v2/a/blobs/uploads/{FIXED_ID}");
        let name = crate::oci::RepositoryName::parse("a", "").unwrap();
        block_on(async {
            registry
                .handle(request(Method::POST, "/v2/a/blobs/uploads/", &[], b""))
                .await;
            let patch = || request(Method::PATCH, path, &[], b"x");
            assert_eq!(registry.handle(patch()).await.0.status, 202);
            let mut stale = registry.api().load_session(&name, FIXED_ID).await.unwrap();
            for _ in 0..2 {
                assert_eq!(registry.handle(patch()).await.0.status, 202);
            }
            // Step 2 was written and then deleted when step 3 was.
            assert!(matches!(
                registry.api().save_step(&mut stale).await,
                Err(crate::error::Error::RangeInvalid(_))
            ));
            let (status, _) = registry.handle(request(Method::GET, path, &[], b"")).await;
            assert_eq!(status.status, 204);
            assert_eq!(status.get_header("Range"), Some("0-2"));
            assert_eq!(progress(registry.store()).0, 1);
        });
    }
}
