//! The distribution API: path routing, access checks, and one handler per resource over the
//! records layer. Requests and responses are plain Rust (`messages`).

pub(crate) mod access;
mod advisories;
mod blobs;
pub mod caching;
pub(crate) mod listing;
mod manifests;
mod messages;
mod public_blobs;
pub mod routes;
mod scans;
mod token;
mod uploads;
mod webhooks;

pub(crate) use messages::read_bounded;
pub use messages::{header_map, Body, HeaderMap, Method, Request, Response, StatusCode};

use crate::auth::oidc::IssuerFetch;
use crate::auth::{Actions, Auth};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::oci::{Digest, RepositoryName};
use crate::records::{Environment, Records};
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use access::Realm;
use routes::Route;

/// The API over one deployment's records, settings and access policy; the handlers are its
/// methods, one file per resource.
pub struct Api<'a, S, K, E> {
    pub(crate) records: &'a Records<S, K, E>,
    pub(crate) config: &'a Config,
    pub(crate) auth: &'a Auth,
    /// How `/token` reaches OIDC issuers; `None` where no HTTP client is wired (then ID
    /// tokens are refused).
    pub(crate) issuers: Option<&'a dyn IssuerFetch>,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Answers a request for `route`, any but [`Route::Maintenance`].
    pub async fn serve<B>(&self, route: Route, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        match route {
            Route::Token => return self.token(request).await,
            // Signed URLs carry their own authorization.
            Route::SignedBlob => return self.signed_blob(&request).await,
            _ => {}
        }
        let realm = Realm::of(&request);
        let caller = self.caller(&request, &realm)?;
        // The name is checked before access, so that a challenge only ever quotes a valid name.
        let name = |raw: &str, need: Actions| {
            let name = RepositoryName::parse(raw, &request.host)?;
            self.authorize(&caller, &name, need, &realm)?;
            Ok::<_, Error>(name)
        };
        let (pull, push, delete) = (Actions::PULL, Actions::PUSH, Actions::DELETE);
        match (route, request.method.clone()) {
            (Route::Base, Method::GET | Method::HEAD) => {
                self.require_login(&caller, &realm)?;
                Ok(Response::new(StatusCode::OK)
                    .header("Docker-Distribution-API-Version", "registry/2.0")
                    .bytes(b"{}".to_vec(), "application/json"))
            }
            (Route::Advisories { ecosystem }, _) => {
                self.advisories(&caller, &realm, ecosystem, request).await
            }
            (Route::Catalog, Method::GET) => match self.token_catalog(&caller) {
                Some(names) => self.catalog_of(&request, names).await,
                None => {
                    let entry = |repository: &str| self.catalog_entry(&caller, repository);
                    self.catalog(&request, entry).await
                }
            },
            (Route::Tags { name: n }, Method::GET) => self.tags(&name(&n, pull)?, &request).await,
            (Route::Referrers { name: n, digest }, Method::GET) => {
                self.referrers(&name(&n, pull)?, &parse_digest(&digest)?, &request)
                    .await
            }
            (Route::Scan { name: n, digest }, Method::GET) => {
                self.scan_report(&name(&n, pull)?, &parse_digest(&digest)?)
                    .await
            }
            (Route::Blob { name: n, digest }, method @ (Method::GET | Method::HEAD)) => {
                self.get_blob(
                    &name(&n, pull)?,
                    &parse_digest(&digest)?,
                    &request,
                    method == Method::HEAD,
                )
                .await
            }
            (Route::Blob { name: n, digest }, Method::DELETE) => {
                self.delete_blob(&name(&n, delete)?, &parse_digest(&digest)?)
                    .await
            }
            (Route::UploadStart { name: n }, Method::POST) => {
                let name = name(&n, push)?;
                let may_pull = |repository: &RepositoryName| {
                    self.may_mount_from(&caller, &name, repository, &realm)
                };
                self.start_upload(&name, request, may_pull).await
            }
            (Route::Upload { name: n, id }, method) => {
                let name = name(&n, push)?;
                match method {
                    Method::GET => self.upload_status(&name, &id).await,
                    Method::PATCH => self.patch_upload(&name, &id, request).await,
                    Method::PUT => self.finish_upload(&name, &id, request).await,
                    Method::DELETE => self.cancel_upload(&name, &id).await,
                    _ => Err(Error::MethodNotAllowed),
                }
            }
            (Route::Manifest { name: n, reference }, method) => match method {
                Method::GET | Method::HEAD => {
                    let name = name(&n, pull)?;
                    self.get_manifest(&name, &reference, &request, method == Method::HEAD)
                        .await
                }
                Method::PUT => {
                    let name = name(&n, push)?;
                    let actor = webhooks::Actor::of(&caller, &request);
                    self.put_manifest(&name, &reference, request, &actor).await
                }
                Method::DELETE => {
                    let name = name(&n, delete)?;
                    let actor = webhooks::Actor::of(&caller, &request);
                    self.delete_manifest(&name, &reference, &actor).await
                }
                _ => Err(Error::MethodNotAllowed),
            },
            _ => Err(Error::MethodNotAllowed),
        }
    }
}

pub(crate) fn parse_digest(raw: &str) -> Result<Digest> {
    raw.parse().map_err(Error::from)
}
