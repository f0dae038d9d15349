//! The registry: a request in, a response out, over injected stores, clock and ids.

use serde::{Deserialize, Serialize};

use crate::api::access::Realm;
use crate::api::routes::{self, Route};
use crate::api::{Method, Request, Response};
use crate::auth::{Actions, Auth};
use crate::error::{Error, Result};
use crate::maintenance::MaintenanceConfig;
use crate::oci::{Digest, RepositoryName};
use crate::presign::Signer;
use crate::storage::ByteRange;
use crate::storage::{
    layout, ListOptions, MultipartStore, ObjectInfo, ObjectStore, SessionStore, LIST_PAGE_MAX,
};
use crate::upload::{segment_keys, RequestBody, Segment, MAX_SEGMENT_PARTS};

/// What differs between deployments; the platform reads it from wrangler.toml vars.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of each R2 multipart part; an upload holds about three in memory at once.
    pub part_size: u64,
    /// How long an upload session may stay idle before it is forgotten.
    pub upload_ttl_seconds: u64,
    /// Advertised as `OCI-Chunk-Max-Length`: the zone plan's request body limit.
    pub chunk_max_length: Option<u64>,
    /// Full parts per segment (at most 9,999). Lower only to exercise segmented blobs.
    pub segment_parts: u64,
    /// Where large blob pulls are sent instead of streaming through the worker; `None`
    /// streams every blob.
    pub blob_urls: Option<BlobUrls>,
    /// Blobs below this size stream from the worker (and may be cached at the edge); larger
    /// ones are redirected when `blob_urls` is set.
    pub redirect_min_bytes: u64,
    /// How long a tag may be answered from a cache before it is looked up again.
    pub tag_cache_seconds: u64,
    /// How long the edge cache keeps content addressed by digest: how long a deleted
    /// manifest or blob may still be served by another data center.
    pub edge_cache_seconds: u64,
    /// Upload expiry, retention and garbage collection.
    pub maintenance: MaintenanceConfig,
}

/// The store that presigned URLs point at.
#[derive(Debug, Clone)]
pub enum BlobEndpoint {
    /// R2's S3 API: `https://<host>/<bucket>/<key>`.
    R2 { host: String, bucket: String },
    /// The worker itself, which checks and serves its own URLs under `/_blobs/` (local mode,
    /// where no S3 endpoint exists).
    Worker,
}

/// Redirects of large blob pulls to signed URLs.
#[derive(Debug, Clone)]
pub struct BlobUrls {
    pub signer: Signer,
    pub endpoint: BlobEndpoint,
    pub expires_seconds: u64,
    /// For public repositories: the public-blobs bucket's base URL (an R2 custom domain,
    /// cached by the CDN), used instead of presigning; see `api::public_blobs`.
    pub public_base_url: Option<String>,
}

/// 16 MiB parts: R2 needs at least 5 MiB, a segment of 9,999 parts then holds 156 GiB, so
/// nearly every blob is one object, and three parts in memory stay far below the Workers' 128 MB.
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// A day: long enough for any real push, short enough that abandoned sessions go soon.
pub const DEFAULT_UPLOAD_TTL_SECONDS: u64 = 24 * 60 * 60;
/// 1 MiB: below it, a redirect's extra round trip costs more than streaming through the
/// worker; above it, streaming costs worker time that R2 serves for free. Config blobs and
/// small layers stay on the worker and its edge cache.
pub const DEFAULT_REDIRECT_MIN_BYTES: u64 = 1024 * 1024;
/// Five seconds: a pushed tag reaches every puller that soon, and a burst of pulls of one tag
/// costs one lookup per data center per five seconds.
pub const DEFAULT_TAG_CACHE_SECONDS: u64 = 5;
/// Five minutes: each data center reads a popular manifest from R2 once per five minutes,
/// and a deletion is seen everywhere within them.
pub const DEFAULT_EDGE_CACHE_SECONDS: u64 = 300;
/// Five minutes: long enough to start any download, short enough that a leaked URL soon dies.
pub const DEFAULT_PRESIGN_EXPIRES_SECONDS: u64 = 300;

impl Default for Config {
    fn default() -> Self {
        Config {
            part_size: DEFAULT_PART_SIZE,
            upload_ttl_seconds: DEFAULT_UPLOAD_TTL_SECONDS,
            chunk_max_length: None,
            segment_parts: MAX_SEGMENT_PARTS,
            blob_urls: None,
            redirect_min_bytes: DEFAULT_REDIRECT_MIN_BYTES,
            tag_cache_seconds: DEFAULT_TAG_CACHE_SECONDS,
            edge_cache_seconds: DEFAULT_EDGE_CACHE_SECONDS,
            maintenance: MaintenanceConfig::default(),
        }
    }
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

pub struct Registry<S, K, E> {
    pub(crate) store: S,
    /// The public-blobs bucket, when public repositories' large blobs are served from a
    /// public bucket (README "Pulls"): it holds their bytes and nothing else.
    pub(crate) public_blobs: Option<S>,
    pub(crate) sessions: K,
    pub(crate) env: E,
    pub(crate) config: Config,
    pub(crate) auth: Auth,
}

impl<S, K, E> Registry<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The object store, for tests that look at what is stored.
    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn new(store: S, sessions: K, env: E, config: Config, auth: Auth) -> Self {
        Registry {
            store,
            public_blobs: None,
            sessions,
            env,
            config,
            auth,
        }
    }

    /// Serves public repositories' large blobs from `public_blobs` (with
    /// `BlobUrls::public_base_url`), a bucket that holds nothing else.
    pub fn with_public_blobs(mut self, public_blobs: S) -> Self {
        self.public_blobs = Some(public_blobs);
        self
    }

    /// The public-blobs bucket, for tests that look at what it holds.
    pub fn public_blobs(&self) -> Option<&S> {
        self.public_blobs.as_ref()
    }

    /// Answers any request; failures become OCI error responses here and nowhere else.
    /// The error is returned beside the response so that the platform can log internal ones.
    pub async fn handle<B>(&self, request: Request<B>) -> (Response<S::Body>, Option<Error>)
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let is_head = request.method == Method::Head;
        let response = self.route(request).await;
        match response {
            Ok(response) => (response, None),
            Err(error) => {
                let mut response = Response::from_error(&error);
                if is_head {
                    response.body = crate::api::Body::Empty;
                }
                (
                    response.header("Docker-Distribution-API-Version", "registry/2.0"),
                    Some(error),
                )
            }
        }
    }

    async fn route<B>(&self, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let route = routes::parse(&request.path).ok_or(Error::RouteUnknown)?;
        match route {
            Route::Token => return self.token(request).await,
            // Signed URLs carry their own authorization.
            Route::SignedBlob => return self.signed_blob(&request).await,
            _ => {}
        }
        let realm = Realm::of(&request);
        let caller = self.caller(&request, &realm)?;
        // The name is checked before access, so that a challenge only ever quotes a valid name.
        let name = |raw: &str, need: Actions| {
            let name = RepositoryName::parse(raw, &request.host)?;
            self.authorize(&caller, &name, need, &realm)?;
            Ok::<_, Error>(name)
        };
        use Method::*;
        let (pull, push, delete) = (Actions::PULL, Actions::PUSH, Actions::DELETE);
        match (route, request.method) {
            (Route::Maintenance, Post) => {
                self.require_administrator(&caller, &realm)?;
                let dry_run = request.query("dry-run") == Some("true");
                let report = self.maintain(dry_run).await?;
                Ok(Response::new(200).json(&report, "application/json"))
            }
            (Route::Base, Get | Head) => {
                self.require_login(&caller, &realm)?;
                Ok(Response::new(200)
                    .header("Docker-Distribution-API-Version", "registry/2.0")
                    .bytes(b"{}".to_vec(), "application/json"))
            }
            (Route::Catalog, Get) => match self.token_catalog(&caller) {
                Some(names) => self.catalog_of(&request, names).await,
                None => {
                    let entry = |repository: &str| self.catalog_entry(&caller, repository);
                    self.catalog(&request, entry).await
                }
            },
            (Route::Tags { name: n }, Get) => self.tags(&name(&n, pull)?, &request).await,
            (Route::Referrers { name: n, digest }, Get) => {
                self.referrers(&name(&n, pull)?, &parse_digest(&digest)?, &request)
                    .await
            }
            (Route::Blob { name: n, digest }, method @ (Get | Head)) => {
                self.get_blob(
                    &name(&n, pull)?,
                    &parse_digest(&digest)?,
                    &request,
                    method == Head,
                )
                .await
            }
            (Route::Blob { name: n, digest }, Delete) => {
                self.delete_blob(&name(&n, delete)?, &parse_digest(&digest)?)
                    .await
            }
            (Route::UploadStart { name: n }, Post) => {
                let name = name(&n, push)?;
                let may_pull = |repository: &RepositoryName| {
                    self.may_mount_from(&caller, &name, repository, &realm)
                };
                self.start_upload(&name, request, may_pull).await
            }
            (Route::Upload { name: n, id }, method) => {
                let name = name(&n, push)?;
                match method {
                    Get => self.upload_status(&name, &id).await,
                    Patch => self.patch_upload(&name, &id, request).await,
                    Put => self.finish_upload(&name, &id, request).await,
                    Delete => self.cancel_upload(&name, &id).await,
                    _ => Err(Error::MethodNotAllowed),
                }
            }
            (Route::Manifest { name: n, reference }, method) => match method {
                Get | Head => {
                    let name = name(&n, pull)?;
                    self.get_manifest(&name, &reference, &request, method == Head)
                        .await
                }
                Put => {
                    self.put_manifest(&name(&n, push)?, &reference, request)
                        .await
                }
                Delete => self.delete_manifest(&name(&n, delete)?, &reference).await,
                _ => Err(Error::MethodNotAllowed),
            },
            _ => Err(Error::MethodNotAllowed),
        }
    }

    /// Reads a small JSON record of ours.
    pub(crate) async fn read_record<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>> {
        let Some((_, bytes)) = self.store.get_bytes(key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| crate::storage::StorageError::Corrupt(format!("{key}: {e}")))?;
        Ok(Some(record))
    }

    /// Every object under `prefix`, page after page.
    pub(crate) async fn list_all(
        &self,
        prefix: &str,
        with_metadata: bool,
    ) -> Result<Vec<ObjectInfo>> {
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
    ) -> Result<Option<BlobRecord>> {
        self.read_record(&layout::layer_link(name, digest)).await
    }
}

pub(crate) fn parse_digest(raw: &str) -> Result<Digest> {
    raw.parse().map_err(Error::from)
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

/// A registry over memory stores with the default settings, anonymous pulls refused in the
/// repositories `private` names, for unit tests.
#[cfg(test)]
pub(crate) fn test_registry(
    private: &str,
) -> Registry<
    crate::storage::memory::MemoryStore,
    crate::storage::memory::MemoryStore,
    FixedEnvironment,
> {
    use crate::storage::memory::MemoryStore;
    let auth = Auth {
        policy: crate::auth::Policy::parse("", None, private).unwrap(),
        ..Auth::default()
    };
    Registry::new(
        MemoryStore::new(),
        MemoryStore::new(),
        FixedEnvironment,
        Config::default(),
        auth,
    )
}
