//! Upload session records in Workers KV.

use worker::kv::{KvError, KvStore};

use crate::storage::{SessionStore, StorageError, StorageResult};

pub struct KvSessions {
    kv: KvStore,
}

impl KvSessions {
    pub fn new(kv: KvStore) -> Self {
        KvSessions { kv }
    }
}

fn storage_error(err: KvError) -> StorageError {
    let text = err.to_string();
    if text.contains("429") {
        StorageError::TooManyRequests
    } else {
        StorageError::Backend(format!("KV: {text}"))
    }
}

/// KV refuses time-to-live values under 60 seconds.
const MIN_TTL_SECONDS: u64 = 60;

impl SessionStore for KvSessions {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.kv.get(key).bytes().await.map_err(storage_error)
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl_seconds: u64) -> StorageResult<()> {
        let ttl = ttl_seconds.max(MIN_TTL_SECONDS);
        self.kv
            .put_bytes(key, &value)
            .map_err(storage_error)?
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(storage_error)
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.kv.delete(key).await.map_err(storage_error)
    }
}
