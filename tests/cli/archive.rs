//! Writes `docker save` archives for the `edge-registry` tests (tests/cli_sources.rs and the
//! CLI's unit tests, which include this file): the legacy format (`manifest.json`, a config
//! file, `<id>/layer.tar`) and the OCI layout inside a tar that docker writes since 25.

use std::fs::{self, File};
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// One image of a legacy archive.
pub struct LegacyImage<'a> {
    pub config: &'a [u8],
    pub layers: &'a [&'a [u8]],
    pub repo_tags: &'a [&'a str],
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn append(builder: &mut tar::Builder<File>, path: &str, bytes: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, bytes).unwrap();
}

/// A legacy archive of `images`. A layer already written for an earlier image is a symbolic
/// link to it, as docker writes shared layers.
pub fn write_legacy(path: &Path, images: &[LegacyImage]) {
    let mut builder = tar::Builder::new(File::create(path).unwrap());
    let mut written: Vec<(String, String)> = Vec::new();
    let mut manifest = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let config = format!("{}.json", hex(image.config));
        append(&mut builder, &config, image.config);
        let mut layers = Vec::new();
        for (j, layer) in image.layers.iter().enumerate() {
            // Docker's v1 ids differ per image and position even for the same layer.
            let id = hex(format!("{i}/{j}/{}", hex(layer)).as_bytes());
            let member = format!("{id}/layer.tar");
            match written.iter().find(|(digest, _)| *digest == hex(layer)) {
                Some((_, earlier)) => {
                    let mut header = tar::Header::new_gnu();
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &member, format!("../{earlier}"))
                        .unwrap();
                }
                None => {
                    append(&mut builder, &format!("{id}/VERSION"), b"1.0");
                    append(&mut builder, &member, layer);
                    written.push((hex(layer), member.clone()));
                }
            }
            layers.push(member);
        }
        manifest.push(json!({"Config": config, "RepoTags": image.repo_tags, "Layers": layers}));
    }
    append(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.finish().unwrap();
}

/// An archive of the OCI layout's blobs in `layout` (written with tests/cli/layout.rs) whose
/// index.json names each root as docker 25 does: its full name and its tag.
pub fn write_oci(path: &Path, layout: &Path, roots: &[(&str, Value)]) {
    let mut builder = tar::Builder::new(File::create(path).unwrap());
    append(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let manifests: Vec<Value> = roots
        .iter()
        .map(|(name, descriptor)| {
            let mut descriptor = descriptor.clone();
            let tag = name.rsplit_once(':').map_or("latest", |(_, tag)| tag);
            descriptor["annotations"] = json!({
                "io.containerd.image.name": format!("docker.io/library/{name}"),
                "org.opencontainers.image.ref.name": tag,
            });
            descriptor
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    append(
        &mut builder,
        "index.json",
        &serde_json::to_vec(&index).unwrap(),
    );
    let blobs = layout.join("blobs").join("sha256");
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let name = format!("blobs/sha256/{}", entry.file_name().to_str().unwrap());
        append(&mut builder, &name, &fs::read(entry.path()).unwrap());
    }
    builder.finish().unwrap();
}
