//! The registry: the API and maintenance wired over one deployment's records. A request in,
//! a response out, over injected stores, clock and ids.

use crate::api::access::Realm;
use crate::api::routes::{self, Route};
use crate::api::{Api, Body, Method, Request, Response, StatusCode};
use crate::auth::Auth;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::maintenance::{Maintenance, Report};
use crate::records::{Environment, Records};
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

pub struct Registry<S, K, E> {
    pub(crate) records: Records<S, K, E>,
    pub(crate) config: Config,
    pub(crate) auth: Auth,
}

impl<S, K, E> Registry<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub fn new(store: S, sessions: K, env: E, config: Config, auth: Auth) -> Self {
        Registry {
            records: Records::new(store, None, sessions, env),
            config,
            auth,
        }
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
        }
    }

    /// One maintenance run (see [`crate::maintenance`]).
    pub async fn maintain(&self, dry_run: bool) -> Result<Report> {
        Maintenance {
            records: &self.records,
            config: &self.config.maintenance,
            upload_ttl_seconds: self.config.upload_ttl_seconds,
            policy: &self.auth.policy,
        }
        .run(dry_run)
        .await
    }

    /// Answers any request; failures become OCI error responses here and nowhere else.
    /// The error is returned beside the response so that the platform can log internal ones.
    pub async fn handle<B>(&self, request: Request<B>) -> (Response<S::Body>, Option<Error>)
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let is_head = request.method == Method::HEAD;
        match self.route(request).await {
            Ok(response) => (response, None),
            Err(error) => {
                let mut response = Response::from_error(&error);
                if is_head {
                    response.body = Body::Empty;
                }
                (
                    response.header("Docker-Distribution-API-Version", "registry/2.0"),
                    Some(error),
                )
            }
        }
    }

    async fn route<B>(&self, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let route = routes::parse(&request.path).ok_or(Error::RouteUnknown)?;
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
