//! Counting the storage operations requests cost, in the classes Cloudflare bills them by:
//! R2 class A (writes, lists, multipart steps), R2 class B (reads, heads), KV reads and
//! writes. Deletes and multipart aborts are free in R2 and not counted.

use std::cell::Cell;
use std::rc::Rc;

use crate::oci::Digest;

use super::{
    ByteRange, ListOptions, ListPage, MultipartStore, ObjectInfo, ObjectStore, PutOptions,
    SessionStore, StorageResult,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub class_a: u64,
    pub class_b: u64,
    pub kv_reads: u64,
    /// Writes and deletes: KV bills both at the write price.
    pub kv_writes: u64,
}

/// Shared by the stores of one request: each adds what it did.
#[derive(Debug, Clone, Default)]
pub struct OpCounter(Rc<Cell<OpCounts>>);

impl OpCounter {
    pub fn counts(&self) -> OpCounts {
        self.0.get()
    }

    fn add(&self, f: impl FnOnce(&mut OpCounts)) {
        let mut counts = self.0.get();
        f(&mut counts);
        self.0.set(counts);
    }
}

/// A store that counts what passes through it.
pub struct Metered<S> {
    inner: S,
    counter: OpCounter,
}

impl<S> Metered<S> {
    pub fn new(inner: S, counter: OpCounter) -> Self {
        Metered { inner, counter }
    }

    /// The store underneath, for tests that look at what is stored.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn class_a(&self, n: u64) {
        self.counter.add(|c| c.class_a += n);
    }

    fn class_b(&self, n: u64) {
        self.counter.add(|c| c.class_b += n);
    }
}

impl<S: ObjectStore> ObjectStore for Metered<S> {
    type Body = S::Body;
    type Reader = S::Reader;
    type Incoming = S::Incoming;

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectInfo>> {
        self.class_b(1);
        self.inner.head(key).await
    }

    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> StorageResult<Option<(ObjectInfo, S::Body)>> {
        self.class_b(1);
        self.inner.get(key, range).await
    }

    async fn concat(&self, pieces: Vec<(String, ByteRange)>) -> StorageResult<S::Body> {
        self.class_b(pieces.len() as u64);
        self.inner.concat(pieces).await
    }

    async fn get_bytes(&self, key: &str) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>> {
        self.class_b(1);
        self.inner.get_bytes(key).await
    }

    async fn read(&self, key: &str) -> StorageResult<Option<S::Reader>> {
        self.class_b(1);
        self.inner.read(key).await
    }

    async fn read_range(&self, key: &str, range: ByteRange) -> StorageResult<Option<Vec<u8>>> {
        self.class_b(1);
        self.inner.read_range(key, range).await
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        options: PutOptions,
    ) -> StorageResult<Option<ObjectInfo>> {
        self.class_a(1);
        self.inner.put(key, bytes, options).await
    }

    async fn put_checked(
        &self,
        key: &str,
        body: S::Incoming,
        length: u64,
        sha256: [u8; 32],
    ) -> StorageResult<bool> {
        self.class_a(1);
        self.inner.put_checked(key, body, length, sha256).await
    }

    async fn put_stream(&self, key: &str, body: S::Incoming, length: u64) -> StorageResult<()> {
        self.class_a(1);
        self.inner.put_stream(key, body, length).await
    }

    async fn put_body(
        &self,
        key: &str,
        body: S::Body,
        length: u64,
        digest: &Digest,
    ) -> StorageResult<bool> {
        self.class_a(1);
        self.inner.put_body(key, body, length, digest).await
    }

    async fn delete(&self, keys: &[String]) -> StorageResult<()> {
        self.inner.delete(keys).await
    }

    async fn list(&self, options: &ListOptions) -> StorageResult<ListPage> {
        self.class_a(1);
        self.inner.list(options).await
    }
}

impl<S: MultipartStore> MultipartStore for Metered<S> {
    async fn create_multipart(&self, key: &str) -> StorageResult<String> {
        self.class_a(1);
        self.inner.create_multipart(key).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> StorageResult<String> {
        self.class_a(1);
        self.inner.upload_part(key, upload_id, number, bytes).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> StorageResult<()> {
        self.class_a(1);
        self.inner.complete_multipart(key, upload_id, etags).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> StorageResult<()> {
        self.inner.abort_multipart(key, upload_id).await
    }
}

impl<S: SessionStore> SessionStore for Metered<S> {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.counter.add(|c| c.kv_reads += 1);
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl_seconds: u64) -> StorageResult<()> {
        self.counter.add(|c| c.kv_writes += 1);
        self.inner.put(key, value, ttl_seconds).await
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.counter.add(|c| c.kv_writes += 1);
        self.inner.delete(key).await
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::storage::memory::MemoryStore;

    #[test]
    fn counts_by_billing_class() {
        let counter = OpCounter::default();
        let store = Metered::new(MemoryStore::new(), counter.clone());
        let sessions = Metered::new(MemoryStore::new(), counter.clone());
        block_on(async {
            ObjectStore::put(&store, "a", b"1".to_vec(), PutOptions::default())
                .await
                .unwrap();
            store.head("a").await.unwrap();
            store.get_bytes("a").await.unwrap();
            store.list(&ListOptions::default()).await.unwrap();
            ObjectStore::delete(&store, &["a".to_string()])
                .await
                .unwrap();
            SessionStore::put(&sessions, "s", b"x".to_vec(), 60)
                .await
                .unwrap();
            SessionStore::get(&sessions, "s").await.unwrap();
            SessionStore::delete(&sessions, "s").await.unwrap();
        });
        assert_eq!(
            counter.counts(),
            OpCounts {
                class_a: 2,
                class_b: 2,
                kv_reads: 1,
                kv_writes: 2
            }
        );
    }
}
