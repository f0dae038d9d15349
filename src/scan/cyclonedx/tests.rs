use std::collections::BTreeSet;

use chrono::TimeZone;

use super::*;
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
