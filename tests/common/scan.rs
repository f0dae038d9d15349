//! What the scan tests (tests/scan.rs) make and read: image layers built here (tar, gzip) and
//! pushed through the registry API, OSV exports zipped, the scan report awaited while the
//! queue consumer works, and the documents it attaches fetched through the referrers API.
//! The fixtures tests/scan-fixtures/setup prepares (a debootstrap rootfs, its OCI layout,
//! syft) are found under tests/.tools/scan.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tar::{EntryType, Header};

use super::{push_blob, put_manifest, sha256, Client, OCI_MANIFEST};

pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub const SCAN_REPORT: &str = "application/vnd.edge-registry.scan-report.v1+json";
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// How long a scan, a match or an advisory load may take before a test gives up: ample for
/// the Debian image (50 MB of layer) on two cores shared with other work.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A fixture of tests/scan-fixtures/setup, or of this repository's tests/scan-fixtures.
pub fn fixture(path: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    assert!(
        path.exists(),
        "{} is missing: run tests/scan-fixtures/setup",
        path.display()
    );
    path
}

/// One entry of a layer made by a test. Paths go into the tar header exactly as given, so that
/// tests can write what hostile layers hold (`../`, absolute paths), which the tar crate's
/// checked setters refuse.
pub enum Entry<'a> {
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// An uncompressed layer of `entries`, in order.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let (path, kind, link, content) = match *entry {
            Entry::File(path, content) => (path, EntryType::Regular, None, content),
            Entry::Symlink(path, target) => (path, EntryType::Symlink, Some(target), ""),
            Entry::Hardlink(path, target) => (path, EntryType::Link, Some(target), ""),
        };
        let mut header = Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        assert!(
            path.len() <= name.len(),
            "{path}: too long for a test layer"
        );
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).expect("a link target");
        }
        header.set_cksum();
        builder
            .append(&header, content.as_bytes())
            .expect("a tar in memory");
    }
    builder.into_inner().expect("a tar in memory")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// A layer as pushed: its bytes, media type, and the digest of its uncompressed tar.
pub struct Layer {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl Layer {
    pub fn gzip(tar: &[u8]) -> Layer {
        Layer {
            bytes: gzip(tar),
            media_type: GZIP_LAYER,
            diff_id: sha256(tar),
        }
    }

    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: sha256(&tar),
            bytes: tar,
            media_type: TAR_LAYER,
        }
    }
}

/// Pushes an image of `layers` (its config naming their diff_ids) as `name:tag`; returns the
/// manifest's digest.
pub fn push_layers(c: &dyn Client, name: &str, tag: &str, layers: &[Layer]) -> String {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|layer| layer.diff_id.as_str()).collect::<Vec<_>>(),
        },
    })
    .to_string();
    let config_digest = push_blob(c, name, config.as_bytes());
    let descriptors: Vec<Value> = layers
        .iter()
        .map(|layer| {
            json!({
                "mediaType": layer.media_type,
                "digest": push_blob(c, name, &layer.bytes),
                "size": layer.bytes.len(),
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": descriptors,
    });
    put_manifest(c, name, tag, manifest.to_string().as_bytes(), OCI_MANIFEST)
}

/// Tries `attempt` every quarter second until it gives a value; fails after [`PATIENCE`] with
/// what the last attempt said.
#[track_caller]
pub fn wait_until<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not after {PATIENCE:?}; the last answer: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// The administrator's view of the scan report of `name@digest`. Anything but a 200 is final:
/// the report exists from the push of its manifest on.
#[track_caller]
pub fn scan_report(c: &dyn Client, name: &str, digest: &str) -> Value {
    let reply = c.send("GET", &format!("/v2/{name}/_scan/{digest}"), &[], b"");
    assert_eq!(
        reply.status,
        200,
        "GET the scan of {name}@{digest}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// The scan report of `name@digest` once the scan has ended (`complete`, `failed` or
/// `unsupported`).
#[track_caller]
pub fn wait_for_scan(c: &dyn Client, name: &str, digest: &str) -> Value {
    wait_until(&format!("the scan of {name}@{digest}"), || {
        let report = scan_report(c, name, digest);
        match report["status"].as_str() {
            Some("complete" | "failed" | "unsupported") => Ok(report),
            _ => Err(report.to_string()),
        }
    })
}

/// [`wait_for_scan`], asserting that the scan completed.
#[track_caller]
pub fn wait_for_complete_scan(c: &dyn Client, name: &str, digest: &str) -> Value {
    let report = wait_for_scan(c, name, digest);
    assert_eq!(report["status"], "complete", "{report}");
    report
}

/// The referrers of `name@digest` (GET /v2/<name>/referrers/<digest>), optionally filtered by
/// artifact type.
pub fn referrers(
    c: &dyn Client,
    name: &str,
    digest: &str,
    artifact_type: Option<&str>,
) -> Vec<Value> {
    let query = artifact_type
        .map(|t| format!("?artifactType={}", t.replace('+', "%2B")))
        .unwrap_or_default();
    let reply = c.send(
        "GET",
        &format!("/v2/{name}/referrers/{digest}{query}"),
        &[],
        b"",
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let index = reply.json();
    assert_eq!(index["mediaType"], super::OCI_INDEX, "{index}");
    index["manifests"].as_array().cloned().unwrap_or_default()
}

/// The JSON document an artifact of `artifact_type` attached to `name@subject` carries: its
/// manifest (an empty config, one CycloneDX layer, `subject` the image) and its one layer,
/// each checked against its digest.
pub fn attached_document(
    c: &dyn Client,
    name: &str,
    subject: &str,
    artifact: &str,
    artifact_type: &str,
) -> Value {
    let reply = c.send(
        "GET",
        &format!("/v2/{name}/manifests/{artifact}"),
        &[("Accept", OCI_MANIFEST)],
        b"",
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(sha256(&reply.body), artifact);
    let manifest = reply.json();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST, "{manifest}");
    assert_eq!(manifest["artifactType"], artifact_type, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], EMPTY_CONFIG, "{manifest}");
    assert_eq!(manifest["subject"]["digest"], subject, "{manifest}");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], CYCLONEDX, "{manifest}");
    let digest = layers[0]["digest"].as_str().expect("a layer digest");
    let blob = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(blob.status, 200, "{}", String::from_utf8_lossy(&blob.body));
    assert_eq!(sha256(&blob.body), digest);
    blob.json()
}

/// The SBOM of a scanned image, found as the referrers API lists it: exactly one referrer of
/// artifact type CycloneDX, the report's `sbom_digest`.
pub fn sbom(c: &dyn Client, name: &str, digest: &str, report: &Value) -> Value {
    let sbom_digest = report["sbom_digest"].as_str().expect("an SBOM digest");
    let listed = referrers(c, name, digest, Some(CYCLONEDX));
    let digests: Vec<&str> = listed.iter().filter_map(|m| m["digest"].as_str()).collect();
    assert_eq!(digests, [sbom_digest], "{listed:?}");
    assert_eq!(listed[0]["artifactType"], CYCLONEDX);
    let document = attached_document(c, name, digest, sbom_digest, CYCLONEDX);
    assert_eq!(document["bomFormat"], "CycloneDX", "{document}");
    document
}

/// A package URL taken apart (github.com/package-url/purl-spec), its parts percent-decoded:
/// `pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
    pub qualifiers: BTreeMap<String, String>,
}

fn decoded(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .expect("a purl in UTF-8")
        .into_owned()
}

impl Purl {
    #[track_caller]
    pub fn parse(purl: &str) -> Purl {
        let rest = purl.strip_prefix("pkg:").expect("a purl starts with pkg:");
        let (rest, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
        let (path, version) = rest.rsplit_once('@').expect("a purl with a version");
        let mut segments: Vec<&str> = path.split('/').collect();
        let kind = segments.remove(0).to_owned();
        let name = decoded(segments.pop().expect("a purl names its package"));
        let namespace = (!segments.is_empty()).then(|| decoded(&segments.join("/")));
        let qualifiers = qualifiers
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), decoded(value)))
            .collect();
        Purl {
            kind,
            namespace,
            name,
            version: decoded(version),
            qualifiers,
        }
    }
}

/// The purls of a CycloneDX document's components (the OS, which has none, left out).
pub fn purls(document: &Value) -> Vec<String> {
    let mut purls: Vec<String> = document["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|component| component["purl"].as_str().map(str::to_owned))
        .collect();
    purls.sort();
    purls
}

/// A zip of `entries` (name, content), deflated, as an OSV export.
pub fn zip(entries: &[(String, String)]) -> Vec<u8> {
    let files: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(name, content)| (name.as_str(), content.clone().into_bytes()))
        .collect();
    let (_, mut reader) = super::osv_zip::export(&files, None);
    let mut zip = Vec::new();
    reader.read_to_end(&mut zip).expect("a zip in memory");
    zip
}

/// A zip bomb: one valid JSON entry of `mib` MiB that deflates about a thousandfold, by
/// tests/scan-fixtures/zip-bomb.py.
pub fn zip_bomb(mib: u32) -> Vec<u8> {
    let output = Command::new("python3")
        .arg(fixture("tests/scan-fixtures/zip-bomb.py"))
        .arg(mib.to_string())
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "zip-bomb.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The administrator's GET /_advisories.
pub fn advisories(c: &dyn Client) -> Value {
    let reply = c.send("GET", "/_advisories", &[], b"");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// What GET /_advisories says of `ecosystem`, if anything.
pub fn ecosystem_status(all: &Value, ecosystem: &str) -> Option<Value> {
    all["ecosystems"]
        .as_array()?
        .iter()
        .find(|entry| entry["ecosystem"] == ecosystem)
        .cloned()
}

/// Loads `zip` as the administrator: PUT /_advisories/<ecosystem>, answered 202 with the
/// ecosystem's load status.
pub fn put_advisories(c: &dyn Client, ecosystem: &str, zip: &[u8]) -> super::Reply {
    c.send(
        "PUT",
        &format!("/_advisories/{ecosystem}"),
        &[("Content-Type", "application/zip")],
        zip,
    )
}

/// The status of `ecosystem` once the load started after `before` (its status then, if
/// any) has ended, `ready` or `failed`. The tests make each load of an ecosystem end in a
/// status unlike the one before (another advisory count, say), since `loaded_at` counts
/// whole seconds.
#[track_caller]
pub fn wait_for_load(c: &dyn Client, ecosystem: &str, before: Option<&Value>) -> Value {
    wait_until(&format!("the {ecosystem} advisories' load"), || {
        let status = ecosystem_status(&advisories(c), ecosystem)
            .ok_or_else(|| format!("{ecosystem} not listed"))?;
        let ended = matches!(status["status"].as_str(), Some("ready" | "failed"));
        if ended && Some(&status) != before {
            Ok(status)
        } else {
            Err(status.to_string())
        }
    })
}
