//! `BODY_LIMIT_BYTES`: bodies over the limit are refused with 413 before any handler runs
//! (a declared length) or before any of them is kept (a body of undeclared length), and
//! upload starts advertise the limit as the largest chunk.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::executor::block_on;
use sha2::{Digest as _, Sha256};

use super::{Answer, Registry};
use crate::api::caching::MemoryEdgeCache;
use crate::api::{Body, Method, Request};
use crate::auth::{Auth, Policy};
use crate::config::Config;
use crate::oci::{Algorithm, Digest};
use crate::records::FixedEnvironment;
use crate::storage::memory::{MemoryBody, MemoryStore};

const LIMIT: usize = 1024 * 1024;
const NAME: &str = "team/app";

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn error(&self) -> serde_json::Value {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}");
        errors[0].clone()
    }

    /// The 413 of the body limit, as the distribution spec shapes errors.
    fn assert_over_limit(&self) {
        assert_eq!(self.status, 413);
        let error = self.error();
        assert_eq!(error["code"], "SIZE_INVALID");
        assert_eq!(error["detail"]["limit"], LIMIT as u64);
        let message = error["message"].as_str().unwrap();
        for says in [
            &LIMIT.to_string(),
            "OCI-Chunk-Max-Length",
            "edge-registry push",
        ] {
            assert!(message.contains(says), "{message}");
        }
    }
}

/// How the body is sent: with its length declared, or chunked in pieces of this size.
#[derive(Clone, Copy)]
enum Sent {
    Declared,
    Chunked(usize),
}

struct Harness {
    registry: Registry<MemoryStore, MemoryStore, FixedEnvironment>,
    cache: MemoryEdgeCache,
}

fn harness(config: Config) -> Harness {
    let admin = format!("admin {}", hex::encode(Sha256::digest(b"pw")));
    let auth = Auth {
        policy: Policy::parse("", Some(&admin), "").unwrap(),
        ..Auth::default()
    };
    let registry = Registry::new(
        MemoryStore::new(),
        MemoryStore::new(),
        FixedEnvironment,
        config,
        auth,
    );
    Harness {
        registry,
        cache: MemoryEdgeCache::default(),
    }
}

fn limited() -> Harness {
    harness(Config {
        body_limit: Some(LIMIT as u64),
        ..Config::default()
    })
}

impl Harness {
    fn send(&self, method: Method, path: &str, body: &[u8], sent: Sent) -> Reply {
        let admin = format!("Basic {}", STANDARD.encode("admin:pw"));
        let length = body.len().to_string();
        let mut headers = vec![("authorization", admin.as_str())];
        let chunk_size = match sent {
            Sent::Declared => {
                headers.push(("content-length", &length));
                body.len()
            }
            Sent::Chunked(size) => size,
        };
        let request = Request::local(method, path, &headers, MemoryBody::new(body, chunk_size));
        let response = match block_on(self.registry.handle_with_cache(request, &self.cache)) {
            Answer::FromEdgeCache(response) | Answer::Handled(response, _) => response,
        };
        Reply {
            status: response.status.as_u16(),
            headers: response
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect(),
            body: match response.body {
                Body::Empty => Vec::new(),
                Body::Bytes(bytes) | Body::Object(bytes) => bytes,
            },
        }
    }

    /// A monolithic upload: the whole blob in one POST.
    fn post_blob(&self, bytes: &[u8], sent: Sent) -> Reply {
        let path = format!("/v2/{NAME}/blobs/uploads/?digest={}", digest(bytes));
        self.send(Method::POST, &path, bytes, sent)
    }

    fn blob(&self, bytes: &[u8]) -> Reply {
        let path = format!("/v2/{NAME}/blobs/{}", digest(bytes));
        self.send(Method::GET, &path, b"", Sent::Declared)
    }

    fn start_upload(&self) -> Reply {
        let reply = self.send(
            Method::POST,
            &format!("/v2/{NAME}/blobs/uploads/"),
            b"",
            Sent::Declared,
        );
        assert_eq!(reply.status, 202);
        reply
    }
}

fn digest(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, bytes).to_string()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_anything_runs() {
    let registry = limited();
    let bytes = pattern(LIMIT + 1);
    // Anonymous, to an unknown route even: the edge answers before the worker would.
    let request = Request::local(
        Method::PUT,
        "/v2/no/such/route",
        &[("content-length", &bytes.len().to_string())],
        MemoryBody::new(&bytes, bytes.len()),
    );
    let (response, error) = block_on(registry.registry.handle(request));
    assert_eq!(response.status.as_u16(), 413);
    assert_eq!(
        error.map(|e| e.code()),
        Some("SIZE_INVALID"),
        "the 413 of the limit, not the route's 404"
    );
    registry
        .post_blob(&bytes, Sent::Declared)
        .assert_over_limit();
    assert_eq!(registry.blob(&bytes).status, 404);
    assert!(registry.registry.store().keys().is_empty());
}

#[test]
fn a_body_of_exactly_the_limit_passes_declared_or_chunked() {
    for (sent, seed) in [(Sent::Declared, 0), (Sent::Chunked(64 * 1024), 1)] {
        let registry = limited();
        let mut bytes = pattern(LIMIT);
        bytes[0] = seed;
        assert_eq!(registry.post_blob(&bytes, sent).status, 201);
        let pulled = registry.blob(&bytes);
        assert_eq!(pulled.status, 200);
        assert_eq!(digest(&pulled.body), digest(&bytes));
    }
}

#[test]
fn a_chunked_body_over_the_limit_is_refused_and_nothing_of_it_is_stored() {
    // The byte past the limit alone in the last chunk, and inside a chunk.
    for chunk_size in [LIMIT, 100_000] {
        let registry = limited();
        let bytes = pattern(LIMIT + 1);
        registry
            .post_blob(&bytes, Sent::Chunked(chunk_size))
            .assert_over_limit();
        assert_eq!(registry.blob(&bytes).status, 404);
        assert!(
            registry.registry.store().keys().is_empty(),
            "{:?}",
            registry.registry.store().keys()
        );
        assert_eq!(registry.registry.store().open_multiparts(), 0);
    }
}

#[test]
fn a_chunked_patch_over_the_limit_leaves_the_upload_where_it_stood() {
    let registry = limited();
    let bytes = pattern(LIMIT + 10);
    let location = registry
        .start_upload()
        .header("Location")
        .unwrap()
        .to_string();
    let first = registry.send(
        Method::PATCH,
        &location,
        &bytes[..LIMIT],
        Sent::Chunked(50_000),
    );
    assert_eq!(first.status, 202);
    assert_eq!(first.header("Range"), Some(&*format!("0-{}", LIMIT - 1)));
    let rest = pattern(LIMIT + 1);
    registry
        .send(Method::PATCH, &location, &rest, Sent::Chunked(50_000))
        .assert_over_limit();
    let status = registry.send(Method::GET, &location, b"", Sent::Declared);
    assert_eq!(status.status, 204);
    assert_eq!(status.header("Range"), Some(&*format!("0-{}", LIMIT - 1)));
    // The upload goes on from there and holds exactly what was accepted.
    let close = format!("{location}?digest={}", digest(&bytes));
    let done = registry.send(Method::PUT, &close, &bytes[LIMIT..], Sent::Chunked(3));
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    assert_eq!(digest(&registry.blob(&bytes).body), digest(&bytes));
}

#[test]
fn upload_starts_advertise_the_limit_unless_a_chunk_size_is_set() {
    let advertised = |config| {
        harness(config)
            .start_upload()
            .header("OCI-Chunk-Max-Length")
            .map(str::to_string)
    };
    assert_eq!(advertised(Config::default()), None);
    let limit = Config {
        body_limit: Some(LIMIT as u64),
        ..Config::default()
    };
    assert_eq!(advertised(limit.clone()), Some(LIMIT.to_string()));
    let chunk = Config {
        chunk_max_length: Some(LIMIT as u64 / 2),
        ..limit
    };
    assert_eq!(advertised(chunk), Some((LIMIT / 2).to_string()));
}

#[test]
fn without_a_limit_large_bodies_pass() {
    let registry = harness(Config::default());
    let bytes = pattern(3 * LIMIT);
    assert_eq!(registry.post_blob(&bytes, Sent::Chunked(LIMIT)).status, 201);
    assert_eq!(
        registry
            .post_blob(&pattern(2 * LIMIT), Sent::Declared)
            .status,
        201
    );
}
