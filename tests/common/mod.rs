//! The protocol scenarios, written once against [`Client`] and run twice: in process over the
//! in-memory store (tests/api.rs) and over HTTP against the real worker (tests/worker.rs).

#![allow(dead_code)] // Each test binary uses its own subset of the helpers.

pub mod access;
pub mod http;
pub mod maintenance;
pub mod osv_zip;
pub mod public_bucket;
pub mod pulls;
pub mod scan;
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use edge_registry::api::{Body, Response};
use sha2::{Digest as _, Sha256};

/// A fresh directory under the system's temporary one, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An OCI layout at `work`/layout, tagged `tag`, whose one gzip layer holds `files` (written
/// under `work`/files first), packed by tests/scan-fixtures/oci-layout.py.
pub fn oci_layout(work: &Path, tag: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = work.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let layout = work.join("layout");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scan-fixtures/oci-layout.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .arg(&layout)
        .arg(tag)
        .arg(&dir)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "oci-layout.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    layout
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The in-process registry's response, as a client would receive it.
impl From<Response<Vec<u8>>> for Reply {
    fn from(response: Response<Vec<u8>>) -> Reply {
        let headers = response.headers.iter().map(|(name, value)| {
            let value = std::str::from_utf8(value.as_bytes()).expect("text header values");
            (name.to_string(), value.to_string())
        });
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes,
        };
        Reply {
            status: response.status.as_u16(),
            headers: headers.collect(),
            body,
        }
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header that may repeat, whether sent as several header lines or as
    /// one comma-separated line (RFC 9110, section 5.3).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The code of an OCI error, which must have the distribution spec's form: a JSON body
    /// `{"errors":[{"code","message","detail"}]}` (one error, code and message as text).
    #[track_caller]
    pub fn error_code(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(
            self.header("Content-Type"),
            Some("application/json"),
            "an error's content type: {body}"
        );
        let json = self.json();
        let errors = json["errors"].as_array();
        let error = match errors.map(Vec::as_slice) {
            Some([error]) => error,
            _ => panic!("not one error in {body}"),
        };
        let mut fields: Vec<&str> = error
            .as_object()
            .map(|error| error.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["code", "detail", "message"],
            "error fields: {body}"
        );
        assert!(
            error["message"].is_string(),
            "error without message: {body}"
        );
        error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {body}"))
            .to_string()
    }
}

/// Asserts that `reply` is an OCI error with `status` and `code`, in the spec's form (see
/// [`Reply::error_code`]).
#[track_caller]
pub fn assert_oci_error(reply: &Reply, status: u16, code: &str) {
    let body = String::from_utf8_lossy(&reply.body);
    assert_eq!(reply.status, status, "{body}");
    assert_eq!(reply.error_code(), code, "{body}");
}

pub trait Client {
    /// Sends one request with `authorization` as its Authorization header (none for `None`);
    /// `body` goes out as one piece with a Content-Length. Redirects are not followed.
    fn send_once(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply;
    /// `scheme://host:port` of the registry, as its redirects name it.
    fn origin(&self) -> String;
    /// The part size the registry under test was configured with.
    fn part_size(&self) -> usize;
    /// The registry's clock, for tokens the tests make themselves.
    fn now_ms(&self) -> u64;
    /// Lets `ms` milliseconds pass on the registry's clock (grace periods, TTLs).
    fn let_time_pass(&self, ms: u64);
    /// Pulls `name:tag` with a real registry client, which checks every digest, and checks
    /// that the manifest it got is `manifest_digest`. In process there is no server for a
    /// client to reach, and the raw pulls of the scenarios are the check.
    fn pull_with_client(&self, name: &str, tag: &str, manifest_digest: &str);

    /// Sends a request and, like every registry client, follows a blob pull's redirect to
    /// the registry's own signed URL, with the same headers (a Range among them).
    fn send_as(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let reply = self.send_once(authorization, method, path, headers, body);
        if reply.status != 307 || method != "GET" {
            return reply;
        }
        let location = reply
            .header("Location")
            .expect("a redirect names its target");
        let origin = self.origin();
        let target = location
            .strip_prefix(origin.as_str())
            .unwrap_or_else(|| panic!("redirect to {location}, outside {origin}"));
        self.send_once(authorization, "GET", target, headers, b"")
    }

    /// Sends a request as the administrator: the protocol scenarios are not about access.
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.send_as(Some(&basic("admin")), method, path, headers, body)
    }
}

/// HTTP Basic credentials of a test user (tests/access.env): the token is `<name>-password`.
pub fn basic(user: &str) -> String {
    let credentials = format!("{user}:{user}-password");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic bytes that do not compress or repeat at part boundaries.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// A repository name unique to one test, so tests may share a registry.
pub fn repo(test: &str) -> String {
    format!("test/{test}")
}

/// Pushes a blob in one monolithic POST and returns its digest.
pub fn push_blob(client: &dyn Client, name: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let reply = client.send(
        "POST",
        &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
        &[],
        bytes,
    );
    assert_eq!(
        reply.status,
        201,
        "monolithic upload: {}",
        String::from_utf8_lossy(&reply.body)
    );
    digest
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An image manifest over the given config and layers (as (digest, size) pairs).
pub fn image_manifest(config: (&str, usize), layers: &[(&str, usize)], extra: &str) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, s)| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{s}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]{extra}}}"#,
        config.0,
        config.1,
        layers.join(",")
    )
    .into_bytes()
}

/// Pushes a small image (config + one layer) and tags it; returns the manifest digest.
pub fn push_image(client: &dyn Client, name: &str, tag: &str, seed: u64) -> String {
    let config = data(50, seed);
    let layer = data(300, seed + 1);
    let (c, l) = (
        push_blob(client, name, &config),
        push_blob(client, name, &layer),
    );
    let manifest = image_manifest((&c, config.len()), &[(&l, layer.len())], "");
    put_manifest(client, name, tag, &manifest, OCI_MANIFEST)
}

pub fn put_manifest(
    client: &dyn Client,
    name: &str,
    reference: &str,
    manifest: &[u8],
    content_type: &str,
) -> String {
    let reply = client.send(
        "PUT",
        &format!("/v2/{name}/manifests/{reference}"),
        &[("Content-Type", content_type)],
        manifest,
    );
    assert_eq!(
        reply.status,
        201,
        "manifest put: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let digest = sha256(manifest);
    assert_eq!(reply.header("Docker-Content-Digest"), Some(digest.as_str()));
    digest
}
