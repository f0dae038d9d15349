//! `/login` (the form, and its POST) and `/logout` (POST). A login checks the access
//! control's users and passwords and sets the session cookie (see `session`). Both POSTs
//! are refused unless they come from this site: their form's hidden `csrf` field must equal
//! the `csrf` cookie the form's page set (a cross-site page can read neither), and the
//! browser's `Sec-Fetch-Site` and `Origin`, when sent, must say same-origin.

use maud::{html, Markup};
use subtle::ConstantTimeEq;

use super::html::{page, Caching};
use super::session::{cookie, SESSION_COOKIE, SESSION_SECONDS};
use super::CSRF_COOKIE;
use crate::api::{read_bounded, Api, Request, Response, StatusCode};
use crate::error::{Error, Result};
use crate::records::{is_id, Environment};
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::upload::UploadError;

/// A login form is three short fields and a path.
const FORM_MAX_BYTES: usize = 8 * 1024;

/// Where a login may send the visitor on: a path of this site, nothing else (and only
/// visible ASCII, as a `Location` header holds it; the pages' own paths are).
fn safe_next(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.chars().all(|c| c.is_ascii_graphic());
    local.then_some(next)
}

/// Whether the browser says the request comes from this site (requests without these
/// headers rely on the CSRF token alone).
fn same_origin<B>(request: &Request<B>) -> bool {
    let site = request.header("sec-fetch-site");
    let origin = request.header("origin");
    site.is_none_or(|site| site == "same-origin")
        && origin.is_none_or(|origin| origin == request.origin)
}

/// Whether the form's `csrf` field matches the cookie.
fn csrf_matches<B>(request: &Request<B>, form: &[(String, String)]) -> bool {
    let field = field(form, "csrf").unwrap_or_default();
    let cookie = cookie(request, CSRF_COOKIE).unwrap_or_default();
    is_id(cookie) && bool::from(field.as_bytes().ct_eq(cookie.as_bytes()))
}

fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A form's fields, and the request without its body.
async fn read_form<B>(request: Request<B>) -> Result<(Request<()>, Vec<(String, String)>)>
where
    B: RequestBody,
{
    let Request {
        method,
        origin,
        host,
        path,
        query,
        headers,
        body,
    } = request;
    let bytes = read_bounded(body, FORM_MAX_BYTES)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge { limit } => {
                Error::Unsupported(format!("a login form over {limit} bytes"))
            }
            other => other.into(),
        })?;
    let form = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let request = Request {
        method,
        origin,
        host,
        path,
        query,
        headers,
        body: (),
    };
    Ok((request, form))
}

fn session_cookie(token: &str, max_age: u64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    )
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(super) fn login_form<B>(&self, request: &Request<B>) -> Response<S::Body> {
        let next = request.query("next").and_then(safe_next);
        self.login_page(request, StatusCode::OK, None, next, "")
    }

    /// The login form, with `error` when a login failed; never cached.
    fn login_page<B>(
        &self,
        request: &Request<B>,
        status: StatusCode,
        error: Option<&str>,
        next: Option<&str>,
        username: &str,
    ) -> Response<S::Body> {
        let visit = self.visit(request, true);
        let csrf = visit.csrf.as_deref().unwrap_or_default();
        let main = match self.auth.signing_key {
            None => html! {
                h1 { "Log in" }
                p #logins-unavailable { "Logins are unavailable: this registry has no token signing key (TOKEN_SIGNING_KEY)." }
            },
            Some(_) => login_form(csrf, error, next, username),
        };
        visit.respond_with(
            status,
            page("Log in", &visit.frame(), main),
            Caching::Private,
        )
    }

    pub(super) async fn log_in<B>(&self, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let (request, form) = read_form(request).await?;
        let next = field(&form, "next").and_then(safe_next);
        let username = field(&form, "username").unwrap_or_default();
        if !same_origin(&request) || !csrf_matches(&request, &form) {
            let error = "The form expired or came from another site: please try again.";
            return Ok(self.login_page(
                &request,
                StatusCode::FORBIDDEN,
                Some(error),
                next,
                username,
            ));
        }
        if self.auth.signing_key.is_none() {
            return Ok(self.login_page(&request, StatusCode::SERVICE_UNAVAILABLE, None, None, ""));
        }
        let password = field(&form, "password").unwrap_or_default();
        let token = self
            .auth
            .policy
            .authenticate(username, password)
            .and_then(|user| self.session_token(&request, &user.name));
        let Some(token) = token else {
            let error = "Unknown user or wrong password.";
            return Ok(self.login_page(
                &request,
                StatusCode::UNAUTHORIZED,
                Some(error),
                next,
                username,
            ));
        };
        Ok(Response::new(StatusCode::SEE_OTHER)
            .header("Location", next.unwrap_or("/"))
            .header("Cache-Control", "private, no-store")
            .header("Set-Cookie", session_cookie(&token, SESSION_SECONDS)))
    }

    pub(super) async fn log_out<B>(&self, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let (request, form) = read_form(request).await?;
        if !same_origin(&request) || !csrf_matches(&request, &form) {
            let visit = self.visit(&request, false);
            let main = super::html::problem(
                "Not logged out",
                "The form expired or came from another site: please try again.",
            );
            let markup = page("Not logged out", &visit.frame(), main);
            return Ok(visit.respond_with(StatusCode::FORBIDDEN, markup, Caching::Private));
        }
        Ok(Response::new(StatusCode::SEE_OTHER)
            .header("Location", "/")
            .header("Cache-Control", "private, no-store")
            .header("Set-Cookie", session_cookie("", 0)))
    }
}

fn login_form(csrf: &str, error: Option<&str>, next: Option<&str>, username: &str) -> Markup {
    html! {
        h1 { "Log in" }
        @if let Some(error) = error { p #login-error role="alert" { (error) } }
        form #login method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(next) = next { input type="hidden" name="next" value=(next); }
            label for="username" { "User name" }
            input #username type="text" name="username" autocomplete="username" required value=(username);
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    }
}
