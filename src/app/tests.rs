//! Requests through [`Registry::handle_with_cache`] over an edge cache in memory: which
//! answers come from the cache, to whom, what it stores, and what a write purges. (The
//! decisions themselves: `api::caching`.)

use std::cell::Cell;

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
use crate::records::Environment;
use crate::storage::memory::{MemoryBody, MemoryStore};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const ADMIN: &str = "admin:admin-password";
const READER: &str = "reader:reader-password";

/// A new id per upload, as the registry expects of the platform.
#[derive(Default)]
struct Ids(Cell<u64>);

impl Environment for Ids {
    fn now_ms(&self) -> u64 {
        0
    }

    fn new_id(&self) -> String {
        self.0.set(self.0.get() + 1);
        format!("{:032x}", self.0.get())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    from_cache: bool,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "one {name} header");
        value
    }
}

/// A registry (repositories under `private/` private; an administrator, and a reader of
/// `private/*`) and the edge cache it answers through.
struct Edge {
    registry: Registry<MemoryStore, MemoryStore, Ids>,
    cache: MemoryEdgeCache,
}

fn user(name_and_password: &str, grants: &str) -> String {
    let (name, password) = name_and_password.split_once(':').unwrap();
    let hash = hex::encode(Sha256::digest(password.as_bytes()));
    format!("{name} {hash} {grants}")
}

fn edge(private: &str, config: Config) -> Edge {
    let policy = Policy::parse(
        &user(READER, "private/*=pull"),
        Some(&user(ADMIN, "")),
        private,
    )
    .unwrap();
    let auth = Auth {
        policy,
        ..Auth::default()
    };
    let stores = (MemoryStore::new(), MemoryStore::new());
    Edge {
        registry: Registry::new(stores.0, stores.1, Ids::default(), config, auth),
        cache: MemoryEdgeCache::default(),
    }
}

fn basic(name_and_password: &str) -> String {
    format!("Basic {}", STANDARD.encode(name_and_password))
}

fn sha256(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, bytes).to_string()
}

impl Edge {
    fn new() -> Edge {
        edge("private/*", Config::default())
    }

    /// `path_and_query` as `authorization` (none: anonymous) sends it, through the cache.
    fn send(
        &self,
        authorization: Option<&str>,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut headers = headers.to_vec();
        headers.extend(authorization.map(|a| ("authorization", a)));
        let body = MemoryBody::new(body, body.len());
        let request = Request::local(method, path_and_query, &headers, body);
        let (response, from_cache) =
            match block_on(self.registry.handle_with_cache(request, &self.cache)) {
                Answer::FromEdgeCache(response) => (response, true),
                Answer::Handled(response, _) => (response, false),
            };
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes,
        };
        let headers = response.headers.iter();
        let headers =
            headers.map(|(name, value)| (name.to_string(), value.to_str().unwrap().into()));
        Reply {
            status: response.status.as_u16(),
            headers: headers.collect(),
            body,
            from_cache,
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(None, Method::GET, path, headers, b"")
    }

    /// An anonymous pull, twice: the first from the registry, stored; the second a hit.
    fn pulled_twice(&self, path: &str) -> Reply {
        let first = self.get(path, &[]);
        assert_eq!(first.status, 200, "{path}");
        assert!(!first.from_cache, "{path}");
        assert_eq!(first.header("X-Cache"), Some("MISS"), "{path}");
        let hit = self.get(path, &[]);
        assert!(hit.from_cache, "{path}");
        assert_eq!(hit.header("X-Cache"), Some("HIT"), "{path}");
        assert_eq!(hit.body, first.body, "{path}");
        // The client's Cache-Control; the cache's copy says how long the edge keeps it too.
        let client = first.header("Cache-Control").unwrap();
        assert!(!client.contains("s-maxage"), "{client}");
        let kept = hit.header("Cache-Control").unwrap();
        assert!(kept.starts_with(&format!("{client}, s-maxage=")), "{kept}");
        assert_eq!(
            hit.header("Docker-Content-Digest"),
            first.header("Docker-Content-Digest")
        );
        hit
    }

    fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let path = format!("/v2/{name}/blobs/uploads/?digest={digest}");
        let reply = self.send(Some(&basic(ADMIN)), Method::POST, &path, &[], bytes);
        assert_eq!(reply.status, 201);
        digest
    }

    /// Pushes a manifest of a config and a layer made from `seed` as `reference` (a tag, or
    /// its digest with `?tag=`s); returns the manifest's bytes and digest.
    fn push_image(&self, name: &str, reference: &str, seed: u8) -> (Vec<u8>, String) {
        let config = self.push_blob(name, &[seed; 50]);
        let layer = self.push_blob(name, &[seed.wrapping_add(1); 300]);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":50}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":300}}]}}"#
        );
        let digest = sha256(manifest.as_bytes());
        let reference = reference.replace("{digest}", &digest);
        self.put_manifest(name, &reference, manifest.as_bytes());
        (manifest.into_bytes(), digest)
    }

    fn put_manifest(&self, name: &str, reference: &str, manifest: &[u8]) {
        let path = format!("/v2/{name}/manifests/{reference}");
        let content_type = [("Content-Type", OCI_MANIFEST)];
        let reply = self.send(
            Some(&basic(ADMIN)),
            Method::PUT,
            &path,
            &content_type,
            manifest,
        );
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

#[test]
fn public_pulls_are_answered_from_the_cache_after_the_first() {
    let edge = Edge::new();
    let (_, digest) = edge.push_image("team/app", "v1", 1);
    let by_digest = format!("/v2/team/app/manifests/{digest}");
    let hit = edge.pulled_twice(&by_digest);
    // The client's Cache-Control, and the edge lifetime (EDGE_CACHE_SECONDS, 300).
    assert_eq!(
        hit.header("Cache-Control"),
        Some("public, max-age=31536000, immutable, s-maxage=300")
    );
    let config = sha256(&[1; 50]);
    let blob = edge.pulled_twice(&format!("/v2/team/app/blobs/{config}"));
    assert_eq!(blob.body, [1; 50]);
    // A tag, for TAG_CACHE_SECONDS (5) everywhere.
    let by_tag = edge.pulled_twice("/v2/team/app/manifests/v1");
    assert_eq!(
        by_tag.header("Cache-Control"),
        Some("public, max-age=5, s-maxage=5")
    );
    assert_eq!(edge.cache.keys().len(), 3);

    let etag = format!("\"{digest}\"");
    let held = edge.get(&by_digest, &[("If-None-Match", &etag)]);
    assert!(held.from_cache);
    assert_eq!(held.status, 304);
    assert!(held.body.is_empty());
    assert_eq!(held.header("ETag"), Some(etag.as_str()));
    assert_eq!(held.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(held.header("Cache-Control"), hit.header("Cache-Control"));
    assert_eq!(held.header("X-Cache"), None);
}

#[test]
fn a_hit_is_served_only_to_callers_whose_credentials_are_valid() {
    let edge = Edge::new();
    let (_, digest) = edge.push_image("team/app", "v1", 1);
    let path = format!("/v2/team/app/manifests/{digest}");
    edge.pulled_twice(&path);
    let wrong_password = basic("reader:not-the-password");
    for bad in ["Bearer not-a-token", "Basic !!", wrong_password.as_str()] {
        let reply = edge.send(Some(bad), Method::GET, &path, &[], b"");
        assert_eq!(reply.status, 401, "{bad}");
        assert!(!reply.from_cache, "{bad}");
    }
    for good in [basic(READER), basic(ADMIN)] {
        let reply = edge.send(Some(&good), Method::GET, &path, &[], b"");
        assert!(reply.from_cache, "{good}");
        assert_eq!(reply.status, 200);
    }
}

#[test]
fn private_content_never_enters_the_cache() {
    let edge = Edge::new();
    let (_, digest) = edge.push_image("private/app", "v1", 1);
    let config = sha256(&[1; 50]);
    for path in [
        format!("/v2/private/app/manifests/{digest}"),
        "/v2/private/app/manifests/v1".to_string(),
        format!("/v2/private/app/blobs/{config}"),
    ] {
        for _ in 0..2 {
            let reply = edge.send(Some(&basic(READER)), Method::GET, &path, &[], b"");
            assert_eq!(reply.status, 200, "{path}");
            assert!(!reply.from_cache, "{path}");
            assert_eq!(reply.header("X-Cache"), None, "{path}");
            assert_eq!(reply.header("Cache-Control"), Some("private"));
        }
        assert_eq!(edge.get(&path, &[]).status, 401, "{path}");
    }
    assert!(edge.cache.keys().is_empty());
}

#[test]
fn errors_are_not_stored() {
    let edge = Edge::new();
    let manifest_bytes = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}"}}"#);
    let unknown = sha256(manifest_bytes.as_bytes());
    for path in [
        format!("/v2/team/app/manifests/{unknown}"),
        "/v2/team/app/manifests/v1".to_string(),
        format!("/v2/team/app/blobs/{}", sha256(&[1; 50])),
    ] {
        for _ in 0..2 {
            let reply = edge.get(&path, &[]);
            assert_eq!(reply.status, 404, "{path}");
            assert!(!reply.from_cache, "{path}");
        }
    }
    assert!(edge.cache.keys().is_empty());
    let (_, digest) = edge.push_image("team/app", "v1", 1);
    assert_eq!(
        edge.get("/v2/team/app/manifests/v1", &[])
            .header("Docker-Content-Digest"),
        Some(digest.as_str())
    );
}

#[test]
fn heads_ranges_and_large_blobs_are_neither_served_nor_stored() {
    let config = Config {
        redirect_min_bytes: 600,
        ..Config::default()
    };
    let edge = edge("private/*", config);
    let (manifest_bytes, digest) = edge.push_image("team/app", "v1", 1);
    assert!(manifest_bytes.len() < 600);
    let manifest = format!("/v2/team/app/manifests/{digest}");
    let large = format!(
        "/v2/team/app/blobs/{}",
        edge.push_blob("team/app", &[7; 600])
    );
    // Before and after the manifest is stored: a HEAD goes to the registry.
    for _ in 0..2 {
        let head = edge.send(None, Method::HEAD, &manifest, &[], b"");
        assert_eq!((head.status, head.from_cache), (200, false));
        assert_eq!(head.header("X-Cache"), None);
        edge.get(&manifest, &[]);
    }
    let ranged = edge.get(&manifest, &[("Range", "bytes=0-9")]);
    assert!(!ranged.from_cache);
    assert_eq!(ranged.header("X-Cache"), None);
    // Not below REDIRECT_MIN_BYTES.
    for _ in 0..2 {
        let reply = edge.get(&large, &[]);
        assert_eq!((reply.status, reply.from_cache), (200, false));
        assert_eq!(reply.body, [7; 600]);
    }
    assert_eq!(edge.cache.keys().len(), 1, "the manifest only");
    let partial = edge.get(
        &format!("/v2/team/app/blobs/{}", sha256(&[1; 50])),
        &[("Range", "bytes=0-9")],
    );
    assert_eq!((partial.status, partial.from_cache), (206, false));
    assert_eq!(edge.cache.keys().len(), 1, "no part of a blob");
}

#[test]
fn a_deletion_purges_every_spelling_of_its_digest() {
    let edge = Edge::new();
    let (_, digest) = edge.push_image("team/app", "v1", 1);
    let manifest = format!("/v2/team/app/manifests/{digest}");
    let blob = format!("/v2/team/app/blobs/{}", sha256(&[1; 50]));
    for path in [&manifest, &blob] {
        edge.pulled_twice(path);
        let escaped = path.replace(':', "%3A");
        assert!(edge.get(&escaped, &[]).from_cache, "{escaped}");
        let lower = path.replace(':', "%3a");
        let deleted = edge.send(Some(&basic(ADMIN)), Method::DELETE, &lower, &[], b"");
        assert_eq!(deleted.status, 202, "{lower}");
        for spelling in [path, &escaped, &lower] {
            let reply = edge.get(spelling, &[]);
            assert_eq!((reply.status, reply.from_cache), (404, false), "{spelling}");
        }
    }
}

#[test]
fn moving_a_tag_purges_it_and_a_failed_write_purges_nothing() {
    let edge = Edge::new();
    let by_tag = "/v2/team/app/manifests/v1";
    let (first_bytes, first) = edge.push_image("team/app", "v1", 1);
    edge.pulled_twice(by_tag);
    // Pushed by tag.
    let (_, second) = edge.push_image("team/app", "v1", 3);
    let moved = edge.get(by_tag, &[]);
    assert!(!moved.from_cache);
    assert_eq!(moved.header("Docker-Content-Digest"), Some(second.as_str()));
    // Pushed by digest, applying the tag among others.
    assert!(edge.get(by_tag, &[]).from_cache);
    edge.put_manifest(
        "team/app",
        &format!("{first}?tag=latest&tag=v1"),
        &first_bytes,
    );
    let back = edge.get(by_tag, &[]);
    assert!(!back.from_cache);
    assert_eq!(back.header("Docker-Content-Digest"), Some(first.as_str()));
    // A push that fails leaves the tag's cached answer alone.
    assert!(edge.get(by_tag, &[]).from_cache);
    let refused = edge.send(
        Some(&basic(ADMIN)),
        Method::PUT,
        by_tag,
        &[("Content-Type", OCI_MANIFEST)],
        b"{",
    );
    assert_eq!(refused.status, 400);
    assert!(edge.get(by_tag, &[]).from_cache);
    // Untagging purges it.
    let untagged = edge.send(Some(&basic(ADMIN)), Method::DELETE, by_tag, &[], b"");
    assert_eq!(untagged.status, 202);
    let gone = edge.get(by_tag, &[]);
    assert_eq!((gone.status, gone.from_cache), (404, false));
}

#[test]
fn making_a_repository_private_stops_its_cached_answers() {
    let public = Edge::new();
    let (_, digest) = public.push_image("team/app", "v1", 1);
    let path = format!("/v2/team/app/manifests/{digest}");
    public.pulled_twice(&path);
    // The same cache, under a configuration that makes the repository private.
    let private = Edge {
        cache: public.cache,
        ..edge("private/* team/*", Config::default())
    };
    let reply = private.get(&path, &[]);
    assert_eq!((reply.status, reply.from_cache), (401, false));
}

/// Anonymous visitors' pages of the web catalog go through the edge cache by their whole URL;
/// a visitor with a session cookie never gets or leaves a copy there, and neither do errors.
#[test]
fn anonymous_pages_come_from_the_edge_cache_and_sessions_bypass_it() {
    let edge = Edge::new();
    edge.push_image("team/app", "v1", 1);
    let first = edge.get("/", &[]);
    assert_eq!(first.status, 200);
    assert!(!first.from_cache);
    assert_eq!(first.header("X-Cache"), Some("MISS"));
    let hit = edge.get("/", &[]);
    assert!(hit.from_cache);
    assert_eq!(hit.body, first.body);
    assert!(hit.header("Cache-Control").unwrap().contains("s-maxage=30"));
    let etag = hit.header("ETag").unwrap().to_string();
    let not_modified = edge.get("/", &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.from_cache);

    // Each query is a page of its own.
    assert!(!edge.get("/?q=team", &[]).from_cache);
    assert!(edge.get("/?q=team", &[]).from_cache);
    assert!(!edge.get("/?q=other", &[]).from_cache);

    let with_session = edge.get("/", &[("Cookie", "session=anything")]);
    assert_eq!(with_session.status, 200);
    assert!(!with_session.from_cache);
    assert_eq!(with_session.header("X-Cache"), None);

    for path in ["/r/private/app", "/r/team/nothing"] {
        assert_eq!(edge.get(path, &[]).status, 404);
        assert!(!edge.get(path, &[]).from_cache, "{path}");
    }
}

/// The webhook deliveries `registry` queued: (receiver, event).
fn deliveries(edge: &Edge) -> Vec<(String, crate::webhooks::Event)> {
    edge.registry
        .take_jobs()
        .into_iter()
        .filter_map(|job| match job {
            crate::scan::Job::Deliver { receiver, event } => Some((receiver, *event)),
            _ => None,
        })
        .collect()
}

#[test]
fn pushes_and_deletes_queue_one_delivery_per_event_and_receiver() {
    use crate::webhooks::{EventKind, Webhooks};
    let secret = "secret=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let config = Config {
        scanning: false,
        webhooks: Webhooks::parse(&format!(
            "https://a.example/ {secret}; https://b.example/ {secret} events=delete repositories=hooks/*"
        ))
        .unwrap(),
        ..Config::default()
    };
    let edge = edge("private/*", config);

    let (manifest, digest) = edge.push_image("hooks/app", "v1", 1);
    let queued = deliveries(&edge);
    assert_eq!(queued.len(), 1, "{queued:?}");
    let (receiver, event) = &queued[0];
    assert_eq!(receiver, "https://a.example/");
    assert_eq!(event.kind, EventKind::Push);
    assert_eq!(event.subject(), "hooks/app:v1");
    assert_eq!(event.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(event.media_type.as_deref(), Some(OCI_MANIFEST));
    assert_eq!(event.size, Some(manifest.len() as u64));
    assert_eq!(event.actor.as_deref(), Some("admin"));
    assert_eq!(event.source, "http://localhost");

    // By digest with two tags: one event per tag; without tags, one for the digest.
    edge.push_image("hooks/app", "{digest}?tag=a&tag=b", 2);
    let subjects: Vec<String> = deliveries(&edge).iter().map(|(_, e)| e.subject()).collect();
    assert_eq!(subjects, ["hooks/app:a", "hooks/app:b"]);
    let (_, other) = edge.push_image("hooks/app", "{digest}", 3);
    let queued = deliveries(&edge);
    assert_eq!(queued[0].1.subject(), format!("hooks/app@{other}"));

    // A tag's deletion names the digest it named; both receivers want deletes here.
    let reply = edge.send(
        Some(&basic(ADMIN)),
        Method::DELETE,
        "/v2/hooks/app/manifests/v1",
        &[],
        b"",
    );
    assert_eq!(reply.status, 202);
    let queued = deliveries(&edge);
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0].1, queued[1].1, "one event, the same id for both");
    assert_eq!(queued[0].1.kind, EventKind::Delete);
    assert_eq!(queued[0].1.tag.as_deref(), Some("v1"));
    assert_eq!(queued[0].1.digest.as_deref(), Some(digest.as_str()));

    // A manifest's deletion, with its type and size.
    let path = format!("/v2/hooks/app/manifests/{digest}");
    let reply = edge.send(Some(&basic(ADMIN)), Method::DELETE, &path, &[], b"");
    assert_eq!(reply.status, 202);
    let queued = deliveries(&edge);
    assert_eq!(queued[0].1.subject(), format!("hooks/app@{digest}"));
    assert_eq!(queued[0].1.size, Some(manifest.len() as u64));

    // Another repository reaches only the catch-all receiver.
    edge.push_image("other/app", "v1", 4);
    let queued = deliveries(&edge);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, "https://a.example/");
}
