//! `copy`: an image (or index) from another registry's distribution API, pushed with its
//! manifests' exact bytes, so that every digest stays the same, and its blobs streamed from
//! the source as they are uploaded. With `--with-referrers`, what refers to it comes along:
//! from the referrers API, or where a registry has none (distribution 2.8), from the tags
//! that stand in for it (the OCI tag schema `sha256-<hex>`, cosign's `.sig`, `.att`, `.sbom`).

use std::collections::HashSet;
use std::io::Read;

use edge_registry::oci::manifest::{self, MAX_MANIFEST_BYTES, OCI_INDEX};
use edge_registry::oci::{Algorithm, Digest, DigestHasher, Reference, Tag};

use crate::error::CliError;
use crate::names::RemoteImage;
use crate::registry::{self, Registry};
use crate::source::{
    collect_image, Blob, BlobReader, Image, ImageSource, ManifestBody, ManifestFile, ReadManifest,
    VerifyingReader,
};

/// Every manifest type the copy understands, for `Accept`.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
                      application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.docker.distribution.manifest.v2+json";
/// Referrers copied at most: signatures and attestations come in ones and twos per image; a
/// thousand means something is wrong, or wants a tool made for it.
const MAX_REFERRERS: usize = 1000;
/// The tags that stand in for the referrers API: the OCI tag schema's index, then cosign's.
const FALLBACK_SUFFIXES: [&str; 4] = ["", ".sig", ".att", ".sbom"];

/// A registry to read from, shared by the threads that upload blobs.
pub struct Remote {
    registry: Registry,
    source: RemoteImage,
}

/// What refers to an image: found through the referrers API (pushed by digest), or through
/// a tag (pushed under it).
struct Referrers {
    untagged: Vec<Image>,
    tagged: Vec<(Tag, Image)>,
}

/// What `copy` pushes: the image, with the referrers found by digest before its root, then
/// each referrer found by a tag, under that tag.
pub struct Copy {
    pub image: Image,
    pub tagged: Vec<(Tag, Image)>,
}

impl Remote {
    /// Reads `source` through `registry`, a client of the source's registry (with docker's
    /// credentials for it, if any).
    pub fn connect(source: &RemoteImage, mut registry: Registry) -> Result<Remote, CliError> {
        registry.authenticate(&format!("repository:{}:pull", source.repository))?;
        Ok(Remote {
            registry,
            source: source.clone(),
        })
    }

    /// A clone of the client for one request: the clones share connections and the token.
    fn registry(&self) -> Registry {
        self.registry.clone()
    }

    fn error(&self, why: String) -> CliError {
        CliError::Registry {
            what: format!("copy: {}", self.source),
            why,
        }
    }

    /// The source image, and with `with_referrers` what refers to it.
    pub fn copy(&self, with_referrers: bool) -> Result<Copy, CliError> {
        let mut image = self.image()?;
        let mut tagged = Vec::new();
        if with_referrers {
            let found = self.referrers(&image)?;
            for referrer in found.untagged {
                merge(&mut image, referrer);
            }
            tagged = found.tagged;
        }
        Ok(Copy { image, tagged })
    }

    /// The source image with every manifest and blob it refers to.
    fn image(&self) -> Result<Image, CliError> {
        let (reference, expected) = match &self.source.reference {
            Reference::Tag(tag) => (tag.to_string(), None),
            Reference::Digest(digest) => (digest.to_string(), Some(digest)),
        };
        let root = match self.manifest(&reference, expected) {
            Err(CliError::NotFound { why, .. }) => {
                return Err(CliError::NotFound {
                    what: format!("copy: {} not found", self.source),
                    why,
                })
            }
            root => root?,
        };
        self.image_of(root)
    }

    fn image_of(&self, root: ReadManifest) -> Result<Image, CliError> {
        collect_image(
            root,
            &|_, digest| self.manifest(&digest.to_string(), Some(digest)),
            &|why| self.error(why),
        )
    }

    fn digest(&self, text: &str) -> Result<Digest, CliError> {
        text.parse()
            .map_err(|_| self.error(format!("invalid digest {text:?} in a manifest")))
    }

    /// `GET /v2/<name>/manifests/<reference>`: its bytes (bounded), checked against the
    /// digest it is asked by or the registry gives.
    fn manifest(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<ReadManifest, CliError> {
        let what = format!("copy: fetching manifest {reference} of {}", self.source);
        let mut registry = self.registry();
        let url = registry.url(&format!(
            "v2/{}/manifests/{reference}",
            self.source.repository
        ));
        let response = registry.send(
            &what,
            "GET",
            &url,
            &[("Accept", ACCEPT)],
            registry::Body::Empty,
        )?;
        let error = |why: String| CliError::Registry {
            what: what.clone(),
            why,
        };
        let content_type = response.header("content-type").map(str::to_string);
        let stated = response
            .header("docker-content-digest")
            .and_then(|d| d.parse::<Digest>().ok());
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| error(e.to_string()))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(error(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        let expected = expected.or(stated.as_ref());
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Some(expected) = expected.filter(|e| **e != digest) {
            return Err(error(format!(
                "its bytes have digest {digest}, not {expected}"
            )));
        }
        let parsed =
            manifest::parse(&bytes, content_type.as_deref()).map_err(|e| error(e.to_string()))?;
        let body: ManifestBody =
            serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?;
        Ok((
            ManifestFile {
                digest,
                media_type: parsed.media_type,
                bytes,
            },
            body,
        ))
    }

    /// What refers to each manifest of `image`: the referrers API's answer, else the tags that
    /// stand in for it.
    fn referrers(&self, image: &Image) -> Result<Referrers, CliError> {
        let mut found = Referrers {
            untagged: Vec::new(),
            tagged: Vec::new(),
        };
        let mut seen: HashSet<Digest> = image.manifests.iter().map(|m| m.digest.clone()).collect();
        let mut count = 0;
        let mut count_up = |n: usize| -> Result<(), CliError> {
            count += n;
            if count > MAX_REFERRERS {
                return Err(self.error(format!(
                    "more than {MAX_REFERRERS} referrers; copy them with a tool made for that"
                )));
            }
            Ok(())
        };
        for subject in &image.manifests {
            match self.referrers_api(&subject.digest) {
                Ok(digests) => {
                    count_up(digests.len())?;
                    for digest in digests {
                        if seen.insert(digest.clone()) {
                            let root = self.manifest(&digest.to_string(), Some(&digest))?;
                            found.untagged.push(self.image_of(root)?);
                        }
                    }
                }
                Err(CliError::NotFound { .. }) => {
                    for suffix in FALLBACK_SUFFIXES {
                        let tag = format!(
                            "{}-{}{suffix}",
                            subject.digest.algorithm().as_str(),
                            subject.digest.hex()
                        );
                        // Only sha256 digests fit the tag grammar's 128 characters.
                        let Ok(tag) = Tag::parse(&tag) else { break };
                        let what = format!("copy: checking tag {tag} of {}", self.source);
                        let path = format!("{}/manifests/{tag}", self.source.repository);
                        if self
                            .registry()
                            .exists(&what, &path, Some(ACCEPT))?
                            .is_none()
                        {
                            continue;
                        }
                        let referrer = self.image_of(self.manifest(tag.as_str(), None)?)?;
                        count_up(referrer.manifests.len())?;
                        found.tagged.push((tag, referrer));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// `GET /v2/<name>/referrers/<digest>`, following its pages: the referrers' digests.
    fn referrers_api(&self, subject: &Digest) -> Result<Vec<Digest>, CliError> {
        let what = format!("copy: listing the referrers of {subject}");
        let mut url = self.registry().url(&format!(
            "v2/{}/referrers/{subject}",
            self.source.repository
        ));
        let mut digests = Vec::new();
        loop {
            let response = self.registry().send(
                &what,
                "GET",
                &url,
                &[("Accept", OCI_INDEX)],
                registry::Body::Empty,
            )?;
            let next = response.header("link").and_then(next_page);
            let mut bytes = Vec::new();
            response
                .into_reader()
                .take(MAX_MANIFEST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| self.error(format!("{what}: {e}")))?;
            let index: ManifestBody = serde_json::from_slice(&bytes)
                .map_err(|e| self.error(format!("{what}: not an image index ({e})")))?;
            for descriptor in &index.manifests {
                digests.push(self.digest(&descriptor.digest)?);
            }
            match next {
                Some(link) if digests.len() <= MAX_REFERRERS => {
                    url = self.registry().url(&link);
                }
                _ => return Ok(digests),
            }
        }
    }
}

/// The target of a `Link: <...>; rel="next"` header.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        next.then(|| target.to_string())
    })
}

impl ImageSource for Remote {
    fn open_blob(&self, blob: &Blob, offset: u64) -> Result<BlobReader<'_>, CliError> {
        let what = format!("copy: fetching blob {} of {}", blob.digest, self.source);
        let mut registry = self.registry();
        let url = registry.url(&format!(
            "v2/{}/blobs/{}",
            self.source.repository, blob.digest
        ));
        let response = registry.send(&what, "GET", &url, &[], registry::Body::Empty)?;
        let mut reader = VerifyingReader::new(response.into_reader(), blob.clone());
        reader.skip(offset).map_err(|e| self.error(e.to_string()))?;
        Ok(Box::new(reader))
    }
}

/// Adds a referrer's content to `image`, before its root: the root's tag then appears once
/// everything is in place.
fn merge(image: &mut Image, referrer: Image) {
    for blob in referrer.blobs {
        if !image.blobs.contains(&blob) {
            image.blobs.push(blob);
        }
    }
    for manifest in referrer.manifests {
        if !image.manifests.iter().any(|m| m.digest == manifest.digest) {
            let root = image.manifests.len().saturating_sub(1);
            image.manifests.insert(root, manifest);
        }
    }
}

#[cfg(test)]
mod tests {
    use edge_registry::oci::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST};

    use super::*;

    #[test]
    fn the_next_page_is_the_link_marked_next() {
        assert_eq!(
            next_page(r#"</v2/a/referrers/sha256:x?n=1&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/sha256:x?n=1&last=b")
        );
        assert_eq!(next_page(r#"</v2/a/tags/list?last=b>; rel="prev""#), None);
        assert_eq!(next_page("garbage"), None);
    }

    #[test]
    fn every_manifest_type_is_accepted() {
        for media_type in [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ] {
            assert!(ACCEPT.contains(media_type), "{media_type}");
        }
    }

    fn manifest(name: &[u8]) -> ManifestFile {
        ManifestFile {
            digest: Digest::of(Algorithm::Sha256, name),
            media_type: OCI_MANIFEST.into(),
            bytes: name.to_vec(),
        }
    }

    #[test]
    fn referrers_go_before_the_root_once() {
        let blob = |name: &[u8]| Blob {
            digest: Digest::of(Algorithm::Sha256, name),
            size: name.len() as u64,
        };
        let mut image = Image {
            blobs: vec![blob(b"config")],
            manifests: vec![manifest(b"child"), manifest(b"root")],
        };
        let referrer = || Image {
            blobs: vec![blob(b"config"), blob(b"signature")],
            manifests: vec![manifest(b"signature manifest")],
        };
        merge(&mut image, referrer());
        merge(&mut image, referrer());
        assert_eq!(image.blobs, [blob(b"config"), blob(b"signature")]);
        let order: Vec<&[u8]> = image.manifests.iter().map(|m| &m.bytes[..]).collect();
        assert_eq!(order, [&b"child"[..], b"signature manifest", b"root"]);
    }
}
