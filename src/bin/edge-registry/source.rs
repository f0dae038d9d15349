//! What a push reads: an image's blobs and manifests, in the order to push them, from a
//! source that can open each blob (an OCI layout, a docker archive, another registry).

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};

use edge_registry::oci::{Digest, DigestHasher};
use serde::Deserialize;

use crate::error::CliError;

/// How deep indexes may nest (an index of indexes of images is already unusual).
const MAX_DEPTH: usize = 4;

/// An image-spec descriptor, as manifests, indexes and `index.json` hold them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The parts of a manifest or index that name other content.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBody {
    pub media_type: Option<String>,
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// A manifest read from a source, with the parts of it that name other content.
pub type ReadManifest = (ManifestFile, ManifestBody);

/// Everything `root` refers to, in push order: each blob once, each manifest after the
/// children it lists. `fetch` reads a child manifest by its descriptor and parsed digest;
/// `error` words a failure as the source's.
pub fn collect_image(
    root: ReadManifest,
    fetch: &dyn Fn(&Descriptor, &Digest) -> Result<ReadManifest, CliError>,
    error: &dyn Fn(String) -> CliError,
) -> Result<Image, CliError> {
    let mut image = Image {
        blobs: Vec::new(),
        manifests: Vec::new(),
    };
    let mut seen = HashSet::new();
    collect(root, 0, fetch, error, &mut image, &mut seen)?;
    Ok(image)
}

fn collect(
    (manifest, body): ReadManifest,
    depth: usize,
    fetch: &dyn Fn(&Descriptor, &Digest) -> Result<ReadManifest, CliError>,
    error: &dyn Fn(String) -> CliError,
    image: &mut Image,
    seen: &mut HashSet<Digest>,
) -> Result<(), CliError> {
    if !seen.insert(manifest.digest.clone()) {
        return Ok(());
    }
    let digest = |descriptor: &Descriptor| {
        descriptor.digest.parse::<Digest>().map_err(|_| {
            error(format!(
                "invalid digest {:?} in manifest {}",
                descriptor.digest, manifest.digest
            ))
        })
    };
    for child in &body.manifests {
        if depth >= MAX_DEPTH {
            return Err(error(format!("indexes nest more than {MAX_DEPTH} deep")));
        }
        let child_digest = digest(child)?;
        if !seen.contains(&child_digest) {
            let read = fetch(child, &child_digest)?;
            collect(read, depth + 1, fetch, error, image, seen)?;
        }
    }
    // Foreign layers (with `urls`) live elsewhere and are not pushed.
    for blob in body
        .config
        .iter()
        .chain(&body.layers)
        .filter(|d| d.urls.is_empty())
    {
        let blob_digest = digest(blob)?;
        if seen.insert(blob_digest.clone()) {
            image.blobs.push(Blob {
                digest: blob_digest,
                size: blob.size,
            });
        }
    }
    image.manifests.push(manifest);
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ManifestFile {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Everything one image (or index) needs in a registry, in the order to push it: blobs, then
/// manifests with every index's children before the index; the last manifest is the root.
#[derive(Debug)]
pub struct Image {
    pub blobs: Vec<Blob>,
    pub manifests: Vec<ManifestFile>,
}

/// A blob's bytes as a source yields them.
pub type BlobReader<'a> = Box<dyn Read + Send + 'a>;

/// Where an image's content comes from. Shared by the threads that upload blobs at once.
pub trait ImageSource: Sync {
    /// The blob's bytes from `offset` on (where a resumed upload stands; 0 for a new one).
    /// Read to its end, the reader fails instead of yielding the last bytes when the blob does
    /// not have its size and digest, so that a request carrying a corrupt blob never completes.
    fn open_blob(&self, blob: &Blob, offset: u64) -> Result<BlobReader<'_>, CliError>;
}

/// Reads a blob and fails, instead of yielding its last bytes, when the bytes do not have
/// the expected size and digest: a request carrying a corrupt blob never completes.
pub struct VerifyingReader<R> {
    inner: R,
    expected: Blob,
    hasher: Option<DigestHasher>,
    read: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Blob) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(DigestHasher::new(expected.digest.algorithm())),
            expected,
            read: 0,
        }
    }

    /// Reads and hashes the first `offset` bytes without yielding them: a resumed upload
    /// still checks the whole blob.
    pub fn skip(&mut self, offset: u64) -> io::Result<()> {
        let skipped = io::copy(&mut self.by_ref().take(offset), &mut io::sink())?;
        if skipped < offset.min(self.expected.size) {
            return Err(self.corrupt(format!("has {skipped} bytes, fewer than {offset}")));
        }
        Ok(())
    }

    fn corrupt(&self, why: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "blob {} as read from the source {why}",
                self.expected.digest
            ),
        )
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        let remaining = self.expected.size - self.read;
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = if want == 0 {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        if n == 0 && want > 0 {
            return Err(self.corrupt(format!(
                "has {} bytes, not {}",
                self.read, self.expected.size
            )));
        }
        hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read == self.expected.size {
            if self.inner.read(&mut [0u8; 1])? > 0 {
                return Err(
                    self.corrupt(format!("is longer than its {} bytes", self.expected.size))
                );
            }
            let actual = self.hasher.take().expect("still hashing").finish();
            if actual != self.expected.digest {
                return Err(self.corrupt(format!("has digest {actual}")));
            }
        }
        Ok(n)
    }
}
