//! Reading an OCI image layout (image-spec `image-layout.md`): `oci-layout`, `index.json`,
//! and the blobs under `blobs/<algorithm>/<hex>`. Manifests are read whole (they are small
//! and bounded); blobs are streamed through a [`VerifyingReader`], which checks their digest.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use edge_registry::oci::manifest::MAX_MANIFEST_BYTES;
use edge_registry::oci::Digest;
use serde::Deserialize;

use crate::error::CliError;
use crate::source::{Blob, BlobReader, Image, ImageSource, ManifestFile, VerifyingReader};

/// How deep indexes may nest (an index of indexes of images is already unusual).
const MAX_DEPTH: usize = 4;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The parts of a manifest or index that name other content.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn open(dir: &Path) -> Result<Layout, CliError> {
        let not_layout = |why: String| CliError::NotLayout {
            path: dir.to_path_buf(),
            why,
        };
        if !dir.is_dir() {
            return Err(not_layout("no such directory".into()));
        }
        let marker = fs::read(dir.join("oci-layout"))
            .map_err(|e| not_layout(format!("no oci-layout file ({e})")))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let marker: Marker = serde_json::from_slice(&marker).map_err(|e| {
            not_layout(format!(
                "oci-layout is not {{\"imageLayoutVersion\": ...}} ({e})"
            ))
        })?;
        if !marker.image_layout_version.starts_with("1.") {
            return Err(not_layout(format!(
                "imageLayoutVersion {:?} is not 1.x",
                marker.image_layout_version
            )));
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    fn error(&self, why: String) -> CliError {
        CliError::Layout {
            path: self.dir.clone(),
            why,
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The image `index.json` names `tag` (its `org.opencontainers.image.ref.name`), or its
    /// only image when no tag is given.
    pub fn image(&self, tag: Option<&str>) -> Result<Image, CliError> {
        let index = fs::read(self.dir.join("index.json"))
            .map_err(|e| self.error(format!("index.json: {e}")))?;
        let index: Body =
            serde_json::from_slice(&index).map_err(|e| self.error(format!("index.json: {e}")))?;
        let root = match tag {
            Some(tag) => index
                .manifests
                .iter()
                .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
                .ok_or_else(|| {
                    self.error(format!(
                        "no image tagged {tag:?} in index.json ({})",
                        tags(&index)
                    ))
                })?,
            None => match index.manifests.as_slice() {
                [only] => only,
                [] => return Err(self.error("index.json lists no image".into())),
                _ => {
                    return Err(self.error(format!(
                        "index.json lists several images: name one with oci:DIR:TAG ({})",
                        tags(&index)
                    )))
                }
            },
        };
        let mut image = Image {
            blobs: Vec::new(),
            manifests: Vec::new(),
        };
        let mut seen = HashSet::new();
        self.collect(root, 0, &mut image, &mut seen)?;
        Ok(image)
    }

    /// Adds the manifest `descriptor` names, after what it refers to.
    fn collect(
        &self,
        descriptor: &Descriptor,
        depth: usize,
        image: &mut Image,
        seen: &mut HashSet<Digest>,
    ) -> Result<(), CliError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("indexes nest more than {MAX_DEPTH} deep")));
        }
        let manifest = self.read_manifest(descriptor)?;
        if !seen.insert(manifest.digest.clone()) {
            return Ok(());
        }
        let body: Body = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| self.error(format!("manifest {}: {e}", manifest.digest)))?;
        for child in &body.manifests {
            self.collect(child, depth + 1, image, seen)?;
        }
        // Foreign layers (with `urls`) live elsewhere and are not pushed.
        for blob in body
            .config
            .iter()
            .chain(&body.layers)
            .filter(|d| d.urls.is_empty())
        {
            let digest = self.digest(blob)?;
            if seen.insert(digest.clone()) {
                image.blobs.push(Blob {
                    digest,
                    size: blob.size,
                });
            }
        }
        image.manifests.push(manifest);
        Ok(())
    }

    fn digest(&self, descriptor: &Descriptor) -> Result<Digest, CliError> {
        descriptor
            .digest
            .parse()
            .map_err(|_| self.error(format!("invalid digest {:?}", descriptor.digest)))
    }

    fn read_manifest(&self, descriptor: &Descriptor) -> Result<ManifestFile, CliError> {
        let digest = self.digest(descriptor)?;
        if descriptor.size > MAX_MANIFEST_BYTES as u64 {
            return Err(self.error(format!(
                "manifest {digest} is {} bytes, over {MAX_MANIFEST_BYTES}",
                descriptor.size
            )));
        }
        let mut bytes = Vec::new();
        self.open_file(&Blob {
            digest: digest.clone(),
            size: descriptor.size,
        })?
        .read_to_end(&mut bytes)
        .map_err(|e| self.error(e.to_string()))?;
        let body: Body = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("manifest {digest}: {e}")))?;
        // The body's own mediaType wins; the descriptor's is for manifests without one.
        let media_type = body
            .media_type
            .unwrap_or_else(|| descriptor.media_type.clone());
        Ok(ManifestFile {
            digest,
            media_type,
            bytes,
        })
    }

    fn open_file(&self, blob: &Blob) -> Result<VerifyingReader<File>, CliError> {
        let path = self.blob_path(&blob.digest);
        let file =
            File::open(&path).map_err(|e| self.error(format!("blob {}: {e}", blob.digest)))?;
        Ok(VerifyingReader::new(file, blob.clone()))
    }
}

impl ImageSource for Layout {
    fn open_blob(&self, blob: &Blob, offset: u64) -> Result<BlobReader<'_>, CliError> {
        let mut reader = self.open_file(blob)?;
        reader.skip(offset).map_err(|e| self.error(e.to_string()))?;
        Ok(Box::new(reader))
    }
}

fn tags(index: &Body) -> String {
    let tags: Vec<&str> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
        .collect();
    if tags.is_empty() {
        "it tags none".into()
    } else {
        format!("tags: {}", tags.join(", "))
    }
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
