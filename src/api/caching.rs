//! What may be cached, where, and for how long. Content addressed by a digest never changes;
//! a tag may move at any moment; private content never enters a shared cache. The platform
//! keeps the edge cache (the Workers Cache API); the decisions are made here.

use crate::api::routes::{self, Route};
use crate::api::{Method, Request, Response};
use crate::app::{Environment, Registry};
use crate::oci::{Digest, RepositoryName};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

use super::access::Realm;

pub(crate) enum Freshness {
    /// Addressed by digest.
    Immutable,
    /// Found through a tag.
    Tag,
}

impl<S, K, E> Registry<S, K, E>
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
        if request.method != Method::Get || request.header("range").is_some() {
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
        Response::new(304)
            .header("ETag", etag)
            .header("Cache-Control", cache_control)
            .header("Docker-Content-Digest", digest)
    }

    /// The edge-cache key that a successful write or delete of `request`'s resource makes
    /// stale: dropped from this data center's cache at once; elsewhere it lasts at most the
    /// edge lifetime (see [`Registry::edge_cache_control`]).
    pub fn edge_cache_purge_key<B>(&self, request: &Request<B>) -> Option<String> {
        match request.method {
            Method::Put | Method::Delete => self.cache_key_of_path(request),
            _ => None,
        }
    }

    fn cache_key_of_path<B>(&self, request: &Request<B>) -> Option<String> {
        let name = match routes::parse(&request.path)? {
            Route::Manifest { name, .. } => name,
            Route::Blob { name, digest } => {
                digest.parse::<Digest>().ok()?;
                name
            }
            _ => return None,
        };
        let name = RepositoryName::parse(&name, &request.host).ok()?;
        if self.auth.policy.is_private(name.as_str()) {
            return None;
        }
        Some(format!(
            "{}{}?private={}",
            request.origin,
            request.path,
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
