//! The public-blobs bucket (README "Pulls"): after public and private pushes and pulls, and
//! maintenance, it holds the bytes of blobs that public repositories link, under their
//! digests, and nothing else: no private repository's blob (pulled or not), no manifest, tag,
//! blob record, upload progress or maintenance state. Run in process (tests/api.rs), which
//! then lists the bucket itself, and against a worker with a public bucket of its own
//! (tests/worker.rs; scripts/test lists the bucket once the worker has stopped).
//! The registry under test redirects blobs from 100 bytes, to `base` for public ones.

use super::{basic, data, image_manifest, push_blob, put_manifest, Client, OCI_MANIFEST};

const PUBLIC: &str = "team/public-bucket";
const PRIVATE: &str = "private/public-bucket";

/// Pushes an image of a 50-byte config and the given layers; returns the manifest's digest.
fn push(c: &dyn Client, name: &str, seed: u64, layers: &[&[u8]]) -> (String, String) {
    let config = data(50, seed);
    let config_digest = push_blob(c, name, &config);
    let layers: Vec<(String, usize)> = layers
        .iter()
        .map(|layer| (push_blob(c, name, layer), layer.len()))
        .collect();
    let layers: Vec<(&str, usize)> = layers.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    let manifest = image_manifest((&config_digest, 50), &layers, "");
    let manifest_digest = put_manifest(c, name, "v1", &manifest, OCI_MANIFEST);
    (config_digest, manifest_digest)
}

/// Where a pull of the blob is sent; `None` when it is answered directly.
fn pull(c: &dyn Client, authorization: Option<&str>, name: &str, digest: &str) -> Option<String> {
    let reply = c.send_once(
        authorization,
        "GET",
        &format!("/v2/{name}/blobs/{digest}"),
        &[],
        b"",
    );
    match reply.status {
        200 => None,
        307 => reply.header("Location").map(String::from),
        status => panic!("pull of {name}@{digest}: {status}"),
    }
}

/// The bucket's key for a digest: `sha256:<hex>` as `sha256/<hex>`.
pub fn key(digest: &str) -> String {
    digest.replacen(':', "/", 1)
}

/// Runs the scenario and returns the digests whose bytes the bucket must hold, and those it
/// must not.
pub fn push_pull_and_collect(c: &dyn Client, base: &str) -> (Vec<String>, Vec<String>) {
    let (layer, shared, private_layer) = (data(300, 71), data(300, 72), data(300, 73));
    let (public_config, public_manifest) = push(c, PUBLIC, 70, &[&layer, &shared]);
    let (private_config, private_manifest) = push(c, PRIVATE, 74, &[&private_layer, &shared]);
    let [layer, shared, private_layer] =
        [&layer, &shared, &private_layer].map(|b| super::sha256(b));
    // An upload left open in each: progress objects in the registry's bucket.
    for name in [PUBLIC, PRIVATE] {
        let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
        let location = start
            .header("Location")
            .expect("an upload location")
            .to_string();
        assert_eq!(c.send("PATCH", &location, &[], &data(120, 75)).status, 202);
    }

    // Public blobs go to the public bucket, under their digest; twice the same.
    for digest in [&layer, &shared] {
        for _ in 0..2 {
            assert_eq!(
                pull(c, None, PUBLIC, digest),
                Some(format!("{base}/{}", key(digest)))
            );
        }
    }
    assert_eq!(
        pull(c, None, PUBLIC, &public_config),
        None,
        "small blobs stream"
    );
    // Private ones, the shared layer among them, get the registry's signed URLs.
    let reader = basic("reader");
    for digest in [&private_layer, &shared] {
        let location = pull(c, Some(&reader), PRIVATE, digest).expect("a redirect");
        assert!(!location.starts_with(base), "{location}");
    }
    let anonymous = c.send_as(
        None,
        "GET",
        &format!("/v2/{PRIVATE}/blobs/{private_layer}"),
        &[],
        b"",
    );
    assert_eq!(anonymous.status, 401);
    for (name, manifest) in [(PUBLIC, &public_manifest), (PRIVATE, &private_manifest)] {
        for reference in [manifest.as_str(), "v1"] {
            let path = format!("/v2/{name}/manifests/{reference}");
            assert_eq!(c.send_as(Some(&reader), "GET", &path, &[], b"").status, 200);
        }
    }
    super::maintenance::collect(c, 1, false);

    // Once no public repository links a blob, the next cycle removes its copy.
    let unlink = c.send("DELETE", &format!("/v2/{PUBLIC}/blobs/{layer}"), &[], b"");
    assert_eq!(unlink.status, 202);
    super::maintenance::collect(c, 1, false);
    assert_eq!(
        pull(c, None, PUBLIC, &shared),
        Some(format!("{base}/{}", key(&shared)))
    );
    let not_held = vec![
        layer,
        private_layer,
        public_config,
        private_config,
        public_manifest,
        private_manifest,
    ];
    (vec![shared], not_held)
}
