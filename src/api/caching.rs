//! What may be cached, where, and for how long. Content addressed by a digest never changes;
//! a tag may move at any moment; private content never enters a shared cache. The platform
//! keeps the edge cache (the Workers Cache API); the decisions are made here.

use crate::api::parse_digest;
use crate::api::routes::{self, Route};
use crate::api::Api;
use crate::api::{Method, Request, Response, StatusCode};
use crate::oci::{Reference, RepositoryName};
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

use super::access::Realm;

pub(crate) enum Freshness {
    /// Addressed by digest.
    Immutable,
    /// Found through a tag.
    Tag,
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
        match freshness {
            Freshness::Immutable => "public, max-age=31536000, immutable".into(),
            Freshness::Tag => format!("public, max-age={}", self.config.tag_cache_seconds),
        }
    }

    /// The edge-cache key under which the platform may look up, and store, the answer to
    /// `request`: pulls (GET, whole) of manifests and blobs in public repositories. Public
    /// content may be served to anyone, so a hit needs only [`Registry::accepts_credentials`].
    /// The key names the private-repository configuration, so that making a repository
    /// private stops its cached answers at once.
    pub fn edge_cache_key<B>(&self, request: &Request<B>) -> Option<String> {
        if request.method != Method::GET || request.header("range").is_some() {
            return None;
        }
        self.cache_key_of_path(request)
    }

    /// Whether the request's credentials, if any, are valid: what a cached public answer
    /// needs. Checked on hits only, as a miss goes to the registry, which checks them anyway.
    pub fn accepts_credentials<B>(&self, request: &Request<B>) -> bool {
        self.caller(request, &Realm::of(request)).is_ok()
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

    /// The edge-cache keys that a successful write or delete of `request` makes stale: its
    /// resource's, and each tag a push by digest applies (`?tag=`). They are dropped from this
    /// data center's cache at once; elsewhere they last at most the edge lifetime (see
    /// [`Registry::edge_cache_control`]).
    pub fn edge_cache_purge_keys<B>(&self, request: &Request<B>) -> Vec<String> {
        if !matches!(request.method, Method::PUT | Method::DELETE) {
            return Vec::new();
        }
        let mut keys: Vec<String> = self.cache_key_of_path(request).into_iter().collect();
        if let (&Method::PUT, Some(Route::Manifest { name, .. })) =
            (&request.method, routes::parse(&request.path))
        {
            keys.extend(request.query_all("tag").into_iter().filter_map(|tag| {
                let reference = tag.to_string();
                let path = Route::Manifest {
                    name: name.clone(),
                    reference,
                }
                .to_string();
                self.cache_key(&path, &request.host, &request.origin)
            }));
        }
        keys
    }

    /// One key per resource, however the request spelled it (`%3A` or `:` in a digest): the
    /// key is built from the parsed route, so that a purge after a write reaches every
    /// spelling a pull may have cached.
    fn cache_key_of_path<B>(&self, request: &Request<B>) -> Option<String> {
        self.cache_key(&request.path, &request.host, &request.origin)
    }

    fn cache_key(&self, path: &str, host: &str, origin: &str) -> Option<String> {
        let (name, resource) = match routes::parse(path)? {
            Route::Manifest { name, reference } => {
                let reference = match Reference::parse(&reference).ok()? {
                    Reference::Tag(tag) => tag.to_string(),
                    Reference::Digest(digest) => digest.to_string(),
                };
                (name, format!("manifests/{reference}"))
            }
            Route::Blob { name, digest } => {
                (name, format!("blobs/{}", parse_digest(&digest).ok()?))
            }
            _ => return None,
        };
        let name = RepositoryName::parse(&name, host).ok()?;
        if self.auth.policy.is_private(name.as_str()) {
            return None;
        }
        Some(format!(
            "{origin}/v2/{name}/{resource}?private={}",
            self.auth.policy.private_fingerprint()
        ))
    }

    /// The `Cache-Control` under which the platform should store `response` in the edge
    /// cache, if at all: complete, public and small answers (larger blobs are redirected, or
    /// would crowd out the rest). Immutable content still leaves the edge cache after
    /// `edge_cache_seconds` (`s-maxage`), so that a deletion reaches every data center.
    pub fn edge_cache_control<O>(&self, response: &Response<O>) -> Option<String> {
        let cache_control = response
            .get_header("Cache-Control")
            .filter(|c| c.starts_with("public"))?;
        let small = response
            .get_header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|length| length < self.config.redirect_min_bytes);
        if response.status != 200 || !small {
            return None;
        }
        let max_age = cache_control
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
            .unwrap_or(0);
        let edge = max_age.min(self.config.edge_cache_seconds);
        Some(format!("{cache_control}, s-maxage={edge}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::HeaderMap;
    use crate::app::test_registry;

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

    #[test]
    fn every_spelling_of_a_resource_has_one_cache_key_and_purge_key() {
        let registry = test_registry("private/*");
        let hex = "ab".repeat(32);
        let mut keys = Vec::new();
        for resource in ["manifests", "blobs"] {
            let spellings = [":", "%3A", "%3a"]
                .map(|colon| format!("/v2/team/app/{resource}/sha256{colon}{hex}"));
            let key = registry
                .api()
                .edge_cache_key(&request(Method::GET, &spellings[0]));
            assert!(key.is_some(), "{resource} by digest is cacheable");
            for path in &spellings {
                assert_eq!(
                    registry.api().edge_cache_key(&request(Method::GET, path)),
                    key
                );
                for write in [Method::PUT, Method::DELETE] {
                    let purged = registry.api().edge_cache_purge_keys(&request(write, path));
                    assert_eq!(purged, Vec::from_iter(key.clone()));
                }
            }
            keys.push(key);
        }
        let by_tag = registry
            .api()
            .edge_cache_key(&request(Method::GET, "/v2/team/app/manifests/v1"));
        assert_eq!(
            registry
                .api()
                .edge_cache_purge_keys(&request(Method::DELETE, "/v2/team/app/manifests/v1")),
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
        assert_eq!(
            registry
                .api()
                .edge_cache_key(&request(Method::GET, &private)),
            None
        );
    }

    #[test]
    fn a_push_by_digest_purges_every_tag_it_applies() {
        let registry = test_registry("private/*");
        let digest = format!("sha256:{}", "cd".repeat(32));
        let mut push = request(Method::PUT, &format!("/v2/team/app/manifests/{digest}"));
        push.query = vec![("tag".into(), "v1".into()), ("tag".into(), "latest".into())];
        let key = |path: &str| {
            registry
                .api()
                .edge_cache_key(&request(Method::GET, path))
                .unwrap()
        };
        assert_eq!(
            registry.api().edge_cache_purge_keys(&push),
            [
                key(&format!("/v2/team/app/manifests/{digest}")),
                key("/v2/team/app/manifests/v1"),
                key("/v2/team/app/manifests/latest"),
            ]
        );
    }
}
