//! `/`: the repositories the visitor may pull, filtered by `?q=` (a substring of the name),
//! 50 a page from `?after=<name>`, each with its tag count and newest tag.

use futures::future::join_all;
use maud::{html, Markup};

use super::html::page;
use super::summary::is_cosign_tag;
use super::{routes, Visit};
use crate::api::access::Caller;
use crate::api::listing::Entry;
use crate::api::{Api, Request, Response, StatusCode};
use crate::auth::token::rfc3339;
use crate::error::Result;
use crate::oci::RepositoryName;
use crate::records::{Environment, ListedTag};
use crate::storage::{MultipartStore, ObjectStore, SessionStore, StorageResult};

/// Repositories a page lists.
pub const REPOSITORIES_PER_PAGE: usize = 50;
/// The most characters of a search that are used.
const QUERY_MAX_CHARS: usize = 100;

struct Listed {
    name: String,
    /// Tags counted from one list call: `complete` is false past its 1,000.
    tag_count: usize,
    complete: bool,
    newest: Option<ListedTag>,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The home page. Its storage operations, at most: the catalog's listing
    /// ([`crate::records::LIST_CALLS_MAX`] list calls), and one tags listing (of up to 1,000 tags, with
    /// their metadata) per repository shown: 55.
    pub(super) async fn home<B>(
        &self,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Response<S::Body>> {
        let query: String = request
            .query("q")
            .unwrap_or_default()
            .trim()
            .chars()
            .take(QUERY_MAX_CHARS)
            .collect();
        let entry = |repository: &str| match self.catalog_entry(&visit.caller, repository) {
            Entry::Show if !repository.contains(query.as_str()) => Entry::Skip,
            other => other,
        };
        let after = request.query("after");
        let catalog = self
            .records
            .catalog_page(after, REPOSITORIES_PER_PAGE, entry)
            .await?;
        let listings = catalog.entries.iter().map(|name| self.listed(name));
        let repositories = join_all(listings)
            .await
            .into_iter()
            .collect::<StorageResult<Vec<_>>>()?;
        let next = catalog.next.map(|after| {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            if !query.is_empty() {
                pairs.append_pair("q", &query);
            }
            pairs.append_pair("after", &after);
            format!("/?{}", pairs.finish())
        });
        let main = home_page(&query, &repositories, next.as_deref(), &visit.caller);
        Ok(visit.respond(StatusCode::OK, page("Repositories", &visit.frame(), main)))
    }

    async fn listed(&self, name: &str) -> StorageResult<Listed> {
        let Ok(repository) = RepositoryName::parse(name, "") else {
            return Ok(Listed {
                name: name.to_string(),
                tag_count: 0,
                complete: true,
                newest: None,
            });
        };
        let listing = self.records.tag_listing(&repository, 1).await?;
        Ok(Listed {
            name: name.to_string(),
            tag_count: listing.tags.len(),
            complete: listing.complete,
            newest: listing
                .tags
                .into_iter()
                .filter(|t| !is_cosign_tag(&t.tag))
                .max_by_key(|t| t.pushed_ms),
        })
    }
}

fn home_page(query: &str, repositories: &[Listed], next: Option<&str>, caller: &Caller) -> Markup {
    html! {
        h1 { "Repositories" }
        form #search role="search" method="get" action="/" {
            label for="q" { "Search repositories" }
            input #q type="search" name="q" value=(query);
            button type="submit" { "Search" }
        }
        @if repositories.is_empty() {
            p #empty {
                @if query.is_empty() { "No repositories to show." }
                @else { "No repository name contains “" (query) "”." }
                @if matches!(caller, Caller::Anonymous) {
                    " Private repositories show after you log in."
                }
            }
        }
        ul #repositories {
            @for repository in repositories {
                li data-repository=(repository.name) {
                    a href=(routes::repository(&repository.name)) { (repository.name) }
                    @if let Some(newest) = &repository.newest {
                        span.meta {
                            "latest "
                            span.latest-tag { (newest.tag) }
                            " pushed "
                            (pushed(newest.pushed_ms))
                        }
                    }
                    span.meta {
                        span.tag-count { (repository.tag_count) @if !repository.complete { "+" } }
                        @if repository.tag_count == 1 { " tag" } @else { " tags" }
                    }
                }
            }
        }
        @if let Some(next) = next {
            nav.pagination aria-label="Pages" { a rel="next" href=(next) { "Next page" } }
        }
    }
}

/// A push time as `time.pushed`.
pub(super) fn pushed(ms: u64) -> Markup {
    let when = rfc3339(ms);
    html! { time.pushed datetime=(when) { (when.replace('T', " ").trim_end_matches('Z')) " UTC" } }
}
