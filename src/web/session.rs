//! Web sessions: who is looking at the pages. A login (the access control's users and
//! passwords) gives a cookie holding a signed, short-lived session token; every page request
//! with a valid one is that user's, and anything else is an anonymous visitor's.

use crate::api::access::{Caller, Realm};
use crate::api::{Api, Request};
use crate::auth::TokenClaims;
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "session";
/// How long a login lasts.
pub const SESSION_SECONDS: u64 = 3600;

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'r, B>(request: &'r Request<B>, name: &str) -> Option<&'r str> {
    request
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Session tokens' issuer: not the token endpoint's, so that a session token is never taken
/// for a registry token, nor one of those for a session.
fn issuer(realm: &Realm) -> String {
    format!("{}#web-session", realm.url)
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The visitor a page request comes from: the user of a valid session cookie, else
    /// anonymous (an expired or forged cookie is no session, not an error).
    pub(crate) fn visitor<B>(&self, request: &Request<B>) -> Caller<'_> {
        let (Some(token), Some(key)) = (
            cookie(request, SESSION_COOKIE),
            self.auth.signing_key.as_ref(),
        ) else {
            return Caller::Anonymous;
        };
        let realm = Realm::of(request);
        let now = self.records.env.now_ms();
        let Ok(claims) = key.verify(token, now, &issuer(&realm), &realm.service) else {
            return Caller::Anonymous;
        };
        // A changed password ends its sessions, as it ends refresh tokens.
        match (self.auth.policy.user(&claims.sub), claims.refresh) {
            (Some(user), Some(fingerprint)) if user.credential_fingerprint() == fingerprint => {
                Caller::User(user)
            }
            _ => Caller::Anonymous,
        }
    }

    /// A session token for `user`, for the cookie a login sets.
    pub(crate) fn session_token<B>(&self, request: &Request<B>, user: &str) -> Option<String> {
        let key = self.auth.signing_key.as_ref()?;
        let user = self.auth.policy.user(user)?;
        let realm = Realm::of(request);
        let claims = TokenClaims {
            iss: issuer(&realm),
            sub: user.name.clone(),
            aud: realm.service.clone(),
            jti: self.records.env.new_id(),
            access: None,
            refresh: Some(user.credential_fingerprint()),
            idp: None,
        };
        Some(key.issue(claims, self.records.env.now_ms(), SESSION_SECONDS))
    }
}
