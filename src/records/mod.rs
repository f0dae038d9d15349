//! The records layer: every record the registry stores, and the conventions that go with it
//! (where its key is, how it is encoded, which metadata it carries). The API handlers and
//! maintenance read and write records through it, never a key of their own making.
//!
//! One file per subject: `blobs` (blob records, repository links, data objects and their
//! public copies), `manifests` (manifests and their referrers entries), `tags` (tags and
//! untag markers), `catalog`, `catalog_pages` (what the web pages read), `listing` (paging
//! through any of them in bounded list calls),
//! `uploads` (sessions in KV, progress steps in the bucket), `scans` (each image's scan and
//! report), `advisories` (OSV exports, their index in bounded steps, and what matching reads
//! of it); for maintenance, `walk` (listing
//! each kind of record page by page and reading its keys back), `collect` (what garbage
//! collection deletes and restores) and `gc` (maintenance's own state, lease and graphs).
//! Where every key is lives in `layout`.

pub mod advisories;
mod artifacts;
mod blobs;
mod catalog;
mod catalog_pages;
pub mod collect;
pub mod gc;
// Keys are made here and nowhere else; tests may read them to look at what is stored.
#[cfg(not(test))]
mod layout;
#[cfg(test)]
pub(crate) mod layout;
mod listing;
mod manifests;
mod oidc_keys;
mod scans;
mod tags;
mod uploads;
pub mod walk;

use std::cell::RefCell;

use serde::Deserialize;

use crate::scan::Job;

use crate::storage::{
    ListOptions, MultipartStore, ObjectInfo, ObjectStore, SessionStore, StorageError,
    StorageResult, LIST_PAGE_MAX,
};

pub(crate) use artifacts::Artifact;
pub use blobs::BlobRecord;
pub(crate) use blobs::PublicCopy;
pub(crate) use catalog_pages::{ListedTag, ManifestBytes};
pub use listing::LIST_CALLS_MAX;
pub(crate) use listing::{Entry, Page};
pub(crate) use scans::ListedScan;
pub use scans::{ScanRecord, ScanStatus};
pub use tags::{is_untagged, tag_target, TagState, DIGEST_META, UNTAGGED_META};
pub(crate) use uploads::{SessionRecord, Steps};

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

/// The registry's stored state: the bucket, the public-blobs bucket, the upload sessions, and
/// the clock and ids new records are made with.
pub struct Records<S, K, E> {
    pub(crate) store: S,
    /// The public-blobs bucket, when public repositories' large blobs are served from a
    /// public bucket (README "Pulls"): it holds their bytes and nothing else.
    pub(crate) public_blobs: Option<S>,
    pub(crate) sessions: K,
    pub(crate) env: E,
    /// Jobs for the queue, which the platform sends once the request or job that made them
    /// is done: the core never talks to the queue itself.
    outbox: RefCell<Vec<Job>>,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub fn new(store: S, public_blobs: Option<S>, sessions: K, env: E) -> Self {
        Records {
            store,
            public_blobs,
            sessions,
            env,
            outbox: RefCell::new(Vec::new()),
        }
    }

    /// Queues `job` to be sent when the current request or job is done.
    pub(crate) fn enqueue(&self, job: Job) {
        self.outbox.borrow_mut().push(job);
    }

    /// The jobs queued so far, for the platform to send; the outbox is left empty.
    pub fn take_jobs(&self) -> Vec<Job> {
        std::mem::take(&mut *self.outbox.borrow_mut())
    }

    /// Reads a small JSON record of ours.
    pub(crate) async fn read_record<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> StorageResult<Option<T>> {
        let Some((_, bytes)) = self.store.get_bytes(key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::Corrupt(format!("{key}: {e}")))?;
        Ok(Some(record))
    }

    /// Every object under `prefix`, page after page.
    pub(crate) async fn list_all(
        &self,
        prefix: &str,
        with_metadata: bool,
    ) -> StorageResult<Vec<ObjectInfo>> {
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
}

/// The clock a memory store stamps objects with, and ids counted up from 1: a deterministic
/// environment for tests over [`crate::storage::memory`] (native only, like that store).
#[cfg(not(target_arch = "wasm32"))]
pub struct ClockedEnvironment {
    /// Shared with the store; tests move it to let time pass.
    pub clock: crate::storage::memory::Clock,
    next_id: std::cell::Cell<u64>,
}

#[cfg(not(target_arch = "wasm32"))]
impl ClockedEnvironment {
    pub fn new(clock: crate::storage::memory::Clock) -> Self {
        ClockedEnvironment {
            clock,
            next_id: std::cell::Cell::new(0),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Environment for ClockedEnvironment {
    fn now_ms(&self) -> u64 {
        self.clock.get()
    }

    fn new_id(&self) -> String {
        self.next_id.set(self.next_id.get() + 1);
        format!("{:032x}", self.next_id.get())
    }
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

/// Records over memory stores, for unit tests.
#[cfg(test)]
pub(crate) fn memory_records<S, K>(store: S, sessions: K) -> Records<S, K, FixedEnvironment>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
{
    Records::new(store, None, sessions, FixedEnvironment)
}
