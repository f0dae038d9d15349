//! What may be cached, where, and for how long. Content addressed by a digest never changes;
//! a tag may move at any moment; private content never enters a shared cache.
//!
//! Clients and proxies learn it from `Cache-Control`. The platform's edge cache (the Workers
//! Cache API, per data center) is one seam: per request, `Api::cache_plan` draws from the
//! route what the cache may do, and `edge` carries the plan out over an injected
//! [`EdgeCache`] that only looks up, stores and purges. The platform decides nothing, and
//! every decision is tested in process over an in-memory cache.

mod edge;
#[cfg(test)]
mod memory;

pub use edge::EdgeCache;
#[cfg(test)]
pub(crate) use memory::MemoryEdgeCache;

use crate::api::parse_digest;
use crate::api::routes::Route;
use crate::api::Api;
use crate::api::{Method, Request, Response};
use crate::oci::{Digest, Reference, RepositoryName, Tag};
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use http::StatusCode;

/// How long any cache may keep content addressed by its digest: a year, the most HTTP allows.
const IMMUTABLE_MAX_AGE: u64 = 31_536_000;
/// How long any cache, the edge cache among them, may keep an anonymous visitor's page: a
/// push shows on the pages within this time.
pub const PAGE_MAX_AGE: u64 = 30;

pub(crate) enum Freshness {
    /// Addressed by digest.
    Immutable,
    /// Found through a tag.
    Tag,
}

/// Where the edge cache keeps the answer to a pull of one public manifest or blob: a URL, as
/// the Cache API wants. Built only by `Api::cache_key`, from the parsed name and reference,
/// so that every spelling of a digest (`:`, `%3A`, `%3a`) has one key and a purge after a
/// write reaches whatever a pull kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the edge cache may do for one request, drawn from its route before it is handled.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CachePlan {
    /// A whole `GET` of a public manifest or blob: answered from the cache when it holds the
    /// answer, stored there when not.
    pub pull: Option<Pull>,
    /// What a `PUT` or `DELETE` makes stale, purged once it has succeeded.
    pub purge: Vec<CacheKey>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pull {
    pub key: CacheKey,
    /// The stored copy's `Cache-Control`: the client's, and how long the edge keeps it.
    pub cache_control: String,
}

/// What the edge cache keeps: manifests, and blobs.
enum Resource {
    Manifest(Reference),
    Blob(Digest),
}

impl Resource {
    /// The manifest or blob a route names, if it is one and names it validly.
    fn of(route: &Route, host: &str) -> Option<(RepositoryName, Resource)> {
        let (name, resource) = match route {
            Route::Manifest { name, reference } => {
                (name, Resource::Manifest(Reference::parse(reference).ok()?))
            }
            Route::Blob { name, digest } => (name, Resource::Blob(parse_digest(digest).ok()?)),
            _ => return None,
        };
        Some((RepositoryName::parse(name, host).ok()?, resource))
    }

    fn freshness(&self) -> Freshness {
        match self {
            Resource::Manifest(Reference::Tag(_)) => Freshness::Tag,
            Resource::Manifest(Reference::Digest(_)) | Resource::Blob(_) => Freshness::Immutable,
        }
    }
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) fn cache_control(&self, name: &RepositoryName, freshness: Freshness) -> String {
        if self.auth.policy.is_private(name.as_str()) {
            return "private".into();
        }
        self.public_cache_control(&freshness)
    }

    fn public_cache_control(&self, freshness: &Freshness) -> String {
        match freshness {
            Freshness::Immutable => format!("public, max-age={IMMUTABLE_MAX_AGE}, immutable"),
            Freshness::Tag => format!("public, max-age={}", self.config.tag_cache_seconds),
        }
    }

    /// The edge's copy keeps the client's `Cache-Control`, and leaves the edge cache after
    /// `edge_cache_seconds` at most (`s-maxage`), immutable content too, so that a deletion
    /// reaches every data center.
    fn edge_cache_control(&self, freshness: &Freshness) -> String {
        let max_age = match freshness {
            Freshness::Immutable => IMMUTABLE_MAX_AGE,
            Freshness::Tag => self.config.tag_cache_seconds,
        };
        let edge = max_age.min(self.config.edge_cache_seconds);
        format!("{}, s-maxage={edge}", self.public_cache_control(freshness))
    }

    /// A 304 for a client that holds the content whose ETag is `etag` already.
    pub(crate) fn not_modified<O>(
        etag: String,
        cache_control: String,
        digest: String,
    ) -> Response<O> {
        Response::new(StatusCode::NOT_MODIFIED)
            .header("ETag", etag)
            .header("Cache-Control", cache_control)
            .header("Docker-Content-Digest", digest)
    }

    /// The edge cache's part in answering `request`, routed to `route` (`None`: unknown).
    /// Pulls (`GET`, whole) of manifests and blobs in public repositories are looked up and
    /// stored; private content never enters the cache. A `PUT` or `DELETE` purges its
    /// resource, and on a push by digest each tag it applies (`?tag=`): at once in this data
    /// center; elsewhere they last at most the edge lifetime (see `edge_cache_control`).
    pub(crate) fn cache_plan<B>(&self, route: Option<&Route>, request: &Request<B>) -> CachePlan {
        let Some((name, resource)) = route.and_then(|route| Resource::of(route, &request.host))
        else {
            return CachePlan::default();
        };
        if self.auth.policy.is_private(name.as_str()) {
            return CachePlan::default();
        }
        let key = |resource: &Resource| self.cache_key(&request.origin, &name, resource);
        match request.method {
            Method::GET if request.header("range").is_none() => CachePlan {
                pull: Some(Pull {
                    key: key(&resource),
                    cache_control: self.edge_cache_control(&resource.freshness()),
                }),
                purge: Vec::new(),
            },
            Method::PUT | Method::DELETE => {
                let mut purge = vec![key(&resource)];
                if let (&Method::PUT, Resource::Manifest(_)) = (&request.method, &resource) {
                    let tags = request.query_all("tag").into_iter();
                    let tags = tags.filter_map(|tag| Tag::parse(tag).ok());
                    purge.extend(tags.map(|tag| key(&Resource::Manifest(Reference::Tag(tag)))));
                }
                CachePlan { pull: None, purge }
            }
            _ => CachePlan::default(),
        }
    }

    /// The edge cache's part in serving a page of the web catalog: an anonymous visitor's
    /// `GET` (`anonymous`: no session, no credentials) is looked up and stored by its whole
    /// URL, for as long as any cache may keep the page; a logged-in visitor's never.
    pub(crate) fn page_cache_plan<B>(&self, request: &Request<B>, anonymous: bool) -> CachePlan {
        if request.method != Method::GET || !anonymous {
            return CachePlan::default();
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(request.query.iter())
            .finish();
        let key = CacheKey(format!(
            "{}/_pages{}?{query}&private={}",
            request.origin,
            request.path,
            self.auth.policy.private_fingerprint()
        ));
        CachePlan {
            pull: Some(Pull {
                key,
                cache_control: format!("public, max-age={PAGE_MAX_AGE}, s-maxage={PAGE_MAX_AGE}"),
            }),
            purge: Vec::new(),
        }
    }

    /// The one key of a public resource. It names the private-repository configuration, so
    /// that making a repository private stops its cached answers at once.
    fn cache_key(&self, origin: &str, name: &RepositoryName, resource: &Resource) -> CacheKey {
        let resource = match resource {
            Resource::Manifest(Reference::Tag(tag)) => format!("manifests/{tag}"),
            Resource::Manifest(Reference::Digest(digest)) => format!("manifests/{digest}"),
            Resource::Blob(digest) => format!("blobs/{digest}"),
        };
        CacheKey(format!(
            "{origin}/v2/{name}/{resource}?private={}",
            self.auth.policy.private_fingerprint()
        ))
    }
}

#[cfg(test)]
mod tests {
    use http::header::RANGE;
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::api::routes;
    use crate::app::{test_registry, Registry};
    use crate::auth::Auth;
    use crate::config::Config;
    use crate::records::FixedEnvironment;
    use crate::storage::memory::MemoryStore;

    fn request(method: Method, path: &str) -> Request<()> {
        Request {
            method,
            origin: "https://registry.example.com".into(),
            host: "registry.example.com".into(),
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: (),
        }
    }

    type TestApi<'a> = Api<'a, MemoryStore, MemoryStore, FixedEnvironment>;

    fn plan_of(api: &TestApi, request: &Request<()>) -> CachePlan {
        api.cache_plan(routes::parse(&request.path).as_ref(), request)
    }

    fn cache_key(api: &TestApi, path: &str) -> Option<CacheKey> {
        plan_of(api, &request(Method::GET, path))
            .pull
            .map(|pull| pull.key)
    }

    #[test]
    fn every_spelling_of_a_resource_has_one_cache_key_and_purge_key() {
        let registry = test_registry("private/*");
        let api = registry.api();
        let hex = "ab".repeat(32);
        let mut keys = Vec::new();
        for resource in ["manifests", "blobs"] {
            let spellings = [":", "%3A", "%3a"]
                .map(|colon| format!("/v2/team/app/{resource}/sha256{colon}{hex}"));
            let key = cache_key(&api, &spellings[0]);
            assert!(key.is_some(), "{resource} by digest is cacheable");
            for path in &spellings {
                assert_eq!(cache_key(&api, path), key);
                for write in [Method::PUT, Method::DELETE] {
                    let purged = plan_of(&api, &request(write, path)).purge;
                    assert_eq!(purged, Vec::from_iter(key.clone()));
                }
            }
            keys.push(key);
        }
        let by_tag = cache_key(&api, "/v2/team/app/manifests/v1");
        assert_eq!(
            plan_of(&api, &request(Method::DELETE, "/v2/team/app/manifests/v1")).purge,
            Vec::from_iter(by_tag.clone())
        );
        keys.push(by_tag);
        keys.dedup();
        assert_eq!(
            keys.len(),
            3,
            "distinct resources keep distinct keys: {keys:?}"
        );
        let private = format!("/v2/private/app/manifests/sha256%3A{hex}");
        assert_eq!(cache_key(&api, &private), None);
    }

    #[test]
    fn a_push_by_digest_purges_every_tag_it_applies() {
        let registry = test_registry("private/*");
        let api = registry.api();
        let digest = format!("sha256:{}", "cd".repeat(32));
        let mut push = request(Method::PUT, &format!("/v2/team/app/manifests/{digest}"));
        push.query = vec![("tag".into(), "v1".into()), ("tag".into(), "latest".into())];
        let key = |path: &str| cache_key(&api, path).unwrap();
        assert_eq!(
            plan_of(&api, &push).purge,
            [
                key(&format!("/v2/team/app/manifests/{digest}")),
                key("/v2/team/app/manifests/v1"),
                key("/v2/team/app/manifests/latest"),
            ]
        );
    }

    #[test]
    fn only_whole_gets_of_valid_public_manifests_and_blobs_are_pulls() {
        let registry = test_registry("private/*");
        let api = registry.api();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let manifest = format!("/v2/team/app/manifests/{digest}");
        let blob = format!("/v2/team/app/blobs/{digest}");
        for path in [&manifest, &blob, "/v2/team/app/manifests/v1"] {
            assert!(plan_of(&api, &request(Method::GET, path)).pull.is_some());
        }
        let mut cases = Vec::new();
        for path in [&manifest, &blob] {
            let mut ranged = request(Method::GET, path);
            ranged
                .headers
                .insert(RANGE, HeaderValue::from_static("bytes=0-1"));
            cases.push(ranged);
            for method in [Method::HEAD, Method::POST, Method::PATCH, Method::OPTIONS] {
                cases.push(request(method, path));
            }
        }
        let invalid = [
            "/v2/team/app/manifests/-v1",
            "/v2/team/app/manifests/sha256:AB",
            "/v2/team/app/blobs/v1",
            &format!("/v2/Team/app/manifests/{digest}"),
            &format!("/v2/private/app/manifests/{digest}"),
            "/v2/private/app/manifests/v1",
            &format!("/v2/private/app/blobs/{digest}"),
        ];
        let other_routes = [
            "/v2/",
            "/v2/_catalog",
            "/v2/team/app/tags/list",
            &format!("/v2/team/app/referrers/{digest}"),
            "/v2/team/app/blobs/uploads/",
            "/v2/team/app/blobs/uploads/0123",
            "/token",
            "/unknown",
        ];
        for path in invalid.into_iter().chain(other_routes) {
            for method in [Method::GET, Method::PUT, Method::DELETE] {
                cases.push(request(method, path));
            }
        }
        for request in cases {
            let (method, path) = (&request.method, &request.path);
            assert_eq!(
                plan_of(&api, &request),
                CachePlan::default(),
                "{method:?} {path}"
            );
        }
    }

    #[test]
    fn the_edge_keeps_content_no_longer_than_its_lifetime() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let cases = [
            (
                5,
                300,
                "immutable, s-maxage=300",
                "public, max-age=5, s-maxage=5",
            ),
            (
                600,
                60,
                "immutable, s-maxage=60",
                "public, max-age=600, s-maxage=60",
            ),
        ];
        for (tag_cache_seconds, edge_cache_seconds, by_digest, by_tag) in cases {
            let config = Config {
                tag_cache_seconds,
                edge_cache_seconds,
                ..Config::default()
            };
            let registry = Registry::new(
                MemoryStore::new(),
                MemoryStore::new(),
                FixedEnvironment,
                config,
                Auth::default(),
            );
            let api = registry.api();
            let edge_cache_control = |path: &str| {
                plan_of(&api, &request(Method::GET, path))
                    .pull
                    .unwrap()
                    .cache_control
            };
            for resource in ["manifests", "blobs"] {
                assert_eq!(
                    edge_cache_control(&format!("/v2/team/app/{resource}/{digest}")),
                    format!("public, max-age=31536000, {by_digest}")
                );
            }
            assert_eq!(edge_cache_control("/v2/team/app/manifests/v1"), by_tag);
        }
    }

    #[test]
    fn keys_name_the_origin_and_the_private_repositories() {
        let path = format!("/v2/team/app/manifests/sha256:{}", "ab".repeat(32));
        let registry = test_registry("private/*");
        let key = cache_key(&registry.api(), &path).unwrap();
        assert!(
            key.as_str()
                .starts_with(&format!("https://registry.example.com{path}?private=")),
            "{key:?}"
        );
        let mut elsewhere = request(Method::GET, &path);
        elsewhere.origin = "http://localhost:8787".into();
        let elsewhere = plan_of(&registry.api(), &elsewhere).pull.unwrap().key;
        assert_ne!(elsewhere, key);
        let more_private = test_registry("private/* secret/*");
        assert_ne!(cache_key(&more_private.api(), &path).unwrap(), key);
    }
}
