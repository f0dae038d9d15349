//! A deployment's settings: what the API and maintenance are configured with ([`Config`]),
//! and, in [`settings`], how each is parsed and checked from the worker's vars and secrets.

mod advisories;
pub mod settings;

pub use advisories::AdvisorySource;
pub use settings::{ConfigError, Settings, Switches};

use crate::immutable_tags::ImmutableTags;
use crate::maintenance::MaintenanceConfig;
use crate::presign::Signer;
use crate::upload::MAX_SEGMENT_PARTS;

/// What differs between deployments; the platform reads it from wrangler.toml vars.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of each R2 multipart part; an upload holds about three in memory at once.
    pub part_size: u64,
    /// How long an upload session lasts, counted from its start (not from its last request):
    /// after that it is unknown, and maintenance discards what it stored.
    pub upload_ttl_seconds: u64,
    /// Advertised as `OCI-Chunk-Max-Length`: the zone plan's request body limit.
    pub chunk_max_length: Option<u64>,
    /// `BODY_LIMIT_BYTES`: request bodies larger than this are refused with 413 before any
    /// handler reads them, as Cloudflare's edge refuses them in production. For local use
    /// (`scripts/dev --body-limit`), where no edge stands in front of the worker.
    pub body_limit: Option<u64>,
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
    /// `IMMUTABLE_TAGS`: tags that, once pushed, always name the same manifest (the API
    /// refuses to move or delete them, retention never deletes them).
    pub immutable_tags: ImmutableTags,
    /// Whether pushed images are scanned: the platform turns it off when no queue is bound.
    pub scanning: bool,
    /// `ADVISORY_SOURCES`: the OSV exports the Cron Trigger refreshes advisories from.
    pub advisory_sources: Vec<AdvisorySource>,
    /// `WEBHOOKS`: receivers of push and delete events, delivered through the jobs queue.
    pub webhooks: crate::webhooks::Webhooks,
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
/// 8 MiB, measured (README, Pulls): below it, a redirect's second request costs the client
/// more than the worker spends streaming the blob and storing it in the edge cache; above it,
/// the copy into the edge cache costs more than the redirect. Config blobs and small layers
/// stay on the worker and its edge cache.
pub const DEFAULT_REDIRECT_MIN_BYTES: u64 = 8 * 1024 * 1024;
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
            body_limit: None,
            segment_parts: MAX_SEGMENT_PARTS,
            blob_urls: None,
            redirect_min_bytes: DEFAULT_REDIRECT_MIN_BYTES,
            tag_cache_seconds: DEFAULT_TAG_CACHE_SECONDS,
            edge_cache_seconds: DEFAULT_EDGE_CACHE_SECONDS,
            maintenance: MaintenanceConfig::default(),
            immutable_tags: ImmutableTags::default(),
            scanning: true,
            advisory_sources: Vec::new(),
            webhooks: crate::webhooks::Webhooks::default(),
        }
    }
}
