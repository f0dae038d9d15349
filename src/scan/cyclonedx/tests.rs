use std::collections::BTreeSet;

use chrono::TimeZone;

use super::*;
use crate::scan::matching::match_inventory;
use crate::scan::osv::Advisory;
use crate::scan::packages::{inventory, parse, Found};

const DPKG_STATUS: &str = include_str!("../packages/testdata/dpkg/status");

fn found() -> Vec<Found> {
    [
        ("/var/lib/dpkg/status", DPKG_STATUS),
        (
            "/etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n\
             VERSION_CODENAME=bookworm\n",
        ),
        (
            "/usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA",
            "Name: Foo_Bar\nVersion: 1.0\n",
        ),
        (
            "/app/node_modules/@scope/name/package.json",
            r#"{"name":"@scope/name","version":"1.0.0"}"#,
        ),
    ]
    .into_iter()
    .map(|(path, text)| parse(path, text.as_bytes()).unwrap())
    .collect()
}

const SUBJECT: Subject<'static> = Subject {
    repository: "library/debian",
    manifest_digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

fn document() -> Value {
    sbom(SUBJECT, &inventory(found()), [0xff; 16], at(1_700_000_000))
}

fn strings<'a>(values: impl IntoIterator<Item = &'a Value>, key: &str) -> Vec<&'a str> {
    values
        .into_iter()
        .map(|value| {
            value[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {value}"))
        })
        .collect()
}

#[test]
fn the_document_has_cyclonedx_1_5_header_and_metadata() {
    let document = document();
    assert_eq!(document["bomFormat"], "CycloneDX");
    assert_eq!(document["specVersion"], "1.5");
    assert_eq!(document["version"], 1);
    assert_eq!(
        document["serialNumber"],
        "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff"
    );
    let metadata = &document["metadata"];
    assert_eq!(metadata["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(metadata["tools"]["components"][0]["name"], "edge-registry");
    let image = &metadata["component"];
    assert_eq!(image["type"], "container");
    assert_eq!(image["name"], SUBJECT.repository);
    assert_eq!(image["version"], SUBJECT.manifest_digest);
    let properties = image["properties"].as_array().unwrap();
    assert_eq!(
        strings(properties, "name"),
        [
            "edge-registry:os:id",
            "edge-registry:os:version_id",
            "edge-registry:os:version_codename",
            "edge-registry:os:pretty_name"
        ]
    );
    assert_eq!(
        strings(properties, "value"),
        ["debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)"]
    );
}

#[test]
fn components_are_the_os_then_one_library_per_purl() {
    let document = document();
    let components = document["components"].as_array().unwrap();
    let os = &components[0];
    assert_eq!(os["type"], "operating-system");
    assert_eq!(
        (&os["name"], &os["version"]),
        (&json!("debian"), &json!("12"))
    );
    let libraries = &components[1..];
    // Fifteen installed Debian packages, one Python and one npm package.
    assert_eq!(libraries.len(), 17);
    for library in libraries {
        assert_eq!(library["type"], "library");
        assert_eq!(library["bom-ref"], library["purl"]);
        for key in ["name", "version", "purl"] {
            assert!(library[key].as_str().is_some_and(|value| !value.is_empty()));
        }
    }
    let purls = strings(libraries, "purl");
    assert!(
        purls.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted, unique"
    );
    let bom_refs: BTreeSet<&str> = strings(components, "bom-ref").into_iter().collect();
    assert_eq!(bom_refs.len(), components.len());
    for expected in [
        "pkg:deb/debian/bash@5.2.15-2%2Bb8?arch=amd64&distro=debian-12",
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12",
        "pkg:pypi/foo-bar@1.0",
        "pkg:npm/%40scope/name@1.0.0",
    ] {
        assert!(purls.contains(&expected), "{expected} in {purls:?}");
    }
    assert!(!purls.iter().any(|purl| purl.contains("adduser")));
}

#[test]
fn deb_packages_carry_their_source_package() {
    let document = document();
    let named = |name: &str| {
        let components = document["components"].as_array().unwrap();
        components
            .iter()
            .find(|component| component["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {components:?}"))
    };
    assert_eq!(
        named("libc6")["properties"],
        json!([{"name": "edge-registry:deb:source", "value": "glibc@2.36-9+deb12u14"}])
    );
    assert_eq!(
        named("bash")["properties"],
        json!([{"name": "edge-registry:deb:source", "value": "bash@5.2.15-2"}])
    );
    assert!(named("Foo_Bar").get("properties").is_none());
}

#[test]
fn a_rescan_gives_the_same_bytes_but_for_serial_and_timestamp() {
    let first = serde_json::to_vec(&document()).unwrap();
    let mut shuffled = found();
    shuffled.reverse();
    let mut again = sbom(SUBJECT, &inventory(shuffled), [0x12; 16], at(1_800_000_000));
    assert_ne!(serde_json::to_vec(&again).unwrap(), first);
    again["serialNumber"] = document()["serialNumber"].clone();
    again["metadata"]["timestamp"] = document()["metadata"]["timestamp"].clone();
    assert_eq!(serde_json::to_vec(&again).unwrap(), first);
}

#[test]
fn an_image_without_os_release_or_packages_is_still_a_document() {
    let document = sbom(SUBJECT, &Inventory::default(), [0; 16], at(0));
    assert_eq!(document["components"], json!([]));
    assert_eq!(document["metadata"]["component"]["properties"], json!([]));
    assert_eq!(
        document["serialNumber"],
        "urn:uuid:00000000-0000-4000-8000-000000000000"
    );
}

fn osv(document: Value) -> Advisory {
    Advisory::from_json(document.to_string().as_bytes()).expect("advisory parses")
}

fn advisories() -> Vec<Advisory> {
    vec![
        osv(json!({
            "id": "DSA-5912-1",
            "aliases": ["CVE-2025-0001"],
            "summary": "glibc: buffer overflow",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u15"}]}]
            }]
        })),
        // The source version has no epoch, the binary's has one: compared as the source's.
        osv(json!({
            "id": "DEBIAN-CVE-2025-0002",
            "database_specific": {"severity": "medium"},
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "util-linux"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u4"}]}]
            }]
        })),
        osv(json!({
            "id": "GHSA-xxxx/yyyy zzzz",
            "affected": [{
                "package": {"ecosystem": "npm", "name": "@scope/name"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
            }]
        })),
    ]
}

fn report_document() -> Value {
    let inventory = inventory(found());
    let vulnerabilities = match_inventory(&inventory, &advisories());
    report(
        SUBJECT,
        &inventory,
        &vulnerabilities,
        [0xff; 16],
        at(1_700_000_000),
    )
}

const SEVERITIES: [&str; 7] = [
    "critical", "high", "medium", "low", "info", "none", "unknown",
];
const SCORE_METHODS: [&str; 6] = ["CVSSv2", "CVSSv3", "CVSSv31", "CVSSv4", "OWASP", "other"];

/// What CycloneDX 1.5's schema requires of the parts a report writes: every `affects` ref a
/// component's bom-ref, ratings' severities and methods from its enums, references with an id
/// and a source, properties with a name and a value.
fn assert_well_formed(document: &Value) {
    for key in ["bomFormat", "specVersion", "version"] {
        assert!(!document[key].is_null(), "{key}");
    }
    let bom_refs: BTreeSet<&str> = strings(document["components"].as_array().unwrap(), "bom-ref")
        .into_iter()
        .collect();
    let vulnerabilities = document["vulnerabilities"].as_array().unwrap();
    let mut unique = BTreeSet::new();
    for vulnerability in vulnerabilities {
        assert!(unique.insert(vulnerability.to_string()), "unique items");
        assert!(vulnerability["id"].is_string());
        assert_eq!(vulnerability["source"]["name"], "OSV");
        for affects in vulnerability["affects"].as_array().unwrap() {
            let reference = affects["ref"].as_str().unwrap();
            assert!(bom_refs.contains(reference), "{reference} resolves");
            for version in affects["versions"].as_array().unwrap() {
                assert!(version["version"].is_string());
                assert_eq!(version["status"], "affected");
            }
        }
        for rating in vulnerability["ratings"].as_array().unwrap() {
            assert!(SEVERITIES.contains(&rating["severity"].as_str().unwrap()));
            if let Some(method) = rating.get("method") {
                assert!(SCORE_METHODS.contains(&method.as_str().unwrap()));
                assert!(rating["score"].is_number() && rating["vector"].is_string());
            }
        }
        for reference in vulnerability["references"].as_array().into_iter().flatten() {
            assert!(reference["id"].is_string() && reference["source"]["name"].is_string());
        }
        for property in vulnerability["properties"].as_array().unwrap() {
            assert!(property["name"].is_string() && property["value"].is_string());
        }
    }
}

#[test]
fn the_report_is_the_sbom_with_the_vulnerabilities_of_its_components() {
    let mut document = report_document();
    assert_well_formed(&document);
    let vulnerabilities = document["vulnerabilities"].as_array().unwrap();
    let affected: Vec<(&str, &str)> = vulnerabilities
        .iter()
        .map(|vulnerability| {
            (
                vulnerability["id"].as_str().unwrap(),
                vulnerability["affects"][0]["ref"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        affected,
        [
            (
                "DSA-5912-1",
                "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12"
            ),
            (
                "DSA-5912-1",
                "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12"
            ),
            (
                "DEBIAN-CVE-2025-0002",
                "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12"
            ),
            ("GHSA-xxxx/yyyy zzzz", "pkg:npm/%40scope/name@1.0.0"),
        ]
    );
    document.as_object_mut().unwrap().remove("vulnerabilities");
    assert_eq!(
        document,
        sbom(SUBJECT, &inventory(found()), [0xff; 16], at(1_700_000_000))
    );
}

#[test]
fn a_reported_vulnerability_carries_its_rating_references_and_remedy() {
    let document = report_document();
    assert_eq!(
        document["vulnerabilities"][1],
        json!({
            "id": "DSA-5912-1",
            "source": {"name": "OSV", "url": "https://osv.dev/vulnerability/DSA-5912-1"},
            "references": [{
                "id": "CVE-2025-0001",
                "source": {"name": "OSV", "url": "https://osv.dev/vulnerability/CVE-2025-0001"}
            }],
            "ratings": [{
                "severity": "critical",
                "method": "CVSSv31",
                "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "score": 9.8
            }],
            "description": "glibc: buffer overflow",
            "recommendation": "Upgrade libc6 to 2.36-9+deb12u15",
            "affects": [{
                "ref": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12",
                "versions": [{"version": "2.36-9+deb12u14", "status": "affected"}]
            }],
            "properties": [
                {"name": "edge-registry:installed_version", "value": "2.36-9+deb12u14"},
                {"name": "edge-registry:fixed_version", "value": "2.36-9+deb12u15"},
                {"name": "edge-registry:source_package", "value": "glibc"}
            ]
        })
    );
    // Unfixed and unrated: no remedy, no method; an id unsafe in a URL is escaped in it.
    let unfixed = &document["vulnerabilities"][3];
    assert_eq!(unfixed["ratings"], json!([{"severity": "unknown"}]));
    assert!(unfixed.get("recommendation").is_none());
    assert!(unfixed.get("description").is_none());
    assert_eq!(
        unfixed["properties"],
        json!([{"name": "edge-registry:installed_version", "value": "1.0.0"}])
    );
    assert_eq!(
        unfixed["source"]["url"],
        "https://osv.dev/vulnerability/GHSA-xxxx%2Fyyyy%20zzzz"
    );
}

#[test]
fn an_image_without_findings_reports_an_empty_list() {
    let document = report(SUBJECT, &inventory(found()), &[], [0; 16], at(0));
    assert_eq!(document["vulnerabilities"], json!([]));
    assert_well_formed(&document);
}
