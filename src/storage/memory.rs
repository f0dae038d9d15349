//! An in-memory store with R2's and KV's semantics, for fast native tests of the core.
//! It enforces R2's multipart rules so that the tests catch re-blocking mistakes, and lets a
//! test stop any operation at a chosen storage call ([`MemoryStore::pause`]) to interleave a
//! competing one there, deterministically, or make that call fail ([`MemoryStore::fail`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, Iter};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::oci::Digest;
use crate::storage::body::{BodyChunk, RequestBody};

const MIN_PART: usize = 5 * 1024 * 1024;

#[derive(Clone)]
struct Stored {
    bytes: Vec<u8>,
    info: ObjectInfo,
}

#[derive(Default)]
struct Multipart {
    key: String,
    parts: BTreeMap<u16, (String, Vec<u8>)>,
}

#[derive(Default)]
pub struct MemoryStore {
    objects: RefCell<BTreeMap<String, Stored>>,
    multiparts: RefCell<HashMap<String, Multipart>>,
    sessions: RefCell<HashMap<String, Vec<u8>>>,
    next_etag: RefCell<u64>,
    /// Smallest non-final part; R2's is 5 MiB, tests may lower it to keep data small.
    min_part: Option<usize>,
    /// The time objects are stamped with (milliseconds), shared with a test's clock.
    clock: Clock,
    /// Largest page a list returns: R2 may return fewer keys than asked for, and a small
    /// page lets a test stand for a large bucket.
    page_max: Option<u32>,
    pauses: RefCell<Vec<Pause>>,
    /// Storage calls made so far (creating multipart uploads, uploading parts and sessions
    /// not counted).
    calls: Cell<u64>,
}

/// The kinds of storage call a pause can wait at (`get_bytes` and `concat` are gets;
/// `Complete` and `Abort` end multipart uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Head,
    Get,
    Put,
    Delete,
    List,
    Complete,
    Abort,
}

/// Whether a pause holds a call before it touches the store or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

struct Pause {
    when: When,
    call: Call,
    /// Matched against the key (a list's prefix; any key of a batch delete).
    key: Box<dyn Fn(&str) -> bool>,
    /// Matching calls still to let through before this one holds.
    skip: usize,
    /// Where the call is held; `None` makes it fail instead.
    gate: Option<Gate>,
}

/// A storage call held by [`MemoryStore::pause`]: the test sees when it is reached and
/// lets it go on. The held future is `Pending` until then (tests poll it by hand).
#[derive(Clone, Default)]
pub struct Gate(Rc<Cell<(bool, bool)>>);

impl Gate {
    /// Whether a call has reached the gate and is held there.
    pub fn reached(&self) -> bool {
        self.0.get().0
    }

    pub fn release(&self) {
        self.0.set((self.reached(), true));
    }
}

/// A settable clock, so that tests can let grace periods pass.
pub type Clock = Rc<Cell<u64>>;

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_min_part(min_part: usize) -> Self {
        MemoryStore {
            min_part: Some(min_part),
            ..Self::default()
        }
    }

    /// Stamps objects with the time `clock` holds when they are written.
    pub fn with_clock(self, clock: Clock) -> Self {
        MemoryStore { clock, ..self }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Lists return at most `page_max` keys per call.
    pub fn with_page_max(self, page_max: u32) -> Self {
        MemoryStore {
            page_max: Some(page_max),
            ..self
        }
    }

    /// Holds the `nth` (from 1) `call` on a key `key` accepts, `when` it happens, until the
    /// returned gate is released.
    pub fn pause(
        &self,
        when: When,
        call: Call,
        key: impl Fn(&str) -> bool + 'static,
        nth: usize,
    ) -> Gate {
        let gate = Gate::default();
        self.pauses.borrow_mut().push(Pause {
            when,
            call,
            key: Box::new(key),
            skip: nth.saturating_sub(1),
            gate: Some(gate.clone()),
        });
        gate
    }

    /// Makes the `nth` (from 1) `call` on a key `key` accepts fail with a rate-limit error
    /// (R2's answer to too many writes of one key), `when` it happens: before it touches the
    /// store or after, as when the answer of a call that took effect is lost.
    pub fn fail(&self, when: When, call: Call, key: impl Fn(&str) -> bool + 'static, nth: usize) {
        self.pauses.borrow_mut().push(Pause {
            when,
            call,
            key: Box::new(key),
            skip: nth.saturating_sub(1),
            gate: None,
        });
    }

    /// Forgets the pauses not reached yet.
    pub fn clear_pauses(&self) {
        self.pauses.borrow_mut().clear();
    }

    /// The storage calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    /// Where every call passes, before and after it touches the store: holds it if a pause
    /// is set for it, or fails it.
    async fn checkpoint(&self, when: When, call: Call, keys: &[&str]) -> StorageResult<()> {
        if when == When::Before {
            self.calls.set(self.calls.get() + 1);
        }
        let gate = {
            let mut pauses = self.pauses.borrow_mut();
            let position = pauses.iter_mut().position(|pause| {
                let matches = pause.when == when
                    && pause.call == call
                    && keys.iter().any(|key| (pause.key)(key));
                if matches && pause.skip > 0 {
                    pause.skip -= 1;
                    return false;
                }
                matches
            });
            match position.map(|i| pauses.remove(i).gate) {
                None => None,
                Some(None) => return Err(StorageError::TooManyRequests),
                Some(Some(gate)) => Some(gate),
            }
        };
        if let Some(gate) = gate {
            gate.0.set((true, false));
            poll_fn(|_| {
                if gate.0.get().1 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        Ok(())
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
    }

    pub fn open_multiparts(&self) -> usize {
        self.multiparts.borrow().len()
    }

    fn etag(&self) -> String {
        let mut next = self.next_etag.borrow_mut();
        *next += 1;
        format!("etag-{next}")
    }
}

/// A request body in memory, delivered in chunks as a network would, or handed over whole.
pub struct MemoryBody {
    chunks: VecDeque<Vec<u8>>,
    read: bool,
}

impl MemoryBody {
    pub fn new(bytes: &[u8], chunk_size: usize) -> Self {
        MemoryBody {
            chunks: bytes
                .chunks(chunk_size.max(1))
                .map(<[u8]>::to_vec)
                .collect(),
            read: false,
        }
    }
}

impl Stream for MemoryBody {
    type Item = BodyChunk;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        self.read = true;
        Poll::Ready(self.chunks.pop_front().map(Ok))
    }
}

impl RequestBody for MemoryBody {
    type Whole = Vec<u8>;

    fn take_whole(&mut self) -> Option<Vec<u8>> {
        if self.read {
            return None;
        }
        self.read = true;
        Some(self.chunks.drain(..).flatten().collect())
    }
}

impl ObjectStore for MemoryStore {
    type Body = Vec<u8>;
    type Reader = Iter<std::vec::IntoIter<ByteChunk>>;
    type Incoming = Vec<u8>;

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectInfo>> {
        self.checkpoint(When::Before, Call::Head, &[key]).await?;
        let info = self.objects.borrow().get(key).map(|s| s.info.clone());
        self.checkpoint(When::After, Call::Head, &[key]).await?;
        Ok(info)
    }

    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>> {
        self.checkpoint(When::Before, Call::Get, &[key]).await?;
        let found = self.objects.borrow().get(key).map(|stored| {
            let bytes = match range {
                None => stored.bytes.clone(),
                Some(r) => {
                    let start = (r.offset as usize).min(stored.bytes.len());
                    let end = (start + r.length as usize).min(stored.bytes.len());
                    stored.bytes[start..end].to_vec()
                }
            };
            (stored.info.clone(), bytes)
        });
        self.checkpoint(When::After, Call::Get, &[key]).await?;
        Ok(found)
    }

    async fn concat(&self, pieces: Vec<(String, ByteRange)>) -> StorageResult<Vec<u8>> {
        let mut bytes = Vec::new();
        for (key, range) in pieces {
            let (_, piece) = ObjectStore::get(self, &key, Some(range))
                .await?
                .ok_or_else(|| StorageError::Backend(format!("{key} is missing")))?;
            bytes.extend_from_slice(&piece);
        }
        Ok(bytes)
    }

    async fn get_bytes(&self, key: &str) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>> {
        ObjectStore::get(self, key, None).await
    }

    async fn read(&self, key: &str) -> StorageResult<Option<Self::Reader>> {
        let objects = self.objects.borrow();
        Ok(objects.get(key).map(|s| {
            let chunks: Vec<ByteChunk> = s.bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
            stream::iter(chunks)
        }))
    }

    async fn read_range(&self, key: &str, range: ByteRange) -> StorageResult<Option<Vec<u8>>> {
        Ok(ObjectStore::get(self, key, Some(range))
            .await?
            .map(|(_, bytes)| bytes))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        options: PutOptions,
    ) -> StorageResult<Option<ObjectInfo>> {
        self.checkpoint(When::Before, Call::Put, &[key]).await?;
        let written = self.put_now(key, bytes, options);
        self.checkpoint(When::After, Call::Put, &[key]).await?;
        Ok(written)
    }

    async fn put_checked(
        &self,
        key: &str,
        body: Vec<u8>,
        length: u64,
        sha256: [u8; 32],
    ) -> StorageResult<bool> {
        if body.len() as u64 != length {
            return Err(StorageError::Backend(format!(
                "{} bytes where the length said {length}",
                body.len()
            )));
        }
        if Sha256::digest(&body).as_slice() != sha256 {
            return Ok(false);
        }
        ObjectStore::put(self, key, body, PutOptions::default()).await?;
        Ok(true)
    }

    async fn put_stream(&self, key: &str, body: Vec<u8>, length: u64) -> StorageResult<()> {
        if body.len() as u64 != length {
            return Err(StorageError::Backend(format!(
                "{} bytes where the length said {length}",
                body.len()
            )));
        }
        ObjectStore::put(self, key, body, PutOptions::default()).await?;
        Ok(())
    }

    async fn put_body(
        &self,
        key: &str,
        body: Vec<u8>,
        length: u64,
        digest: &Digest,
    ) -> StorageResult<bool> {
        if body.len() as u64 != length {
            return Err(StorageError::Backend(format!(
                "{} bytes where the length said {length}",
                body.len()
            )));
        }
        if &Digest::of(digest.algorithm(), &body) != digest {
            return Ok(false);
        }
        ObjectStore::put(self, key, body, PutOptions::default()).await?;
        Ok(true)
    }

    async fn delete(&self, keys: &[String]) -> StorageResult<()> {
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.checkpoint(When::Before, Call::Delete, &names).await?;
        {
            let mut objects = self.objects.borrow_mut();
            for key in keys {
                objects.remove(key);
            }
        }
        self.checkpoint(When::After, Call::Delete, &names).await?;
        Ok(())
    }

    async fn list(&self, options: &ListOptions) -> StorageResult<ListPage> {
        let prefix = [options.prefix.as_str()];
        self.checkpoint(When::Before, Call::List, &prefix).await?;
        let page = self.list_now(options);
        self.checkpoint(When::After, Call::List, &prefix).await?;
        Ok(page)
    }
}

impl MemoryStore {
    fn put_now(&self, key: &str, bytes: Vec<u8>, options: PutOptions) -> Option<ObjectInfo> {
        let mut objects = self.objects.borrow_mut();
        let allowed = match (&options.mode, objects.get(key)) {
            (PutMode::Overwrite, _) | (PutMode::CreateOnly, None) => true,
            (PutMode::CreateOnly, Some(_)) | (PutMode::IfEtag(_), None) => false,
            (PutMode::IfEtag(etag), Some(existing)) => &existing.info.etag == etag,
        };
        if !allowed {
            return None;
        }
        let info = ObjectInfo {
            key: key.to_string(),
            size: bytes.len() as u64,
            etag: self.etag(),
            content_type: options.content_type,
            metadata: options.metadata,
            uploaded_ms: self.clock.get(),
        };
        objects.insert(
            key.to_string(),
            Stored {
                bytes,
                info: info.clone(),
            },
        );
        Some(info)
    }

    fn list_now(&self, options: &ListOptions) -> ListPage {
        let objects = self.objects.borrow();
        let limit = options
            .limit
            .clamp(1, self.page_max.unwrap_or(LIST_PAGE_MAX).min(LIST_PAGE_MAX))
            as usize;
        let mut matching = objects
            .range(options.start_after.clone().unwrap_or_default()..)
            .filter(|(k, _)| Some(k.as_str()) != options.start_after.as_deref())
            .skip_while(|(k, _)| {
                !k.starts_with(&options.prefix) && k.as_str() < options.prefix.as_str()
            })
            .take_while(|(k, _)| k.starts_with(&options.prefix));
        let mut page = ListPage::default();
        for (_, stored) in matching.by_ref().take(limit) {
            let mut info = stored.info.clone();
            if !options.with_metadata {
                info.metadata.clear();
            }
            page.objects.push(info);
        }
        page.truncated = matching.next().is_some();
        page
    }
}

impl MultipartStore for MemoryStore {
    async fn create_multipart(&self, key: &str) -> StorageResult<String> {
        let id = format!("mpu-{}", self.etag());
        self.multiparts.borrow_mut().insert(
            id.clone(),
            Multipart {
                key: key.to_string(),
                ..Multipart::default()
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> StorageResult<String> {
        let etag = self.etag();
        let mut multiparts = self.multiparts.borrow_mut();
        let upload = multiparts
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StorageError::Backend("no such multipart upload".into()))?;
        if !(1..=10_000).contains(&number) {
            return Err(StorageError::Backend(format!(
                "part number {number} out of range"
            )));
        }
        upload.parts.insert(number, (etag.clone(), bytes));
        Ok(etag)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> StorageResult<()> {
        self.checkpoint(When::Before, Call::Complete, &[key])
            .await?;
        let upload = self
            .multiparts
            .borrow_mut()
            .remove(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StorageError::Backend("no such multipart upload".into()))?;
        let min_part = self.min_part.unwrap_or(MIN_PART);
        let mut bytes = Vec::new();
        let mut part_size = None;
        for (i, etag) in etags.iter().enumerate() {
            let number = i as u16 + 1;
            let (stored_etag, part) = upload
                .parts
                .get(&number)
                .ok_or_else(|| StorageError::Backend(format!("part {number} missing")))?;
            if stored_etag != etag {
                return Err(StorageError::Backend(format!(
                    "part {number} etag mismatch"
                )));
            }
            let last = i + 1 == etags.len();
            let size = *part_size.get_or_insert(part.len());
            // R2: every part but the last has the same size, at least the minimum; the last is not larger.
            if (!last && (part.len() != size || size < min_part)) || (last && part.len() > size) {
                return Err(StorageError::Backend(format!(
                    "part {number} has a size R2 would reject"
                )));
            }
            bytes.extend_from_slice(part);
        }
        let options = PutOptions::default();
        ObjectStore::put(self, key, bytes, options)
            .await
            .map(|_| ())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> StorageResult<()> {
        self.checkpoint(When::Before, Call::Abort, &[key]).await?;
        self.multiparts.borrow_mut().remove(upload_id);
        Ok(())
    }
}

/// KV refuses longer keys (in every operation) as a failure of the call, not as "not found".
const KV_MAX_KEY_BYTES: usize = 512;

fn kv_key(key: &str) -> StorageResult<&str> {
    if key.len() > KV_MAX_KEY_BYTES {
        return Err(StorageError::Backend(format!(
            "KV key of {} bytes is over {KV_MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(key)
}

impl SessionStore for MemoryStore {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.sessions.borrow().get(kv_key(key)?).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>, _ttl_seconds: u64) -> StorageResult<()> {
        self.sessions
            .borrow_mut()
            .insert(kv_key(key)?.to_string(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.sessions.borrow_mut().remove(kv_key(key)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
