//! The registry: the API, the web catalog's pages, maintenance and the queue's jobs wired over one deployment's records. A request in,
//! a response out, over injected stores, clock and ids.

use std::rc::Rc;

use crate::api::access::Realm;
use crate::api::caching::EdgeCache;
use crate::api::routes::{self, Route};
use crate::api::{Api, Body, Method, Request, Response, StatusCode};
use crate::auth::oidc::IssuerFetch;
use crate::auth::Auth;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobs::Jobs;
use crate::maintenance::{Maintenance, Report};
use crate::records::{Environment, Records};
use crate::scan::Job;
use crate::storage::body::{LimitedBody, RequestBody};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::web;

pub struct Registry<S, K, E> {
    pub(crate) records: Records<S, K, E>,
    /// Shared: the platform parses a deployment's settings once and builds a registry per
    /// request over them.
    pub(crate) config: Rc<Config>,
    pub(crate) auth: Rc<Auth>,
    /// How `/token` fetches OIDC issuers' keys (the platform's HTTP client).
    issuers: Option<Box<dyn IssuerFetch>>,
}

impl<S, K, E> Registry<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub fn new(
        store: S,
        sessions: K,
        env: E,
        config: impl Into<Rc<Config>>,
        auth: impl Into<Rc<Auth>>,
    ) -> Self {
        Registry {
            records: Records::new(store, None, sessions, env),
            config: config.into(),
            auth: auth.into(),
            issuers: None,
        }
    }

    /// Lets `/token` fetch OIDC issuers' discovery documents and keys through `fetch`.
    pub fn with_issuer_fetch(mut self, fetch: impl IssuerFetch + 'static) -> Self {
        self.issuers = Some(Box::new(fetch));
        self
    }

    /// Serves public repositories' large blobs from `public_blobs` (with
    /// `BlobUrls::public_base_url`), a bucket that holds nothing else.
    pub fn with_public_blobs(mut self, public_blobs: S) -> Self {
        self.records.public_blobs = Some(public_blobs);
        self
    }

    /// The object store, for tests that look at what is stored.
    pub fn store(&self) -> &S {
        &self.records.store
    }

    /// The public-blobs bucket, for tests that look at what it holds.
    pub fn public_blobs(&self) -> Option<&S> {
        self.records.public_blobs.as_ref()
    }

    pub(crate) fn api(&self) -> Api<'_, S, K, E> {
        Api {
            records: &self.records,
            config: &self.config,
            auth: &self.auth,
            issuers: self.issuers.as_deref(),
        }
    }

    /// One maintenance run (see [`crate::maintenance`]).
    pub async fn maintain(&self, dry_run: bool) -> Result<Report> {
        Maintenance {
            records: &self.records,
            config: &self.config.maintenance,
            upload_ttl_seconds: self.config.upload_ttl_seconds,
            policy: &self.auth.policy,
            immutable_tags: &self.config.immutable_tags,
        }
        .run(dry_run)
        .await
    }

    pub fn jobs(&self) -> Jobs<'_, S, K, E> {
        Jobs {
            records: &self.records,
            webhooks: &self.config.webhooks,
        }
    }

    /// The jobs the last request or job queued, for the platform to send.
    pub fn take_jobs(&self) -> Vec<Job> {
        self.records.take_jobs()
    }

    /// Answers any request; failures become OCI error responses here and nowhere else.
    /// The error is returned beside the response so that the platform can log internal ones.
    pub async fn handle<B>(&self, request: Request<B>) -> (Response<S::Body>, Option<Error>)
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let request = match limit_body(request, self.config.body_limit) {
            Ok(request) => request,
            Err((error, is_head)) => return (error_response(&error, is_head), Some(error)),
        };
        if let Some(page) = web::routes::parse(&request.path) {
            return self.api().page(page, request).await;
        }
        let route = routes::parse(&request.path);
        self.answer(route, request).await
    }

    /// Answers any request as [`Registry::handle`] does, through the platform's edge cache:
    /// a pull may be answered from it or stored in it, and a write purges what it made stale
    /// (see [`crate::api::caching`]).
    pub async fn handle_with_cache<B, C>(&self, request: Request<B>, cache: &C) -> Answer<S::Body>
    where
        B: RequestBody<Whole = S::Incoming>,
        C: EdgeCache<Body = S::Body>,
    {
        let request = match limit_body(request, self.config.body_limit) {
            Ok(request) => request,
            Err((error, is_head)) => {
                return Answer::Handled(error_response(&error, is_head), Some(error))
            }
        };
        let api = self.api();
        let (target, plan) = match web::routes::parse(&request.path) {
            Some(page) => {
                let anonymous = web::session::cookie(&request, web::session::SESSION_COOKIE)
                    .is_none()
                    && request.header("authorization").is_none();
                (Err(page), api.page_cache_plan(&request, anonymous))
            }
            None => {
                let route = routes::parse(&request.path);
                let plan = api.cache_plan(route.as_ref(), &request);
                (Ok(route), plan)
            }
        };
        if let Some(hit) = api.cached_answer(&plan, cache, &request).await {
            return Answer::FromEdgeCache(hit);
        }
        let (response, error) = match target {
            Ok(route) => self.answer(route, request).await,
            Err(page) => api.page(page, request).await,
        };
        match api
            .after_answer(plan, cache, response, error.is_none())
            .await
        {
            Ok(response) => Answer::Handled(response, error),
            Err(error) => Answer::Handled(error_response(&error, false), Some(error)),
        }
    }

    async fn answer<B>(
        &self,
        route: Option<Route>,
        request: Request<B>,
    ) -> (Response<S::Body>, Option<Error>)
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let is_head = request.method == Method::HEAD;
        match self.route(route, request).await {
            Ok(response) => (response, None),
            Err(error) => (error_response(&error, is_head), Some(error)),
        }
    }

    async fn route<B>(&self, route: Option<Route>, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let route = route.ok_or(Error::RouteUnknown)?;
        if route != Route::Maintenance {
            return self.api().serve(route, request).await;
        }
        let api = self.api();
        let realm = Realm::of(&request);
        let caller = api.caller(&request, &realm)?;
        if request.method != Method::POST {
            return Err(Error::MethodNotAllowed);
        }
        api.require_administrator(&caller, &realm)?;
        let dry_run = request.query("dry-run") == Some("true");
        let report = self.maintain(dry_run).await?;
        Ok(Response::new(StatusCode::OK).json(&report, "application/json"))
    }
}

/// An answer, and where it came from: the platform logs what the registry did, and nothing
/// for answers from the edge cache.
pub enum Answer<O> {
    FromEdgeCache(Response<O>),
    /// By the registry, with the error it answered, if any.
    Handled(Response<O>, Option<Error>),
}

/// Refuses a body declared larger than `limit` before anything reads it, as Cloudflare's edge
/// answers 413 before the worker runs, and holds a body of undeclared length (chunked) to it
/// as it is read. A declared length needs no count: the runtime holds the client to it.
/// The error comes with whether the request was a HEAD.
fn limit_body<B>(
    request: Request<B>,
    limit: Option<u64>,
) -> std::result::Result<Request<LimitedBody<B>>, (Error, bool)> {
    let declared = request.content_length();
    if let (Some(limit), Some(length)) = (limit, declared) {
        if length > limit {
            return Err((
                Error::BodyTooLarge { limit },
                request.method == Method::HEAD,
            ));
        }
    }
    let limit = limit.filter(|_| declared.is_none());
    Ok(request.map_body(|body| LimitedBody::new(body, limit)))
}

fn error_response<O>(error: &Error, is_head: bool) -> Response<O> {
    let mut response = Response::from_error(error);
    if is_head {
        response.body = Body::Empty;
    }
    response.header("Docker-Distribution-API-Version", "registry/2.0")
}

/// A registry over memory stores with the default settings, anonymous pulls refused in the
/// repositories `private` names, for unit tests.
#[cfg(test)]
pub(crate) fn test_registry(
    private: &str,
) -> Registry<
    crate::storage::memory::MemoryStore,
    crate::storage::memory::MemoryStore,
    crate::records::FixedEnvironment,
> {
    use crate::storage::memory::MemoryStore;
    let auth = Auth {
        policy: crate::auth::Policy::parse("", None, private).unwrap(),
        ..Auth::default()
    };
    Registry::new(
        MemoryStore::new(),
        MemoryStore::new(),
        crate::records::FixedEnvironment,
        Config::default(),
        auth,
    )
}

#[cfg(test)]
mod body_limit_tests;
#[cfg(test)]
mod oidc_tests;
#[cfg(test)]
mod scanning_tests;
#[cfg(test)]
mod tests;
