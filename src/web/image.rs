//! `/r/<name>/-/tag/<tag>` and `/r/<name>/-/digest/<digest>`: a manifest's platforms, each
//! with its layers and config, its referrers, and its vulnerabilities when a scan is complete.

use maud::{html, Markup};

use super::html::{human_size, page, short_digest};
use super::model::{truncate, ConfigDoc, DescriptorDoc, ManifestDoc};
use super::repository::badges;
use super::summary::{cosign_tag, is_sbom, is_signature, severity_counts, Summary};
use super::{routes, Visit};
use crate::api::{Api, Request, Response, StatusCode};
use crate::error::Result;
use crate::oci::manifest::Descriptor;
use crate::oci::{Digest, Reference, RepositoryName, Tag};
use crate::records::{Environment, ManifestBytes, ScanRecord, ScanStatus};
use crate::storage::{MultipartStore, ObjectStore, SessionStore, StorageResult};

/// The most referrers the page lists.
pub(super) const REFERRERS_SHOWN: usize = 100;
/// The most platforms of an index the page shows.
pub(super) const PLATFORMS_SHOWN: usize = 16;
/// The most characters of one config value (an Env entry, a label, a history line) shown.
const VALUE_MAX_CHARS: usize = 1000;

struct Platform {
    label: String,
    digest: String,
    layers: Vec<DescriptorDoc>,
    config: ConfigDoc,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The tag page; `None` when there is no such tag. Its storage operations, at most (after
    /// the catalog check, [`Api::visible`]): the manifest; per platform (up to [`PLATFORMS_SHOWN`]) its manifest and config (a link and
    /// its data, read up to 1 MiB); the cosign tag's head; the referrers' listing (up to
    /// [`crate::records::LIST_CALLS_MAX`] calls) and reads (up to [`REFERRERS_SHOWN`]); the
    /// scan record: 1 + 16 × 3 + 1 + 5 + 100 + 1 = 156.
    pub(super) async fn tag_page<B>(
        &self,
        name: &RepositoryName,
        tag: &str,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Option<Response<S::Body>>> {
        let Ok(tag) = Tag::parse(tag) else {
            return Ok(None);
        };
        let Some(manifest) = self.records.tagged_manifest(name, &tag).await? else {
            return Ok(None);
        };
        let title = format!("{name}:{tag}");
        let pull = format!("docker pull {}/{name}:{tag}", request.authority());
        self.image_page(name, &title, &pull, manifest, visit).await
    }

    /// The same page by digest.
    pub(super) async fn digest_page<B>(
        &self,
        name: &RepositoryName,
        digest: &str,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Option<Response<S::Body>>> {
        let Ok(digest) = digest.parse::<Digest>() else {
            return Ok(None);
        };
        let Some(manifest) = self.records.manifest_bytes(name, &digest).await? else {
            return Ok(None);
        };
        let title = format!("{name}@{digest}");
        let pull = format!("docker pull {}/{title}", request.authority());
        self.image_page(name, &title, &pull, manifest, visit).await
    }

    async fn image_page(
        &self,
        name: &RepositoryName,
        title: &str,
        pull: &str,
        manifest: ManifestBytes,
        visit: &Visit<'_>,
    ) -> Result<Option<Response<S::Body>>> {
        let doc = ManifestDoc::parse(&manifest.bytes);
        let platforms = if doc.is_index(manifest.content_type.as_deref()) {
            let children = doc
                .platform_images()
                .take(PLATFORMS_SHOWN)
                .map(|child| self.child_platform(name, child));
            futures::future::join_all(children)
                .await
                .into_iter()
                .filter_map(Result::transpose)
                .collect::<StorageResult<Vec<_>>>()?
        } else {
            let config = self.config(name, &doc).await?;
            let label = config.platform().map_or("unknown".into(), |p| p.label());
            vec![Platform {
                label,
                digest: manifest.digest.clone(),
                layers: doc.layers,
                config,
            }]
        };
        let (referrers, scan, signed_by_tag) = match manifest.digest.parse::<Digest>() {
            Ok(digest) => {
                // A sha512 digest's signature tag would be too long to be a tag.
                let sig = Tag::parse(&cosign_tag(&manifest.digest)).ok();
                let signed_by_tag = async {
                    match sig.map(Reference::Tag) {
                        Some(sig) => Ok(self.records.manifest_info(name, &sig).await?.is_some()),
                        None => StorageResult::Ok(false),
                    }
                };
                let (referrers, scan, signed_by_tag) = futures::join!(
                    self.records.referrers(name, &digest, None, REFERRERS_SHOWN),
                    self.records.scan_record(name, &digest),
                    signed_by_tag,
                );
                (referrers?.entries, scan?, signed_by_tag?)
            }
            Err(_) => (Vec::new(), None, false),
        };
        let complete = scan.as_ref().filter(|s| s.status == ScanStatus::Complete);
        let summary = Summary {
            size: None,
            platforms: Vec::new(),
            signed: signed_by_tag || referrers.iter().any(is_signature),
            sbom: referrers.iter().any(is_sbom),
            vulnerabilities: complete
                .map(|record| severity_counts(record.vulnerabilities.iter().map(|v| &v.severity))),
            annotations: Default::default(),
            description: None,
        };
        let main = html! {
            h1 { (title) }
            p {
                "Digest " code.digest { (manifest.digest) }
                button.copy type="button" data-copy=(manifest.digest) aria-label="Copy the digest" { "Copy" }
                " " (badges(&summary))
            }
            p { code #pull { (pull) } button.copy type="button" data-copy=(pull) aria-label="Copy the pull command" { "Copy" } }
            p { a href=(routes::repository(name.as_str())) { "All tags of " (name) } }
            @for platform in &platforms { (platform_section(name.as_str(), platform)) }
            (referrers_table(name.as_str(), &referrers))
            @if let Some(scan) = &scan { (scan_section(scan)) }
        };
        let markup = page(title, &visit.frame(), main);
        Ok(Some(visit.respond(StatusCode::OK, markup)))
    }

    /// An index's child as a platform: its manifest and config; `None` when it is missing.
    async fn child_platform(
        &self,
        name: &RepositoryName,
        child: &DescriptorDoc,
    ) -> StorageResult<Option<Platform>> {
        let Ok(digest) = child.digest.parse::<Digest>() else {
            return Ok(None);
        };
        let Some(bytes) = self.records.manifest_bytes(name, &digest).await? else {
            return Ok(None);
        };
        let doc = ManifestDoc::parse(&bytes.bytes);
        let config = self.config(name, &doc).await?;
        let label = child
            .platform
            .clone()
            .or_else(|| config.platform())
            .map_or("unknown".into(), |p| p.label());
        Ok(Some(Platform {
            label,
            digest: child.digest.clone(),
            layers: doc.layers,
            config,
        }))
    }
}

fn platform_section(name: &str, platform: &Platform) -> Markup {
    let run = platform.config.config.as_ref();
    let list = |values: Option<&Vec<String>>| -> Markup {
        html! { @for value in values.into_iter().flatten() { code { (truncate(value, VALUE_MAX_CHARS)) } " " } }
    };
    html! {
        section.platform data-platform=(platform.label) aria-label=(platform.label) {
            h2 { (platform.label) }
            p.meta { a href=(routes::digest(name, &platform.digest)) { (platform.digest) } }
            h3 { "Layers" }
            div.table-wrap {
                table.layers {
                    thead { tr { th { "Digest" } th { "Size" } th { "Media type" } } }
                    tbody {
                        @for layer in &platform.layers {
                            tr data-digest=(layer.digest) data-bytes=(layer.size) {
                                td.digest title=(layer.digest) { (short_digest(&layer.digest)) }
                                td { (human_size(layer.size)) }
                                td.media-type { (layer.media_type) }
                            }
                        }
                    }
                }
            }
            h3 { "Config" }
            dl.config {
                dt { "Entrypoint" } dd { (list(run.and_then(|r| r.entrypoint.as_ref()))) }
                dt { "Cmd" } dd { (list(run.and_then(|r| r.cmd.as_ref()))) }
                dt { "Env" } dd { (list(run.and_then(|r| r.env.as_ref()))) }
                dt { "Exposed ports" } dd {
                    @for port in run.and_then(|r| r.exposed_ports.as_ref()).into_iter().flatten().map(|p| p.0) {
                        code { (truncate(port, 100)) } " "
                    }
                }
                dt { "Labels" } dd {
                    ul.labels {
                        @for (key, value) in platform.config.labels() {
                            li { code { (truncate(&key, 200)) } " = " (truncate(&value, VALUE_MAX_CHARS)) }
                        }
                    }
                }
                dt { "Created" } dd { (platform.config.created.as_deref().map(|c| truncate(c, 100)).unwrap_or_default()) }
            }
            h3 { "History" }
            ol.history {
                @for step in &platform.config.history {
                    li {
                        @if let Some(created) = &step.created { time { (truncate(created, 40)) } " " }
                        code { (truncate(step.created_by.as_deref().or(step.comment.as_deref()).unwrap_or(""), VALUE_MAX_CHARS)) }
                        @if step.empty_layer == Some(true) { " " span.meta { "(no layer)" } }
                    }
                }
            }
        }
    }
}

fn referrers_table(name: &str, referrers: &[Descriptor]) -> Markup {
    html! {
        h2 { "Referrers" }
        @if referrers.is_empty() { p.meta { "No signatures, SBOMs or other artifacts refer to this manifest." } }
        div.table-wrap {
            table #referrers {
                thead { tr { th { "Artifact type" } th { "Digest" } th { "Size" } } }
                tbody {
                    @for referrer in referrers {
                        @let artifact_type = referrer.artifact_type.as_deref().unwrap_or("");
                        tr data-digest=(referrer.digest) data-artifact-type=(artifact_type) {
                            td.media-type { (artifact_type) }
                            td.digest { a href=(routes::digest(name, &referrer.digest)) title=(referrer.digest) { (short_digest(&referrer.digest)) } }
                            td { (human_size(referrer.size)) }
                        }
                    }
                }
            }
        }
    }
}

fn scan_section(scan: &ScanRecord) -> Markup {
    html! {
        h2 { "Vulnerabilities" }
        @if scan.status != ScanStatus::Complete {
            p.meta { "The scan is " (format!("{:?}", scan.status).to_lowercase()) "." }
        } @else if scan.vulnerabilities.is_empty() {
            p { "The scan found no known vulnerabilities." }
        } @else {
            div.table-wrap {
                table #vulnerabilities {
                    thead { tr { th { "Advisory" } th { "Severity" } th { "Package" } th { "Installed" } th { "Fixed in" } th { "Summary" } } }
                    tbody {
                        @for v in &scan.vulnerabilities {
                            tr data-id=(v.id) data-severity=(v.severity.as_str()) {
                                td { (v.id) } td { (v.severity.as_str()) } td { (v.package) } td { (v.installed) }
                                td { (v.fixed.as_deref().unwrap_or("")) }
                                td { (truncate(v.summary.as_deref().unwrap_or(""), 300)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
