//! The protocol scenarios in process: the core over the in-memory store, no server, no wasm.

mod common;

use std::cell::Cell;

use edge_registry::api::{Body, Method, Request};
use edge_registry::app::{Config, Environment, Registry};
use edge_registry::storage::memory::MemoryStore;
use futures::executor::block_on;
use futures::stream;

use common::{Client, Reply};

/// Small parts keep the data small while still crossing part boundaries.
const PART_SIZE: usize = 1024;

#[derive(Default)]
struct TestEnvironment {
    next_id: Cell<u64>,
}

impl Environment for TestEnvironment {
    fn now_ms(&self) -> u64 {
        1_700_000_000_000
    }

    fn new_id(&self) -> String {
        self.next_id.set(self.next_id.get() + 1);
        format!("id{:04}", self.next_id.get())
    }
}

struct InProcess {
    registry: Registry<MemoryStore, MemoryStore, TestEnvironment>,
}

fn client() -> InProcess {
    // Two parts per segment, so that larger test blobs are stored in several segments.
    let config = Config {
        part_size: PART_SIZE as u64,
        segment_parts: 2,
        ..Config::default()
    };
    InProcess {
        registry: Registry::new(
            MemoryStore::with_min_part(PART_SIZE),
            MemoryStore::new(),
            TestEnvironment::default(),
            config,
        ),
    }
}

impl Client for InProcess {
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        headers.push(("content-length".into(), body.len().to_string()));
        // Odd-sized chunks, as a network would deliver them.
        let chunks: Vec<_> = body.chunks(777).map(|c| Ok(c.to_vec())).collect();
        let request = Request {
            method: Method::parse(method),
            host: "localhost".into(),
            path: path.to_string(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
            body: stream::iter(chunks),
        };
        let (response, _) = block_on(self.registry.handle(request));
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes,
        };
        Reply {
            status: response.status,
            headers: response.headers,
            body,
        }
    }

    fn part_size(&self) -> usize {
        PART_SIZE
    }
}

scenario_tests!(client());

#[test]
fn upload_start_advertises_the_configured_chunk_limit() {
    let start = |chunk_max_length| {
        let config = Config {
            chunk_max_length,
            ..Config::default()
        };
        let registry = Registry::new(
            MemoryStore::new(),
            MemoryStore::new(),
            TestEnvironment::default(),
            config,
        );
        InProcess { registry }.send("POST", "/v2/limits/blobs/uploads/", &[], b"")
    };
    let limited = start(Some(100_000_000));
    assert_eq!(limited.status, 202);
    assert_eq!(limited.header("OCI-Chunk-Max-Length"), Some("100000000"));
    assert_eq!(start(None).header("OCI-Chunk-Max-Length"), None);
}
