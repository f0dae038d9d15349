//! The protocol scenarios in process: the core over the in-memory store, no server, no wasm.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use edge_registry::api::{header_map, Method, Request};
use edge_registry::app::Registry;
use edge_registry::auth::{Auth, Policy, SigningKey};
use edge_registry::config::{BlobEndpoint, BlobUrls, Config};
use edge_registry::immutable_tags::ImmutableTags;
use edge_registry::maintenance::{retention::Retention, MaintenanceConfig};
use edge_registry::presign::{Credentials, Signer};
use edge_registry::records::ClockedEnvironment;
use edge_registry::storage::memory::{Call, Clock, MemoryBody, MemoryStore, When};
use edge_registry::storage::{SessionStore, StorageError, StorageResult};
use futures::executor::block_on;

use common::access::access_env;
use common::{assert_oci_error, Client, Reply};

/// Small parts keep the data small while still crossing part boundaries.
const PART_SIZE: usize = 1024;
const ORIGIN: &str = "http://localhost";

const START_MS: u64 = 1_700_000_000_000;

/// The access configuration of tests/access.env, as the worker under test has it.
fn auth() -> Auth {
    let env = access_env;
    Auth {
        policy: Policy::parse(
            &env("REGISTRY_USERS"),
            Some(&env("REGISTRY_ADMIN")),
            &env("REGISTRY_PRIVATE"),
        )
        .unwrap(),
        signing_key: Some(SigningKey::new(&env("TOKEN_SIGNING_KEY")).unwrap()),
        token_ttl_seconds: 300,
        refresh_ttl_seconds: 3600,
        ..Auth::default()
    }
}

fn registry(config: Config) -> Registry<MemoryStore, MemoryStore, ClockedEnvironment> {
    registry_on(
        MemoryStore::with_min_part(config.part_size as usize),
        config,
    )
}

fn registry_on(
    store: MemoryStore,
    config: Config,
) -> Registry<MemoryStore, MemoryStore, ClockedEnvironment> {
    let clock: Clock = Rc::new(Cell::new(START_MS));
    Registry::new(
        store.with_clock(clock.clone()),
        MemoryStore::new(),
        ClockedEnvironment::new(clock),
        config,
        auth(),
    )
}

/// The maintenance settings the scenarios expect (common/maintenance.rs).
fn maintenance() -> MaintenanceConfig {
    use common::maintenance::{GRACE_SECONDS, RETENTION, STEP_OPERATIONS};
    MaintenanceConfig {
        grace_seconds: GRACE_SECONDS,
        retention: Retention::parse(RETENTION).unwrap(),
        step_operations: STEP_OPERATIONS,
    }
}

struct InProcess {
    registry: Registry<MemoryStore, MemoryStore, ClockedEnvironment>,
}

/// Redirects to the registry's own signed URLs (local mode, as under scripts/dev).
fn local_blob_urls(public_base_url: Option<String>) -> BlobUrls {
    BlobUrls {
        signer: Signer {
            credentials: Credentials::local(&access_env("TOKEN_SIGNING_KEY")),
            region: "auto".into(),
        },
        endpoint: BlobEndpoint::Worker,
        expires_seconds: 300,
        public_base_url,
    }
}

fn client() -> InProcess {
    InProcess {
        registry: registry(config()),
    }
}

/// The configuration of the scenarios' registry.
fn config() -> Config {
    // Two parts per segment, so that larger test blobs are stored in several segments; blobs
    // of a part or more are redirected to the registry's own signed URLs, as under scripts/dev.
    Config {
        part_size: PART_SIZE as u64,
        segment_parts: 2,
        blob_urls: Some(local_blob_urls(None)),
        redirect_min_bytes: PART_SIZE as u64,
        upload_ttl_seconds: common::maintenance::UPLOAD_TTL_SECONDS,
        maintenance: maintenance(),
        immutable_tags: ImmutableTags::parse(&access_env("IMMUTABLE_TAGS")).unwrap(),
        ..Config::default()
    }
}

impl InProcess {
    /// The request `send_once` makes, for tests that drive its handling themselves.
    fn request(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Request<MemoryBody> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let length = body.len().to_string();
        let fields = headers
            .iter()
            .copied()
            .chain([("content-length", length.as_str())])
            .chain(authorization.map(|value| ("authorization", value)));
        Request {
            method: method.parse().expect("an HTTP method"),
            origin: ORIGIN.into(),
            host: "localhost".into(),
            path: path.to_string(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers: header_map(fields).expect("valid header fields"),
            // Odd-sized chunks, as a network would deliver them.
            body: MemoryBody::new(body, 777),
        }
    }
}

impl Client for InProcess {
    fn send_once(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let request = self.request(authorization, method, path, headers, body);
        Reply::from(block_on(self.registry.handle(request)).0)
    }

    fn origin(&self) -> String {
        ORIGIN.into()
    }

    fn part_size(&self) -> usize {
        PART_SIZE
    }

    fn now_ms(&self) -> u64 {
        self.registry.store().clock().get()
    }

    fn let_time_pass(&self, ms: u64) {
        let clock = self.registry.store().clock();
        clock.set(clock.get() + ms);
    }

    fn pull_with_client(&self, _name: &str, _tag: &str, _manifest_digest: &str) {}
}

scenario_tests!(client());
access_tests!(client());
pull_tests!(client());
maintenance_tests!(client());

#[path = "api/races.rs"]
mod races;

/// An expired upload leaves nothing behind: no progress, no data, no open multipart upload.
#[test]
fn expired_uploads_leave_no_objects() {
    let c = client();
    let start = c.send("POST", "/v2/gc/leftovers/blobs/uploads/", &[], b"");
    let location = start.header("Location").unwrap().to_string();
    // Two full parts and a carry: an open multipart upload with parts in it.
    let patch = c.send("PATCH", &location, &[], &common::data(2 * PART_SIZE + 5, 9));
    assert_eq!(patch.status, 202);
    let store = c.registry.store();
    let temporary = |store: &MemoryStore| {
        store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("uploads/") || k.starts_with("data/"))
            .count()
    };
    assert!(temporary(store) > 0);
    assert_eq!(store.open_multiparts(), 1);
    c.let_time_pass((common::maintenance::UPLOAD_TTL_SECONDS + 1) * 1000);
    common::maintenance::collect(&c, 1, false);
    assert_eq!(temporary(store), 0, "{:?}", store.keys());
    assert_eq!(store.open_multiparts(), 0);
}

/// A finished upload keeps its end mark until the upload TTL has passed; maintenance then
/// deletes it, and reports nothing: it was no abandoned upload.
#[test]
fn end_marks_of_finished_uploads_expire_quietly() {
    let c = client();
    let start = c.send("POST", "/v2/gc/finished/blobs/uploads/", &[], b"");
    let location = start.header("Location").unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    let blob = common::data(100, 10);
    let put = c.send(
        "PUT",
        &format!("{location}?digest={}", common::sha256(&blob)),
        &[],
        &blob,
    );
    assert_eq!(put.status, 201);
    let progress = |c: &InProcess| {
        let keys = c.registry.store().keys();
        keys.into_iter()
            .filter(|k| k.starts_with(&format!("uploads/{id}/")))
            .count()
    };
    assert_eq!(progress(&c), 1);
    c.let_time_pass((common::maintenance::UPLOAD_TTL_SECONDS + 1) * 1000);
    let collection = common::maintenance::collect(&c, 1, false);
    assert_eq!(progress(&c), 0);
    assert!(
        !collection.deletions.contains(&format!("upload {id}")),
        "{:?}",
        collection.deletions
    );
}

/// Progress and data objects of uploads: what maintenance must not leave behind.
fn upload_leftovers(store: &MemoryStore) -> Vec<String> {
    let keys = store.keys().into_iter();
    keys.filter(|k| k.starts_with("uploads/") || k.starts_with("data/"))
        .collect()
}

/// Lets the uploads' TTL pass and runs maintenance for a cycle.
fn expire_uploads(c: &InProcess) {
    c.let_time_pass((common::maintenance::UPLOAD_TTL_SECONDS + 1) * 1000);
    common::maintenance::collect(c, 1, false);
}

/// Expires the uploads and checks that they left no progress, data object or open multipart
/// upload behind.
fn assert_expiry_leaves_nothing(c: &InProcess, context: &str) {
    expire_uploads(c);
    let store = c.registry.store();
    assert_eq!(upload_leftovers(store), Vec::<String>::new(), "{context}");
    assert_eq!(store.open_multiparts(), 0, "{context}");
}

/// Starts an upload in `name` and sends a blob of five parts and a bit: with two parts per
/// segment, two completed segments and an open multipart upload. Its location and the blob.
fn upload_in_segments(c: &InProcess, name: &str) -> (String, Vec<u8>) {
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    let location = start.header("Location").unwrap().to_string();
    let blob = common::data(5 * PART_SIZE + 10, 11);
    let open = c.registry.store().open_multiparts();
    assert_eq!(c.send("PATCH", &location, &[], &blob).status, 202);
    assert_eq!(c.registry.store().open_multiparts(), open + 1);
    (location, blob)
}

/// Issue 12, item 7 (review M3): a closing PUT whose seal fails (completing the last
/// segment) or whose blob record cannot be written leaves segments and maybe an open
/// multipart upload that only its end mark names; maintenance discards them after the TTL.
#[test]
fn a_failed_seal_leaves_nothing_once_the_upload_expires() {
    for (call, key) in [(Call::Complete, ".2"), (Call::Put, "blobs/")] {
        let c = client();
        let (location, blob) = upload_in_segments(&c, "gc/failed-seal");
        let store = c.registry.store();
        store.fail(When::Before, call, move |k| k.contains(key), 1);
        let digest = common::sha256(&blob);
        let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], b"");
        assert_eq!(put.status, 429, "{call:?}");
        assert!(store.keys().iter().any(|k| k.starts_with("data/")));
        assert_expiry_leaves_nothing(&c, &format!("{call:?}"));
    }
}

/// The same for a blob sent whole with the closing PUT but not stored with one put (a
/// sha512 digest is checked by reading the blob back): the upload's end, claimed before the
/// body is read, is recorded again once the body made segments.
#[test]
fn a_failed_seal_of_a_blob_sent_whole_leaves_nothing_once_the_upload_expires() {
    use edge_registry::oci::{Algorithm, Digest};
    let c = client();
    let start = c.send("POST", "/v2/gc/failed-whole/blobs/uploads/", &[], b"");
    let location = start.header("Location").unwrap().to_string();
    let blob = common::data(5 * PART_SIZE + 10, 13);
    let digest = Digest::of(Algorithm::Sha512, &blob);
    let store = c.registry.store();
    store.fail(When::Before, Call::Complete, |k| k.ends_with(".2"), 1);
    let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], &blob);
    assert_eq!(put.status, 429);
    assert!(store.keys().iter().any(|k| k.ends_with(".1")));
    assert_expiry_leaves_nothing(&c, "");
}

/// A cancel whose abort fails leaves the same, for maintenance to discard.
#[test]
fn a_failed_cancel_leaves_nothing_once_the_upload_expires() {
    let c = client();
    let (location, _) = upload_in_segments(&c, "gc/failed-cancel");
    let store = c.registry.store();
    store.fail(When::Before, Call::Abort, |_| true, 1);
    assert_eq!(c.send("DELETE", &location, &[], b"").status, 429);
    assert_eq!(c.send("GET", &location, &[], b"").status, 404);
    assert_expiry_leaves_nothing(&c, "");
}

/// The end mark of a finished upload names the blob's data objects, yet maintenance never
/// discards them behind the blob record; a second upload of the same blob, whose own copy
/// is surplus, leaves nothing. The blob stays pullable from both repositories.
#[test]
fn expiring_a_finished_upload_keeps_the_blob() {
    let c = client();
    let names = ["gc/finished-a", "gc/finished-b"];
    let mut digest = String::new();
    for name in names {
        let (location, blob) = upload_in_segments(&c, name);
        digest = common::sha256(&blob);
        let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], b"");
        assert_eq!(put.status, 201);
        let config = common::data(30, 12);
        let manifest = common::image_manifest(
            (&common::push_blob(&c, name, &config), config.len()),
            &[(&digest, blob.len())],
            "",
        );
        let manifest_digest = common::sha256(&manifest);
        common::put_manifest(&c, name, &manifest_digest, &manifest, common::OCI_MANIFEST);
    }
    expire_uploads(&c);
    let store = c.registry.store();
    assert!(store.keys().iter().all(|k| !k.starts_with("uploads/")));
    for name in names {
        let pulled = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!(pulled.status, 200, "{name}");
        assert_eq!(common::sha256(&pulled.body), digest);
    }
    let data = store.keys().into_iter().filter(|k| k.starts_with("data/"));
    assert_eq!(
        data.count(),
        4,
        "one copy of the layer, in three segments, and the config"
    );
}

/// A second upload of a stored blob: the registry deletes its own, surplus copy, and when
/// that fails, maintenance deletes it once the upload expires, sparing the stored one.
#[test]
fn a_surplus_copy_left_by_a_failed_finish_is_deleted() {
    let c = client();
    let store = c.registry.store();
    let (first, blob) = upload_in_segments(&c, "gc/surplus-a");
    let digest = common::sha256(&blob);
    let put = c.send("PUT", &format!("{first}?digest={digest}"), &[], b"");
    assert_eq!(put.status, 201);
    let stored = store.keys();
    let (second, _) = upload_in_segments(&c, "gc/surplus-b");
    store.fail(When::Before, Call::Delete, |k| k.starts_with("data/"), 1);
    let put = c.send("PUT", &format!("{second}?digest={digest}"), &[], b"");
    assert_eq!(put.status, 429);
    let surplus = |store: &MemoryStore| -> Vec<String> {
        let keys = store.keys().into_iter();
        keys.filter(|k| k.starts_with("data/") && !stored.contains(k))
            .collect()
    };
    assert_eq!(surplus(store).len(), 3);
    expire_uploads(&c);
    assert_eq!(surplus(store), Vec::<String>::new());
    assert_eq!(store.open_multiparts(), 0);
}

#[test]
fn upload_start_advertises_the_configured_chunk_limit() {
    let start = |chunk_max_length| {
        let config = Config {
            chunk_max_length,
            ..Config::default()
        };
        InProcess {
            registry: registry(config),
        }
        .send("POST", "/v2/limits/blobs/uploads/", &[], b"")
    };
    let limited = start(Some(100_000_000));
    assert_eq!(limited.status, 202);
    assert_eq!(limited.header("OCI-Chunk-Max-Length"), Some("100000000"));
    assert_eq!(start(None).header("OCI-Chunk-Max-Length"), None);
}

/// The public-blobs bucket holds public repositories' blob bytes under their digests and
/// nothing else (common/public_bucket.rs), each object the blob's bytes.
#[test]
fn public_bucket_holds_only_public_blob_bytes() {
    let base = "https://blobs.example.com";
    let config = Config {
        blob_urls: Some(local_blob_urls(Some(base.into()))),
        redirect_min_bytes: 100,
        ..Config::default()
    };
    let c = InProcess {
        registry: registry(config).with_public_blobs(MemoryStore::new()),
    };
    let (held, not_held) = common::public_bucket::push_pull_and_collect(&c, base);
    use edge_registry::storage::ObjectStore;
    let public = c.registry.public_blobs().unwrap();
    let keys: Vec<String> = held.iter().map(|d| common::public_bucket::key(d)).collect();
    assert_eq!(public.keys(), keys);
    for digest in &held {
        let key = common::public_bucket::key(digest);
        let (_, bytes) = block_on(public.get_bytes(&key)).unwrap().unwrap();
        assert_eq!(&common::sha256(&bytes), digest);
    }
    for digest in &not_held {
        assert!(!public.keys().contains(&common::public_bucket::key(digest)));
    }
}

/// Bytes gone from under their record are unknown on the public-bucket path too, as on every
/// other pull path (tests/api/races.rs): 404 BLOB_UNKNOWN, not 500, and nothing copied.
#[test]
fn a_public_blob_whose_bytes_are_gone_is_unknown() {
    let base = "https://blobs.example.com";
    let c = InProcess {
        registry: registry(Config {
            blob_urls: Some(local_blob_urls(Some(base.into()))),
            redirect_min_bytes: 100,
            ..Config::default()
        })
        .with_public_blobs(MemoryStore::new()),
    };
    let digest = common::push_blob(&c, "team/gone", &common::data(150, 4));
    use edge_registry::storage::ObjectStore;
    let store = c.registry.store();
    let data: Vec<String> = store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("data/"))
        .collect();
    block_on(ObjectStore::delete(store, &data)).unwrap();
    let pull = c.send_once(
        None,
        "GET",
        &format!("/v2/team/gone/blobs/{digest}"),
        &[],
        b"",
    );
    assert_oci_error(&pull, 404, "BLOB_UNKNOWN");
    assert!(c.registry.public_blobs().unwrap().keys().is_empty());
}

/// A token scoped to some repositories lists those that exist, from its claims alone: its
/// catalog never pages through (and its `Link` never names) repositories it was not given,
/// however many there are (issue 12, item 9). Pages of two keys stand in for a large bucket.
#[test]
fn a_token_catalog_names_only_its_repositories() {
    let c = InProcess {
        registry: registry_on(MemoryStore::new().with_page_max(2), config()),
    };
    for i in 0..15 {
        common::push_image(&c, &format!("private/hidden-{i:02}"), "v1", 3000 + i);
    }
    common::push_image(&c, "team/zz-listed", "v1", 3100);
    let scopes = [
        "repository:team/zz-listed:pull",
        "repository:team/never-pushed:pull",
        "repository:private/hidden-03:push",
    ];
    let token = common::access::token(&c, Some("reader"), &scopes);
    let reply = c.send_as(
        Some(&common::access::bearer(&token)),
        "GET",
        "/v2/_catalog?n=5",
        &[],
        b"",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["repositories"],
        serde_json::json!(["team/zz-listed"])
    );
    assert_eq!(reply.header("Link"), None);
}

/// A public blob stored in several segments streams through the worker (one get could not
/// copy it), whole, and the public bucket stays without it.
#[test]
fn segmented_public_blobs_stream_and_stay_out_of_the_public_bucket() {
    let base = "https://blobs.example.com";
    let c = InProcess {
        registry: registry(Config {
            blob_urls: Some(local_blob_urls(Some(base.into()))),
            ..config()
        })
        .with_public_blobs(MemoryStore::new()),
    };
    let bytes = common::data(4 * PART_SIZE + 10, 9);
    let digest = common::sha256(&bytes);
    let start = c.send("POST", "/v2/team/segmented/blobs/uploads/", &[], b"");
    let location = start.header("Location").unwrap().to_string();
    let patch = c.send("PATCH", &location, &[], &bytes);
    assert_eq!(patch.status, 202);
    let location = patch.header("Location").unwrap();
    let separator = if location.contains('?') { '&' } else { '?' };
    let close = format!("{location}{separator}digest={digest}");
    assert_eq!(c.send("PUT", &close, &[], b"").status, 201);
    let pulled = c.send_once(
        None,
        "GET",
        &format!("/v2/team/segmented/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(pulled.status, 200);
    assert_eq!(common::sha256(&pulled.body), digest);
    assert!(c.registry.public_blobs().unwrap().keys().is_empty());
}

/// Production's redirect targets, which no local server can follow: R2's S3 endpoint, signed
/// so that R2 would accept the URL, and the public-blobs bucket's base URL for public
/// repositories, which names the digest and nothing of the registry's own bucket.
#[test]
fn large_blobs_redirect_to_r2_or_the_public_bucket() {
    let signer = Signer {
        credentials: Credentials {
            access_key_id: "r2-key".into(),
            secret_access_key: "r2-secret".into(),
        },
        region: "auto".into(),
    };
    let host = "0123abcd.r2.cloudflarestorage.com";
    let c = InProcess {
        registry: registry(Config {
            blob_urls: Some(BlobUrls {
                signer: signer.clone(),
                endpoint: BlobEndpoint::R2 {
                    host: host.into(),
                    bucket: "registry-bucket".into(),
                },
                expires_seconds: 600,
                public_base_url: Some("https://blobs.example.com/".into()),
            }),
            redirect_min_bytes: 100,
            ..Config::default()
        })
        .with_public_blobs(MemoryStore::new()),
    };
    let bytes = common::data(150, 3);
    for (name, public) in [("team/r2", true), ("private/r2", false)] {
        let digest = common::push_blob(&c, name, &bytes);
        let reply = c.send_once(
            Some(&common::basic("admin")),
            "GET",
            &format!("/v2/{name}/blobs/{digest}"),
            &[],
            b"",
        );
        assert_eq!(reply.status, 307);
        let location = reply.header("Location").unwrap();
        if public {
            let key = digest.replacen(':', "/", 1);
            assert_eq!(location, format!("https://blobs.example.com/{key}"));
            continue;
        }
        let signed = location
            .strip_prefix(&format!("https://{host}/registry-bucket/data/"))
            .unwrap_or_else(|| panic!("{location}"));
        assert!(signed.contains("X-Amz-Expires=600"), "{location}");
        let (path, query) = location[format!("https://{host}").len()..]
            .split_once('?')
            .unwrap();
        let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(signer.verify_get(host, path, &query, c.now_ms()), Ok(()));
    }
}

/// KV (or R2) refusing writes to a key for a moment: the client is told when to come back.
#[test]
fn rate_limited_storage_answers_429_with_retry_after() {
    struct Throttled;
    impl SessionStore for Throttled {
        async fn get(&self, _key: &str) -> StorageResult<Option<Vec<u8>>> {
            Err(StorageError::TooManyRequests)
        }
        async fn put(&self, _key: &str, _value: Vec<u8>, _ttl: u64) -> StorageResult<()> {
            Err(StorageError::TooManyRequests)
        }
        async fn delete(&self, _key: &str) -> StorageResult<()> {
            Err(StorageError::TooManyRequests)
        }
    }
    let clock: Clock = Rc::new(Cell::new(START_MS));
    let registry = Registry::new(
        MemoryStore::new().with_clock(clock.clone()),
        Throttled,
        ClockedEnvironment::new(clock),
        Config::default(),
        auth(),
    );
    let request = Request {
        method: Method::POST,
        origin: ORIGIN.into(),
        host: "localhost".into(),
        path: "/v2/team/throttled/blobs/uploads/".into(),
        query: Vec::new(),
        headers: header_map([("authorization", common::basic("admin"))]).unwrap(),
        body: MemoryBody::new(b"", 1),
    };
    let reply = Reply::from(block_on(registry.handle(request)).0);
    assert_oci_error(&reply, 429, "TOOMANYREQUESTS");
    assert_eq!(reply.header("Retry-After"), Some("1"));
}
