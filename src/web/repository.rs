//! `/r/<name>`: a repository's description and links (from its newest tag), the `docker
//! pull` line, and its tags newest push first, 50 a page (`?page=`), each with its digest,
//! size, platforms, push time and badges.

use std::collections::HashSet;

use futures::future::join_all;
use maud::{html, Markup};

use super::home::pushed;
use super::html::{human_size, page, short_digest};
use super::model::{is_web_url, truncate};
use super::summary::{is_cosign_tag, Summary};
use super::{routes, Visit};
use crate::api::{Api, Request, Response, StatusCode};
use crate::error::Result;
use crate::oci::{RepositoryName, Tag};
use crate::records::{Environment, ListedTag, LIST_CALLS_MAX};
use crate::storage::{MultipartStore, ObjectStore, SessionStore, StorageResult};

pub const TAGS_PER_PAGE: usize = 50;
const DESCRIPTION_MAX_CHARS: usize = 2000;
/// The annotations shown as the repository's links, with their labels.
const LINKS: [(&str, &str); 5] = [
    ("org.opencontainers.image.source", "Source"),
    ("org.opencontainers.image.url", "Website"),
    ("org.opencontainers.image.documentation", "Documentation"),
    ("org.opencontainers.image.licenses", "Licenses"),
    ("org.opencontainers.image.version", "Version"),
];

struct Row {
    listed: ListedTag,
    summary: Option<Summary>,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The repository page; `None` for a page number past the tags. Its storage operations,
    /// at most (after the catalog check, [`Api::visible`]): the tags listing ([`LIST_CALLS_MAX`] list calls: up to 5,000 tags), and for
    /// each tag shown (and for the newest tag, when it is on another page) its manifest and a
    /// summary (14, [`Api::summary`]): 5 + 51 × 15 = 770, under the 1,000 subrequests of a
    /// paid Workers invocation; 5 + 50 × 5 for images without referrers.
    pub(super) async fn repository<B>(
        &self,
        name: &RepositoryName,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Option<Response<S::Body>>> {
        let page_number = match request.query("page").map(str::parse::<usize>) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => return Ok(None),
        };
        let listing = self.records.tag_listing(name, LIST_CALLS_MAX).await?;
        let signature_tags: HashSet<String> = listing
            .tags
            .iter()
            .filter(|t| t.tag.starts_with("sha256-") && t.tag.ends_with(".sig"))
            .map(|t| t.tag.clone())
            .collect();
        let mut tags = listing.tags;
        tags.sort_by(|a, b| b.pushed_ms.cmp(&a.pushed_ms).then(a.tag.cmp(&b.tag)));
        let start = (page_number - 1).saturating_mul(TAGS_PER_PAGE);
        if start > 0 && start >= tags.len() {
            return Ok(None);
        }
        let shown = &tags[start..tags.len().min(start + TAGS_PER_PAGE)];
        let rows = shown
            .iter()
            .map(|listed| self.row(name, listed, &signature_tags));
        let rows = join_all(rows)
            .await
            .into_iter()
            .collect::<StorageResult<Vec<_>>>()?;
        // The description, links and pull line are the newest tag's (not one of cosign's),
        // wherever its row is.
        let newest_listed = tags.iter().find(|t| !is_cosign_tag(&t.tag));
        let newest_here = newest_listed.and_then(|n| shown.iter().position(|t| t.tag == n.tag));
        let newest_elsewhere = match (newest_listed, newest_here) {
            (Some(listed), None) => Some(self.row(name, listed, &signature_tags).await?),
            _ => None,
        };
        let newest = newest_elsewhere
            .as_ref()
            .or(newest_here.map(|index| &rows[index]));
        let more = tags.len() > start + TAGS_PER_PAGE;
        let view = View {
            name: name.as_str(),
            host: request.authority(),
            newest_tag: newest_listed.map(|t| t.tag.as_str()),
            newest: newest.and_then(|row| row.summary.as_ref()),
            rows: &rows,
            next: more.then(|| {
                format!(
                    "{}?page={}",
                    routes::repository(name.as_str()),
                    page_number + 1
                )
            }),
            complete: listing.complete,
        };
        let markup = page(name.as_str(), &visit.frame(), view.render());
        Ok(Some(visit.respond(StatusCode::OK, markup)))
    }

    /// A tag's row: its manifest (one read) and its summary; a tag deleted since the
    /// listing keeps its row without one.
    async fn row(
        &self,
        name: &RepositoryName,
        listed: &ListedTag,
        signature_tags: &HashSet<String>,
    ) -> StorageResult<Row> {
        let manifest = match Tag::parse(&listed.tag) {
            Ok(tag) => self.records.tagged_manifest(name, &tag).await?,
            Err(_) => None,
        };
        let summary = match manifest {
            Some(manifest) => Some(self.summary(name, &manifest, signature_tags).await?),
            None => None,
        };
        Ok(Row {
            listed: listed.clone(),
            summary,
        })
    }
}

struct View<'a> {
    name: &'a str,
    host: &'a str,
    newest_tag: Option<&'a str>,
    newest: Option<&'a Summary>,
    rows: &'a [Row],
    next: Option<String>,
    complete: bool,
}

impl View<'_> {
    fn render(&self) -> Markup {
        let annotations = self.newest.map(|s| &s.annotations);
        let description = self.newest.and_then(|s| s.description.as_deref());
        html! {
            h1 { (self.name) }
            p #description {
                (description.map(|d| truncate(d, DESCRIPTION_MAX_CHARS)).unwrap_or_default())
            }
            ul #links {
                @for (key, label) in LINKS {
                    @if let Some(value) = annotations.and_then(|a| a.get(key)) {
                        li data-annotation=(key) {
                            (label) ": "
                            @if is_web_url(value) { a href=(value) rel="nofollow noopener" { (value) } }
                            @else { (truncate(value, 200)) }
                        }
                    }
                }
            }
            @if let Some(tag) = self.newest_tag {
                @let pull = format!("docker pull {}/{}:{}", self.host, self.name, tag);
                p {
                    code #pull { (pull) }
                    button.copy type="button" data-copy=(pull) aria-label="Copy the pull command" { "Copy" }
                }
            }
            h2 { "Tags" }
            @if !self.complete {
                p.meta { "This repository has more tags than the page looks at: the first 5,000 by name are shown." }
            }
            div.table-wrap {
                table #tags {
                    thead { tr { th { "Tag" } th { "Digest" } th { "Size" } th { "Platforms" } th { "Pushed" } th { "Badges" } } }
                    tbody { @for row in self.rows { (self.row(row)) } }
                }
            }
            @if let Some(next) = &self.next {
                nav.pagination aria-label="Pages" { a rel="next" href=(next) { "Older tags" } }
            }
        }
    }

    fn row(&self, row: &Row) -> Markup {
        let listed = &row.listed;
        html! {
            tr data-tag=(listed.tag) data-digest=(listed.digest) {
                td { a href=(routes::tag(self.name, &listed.tag)) { (listed.tag) } }
                td {
                    span.digest title=(listed.digest) { (short_digest(&listed.digest)) }
                    button.copy type="button" data-copy=(listed.digest) aria-label="Copy the digest" { "Copy" }
                }
                @match row.summary.as_ref() {
                    Some(summary) => {
                        td {
                            @if let Some(size) = summary.size {
                                span.size data-bytes=(size) { (human_size(size)) }
                            }
                        }
                        td { ul.platforms { @for platform in &summary.platforms { li { (platform) } } } }
                        td { (pushed(listed.pushed_ms)) }
                        td { (badges(summary)) }
                    }
                    None => { td {} td {} td { (pushed(listed.pushed_ms)) } td {} }
                }
            }
        }
    }
}

pub(super) fn badges(summary: &Summary) -> Markup {
    html! {
        @if summary.signed { span.badge data-badge="signed" { "signed" } }
        @if summary.sbom { span.badge data-badge="sbom" { "SBOM" } }
        @if let Some(counts) = &summary.vulnerabilities {
            span.badge data-badge="vulnerabilities" {
                @if counts.is_empty() { "no known vulnerabilities" }
                @for (i, (severity, count)) in counts.iter().enumerate() {
                    @if i > 0 { " " }
                    span data-severity=(severity.as_str()) { (count) " " (severity.as_str()) }
                }
            }
        }
    }
}
