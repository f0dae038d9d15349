//! The edge cache as the core sees it: three primitives the platform provides, and the
//! sequence that uses them, around the handling of one request.
//!
//! Why an injected cache rather than a directive the platform executes: a hit may be served
//! only to a caller whose credentials are valid, and that check (a password hash, or a
//! token's signature) is worth making on hits only. With a directive, the platform would call
//! back into the core between its lookup and its answer; through the trait, lookup, check,
//! answer, purge and store are one sequence in the core, which tests run over memory.

use super::{CacheKey, CachePlan};
use crate::api::access::Realm;
use crate::api::Api;
use crate::api::{Request, Response};
use crate::error::Result;
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use http::StatusCode;

#[allow(async_fn_in_trait)] // Single-threaded by design: Workers futures are not Send.
pub trait EdgeCache {
    /// A response body, as the store's ([`ObjectStore::Body`]).
    type Body;

    /// The answer stored under `key`, if any. A failure is a miss.
    async fn lookup(&self, key: &CacheKey) -> Option<Response<Self::Body>>;

    /// Stores a copy of `response` under `key`, its `Cache-Control` replaced by
    /// `cache_control`, and gives `response` back to be sent; the copy may be written once the
    /// answer is on its way.
    fn store(
        &self,
        key: CacheKey,
        response: Response<Self::Body>,
        cache_control: &str,
    ) -> Result<Response<Self::Body>>;

    /// Drops what is stored under `key`. A failure leaves it to expire.
    async fn purge(&self, key: &CacheKey);
}

/// The headers a 304 from the cache repeats of the stored answer, as the registry's own 304
/// has them (see [`Api::not_modified`]).
const NOT_MODIFIED_HEADERS: [&str; 3] = ["ETag", "Cache-Control", "Docker-Content-Digest"];

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The stored answer to a pull, if the cache holds one (with its ETag) and the caller's
    /// credentials, if any, are valid: public content may be served to anyone, and a miss
    /// goes to the handlers, which check them anyway. A client that holds the content already
    /// gets a 304.
    pub(crate) async fn cached_answer<B, C: EdgeCache>(
        &self,
        plan: &CachePlan,
        cache: &C,
        request: &Request<B>,
    ) -> Option<Response<C::Body>> {
        let hit = cache.lookup(&plan.pull.as_ref()?.key).await?;
        let etag = hit.get_header("ETag")?;
        if self.caller(request, &Realm::of(request)).is_err() {
            return None;
        }
        if request.not_modified(etag) {
            let repeated = NOT_MODIFIED_HEADERS
                .into_iter()
                .filter_map(|name| Some((name, hit.get_header(name)?)));
            return Some(repeated.fold(
                Response::new(StatusCode::NOT_MODIFIED),
                |response, (name, value)| response.header(name, value),
            ));
        }
        Some(hit.header("X-Cache", "HIT"))
    }

    /// After the registry answered: purges what a successful write or delete made stale,
    /// before the client hears it succeeded (its next read here must not see the old answer);
    /// stores a complete, small answer to a pull (larger blobs are redirected, or would crowd
    /// out the rest).
    pub(crate) async fn after_answer<C: EdgeCache>(
        &self,
        plan: CachePlan,
        cache: &C,
        response: Response<C::Body>,
        succeeded: bool,
    ) -> Result<Response<C::Body>> {
        if succeeded {
            for key in &plan.purge {
                cache.purge(key).await;
            }
        }
        let small = response
            .get_header("Content-Length")
            .and_then(|length| length.parse::<u64>().ok())
            .is_some_and(|length| length < self.config.redirect_min_bytes);
        match plan.pull {
            Some(pull) if response.status == 200 && small => Ok(cache
                .store(pull.key, response, &pull.cache_control)?
                .header("X-Cache", "MISS")),
            _ => Ok(response),
        }
    }
}
