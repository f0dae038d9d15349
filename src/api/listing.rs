//! The paginated listings: tags, the catalog, and referrers.

use futures::future::join_all;
use serde::Deserialize;

use crate::api::routes::Route;
use crate::api::Api;
use crate::api::{Request, Response, StatusCode};
use crate::error::{Error, Result};
use crate::oci::manifest::{Descriptor, OCI_INDEX};
use crate::oci::{Digest, RepositoryName, Tag};
use crate::records::{Environment, Page};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

pub(crate) use crate::records::Entry;

/// The most entries a page of tags or of the catalog holds: `n` above it is lowered to it, and
/// without `n` a page holds this many. Further entries are paged with `Link`.
pub const PAGE_MAX: usize = 1000;
/// The most referrers a page holds: each is one read.
pub const REFERRERS_PAGE_MAX: usize = 100;

/// `n` (lowered to `max`; `max` when absent) and `last` from the query.
fn pagination<B>(request: &Request<B>, max: usize) -> Result<(usize, Option<String>)> {
    let n = match request.query("n") {
        None | Some("") => max,
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            // Digits too many for a number are a request for more than the maximum.
            n.parse::<usize>().unwrap_or(usize::MAX).min(max)
        }
        Some(n) => return Err(Error::Unsupported(format!("n={n:?} is not a number"))),
    };
    Ok((n, request.query("last").map(str::to_string)))
}

/// `Link: <path?n=N&last=L[&more]>; rel="next"`, as the spec's pagination describes, to the
/// next page of `route`.
fn with_next_link<O, T>(
    response: Response<O>,
    route: &Route,
    page: &Page<T>,
    n: usize,
    more: &[(&str, &str)],
) -> Response<O> {
    let Some(last) = &page.next else {
        return response;
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", last)
        .extend_pairs(more)
        .finish();
    response.header("Link", format!("<{route}?{query}>; rel=\"next\""))
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn tags<B>(
        &self,
        name: &RepositoryName,
        request: &Request<B>,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request, PAGE_MAX)?;
        let page = self.records.tags_page(name, last.as_deref(), n).await?;
        if page.entries.is_empty() && last.is_none() && !self.records.in_catalog(name).await? {
            return Err(Error::NameUnknown(name.to_string()));
        }
        let body = serde_json::json!({ "name": name.as_str(), "tags": page.entries });
        let response = Response::new(StatusCode::OK).json(&body, "application/json");
        Ok(with_next_link(response, &Route::tags(name), &page, n, &[]))
    }

    /// The repositories as `entry` says: a caller sees only what they may list.
    pub(crate) async fn catalog<B>(
        &self,
        request: &Request<B>,
        entry: impl Fn(&str) -> Entry,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request, PAGE_MAX)?;
        let page = self.records.catalog_page(last.as_deref(), n, entry).await?;
        let body = serde_json::json!({ "repositories": page.entries });
        let response = Response::new(StatusCode::OK).json(&body, "application/json");
        Ok(with_next_link(response, &Route::Catalog, &page, n, &[]))
    }

    /// The catalog of a token that names its repositories: those of `names` that exist, in
    /// order, paged like any catalog. One head per name looked at; a token's claims are
    /// bounded by the Authorization header's size.
    pub(crate) async fn catalog_of<B>(
        &self,
        request: &Request<B>,
        mut names: Vec<String>,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request, PAGE_MAX)?;
        names.sort();
        names.dedup();
        names.retain(|name| last.as_deref().is_none_or(|last| name.as_str() > last));
        let heads = names.iter().map(|name| async move {
            let exists = self.records.in_catalog_by_name(name).await?;
            Ok::<_, Error>(exists.then(|| name.clone()))
        });
        let existing: Vec<String> = join_all(heads)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let page = match existing.len() > n {
            true => Page {
                entries: existing[..n].to_vec(),
                next: n.checked_sub(1).map(|i| existing[i].clone()),
            },
            false => Page {
                entries: existing,
                next: None,
            },
        };
        let body = serde_json::json!({ "repositories": page.entries });
        let response = Response::new(StatusCode::OK).json(&body, "application/json");
        Ok(with_next_link(response, &Route::Catalog, &page, n, &[]))
    }

    /// Referrers pushed by clients that found no referrers API: an index tagged `<alg>-<hex>`
    /// (only sha256 subjects fit the tag grammar's 128 characters).
    async fn tag_schema_referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let Ok(tag) = Tag::parse(&format!(
            "{}-{}",
            subject.algorithm().as_str(),
            subject.hex()
        )) else {
            return Ok(Vec::new());
        };
        match self.records.tagged_bytes(name, &tag).await? {
            Some(bytes) => Ok(serde_json::from_slice::<Index>(&bytes)
                .map(|index| index.manifests)
                .unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    /// An image index of the manifests whose subject is `subject`; empty, not 404, when none.
    pub(crate) async fn referrers<B>(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        request: &Request<B>,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request, REFERRERS_PAGE_MAX)?;
        let mut page = self
            .records
            .referrers(name, subject, last.as_deref(), n)
            .await?;
        let filter = request.query("artifactType").filter(|t| !t.is_empty());
        let mut manifests = Vec::new();
        let mut found = std::mem::take(&mut page.entries);
        if last.is_none() {
            for descriptor in self.tag_schema_referrers(name, subject).await? {
                if !found.iter().any(|d| d.digest == descriptor.digest) {
                    found.push(descriptor);
                }
            }
        }
        for descriptor in found {
            if filter.is_none_or(|wanted| descriptor.artifact_type.as_deref() == Some(wanted)) {
                manifests.push(descriptor);
            }
        }
        let body = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        let mut response = Response::new(StatusCode::OK).json(&body, OCI_INDEX);
        if filter.is_some() {
            response = response.header("OCI-Filters-Applied", "artifactType");
        }
        let filters: Vec<(&str, &str)> = filter.map(|t| ("artifactType", t)).into_iter().collect();
        let route = Route::referrers(name, subject);
        Ok(with_next_link(response, &route, &page, n, &filters))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::executor::block_on;

    use super::*;
    use crate::api::{Body, Method};
    use crate::app::Registry;
    use crate::auth::{Auth, Policy};
    use crate::config::Config;
    use crate::oci::Algorithm;
    use crate::records::FixedEnvironment;
    use crate::records::{LIST_CALLS_MAX, UNTAGGED_META};
    use crate::storage::memory::{MemoryBody, MemoryStore};
    use crate::storage::metered::{Metered, OpCounter, OpCounts};
    use crate::storage::{ObjectStore, PutOptions, LIST_PAGE_MAX};

    type Metered2 = Registry<Metered<MemoryStore>, Metered<MemoryStore>, FixedEnvironment>;

    fn registry(private: &str, counter: &OpCounter) -> Metered2 {
        Registry::new(
            Metered::new(MemoryStore::new(), counter.clone()),
            Metered::new(MemoryStore::new(), counter.clone()),
            FixedEnvironment,
            Config::default(),
            Auth {
                policy: Policy::parse("", None, private).unwrap(),
                ..Auth::default()
            },
        )
    }

    fn put(registry: &Metered2, key: &str, bytes: &[u8], metadata: &[(&str, &str)]) {
        let options = PutOptions {
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..PutOptions::default()
        };
        let stored = ObjectStore::put(registry.store().inner(), key, bytes.to_vec(), options);
        block_on(stored).unwrap();
    }

    struct Reply {
        status: u16,
        json: serde_json::Value,
        link: Option<String>,
        ops: OpCounts,
    }

    /// An anonymous GET of `path_and_query` (or of a `Link` target), with the storage
    /// operations it cost.
    fn get(registry: &Metered2, counter: &OpCounter, path_and_query: &str) -> Reply {
        let request = Request::local(Method::GET, path_and_query, &[], MemoryBody::new(b"", 1));
        let before = counter.counts();
        let (response, _) = block_on(registry.handle(request));
        let after = counter.counts();
        let link = response.get_header("Link").map(|link| {
            let target = link.strip_prefix('<').and_then(|l| l.split_once('>'));
            let (target, rel) = target.unwrap_or_else(|| panic!("Link {link}"));
            assert_eq!(rel, "; rel=\"next\"");
            target.to_string()
        });
        let json = match response.body {
            Body::Bytes(bytes) => serde_json::from_slice(&bytes).unwrap(),
            _ => serde_json::Value::Null,
        };
        Reply {
            status: response.status.as_u16(),
            json,
            link,
            ops: OpCounts {
                class_a: after.class_a - before.class_a,
                class_b: after.class_b - before.class_b,
                ..OpCounts::default()
            },
        }
    }

    fn names(value: &serde_json::Value) -> Vec<String> {
        let names = value.as_array().unwrap().iter();
        names.map(|v| v.as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn n_above_the_maximum_is_lowered_and_paged_with_link() {
        let counter = OpCounter::default();
        let registry = registry("", &counter);
        put(&registry, "catalog/a", b"", &[]);
        for i in 0..PAGE_MAX + 5 {
            put(&registry, &format!("repos/a/_tags/t{i:05}"), b"{}", &[]);
        }
        for n in ["1000000000", "99999999999999999999999"] {
            let first = get(&registry, &counter, &format!("/v2/a/tags/list?n={n}"));
            assert_eq!(first.status, 200);
            assert_eq!(names(&first.json["tags"]).len(), PAGE_MAX);
            let link = first.link.expect("a Link to the rest");
            assert_eq!(link, format!("/v2/a/tags/list?n={PAGE_MAX}&last=t00999"));
            let rest = get(&registry, &counter, &link);
            assert_eq!(names(&rest.json["tags"]).len(), 5);
            assert_eq!(rest.link, None);
        }
        // Without `n`, a page holds the maximum too.
        let unbounded = get(&registry, &counter, "/v2/a/tags/list");
        assert_eq!(names(&unbounded.json["tags"]).len(), PAGE_MAX);
        assert!(unbounded.link.is_some());
    }

    #[test]
    fn deleted_tags_cost_bounded_list_calls_and_page_on() {
        let counter = OpCounter::default();
        let registry = registry("", &counter);
        put(&registry, "catalog/a", b"", &[]);
        let deleted = LIST_CALLS_MAX * LIST_PAGE_MAX as usize + 500;
        for i in 0..deleted {
            let key = format!("repos/a/_tags/old{i:05}");
            put(&registry, &key, b"", &[(UNTAGGED_META, "1")]);
        }
        put(&registry, "repos/a/_tags/v1", b"{}", &[]);
        let mut path = "/v2/a/tags/list".to_string();
        let mut tags = Vec::new();
        let mut requests = 0;
        loop {
            let reply = get(&registry, &counter, &path);
            assert_eq!(reply.status, 200);
            // The list calls, and the catalog head of a first page found empty.
            assert!(
                reply.ops.class_a <= LIST_CALLS_MAX as u64,
                "{:?}",
                reply.ops
            );
            assert!(reply.ops.class_b <= 1, "{:?}", reply.ops);
            tags.extend(names(&reply.json["tags"]));
            requests += 1;
            match reply.link {
                Some(link) => path = link,
                None => break,
            }
        }
        assert_eq!(tags, ["v1"]);
        assert_eq!(requests, 2);
    }

    #[test]
    fn private_namespaces_are_skipped_at_once_and_others_page_on() {
        let counter = OpCounter::default();
        let registry = registry("internal/*, *-draft", &counter);
        let hidden = 2 * LIST_PAGE_MAX as usize;
        for i in 0..hidden {
            put(&registry, &format!("catalog/internal/r{i:05}"), b"", &[]);
        }
        put(&registry, "catalog/public/a", b"", &[]);
        let first = get(&registry, &counter, "/v2/_catalog");
        assert_eq!(names(&first.json["repositories"]), ["public/a"]);
        assert_eq!(first.link, None);
        // One list call up to the first hidden name, one past them all.
        assert_eq!(first.ops.class_a, 2);
        // A pattern that is not `<prefix>*` cannot be skipped past: the listing stops after
        // its list calls and pages on.
        let drafts = LIST_CALLS_MAX * LIST_PAGE_MAX as usize + 10;
        for i in 0..drafts {
            put(&registry, &format!("catalog/team/x{i:05}-draft"), b"", &[]);
        }
        put(&registry, "catalog/zeta/b", b"", &[]);
        let first = get(&registry, &counter, "/v2/_catalog?n=10");
        assert_eq!(names(&first.json["repositories"]), ["public/a"]);
        assert_eq!(first.ops.class_a, LIST_CALLS_MAX as u64);
        let rest = get(
            &registry,
            &counter,
            &first.link.expect("a Link past the drafts"),
        );
        assert_eq!(names(&rest.json["repositories"]), ["zeta/b"]);
        assert_eq!(rest.link, None);
    }

    #[test]
    fn referrers_are_read_a_page_at_a_time() {
        let counter = OpCounter::default();
        let registry = registry("", &counter);
        let name = RepositoryName::parse("a", "").unwrap();
        let subject = Digest::of(Algorithm::Sha256, b"subject");
        let count = REFERRERS_PAGE_MAX + 20;
        for i in 0..count {
            let referrer = Digest::of(Algorithm::Sha256, format!("r{i}").as_bytes());
            let descriptor = Descriptor {
                media_type: OCI_INDEX.into(),
                digest: referrer.to_string(),
                size: 1,
                artifact_type: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                annotations: None,
            };
            let stored = registry
                .records
                .put_referrer(&name, &subject, &referrer, &descriptor);
            block_on(stored).unwrap();
        }
        let path = format!("/v2/a/referrers/{subject}");
        let first = get(&registry, &counter, &path);
        assert_eq!(
            first.json["manifests"].as_array().unwrap().len(),
            REFERRERS_PAGE_MAX
        );
        // A read per referrer, and one of the fallback tag.
        assert_eq!(first.ops.class_b, REFERRERS_PAGE_MAX as u64 + 1);
        let rest = get(
            &registry,
            &counter,
            &first.link.expect("a Link to the rest"),
        );
        assert_eq!(rest.json["manifests"].as_array().unwrap().len(), 20);
        assert_eq!(rest.link, None);
        // A filter goes on in the Link.
        let odd = get(&registry, &counter, &format!("{path}?artifactType=odd&n=3"));
        assert_eq!(odd.json["manifests"].as_array().unwrap().len(), 2);
        let link = odd.link.expect("a Link to the rest");
        assert!(link.ends_with("&artifactType=odd"), "{link}");
        let next = get(&registry, &counter, &link);
        let manifests = next.json["manifests"].as_array().unwrap().clone();
        assert!(manifests.iter().all(|m| m["artifactType"] == "odd"));
    }
}
