//! What the registry needs from storage, as small traits by capability.
//!
//! [`ObjectStore`] and [`MultipartStore`] are R2's semantics (strong consistency,
//! conditional puts, multipart parts of equal size); [`SessionStore`] is KV's (records
//! written once, with a time to live). The platform layer implements them over the Workers
//! bindings, [`memory`] in plain Rust for native tests. Where keys go is the records layer's
//! business (`records::layout`).

pub mod body;
#[cfg(not(target_arch = "wasm32"))]
pub mod memory;
pub mod metered;

use std::collections::BTreeMap;

use futures::Stream;

use crate::oci::Digest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The backend is rate-limiting this key or account (R2 10058, KV 429).
    #[error("storage is rate-limiting requests")]
    TooManyRequests,
    #[error("storage failed: {0}")]
    Backend(String),
    /// A record of ours that does not parse: a bug or tampering, never the client's fault.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// When the object was last written (R2's `uploaded`), in milliseconds since the epoch:
    /// what garbage collection's grace periods are measured against.
    pub uploaded_ms: u64,
}

/// How a put treats an existing object; R2 conditional puts give each of these atomically.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutMode {
    #[default]
    Overwrite,
    /// Only if no object has the key (`etagDoesNotMatch: "*"`).
    CreateOnly,
    /// Only if the object still has this etag (compare-and-swap).
    IfEtag(String),
}

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub mode: PutMode,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// `length` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub prefix: String,
    /// Exclusive lower bound on keys.
    pub start_after: Option<String>,
    pub limit: u32,
    pub with_metadata: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub truncated: bool,
}

/// R2 returns at most 1,000 keys per list call.
pub const LIST_PAGE_MAX: u32 = 1000;

pub type ByteChunk = StorageResult<Vec<u8>>;

/// The largest object one put may write (R2's limit for a single put).
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

#[allow(async_fn_in_trait)] // Single-threaded by design: Workers futures are not Send.
pub trait ObjectStore {
    /// An object's bytes, handed to the platform to stream out without passing through the core.
    type Body;
    type Reader: Stream<Item = ByteChunk> + Unpin;
    /// A request body as the platform received it, which the store can write without the
    /// core reading it (see [`body::RequestBody`]).
    type Incoming;

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectInfo>>;
    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> StorageResult<Option<(ObjectInfo, Self::Body)>>;
    /// The given ranges of several objects, one after the other, read lazily: the body of a
    /// blob stored in segments.
    async fn concat(&self, pieces: Vec<(String, ByteRange)>) -> StorageResult<Self::Body>;
    /// For small records only: the whole object in memory.
    async fn get_bytes(&self, key: &str) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>>;
    /// An object's bytes as a stream the core reads (to verify a digest).
    async fn read(&self, key: &str) -> StorageResult<Option<Self::Reader>>;
    /// `range` of an object's bytes in memory (less at the object's end): the caller bounds
    /// the length, to read a large object piece by piece.
    async fn read_range(&self, key: &str, range: ByteRange) -> StorageResult<Option<Vec<u8>>>;
    /// `Ok(None)` when the put's condition failed.
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        options: PutOptions,
    ) -> StorageResult<Option<ObjectInfo>>;
    /// Writes `body`, exactly `length` bytes (at most [`MAX_SINGLE_PUT`]), to a new object,
    /// which the store checks against `sha256` as it writes: `Ok(false)`, with nothing
    /// stored, when the bytes do not match.
    async fn put_checked(
        &self,
        key: &str,
        body: Self::Incoming,
        length: u64,
        sha256: [u8; 32],
    ) -> StorageResult<bool>;
    /// Writes `body`, exactly `length` bytes (at most [`MAX_SINGLE_PUT`]), to `key`, without
    /// the core reading them: for bodies whose digest nobody announced.
    async fn put_stream(&self, key: &str, body: Self::Incoming, length: u64) -> StorageResult<()>;
    /// Writes `body`, an object's bytes as this kind of store hands them out ([`Self::get`],
    /// of this bucket or another), to a new object of exactly `length` bytes (at most
    /// [`MAX_SINGLE_PUT`]), which the store checks against `digest` as it writes: `Ok(false)`,
    /// with nothing stored, when the bytes do not match. The bytes never pass through the core.
    async fn put_body(
        &self,
        key: &str,
        body: Self::Body,
        length: u64,
        digest: &Digest,
    ) -> StorageResult<bool>;
    async fn delete(&self, keys: &[String]) -> StorageResult<()>;
    async fn list(&self, options: &ListOptions) -> StorageResult<ListPage>;
}

#[allow(async_fn_in_trait)]
pub trait MultipartStore {
    /// Starts a multipart upload to `key` and returns its id.
    async fn create_multipart(&self, key: &str) -> StorageResult<String>;
    /// Uploads part `number` (from 1) and returns its etag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> StorageResult<String>;
    /// Makes the object visible at `key` from parts 1..=etags.len().
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> StorageResult<()>;
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> StorageResult<()>;
}

/// KV: eventually consistent, at most one write per second per key, so only records written
/// once are kept here.
#[allow(async_fn_in_trait)]
pub trait SessionStore {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>>;
    async fn put(&self, key: &str, value: Vec<u8>, ttl_seconds: u64) -> StorageResult<()>;
    async fn delete(&self, key: &str) -> StorageResult<()>;
}
