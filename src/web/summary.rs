//! What the pages say about one tagged manifest: its size, platforms, badges (signed, SBOM,
//! vulnerabilities) and the annotations and labels a repository is described by.

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;

use super::model::{ConfigDoc, ManifestDoc};
use crate::api::Api;
use crate::oci::manifest::Descriptor;
use crate::oci::{Digest, RepositoryName};
use crate::records::{Environment, ManifestBytes, ScanStatus};
use crate::scan::severity::Severity;
use crate::storage::{MultipartStore, ObjectStore, SessionStore, StorageResult};

/// An image config is small but untrusted: the pages read at most this much of one.
pub const CONFIG_MAX_BYTES: usize = 1024 * 1024;
/// The most platform images of an index a summary reads (for the index's size).
pub const CHILDREN_MAX: usize = 8;
/// The most referrers a summary reads (for its badges).
pub const REFERRERS_MAX: usize = 4;

/// Artifact types of signatures: cosign's and sigstore's bundles, notation's.
const SIGNATURE_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.cosign.artifact.sig.v1+json",
    "application/vnd.cncf.notary.signature",
];
const SBOM_TYPES: [&str; 2] = ["application/vnd.cyclonedx+json", "application/spdx+json"];

pub struct Summary {
    /// The compressed size: config and layers, or the sum over an index's children; `None`
    /// when an index has more children than a summary reads.
    pub size: Option<u64>,
    pub platforms: Vec<String>,
    pub signed: bool,
    pub sbom: bool,
    /// Counts by severity, most severe first, when a complete scan found any.
    pub vulnerabilities: Option<Vec<(Severity, usize)>>,
    /// The config's labels overlaid with the manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// `org.opencontainers.image.description`: the annotation, else the label.
    pub description: Option<String>,
}

/// Whether `descriptor` is a signature's.
pub fn is_signature(descriptor: &Descriptor) -> bool {
    descriptor
        .artifact_type
        .as_deref()
        .is_some_and(|t| SIGNATURE_TYPES.contains(&t))
}

pub fn is_sbom(descriptor: &Descriptor) -> bool {
    descriptor
        .artifact_type
        .as_deref()
        .is_some_and(|t| SBOM_TYPES.contains(&t))
}

/// Whether `tag` is one of cosign's for another image (`sha256-<hex>.sig`, `.att`, `.sbom`):
/// not something to pull, so never a repository's "latest".
pub fn is_cosign_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let Some((hex, suffix)) = rest.split_once('.') else {
        return false;
    };
    hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(suffix, "sig" | "att" | "sbom")
}

/// cosign's signature tag for `digest`: `sha256-<hex>.sig`.
pub fn cosign_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Vulnerability counts by severity, most severe first, none of them zero.
pub fn severity_counts<'v>(
    severities: impl Iterator<Item = &'v Severity>,
) -> Vec<(Severity, usize)> {
    let mut counts: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for severity in severities {
        *counts.entry(std::cmp::Reverse(*severity)).or_default() += 1;
    }
    counts.into_iter().map(|(s, n)| (s.0, n)).collect()
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// A summary of `manifest`. Its storage operations, at most: the config (a link and its
    /// data) or the index's platform images ([`CHILDREN_MAX`]), a referrers listing (one
    /// list call for a page of [`REFERRERS_MAX`]) and its reads, and the scan record: 14.
    /// `signature_tags` holds the repository's cosign signature tags, from the caller's
    /// listing.
    pub(super) async fn summary(
        &self,
        name: &RepositoryName,
        manifest: &ManifestBytes,
        signature_tags: &HashSet<String>,
    ) -> StorageResult<Summary> {
        let doc = ManifestDoc::parse(&manifest.bytes);
        let mut annotations = BTreeMap::new();
        let (size, platforms) = if doc.is_index(manifest.content_type.as_deref()) {
            let platforms = doc
                .platform_images()
                .filter_map(|child| child.platform.as_ref())
                .map(|platform| platform.label())
                .collect();
            (self.index_size(name, &doc).await?, platforms)
        } else {
            let config = self.config(name, &doc).await?;
            annotations = config.labels();
            let platforms = config.platform().map(|p| p.label()).into_iter().collect();
            (Some(doc.image_size()), platforms)
        };
        let description_label = annotations.get(DESCRIPTION).cloned();
        annotations.extend(doc.annotations.clone());
        let description = doc
            .annotations
            .get(DESCRIPTION)
            .cloned()
            .or(description_label);
        let (referrers, vulnerabilities) = match manifest.digest.parse::<Digest>() {
            Ok(digest) => {
                let referrers = self.records.referrers(name, &digest, None, REFERRERS_MAX);
                let scan = self.records.scan_record(name, &digest);
                let (referrers, scan) = futures::join!(referrers, scan);
                let vulnerabilities = scan?
                    .filter(|record| record.status == ScanStatus::Complete)
                    .map(|record| {
                        severity_counts(record.vulnerabilities.iter().map(|v| &v.severity))
                    });
                (referrers?.entries, vulnerabilities)
            }
            Err(_) => (Vec::new(), None),
        };
        Ok(Summary {
            signed: signature_tags.contains(&cosign_tag(&manifest.digest))
                || referrers.iter().any(is_signature),
            sbom: referrers.iter().any(is_sbom),
            size,
            platforms,
            vulnerabilities,
            annotations,
            description,
        })
    }

    /// An image's config, as far as it parses; nothing of it when it is missing, invalid or
    /// over [`CONFIG_MAX_BYTES`].
    pub(super) async fn config(
        &self,
        name: &RepositoryName,
        doc: &ManifestDoc,
    ) -> StorageResult<ConfigDoc> {
        let Some(digest) = doc.config.as_ref().and_then(|c| c.digest.parse().ok()) else {
            return Ok(ConfigDoc::default());
        };
        let bytes = self
            .records
            .small_blob(name, &digest, CONFIG_MAX_BYTES)
            .await?;
        Ok(bytes.map(|b| ConfigDoc::parse(&b)).unwrap_or_default())
    }

    /// The sum of the sizes of an index's platform images, each read once; `None` when it
    /// has more than [`CHILDREN_MAX`] or one is missing.
    async fn index_size(
        &self,
        name: &RepositoryName,
        doc: &ManifestDoc,
    ) -> StorageResult<Option<u64>> {
        if doc.platform_images().count() > CHILDREN_MAX {
            return Ok(None);
        }
        let reads = doc.platform_images().map(|child| async move {
            match child.digest.parse::<Digest>() {
                Ok(digest) => self.records.manifest_bytes(name, &digest).await,
                Err(_) => Ok(None),
            }
        });
        let mut total: u64 = 0;
        for child in join_all(reads).await {
            let Some(child) = child? else {
                return Ok(None);
            };
            total = total.saturating_add(ManifestDoc::parse(&child.bytes).image_size());
        }
        Ok(Some(total))
    }
}

pub const DESCRIPTION: &str = "org.opencontainers.image.description";
