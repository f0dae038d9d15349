//! An edge cache in memory, for tests: it keeps what the platform's would, without expiry,
//! so that a test can run requests through the registry and see what they were answered
//! from.

use std::cell::RefCell;
use std::collections::BTreeMap;

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{CacheKey, EdgeCache};
use crate::api::{Body, Response};
use crate::error::Result;

/// A stored answer, whose body is kept whole.
struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct MemoryEdgeCache {
    stored: RefCell<BTreeMap<CacheKey, Stored>>,
}

impl MemoryEdgeCache {
    /// The keys of everything stored.
    pub fn keys(&self) -> Vec<CacheKey> {
        self.stored.borrow().keys().cloned().collect()
    }
}

impl EdgeCache for MemoryEdgeCache {
    type Body = Vec<u8>;

    async fn lookup(&self, key: &CacheKey) -> Option<Response<Vec<u8>>> {
        let stored = self.stored.borrow();
        let stored = stored.get(key)?;
        Some(Response {
            status: stored.status,
            headers: stored.headers.clone(),
            body: Body::Object(stored.body.clone()),
        })
    }

    fn store(
        &self,
        key: CacheKey,
        response: Response<Vec<u8>>,
        cache_control: &str,
    ) -> Result<Response<Vec<u8>>> {
        let body = match &response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes.clone(),
        };
        let mut headers = response.headers.clone();
        let cache_control = HeaderValue::from_str(cache_control).expect("a valid Cache-Control");
        headers.insert(CACHE_CONTROL, cache_control);
        let stored = Stored {
            status: response.status,
            headers,
            body,
        };
        self.stored.borrow_mut().insert(key, stored);
        Ok(response)
    }

    async fn purge(&self, key: &CacheKey) {
        self.stored.borrow_mut().remove(key);
    }
}
