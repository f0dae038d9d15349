//! Writes OCI image layouts for the `edge-registry` tests (tests/cli.rs and the CLI's unit
//! tests, which include this file).

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Stores `bytes` under blobs/sha256/ and returns their descriptor.
pub fn write_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let hex = hex::encode(Sha256::digest(bytes));
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(&hex), bytes).unwrap();
    json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// An image manifest over a config and layers; returns the manifest's descriptor.
pub fn write_image(dir: &Path, config: &[u8], layers: &[&[u8]]) -> Value {
    let config = write_blob(dir, "application/vnd.oci.image.config.v1+json", config);
    let layers: Vec<Value> = layers
        .iter()
        .map(|layer| write_blob(dir, "application/vnd.oci.image.layer.v1.tar", layer))
        .collect();
    let manifest =
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers});
    write_blob(dir, OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap())
}

/// An image index over `manifests`; returns its descriptor.
pub fn write_index(dir: &Path, manifests: &[Value]) -> Value {
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    write_blob(dir, OCI_INDEX, &serde_json::to_vec(&index).unwrap())
}

/// The layout's `oci-layout` and `index.json`, naming each root by its tag when it has one.
pub fn write_layout(dir: &Path, roots: &[(Option<&str>, Value)]) {
    let manifests: Vec<Value> = roots
        .iter()
        .map(|(tag, descriptor)| {
            let mut descriptor = descriptor.clone();
            if let Some(tag) = tag {
                descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
            }
            descriptor
        })
        .collect();
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
