//! The body limit against the real worker under `wrangler dev`, started by scripts/test with
//! `BODY_LIMIT_BYTES` of 8 MiB, as `scripts/dev --body-limit 8388608` starts it: the local
//! stand-in for the Cloudflare plan's limit. A client that sends a layer whole (skopeo) is
//! refused with 413; the same layer sent in chunks of the advertised size is accepted.
//!
//! scripts/test sets REGISTRY_URL; skopeo comes from the system or tests/clients/setup, and
//! the OCI layout is packed by tests/scan-fixtures/oci-layout.py.
#![cfg(feature = "integration")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::http::client;
use common::{assert_oci_error, data, oci_layout, sha256, Client, TempDir};

const LIMIT: usize = 8 * 1024 * 1024;
const LAYER: usize = 40 * 1024 * 1024;

/// An OCI layout tagged `tag` whose one layer holds a file of `LAYER` bytes that do not
/// compress, so that the gzip layer stays larger than the limit.
fn layout_with_a_large_layer(work: &Path, tag: &str) -> PathBuf {
    oci_layout(work, tag, &[("large.bin", &data(LAYER, 40))])
}

/// The layers the layout's one image names, as (digest, size).
fn layers(layout: &Path) -> Vec<(String, u64)> {
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = read(
        layout
            .join("blobs/sha256")
            .join(&manifest["sha256:".len()..]),
    );
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().unwrap().to_string();
            (digest, layer["size"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn skopeo_sending_a_layer_over_the_limit_whole_is_refused_with_413() {
    let c = client();
    let work = TempDir::new("body-limit-skopeo");
    let layout = layout_with_a_large_layer(&work.0, "large");
    let (layer, size) = layers(&layout).remove(0);
    assert!(size > LIMIT as u64, "the gzip layer is {size} bytes");
    let host = c.base.strip_prefix("http://").expect("a plain-HTTP worker");
    let name = "team/body-limit-skopeo";
    // Against wrangler dev's plain HTTP, skopeo first waits about 10 s for a TLS handshake
    // nothing answers, then falls back to HTTP (platform notes).
    let output = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false", "--retry-times=0"])
        .args(["--dest-creds", "admin:admin-password"])
        .arg(format!("oci:{}:large", layout.display()))
        .arg(format!("docker://{host}/{name}:large"))
        .output()
        .expect("skopeo (the system's, or tests/clients/setup's)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "skopeo copy succeeded: {stderr}");
    // skopeo shows the 413's OCI error (SIZE_INVALID) as its message says it.
    let says = format!(
        "size invalid: request body larger than this registry's body limit of {LIMIT} bytes"
    );
    assert!(stderr.contains(&says), "skopeo copy: {stderr}");
    assert!(
        stderr.contains("edge-registry push"),
        "skopeo copy: {stderr}"
    );
    let blob = c.send("HEAD", &format!("/v2/{name}/blobs/{layer}"), &[], b"");
    assert_eq!(blob.status, 404, "nothing of the refused layer is stored");
}

#[test]
fn a_blob_sent_in_patches_of_the_advertised_size_is_accepted_and_served_back() {
    let c = client();
    let name = "team/body-limit-chunks";
    let blob = data(LAYER, 41);
    let digest = sha256(&blob);
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202);
    assert_eq!(
        start.header("OCI-Chunk-Max-Length"),
        Some(&*LIMIT.to_string()),
        "the body limit, advertised as the largest chunk"
    );
    let location = start.header("Location").unwrap().to_string();
    let path = location
        .strip_prefix(&c.base)
        .unwrap_or(&location)
        .to_string();

    // One byte over the limit, declared: refused, and the upload has not moved.
    let over = c.send("PATCH", &path, &[], &blob[..LIMIT + 1]);
    assert_oci_error(&over, 413, "SIZE_INVALID");
    let message = over.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(&LIMIT.to_string()), "{message}");
    assert!(message.contains("OCI-Chunk-Max-Length"), "{message}");

    // Chunks of exactly the limit, each with its Content-Range.
    for (i, chunk) in blob.chunks(LIMIT).enumerate() {
        let first = i * LIMIT;
        let range = format!("{first}-{}", first + chunk.len() - 1);
        let reply = c.send("PATCH", &path, &[("Content-Range", &range)], chunk);
        assert_eq!(
            reply.status,
            202,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(
            reply.header("Range"),
            Some(&*format!("0-{}", first + chunk.len() - 1))
        );
    }
    let close = format!("{path}?digest={digest}");
    let done = c.send("PUT", &close, &[], b"");
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));

    let pulled = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(pulled.status, 200);
    assert_eq!(sha256(&pulled.body), digest);
}

#[test]
fn a_chunked_body_over_the_limit_is_refused_and_the_upload_stays_where_it_stood() {
    let c = client();
    let name = "team/body-limit-stream";
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202);
    let location = start.header("Location").unwrap().to_string();
    let path = location
        .strip_prefix(&c.base)
        .unwrap_or(&location)
        .to_string();
    let body = data(LIMIT + 1, 42);
    let refused = c.send_stream("PATCH", &path, body.as_slice());
    assert_oci_error(&refused, 413, "SIZE_INVALID");
    let status = c.send("GET", &path, &[], b"");
    assert_eq!(status.status, 204);
    assert_eq!(
        status.header("Range"),
        Some("0-0"),
        "nothing of the body was kept"
    );
}
