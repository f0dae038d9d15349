//! The pieces together, as a scan will run them: an image's layers read in order and merged
//! with their whiteouts, the surviving package files parsed into one inventory, and its SBOM.

use std::io::Write;

use chrono::DateTime;
use tar::{Builder, Header};

use super::cyclonedx::{sbom, Subject};
use super::layers::{Compression, Limits, Merged};
use super::packages::{self, Ecosystem, Found, Inventory};

/// A tar of `files` (path, content); an empty content with a `.wh.` name is a whiteout.
pub(crate) fn tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The inventory of `layers` (bytes, media type), each pushed in chunks of `chunk` bytes.
fn inventory(layers: &[(Vec<u8>, &str)], chunk: usize) -> Inventory {
    let mut merged = Merged::<Found>::new(packages::wanted, packages::parse);
    for (bytes, media_type) in layers {
        let compression = Compression::from_media_type(media_type);
        let mut reader = merged.layer(compression, Limits::default());
        for piece in bytes.chunks(chunk) {
            reader.push(piece).unwrap();
        }
        reader.finish().unwrap().commit();
    }
    packages::inventory(merged.into_files().into_values())
}

pub(crate) const OS_RELEASE: &str = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

pub(crate) const STATUS_BEFORE: &str = "\
Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2

Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-3)
Version: 1.2-3+b1
";

const STATUS_AFTER: &str = "\
Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
";

const METADATA: &str = "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n";
const PACKAGE_JSON: &str = r#"{"name": "left-pad", "version": "1.3.0"}"#;

/// A base layer with an OS, two Debian packages and a Python package; an upper layer that
/// removes a Debian package (a replaced status file) and the Python package (a whiteout), and
/// adds an npm package.
fn image() -> Vec<(Vec<u8>, &'static str)> {
    let dist_info = "usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info";
    let base = tar(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", STATUS_BEFORE),
        (&format!("{dist_info}/METADATA"), METADATA),
    ]);
    let upper = tar(&[
        ("var/lib/dpkg/status", STATUS_AFTER),
        (
            "usr/lib/python3/dist-packages/.wh.Foo_Bar-1.0.dist-info",
            "",
        ),
        ("app/node_modules/left-pad/package.json", PACKAGE_JSON),
    ]);
    vec![
        (gzip(&base), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (upper, "application/vnd.oci.image.layer.v1.tar"),
    ]
}

#[test]
fn what_an_upper_layer_removed_is_not_in_the_inventory() {
    let inventory = inventory(&image(), 4096);
    let os = inventory.os.as_ref().expect("the OS");
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("debian", Some("12"))
    );
    let found: Vec<(Ecosystem, &str, &str)> = inventory
        .components
        .iter()
        .map(|c| (c.ecosystem, c.name.as_str(), c.version.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Ecosystem::Deb, "bash", "5.2.15-2+b2"),
            (Ecosystem::Npm, "left-pad", "1.3.0"),
        ]
    );
}

#[test]
fn the_inventory_does_not_depend_on_how_the_layers_arrive() {
    let whole = inventory(&image(), usize::MAX);
    for chunk in [1, 7, 512, 513] {
        assert_eq!(inventory(&image(), chunk), whole, "chunks of {chunk}");
    }
}

#[test]
fn the_sbom_names_each_surviving_package_by_its_purl() {
    let subject = Subject {
        repository: "team/app",
        manifest_digest: "sha256:0123",
    };
    let timestamp = DateTime::from_timestamp(0, 0).unwrap();
    let document = sbom(subject, &inventory(&image(), 4096), [7; 16], timestamp);
    let purls: Vec<&str> = document["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|component| component["purl"].as_str())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
            "pkg:npm/left-pad@1.3.0",
        ]
    );
}
