//! Reading an OCI image layout (image-spec `image-layout.md`): `oci-layout`, `index.json`,
//! and the blobs under `blobs/<algorithm>/<hex>`, in a directory or inside a tar archive (as
//! `docker save` writes since docker 25). Manifests are read whole (they are small and
//! bounded); blobs are streamed through a [`VerifyingReader`], which checks their digest.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use edge_registry::oci::manifest::MAX_MANIFEST_BYTES;
use edge_registry::oci::Digest;
use serde::Deserialize;

use crate::error::CliError;
use crate::source::{
    collect_image, Blob, BlobReader, Descriptor, Image, ImageSource, ManifestBody, ManifestFile,
    ReadManifest, VerifyingReader,
};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a layout's files are: a directory, or the members of a tar archive.
pub trait LayoutFiles: Sync {
    /// The file at `path`, relative and `/`-separated (`index.json`, `blobs/sha256/<hex>`).
    fn open(&self, path: &str) -> io::Result<Box<dyn Read + Send + '_>>;
}

struct Directory(PathBuf);

impl LayoutFiles for Directory {
    fn open(&self, path: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(File::open(self.0.join(path))?))
    }
}

pub struct Layout {
    /// The directory or archive, for messages.
    dir: PathBuf,
    files: Box<dyn LayoutFiles>,
}

/// Reads a small file whole.
fn read_all(files: &dyn LayoutFiles, path: &str) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    files.open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl Layout {
    pub fn open(dir: &Path) -> Result<Layout, CliError> {
        if !dir.is_dir() {
            return Err(CliError::NotLayout {
                path: dir.to_path_buf(),
                why: "no such directory".into(),
            });
        }
        Layout::from_files(dir, Box::new(Directory(dir.to_path_buf())))
    }

    /// The layout in `files`; `path` names where they are in messages.
    pub fn from_files(path: &Path, files: Box<dyn LayoutFiles>) -> Result<Layout, CliError> {
        let not_layout = |why: String| CliError::NotLayout {
            path: path.to_path_buf(),
            why,
        };
        let marker = read_all(files.as_ref(), "oci-layout")
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
            dir: path.to_path_buf(),
            files,
        })
    }

    fn error(&self, why: String) -> CliError {
        CliError::Layout {
            path: self.dir.clone(),
            why,
        }
    }

    /// The image `index.json` names `tag` (its `org.opencontainers.image.ref.name`), or its
    /// only image when no tag is given.
    pub fn image(&self, tag: Option<&str>) -> Result<Image, CliError> {
        let index = self.index()?;
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
        self.image_at(root)
    }

    /// `index.json`: the layout's roots.
    pub fn index(&self) -> Result<ManifestBody, CliError> {
        let index = read_all(self.files.as_ref(), "index.json")
            .map_err(|e| self.error(format!("index.json: {e}")))?;
        serde_json::from_slice(&index).map_err(|e| self.error(format!("index.json: {e}")))
    }

    /// The image (or index) `root` describes, with everything it refers to.
    pub fn image_at(&self, root: &Descriptor) -> Result<Image, CliError> {
        let read = self.read_manifest(root, &self.digest(root)?)?;
        collect_image(
            read,
            &|descriptor, digest| self.read_manifest(descriptor, digest),
            &|why| self.error(why),
        )
    }

    fn digest(&self, descriptor: &Descriptor) -> Result<Digest, CliError> {
        descriptor
            .digest
            .parse()
            .map_err(|_| self.error(format!("invalid digest {:?}", descriptor.digest)))
    }

    fn read_manifest(
        &self,
        descriptor: &Descriptor,
        digest: &Digest,
    ) -> Result<ReadManifest, CliError> {
        let digest = digest.clone();
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
        let body: ManifestBody = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("manifest {digest}: {e}")))?;
        // The body's own mediaType wins; the descriptor's is for manifests without one.
        let media_type = body
            .media_type
            .clone()
            .unwrap_or_else(|| descriptor.media_type.clone());
        let manifest = ManifestFile {
            digest,
            media_type,
            bytes,
        };
        Ok((manifest, body))
    }

    fn open_file(&self, blob: &Blob) -> Result<VerifyingReader<impl Read + '_>, CliError> {
        let file = self
            .files
            .open(&blob_path(&blob.digest))
            .map_err(|e| self.error(format!("blob {}: {e}", blob.digest)))?;
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

/// Where a layout keeps a blob: `blobs/<algorithm>/<hex>`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

fn tags(index: &ManifestBody) -> String {
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
pub(crate) mod tests;
