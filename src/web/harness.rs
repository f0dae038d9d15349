//! A registry for the pages' tests: the API and the pages over memory stores that count
//! their operations, as the registry dispatches them (without `app`, which is above this).

use std::cell::Cell;
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::executor::block_on;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::api::{routes, Api, Body, Method, Request, Response};
use crate::auth::{Auth, Policy, SigningKey};
use crate::config::Config;
use crate::oci::manifest::OCI_MANIFEST;
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::records::{ClockedEnvironment, Records, ScanRecord};
use crate::storage::memory::{MemoryBody, MemoryStore};
use crate::storage::metered::{Metered, OpCounter};

pub(super) const ADMIN: &str = "admin:admin-password";
pub(super) const READER: &str = "reader:reader-password";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub(super) struct Harness {
    records: Records<Metered<MemoryStore>, Metered<MemoryStore>, ClockedEnvironment>,
    config: Config,
    auth: Auth,
    counter: OpCounter,
    clock: Rc<Cell<u64>>,
}

pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The storage operations (R2 classes A and B) the request cost.
    pub ops: u64,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value `Set-Cookie` gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let set = self.set_cookie(name)?;
        let value = set.split(';').next()?.split_once('=')?.1;
        Some(value.to_string())
    }

    /// The value of the first `attribute="..."` after `marker` in the body.
    pub fn attribute_after(&self, marker: &str, attribute: &str) -> Option<String> {
        let rest = &self.body[self.body.find(marker)?..];
        let start = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
        let end = rest[start..].find('"')?;
        Some(rest[start..start + end].to_string())
    }

    /// How often `needle` is in the body.
    pub fn count(&self, needle: &str) -> usize {
        self.body.matches(needle).count()
    }
}

fn user(name_and_password: &str, grants: &str) -> String {
    let (name, password) = name_and_password.split_once(':').unwrap();
    let hash = hex::encode(Sha256::digest(password.as_bytes()));
    format!("{name} {hash} {grants}")
}

fn basic(name_and_password: &str) -> String {
    format!("Basic {}", STANDARD.encode(name_and_password))
}

pub(super) fn sha256(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, bytes).to_string()
}

impl Harness {
    /// Repositories under `private/` are private; `reader` may pull them; tokens are signed
    /// (logins work) when `signing`.
    pub fn new(signing: bool) -> Harness {
        let clock = Rc::new(Cell::new(1_700_000_000_000));
        let counter = OpCounter::default();
        let store = |clock: &Rc<Cell<u64>>| {
            Metered::new(
                MemoryStore::new().with_clock(clock.clone()),
                counter.clone(),
            )
        };
        let policy = Policy::parse(
            &user(READER, "private/*=pull"),
            Some(&user(ADMIN, "")),
            "private/*",
        )
        .unwrap();
        let auth = Auth {
            policy,
            signing_key: signing.then(|| SigningKey::new(&"k".repeat(32)).unwrap()),
            ..Auth::default()
        };
        let env = ClockedEnvironment::new(clock.clone());
        Harness {
            records: Records::new(store(&clock), None, store(&clock), env),
            config: Config::default(),
            auth,
            counter,
            clock,
        }
    }

    /// Lets a second pass, so that the next push is the newer one.
    pub fn tick(&self) {
        self.advance(1);
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.set(self.clock.get() + seconds * 1000);
    }

    pub fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let request = Request::local(method, path_and_query, headers, MemoryBody::new(body, 64));
        let counts = |c: crate::storage::metered::OpCounts| c.class_a + c.class_b;
        let before = counts(self.counter.counts());
        let api = Api {
            records: &self.records,
            config: &self.config,
            auth: &self.auth,
            issuers: None,
        };
        let response = match super::routes::parse(&request.path) {
            Some(page) => block_on(api.page(page, request)).0,
            None => {
                let route = routes::parse(&request.path).expect("an API route");
                let answer = block_on(api.serve(route, request));
                answer.unwrap_or_else(|error| Response::from_error(&error))
            }
        };
        let ops = counts(self.counter.counts()) - before;
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes,
        };
        let headers = response.headers.iter();
        let headers = headers.map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()));
        Reply {
            status: response.status.as_u16(),
            headers: headers.collect(),
            body: String::from_utf8(body).unwrap(),
            ops,
        }
    }

    /// A page as a visitor with `cookie` (anonymous: none) sees it.
    pub fn page(&self, path: &str, cookie: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        self.send(Method::GET, path, &headers, b"")
    }

    fn admin(&self, method: Method, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let authorization = basic(ADMIN);
        let headers = [
            ("authorization", authorization.as_str()),
            ("content-type", content_type),
        ];
        self.send(method, path, &headers, body)
    }

    pub fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let path = format!("/v2/{name}/blobs/uploads/?digest={digest}");
        let reply = self.admin(Method::POST, &path, "application/octet-stream", bytes);
        assert_eq!(reply.status, 201, "{}", reply.body);
        digest
    }

    /// Pushes `manifest` as `reference`; returns its digest.
    pub fn push_manifest(
        &self,
        name: &str,
        reference: &str,
        manifest: &serde_json::Value,
    ) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap();
        let path = format!("/v2/{name}/manifests/{reference}");
        let reply = self.admin(Method::PUT, &path, media_type, &bytes);
        assert_eq!(reply.status, 201, "{}", reply.body);
        sha256(&bytes)
    }

    /// An image of `config` and one layer of `layer_bytes` bytes, with `annotations`,
    /// pushed as `reference` (none: by its digest): its manifest and digest.
    pub fn push_image(
        &self,
        name: &str,
        reference: &str,
        config: serde_json::Value,
        layer_bytes: usize,
        annotations: serde_json::Value,
    ) -> (serde_json::Value, String) {
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.push_blob(name, &config);
        let layer = vec![layer_bytes as u8; layer_bytes];
        let layer_digest = self.push_blob(name, &layer);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer_bytes}],
            "annotations": annotations,
        });
        let own_digest = sha256(&serde_json::to_vec(&manifest).unwrap());
        let reference = if reference.is_empty() {
            &own_digest
        } else {
            reference
        };
        let digest = self.push_manifest(name, reference, &manifest);
        (manifest, digest)
    }

    pub fn push_simple(&self, name: &str, tag: &str, seed: usize) -> String {
        let config = json!({"os": "linux", "architecture": "amd64", "seed": seed});
        self.push_image(name, tag, config, 100 + seed, json!({})).1
    }

    /// Attaches an artifact of `artifact_type` to `subject`.
    pub fn attach(&self, name: &str, subject: &str, artifact_type: &str) -> String {
        let empty = self.push_blob(name, b"{}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        });
        let digest = sha256(&serde_json::to_vec(&manifest).unwrap());
        self.push_manifest(name, &digest, &manifest)
    }

    pub fn scan(&self, name: &str, digest: &str, record: &ScanRecord) {
        let name = RepositoryName::parse(name, "").unwrap();
        let digest: Digest = digest.parse().unwrap();
        let write = self.records.write_scan_record(&name, &digest, record);
        block_on(write).unwrap();
    }
}
