//! The web catalog: server-rendered pages outside `/v2/` for people browsing what the
//! registry holds, under the same access rules as pulls: a visitor sees exactly the
//! repositories their user (or an anonymous caller) may pull, and every other one is a 404,
//! as if it did not exist.
//!
//! `routes` (the pages' paths), `session` (who is looking), `login` (the login and logout
//! forms, with their CSRF checks), `home`, `repository` and `image` (the pages), `summary`
//! (what a tag's row shows), `model` (manifests and configs as the pages read them), `html`
//! (the frame, headers and static files).

#[cfg(test)]
mod harness;
mod home;
mod html;
mod image;
mod login;
#[cfg(test)]
mod login_tests;
mod model;
mod repository;
pub mod routes;
pub mod session;
mod summary;
#[cfg(test)]
mod tests;

use crate::api::access::Caller;
use crate::api::{Api, Method, Request, Response, StatusCode};
use crate::auth::Actions;
use crate::error::{Error, Result};
use crate::oci::RepositoryName;
use crate::records::Environment;
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use html::{Caching, Frame};
use routes::Page;
use session::cookie;

/// The CSRF cookie's name; the login and logout forms carry its value in a hidden field.
const CSRF_COOKIE: &str = "csrf";

/// A page request's visitor, and the CSRF token their forms carry.
struct Visit<'a> {
    caller: Caller<'a>,
    /// The CSRF token: the cookie's, or a new one the response sets (`new_csrf`).
    csrf: Option<String>,
    new_csrf: bool,
}

impl Visit<'_> {
    fn user(&self) -> Option<&str> {
        self.caller.user().map(|user| user.name.as_str())
    }

    fn frame(&self) -> Frame<'_> {
        Frame {
            user: self.user(),
            csrf: self.csrf.as_deref(),
        }
    }

    fn caching(&self) -> Caching {
        match self.caller {
            Caller::Anonymous => Caching::Public,
            _ => Caching::Private,
        }
    }

    /// A page for this visitor, with the CSRF cookie if it is new.
    fn respond<O>(&self, status: StatusCode, markup: maud::Markup) -> Response<O> {
        self.respond_with(status, markup, self.caching())
    }

    fn respond_with<O>(
        &self,
        status: StatusCode,
        markup: maud::Markup,
        caching: Caching,
    ) -> Response<O> {
        let response = html::response(status, markup, caching);
        match (&self.csrf, self.new_csrf) {
            (Some(csrf), true) => response.header("Set-Cookie", csrf_cookie(csrf)),
            _ => response,
        }
    }

    fn not_found<O>(&self) -> Response<O> {
        let body = html::problem("Not found", "There is no such page here.");
        self.respond(
            StatusCode::NOT_FOUND,
            html::page("Not found", &self.frame(), body),
        )
    }
}

fn csrf_cookie(token: &str) -> String {
    format!("{CSRF_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/")
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Answers a page request; a failure is an HTML error page, returned beside the error
    /// for the platform to log.
    pub(crate) async fn page<B>(
        &self,
        page: Page,
        request: Request<B>,
    ) -> (Response<S::Body>, Option<Error>)
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let is_head = request.method == Method::HEAD;
        let (mut response, error) = match self.answer_page(page, request).await {
            Ok(response) => (response, None),
            Err(error) => {
                let frame = Frame {
                    user: None,
                    csrf: None,
                };
                // A server's error is logged, not shown: storage errors may name keys.
                let detail = match error.status().is_client_error() {
                    true => error.to_string(),
                    false => "The registry could not answer this time: please try again.".into(),
                };
                let body = html::problem("Something went wrong", &detail);
                let markup = html::page("Error", &frame, body);
                let response = html::response(error.status(), markup, Caching::Private);
                (response, Some(error))
            }
        };
        if is_head {
            response.body = crate::api::Body::Empty;
        }
        (response, error)
    }

    async fn answer_page<B>(&self, page: Page, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        if let Page::Static { file } = &page {
            let visit = self.visit(&request, false);
            return Ok(html::static_file(file).unwrap_or_else(|| visit.not_found()));
        }
        match (page, request.method.clone()) {
            (Page::Login, Method::POST) => self.log_in(request).await,
            (Page::Logout, Method::POST) => self.log_out(request).await,
            (Page::Login, Method::GET | Method::HEAD) => Ok(self.login_form(&request)),
            (page, Method::GET | Method::HEAD) => {
                let visit = self.visit(&request, false);
                self.show(page, &request, &visit).await
            }
            _ => Err(Error::MethodNotAllowed),
        }
    }

    async fn show<B>(
        &self,
        page: Page,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Response<S::Body>> {
        let found = match page {
            Page::Home => Some(self.home(request, visit).await?),
            Page::Repository { name } => match self.visible(&name, request, visit).await? {
                Some(name) => self.repository(&name, request, visit).await?,
                None => None,
            },
            Page::Tag { name, tag } => match self.visible(&name, request, visit).await? {
                Some(name) => self.tag_page(&name, &tag, request, visit).await?,
                None => None,
            },
            Page::Digest { name, digest } => match self.visible(&name, request, visit).await? {
                Some(name) => self.digest_page(&name, &digest, request, visit).await?,
                None => None,
            },
            _ => None,
        };
        Ok(found.unwrap_or_else(|| visit.not_found()))
    }

    /// The visitor of `request`, with a CSRF token (a new one if they have none) when the
    /// page shows a form: the login form (`login_form`) or a logged-in visitor's logout form.
    fn visit<B>(&self, request: &Request<B>, login_form: bool) -> Visit<'_> {
        let caller = self.visitor(request);
        let existing = cookie(request, CSRF_COOKIE).filter(|token| crate::records::is_id(token));
        let wants_csrf = login_form || caller.user().is_some();
        let (csrf, new_csrf) = match (existing, wants_csrf) {
            (Some(token), _) => (Some(token.to_string()), false),
            (None, true) => (Some(self.records.env.new_id()), true),
            (None, false) => (None, false),
        };
        Visit {
            caller,
            csrf,
            new_csrf,
        }
    }

    /// The repository `raw` names if the visitor may pull it and it exists; `None` (a 404)
    /// otherwise, the same answer for a private repository as for a missing one.
    async fn visible<B>(
        &self,
        raw: &str,
        request: &Request<B>,
        visit: &Visit<'_>,
    ) -> Result<Option<RepositoryName>> {
        let Ok(name) = RepositoryName::parse(raw, &request.host) else {
            return Ok(None);
        };
        if !self.may(&visit.caller, name.as_str(), Actions::PULL) {
            return Ok(None);
        }
        Ok(self.records.in_catalog(&name).await?.then_some(name))
    }
}
