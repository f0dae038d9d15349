//! Reading a `docker save` archive in place: its members are found in one pass over the tar
//! headers (seeking past the data), and each blob is read later by seeking to its member.
//!
//! Two formats: since docker 25 the archive is an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...`), read as one through [`Layout`], so the pushed digests are
//! docker's; before, `manifest.json` lists each image's config file and `<id>/layer.tar`
//! files, and the image is built here as docker pushes it: a schema 2 manifest over the config
//! and the uncompressed layers, whose digests are learned by hashing each one once when the
//! archive is opened.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Take};
use std::path::{Path, PathBuf};

use edge_registry::oci::manifest::DOCKER_MANIFEST;
use edge_registry::oci::{Algorithm, Digest, DigestHasher};
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::layout::{Layout, LayoutFiles};
use crate::source::{
    Blob, BlobReader, Descriptor, Image, ImageSource, ManifestFile, VerifyingReader,
};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The annotation docker 25+ gives each root in `index.json`: the image's full name.
const IMAGE_NAME: &str = "io.containerd.image.name";
/// Links that lead to links are followed this far (docker writes one hop at most).
const MAX_LINK_HOPS: usize = 8;
/// docker writes three or four members per layer; an archive with this many is no image's,
/// and its index would only fill memory.
const MAX_MEMBERS: usize = 1 << 20;
/// `manifest.json` lists a few entries; a larger one is not docker's.
const MAX_MANIFEST_JSON_BYTES: u64 = 16 << 20;

/// Where a member's data is in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    offset: u64,
    size: u64,
}

/// The archive's regular files and links by their normalised path (`a/b`, no `./`).
struct Members {
    path: PathBuf,
    files: HashMap<String, Member>,
    /// Symbolic and hard links, already resolved to archive paths.
    links: HashMap<String, String>,
}

impl Members {
    fn read(path: &Path) -> Result<Members, CliError> {
        let error = |why: String| CliError::Archive {
            path: path.to_path_buf(),
            why,
        };
        let file = File::open(path).map_err(|e| error(e.to_string()))?;
        let mut archive = tar::Archive::new(file);
        let mut members = Members {
            path: path.to_path_buf(),
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let entries = archive
            .entries_with_seek()
            .map_err(|e| error(format!("not a tar archive: {e}")))?;
        for (n, entry) in entries.enumerate() {
            if n >= MAX_MEMBERS {
                return Err(error(format!("more than {MAX_MEMBERS} members")));
            }
            let entry = entry.map_err(|e| error(format!("not a tar archive: {e}")))?;
            let Some(name) = entry.path().ok().and_then(|p| p.to_str().map(normalise)) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                members.files.insert(
                    name,
                    Member {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    },
                );
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .and_then(|t| t.to_str().map(str::to_string))
                else {
                    continue;
                };
                // A symbolic link is relative to its directory, a hard link to the archive.
                let base = if kind.is_symlink() {
                    name.rsplit_once('/').map_or("", |(dir, _)| dir)
                } else {
                    ""
                };
                if let Some(target) = resolve(base, &target) {
                    members.links.insert(name, target);
                }
            }
        }
        Ok(members)
    }

    fn error(&self, why: String) -> CliError {
        CliError::Archive {
            path: self.path.clone(),
            why,
        }
    }

    /// The regular file `name` is or links to.
    fn find(&self, name: &str) -> Option<Member> {
        let mut name = normalise(name);
        for _ in 0..=MAX_LINK_HOPS {
            if let Some(member) = self.files.get(&name) {
                return Some(*member);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    /// The member's bytes, read from the archive where they are.
    fn open(&self, name: &str) -> io::Result<Take<File>> {
        let member = self.find(name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no {name} in the archive"))
        })?;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(member.offset))?;
        Ok(file.take(member.size))
    }
}

impl LayoutFiles for Members {
    fn open(&self, path: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(Members::open(self, path)?))
    }
}

/// `./a//b/` as `a/b`.
fn normalise(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// `target` seen from the directory `base`; `None` when it climbs out of the archive.
fn resolve(base: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// A name as docker shows it: `busybox:latest` for `docker.io/library/busybox:latest`.
fn familiar(name: &str) -> &str {
    [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ]
    .iter()
    .find_map(|prefix| name.strip_prefix(prefix))
    .unwrap_or(name)
}

/// One image of `manifest.json`, as docker writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl Entry {
    fn tags(&self) -> &[String] {
        self.repo_tags.as_deref().unwrap_or_default()
    }
}

/// A descriptor as docker writes it in a schema 2 manifest (its field order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerDescriptor {
    media_type: &'static str,
    size: u64,
    digest: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerManifest {
    schema_version: u32,
    media_type: &'static str,
    config: DockerDescriptor,
    layers: Vec<DockerDescriptor>,
}

/// A legacy archive's image: its blobs are members, found by digest.
struct Legacy {
    members: Members,
    blobs: HashMap<Digest, String>,
}

impl ImageSource for Legacy {
    fn open_blob(&self, blob: &Blob, offset: u64) -> Result<BlobReader<'_>, CliError> {
        let name = self
            .blobs
            .get(&blob.digest)
            .ok_or_else(|| self.members.error(format!("no blob {}", blob.digest)))?;
        let file = self
            .members
            .open(name)
            .map_err(|e| self.members.error(e.to_string()))?;
        let mut reader = VerifyingReader::new(file, blob.clone());
        reader
            .skip(offset)
            .map_err(|e| self.members.error(e.to_string()))?;
        Ok(Box::new(reader))
    }
}

/// The image `name` (`REPO:TAG`, one of its RepoTags) in the archive at `path`, or its only
/// image when no name is given; with the source to read its blobs from.
pub fn open(path: &Path, name: Option<&str>) -> Result<(Box<dyn ImageSource>, Image), CliError> {
    let members = Members::read(path)?;
    if members.find("oci-layout").is_some() && members.find("index.json").is_some() {
        let layout = Layout::from_files(path, Box::new(members))?;
        let image = oci_image(&layout, path, name)?;
        return Ok((Box::new(layout), image));
    }
    legacy(members, name)
}

/// Picks the root of a docker 25+ archive by the image name docker annotates it with.
fn oci_image(layout: &Layout, path: &Path, name: Option<&str>) -> Result<Image, CliError> {
    let index = layout.index()?;
    let name_of = |d: &Descriptor| {
        d.annotations
            .get(IMAGE_NAME)
            .map(|n| familiar(n).to_string())
    };
    let names = || -> String {
        let names: Vec<String> = index.manifests.iter().filter_map(name_of).collect();
        listing(&names)
    };
    let error = |why: String| CliError::Archive {
        path: path.to_path_buf(),
        why,
    };
    let root = match name {
        Some(name) => index
            .manifests
            .iter()
            .find(|d| name_of(d).as_deref() == Some(familiar(name)))
            .ok_or_else(|| error(format!("no image named {name:?} ({})", names())))?,
        None => {
            let mut roots = index.manifests.iter();
            let first = roots
                .next()
                .ok_or_else(|| error("index.json lists no image".into()))?;
            // One image with several names is listed once per name.
            if roots.any(|d| d.digest != first.digest) {
                return Err(several(path, &names()));
            }
            first
        }
    };
    layout.image_at(root)
}

fn listing(names: &[String]) -> String {
    if names.is_empty() {
        "it names none".into()
    } else {
        format!("names: {}", names.join(", "))
    }
}

fn several(path: &Path, names: &str) -> CliError {
    CliError::Archive {
        path: path.to_path_buf(),
        why: format!(
            "the archive holds several images: name one with docker-archive:{}:REPO:TAG ({names})",
            path.display()
        ),
    }
}

/// Builds the image of a legacy archive's `manifest.json` entry.
fn legacy(members: Members, name: Option<&str>) -> Result<(Box<dyn ImageSource>, Image), CliError> {
    let mut text = Vec::new();
    members
        .open("manifest.json")
        .map_err(|_| {
            members.error(
                "neither a docker archive (no manifest.json) nor an OCI one (no oci-layout)".into(),
            )
        })?
        .take(MAX_MANIFEST_JSON_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| members.error(format!("manifest.json: {e}")))?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&text).map_err(|e| members.error(format!("manifest.json: {e}")))?;
    let all_tags = || -> String {
        let tags: Vec<String> = entries.iter().flat_map(|e| e.tags().to_vec()).collect();
        listing(&tags)
    };
    let entry = match name {
        Some(name) => entries
            .iter()
            .find(|e| e.tags().iter().any(|t| familiar(t) == familiar(name)))
            .ok_or_else(|| members.error(format!("no image named {name:?} ({})", all_tags())))?,
        None => match entries.as_slice() {
            [only] => only,
            [] => return Err(members.error("manifest.json lists no image".into())),
            _ => return Err(several(&members.path, &all_tags())),
        },
    };

    let mut blobs: HashMap<Digest, String> = HashMap::new();
    let mut image = Image {
        blobs: Vec::new(),
        manifests: Vec::new(),
    };
    let mut add = |member: &str| -> Result<(Blob, bool), CliError> {
        let (blob, gzip) = hash(&members, member)?;
        if !blobs.contains_key(&blob.digest) {
            blobs.insert(blob.digest.clone(), member.to_string());
            image.blobs.push(blob.clone());
        }
        Ok((blob, gzip))
    };
    let (config, _) = add(&entry.config)?;
    let mut layers = Vec::new();
    for layer in &entry.layers {
        let (blob, gzip) = add(layer)?;
        layers.push(DockerDescriptor {
            media_type: if gzip {
                DOCKER_LAYER_GZIP
            } else {
                DOCKER_LAYER
            },
            size: blob.size,
            digest: blob.digest.to_string(),
        });
    }
    let manifest = DockerManifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST,
        config: DockerDescriptor {
            media_type: DOCKER_CONFIG,
            size: config.size,
            digest: config.digest.to_string(),
        },
        layers,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    image.manifests.push(ManifestFile {
        digest: Digest::of(Algorithm::Sha256, &bytes),
        media_type: DOCKER_MANIFEST.to_string(),
        bytes,
    });
    Ok((Box::new(Legacy { members, blobs }), image))
}

/// The member's digest and size in one streaming pass, and whether it is gzip-compressed
/// (docker writes plain tars; other tools may not).
fn hash(members: &Members, name: &str) -> Result<(Blob, bool), CliError> {
    let error = |e: io::Error| members.error(format!("{name}: {e}"));
    let mut reader = members.open(name).map_err(error)?;
    let mut hasher = DigestHasher::new(Algorithm::Sha256);
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    let mut head = Vec::with_capacity(2);
    loop {
        let n = reader.read(&mut buffer).map_err(error)?;
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        if head.len() < 2 {
            let want = (2 - head.len()).min(n);
            head.extend_from_slice(&chunk[..want]);
        }
        hasher.update(chunk);
        size += n as u64;
    }
    let gzip = head == [0x1f, 0x8b];
    Ok((
        Blob {
            digest: hasher.finish(),
            size,
        },
        gzip,
    ))
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
