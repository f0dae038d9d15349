//! The token endpoint (`/token`): Docker's token protocol over `GET` (HTTP Basic credentials,
//! `service`, repeated `scope`, `offline_token`) and its OAuth2 form over `POST`
//! (`grant_type=password` or `refresh_token`). The token grants the intersection of the
//! scopes asked for and what the caller is allowed. A password that is an OpenID Connect ID
//! token `OIDC_TRUST` accepts (any user name) buys the grants of the rules it matches, for no
//! longer than it lives, and no refresh token (see `auth::oidc`).

use std::collections::BTreeMap;

use futures::Stream;

use super::access::Realm;
use crate::api::Api;
use crate::api::{read_bounded, Method, Request, Response, StatusCode};
use crate::auth::oidc::{self, Verified, VerifyOptions};
use crate::auth::scope::{CATALOG, REGISTRY, REPOSITORY};
use crate::auth::token::rfc3339;
use crate::auth::{Actions, AuthError, Credentials, ResourceAccess, Scope, TokenClaims, User};
use crate::error::{Error, Result};
use crate::records::Environment;
use crate::storage::body::BodyChunk;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::upload::UploadError;

/// A token request form is a few short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

enum Grant {
    Anonymous,
    Password { user: String, password: String },
    Refresh(String),
}

/// Who the token is for.
enum Identity<'a> {
    Anonymous,
    User(&'a User),
    /// The holder of an ID token that `OIDC_TRUST` accepts.
    Oidc(Verified<'a>),
}

/// Three base64url parts: what a password never looks like by accident.
fn looks_like_jwt(password: &str) -> bool {
    let parts: Vec<&str> = password.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|part| !part.is_empty())
        && password
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

struct TokenRequest {
    grant: Grant,
    scopes: Vec<Scope>,
    service: Option<String>,
    /// Whether the client wants a refresh token too.
    offline: bool,
}

/// Scopes come as repeated parameters, each possibly several separated by spaces.
fn scopes<'a>(values: impl Iterator<Item = &'a str>) -> Result<Vec<Scope>> {
    values
        .flat_map(str::split_whitespace)
        .map(|scope| Scope::parse(scope).map_err(Error::from))
        .collect()
}

fn values<'a>(pairs: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bad_credentials(why: &str, realm: &Realm) -> Error {
    Error::from(AuthError::BadCredentials(why.to_string())).with_challenge(realm.basic_challenge())
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn token<B>(&self, request: Request<B>) -> Result<Response<S::Body>>
    where
        B: Stream<Item = BodyChunk> + Unpin,
    {
        let realm = Realm::of(&request);
        let asked = match request.method {
            Method::GET => query_request(&request, &realm)?,
            Method::POST => form_request(request).await?,
            _ => return Err(Error::MethodNotAllowed),
        };
        if let Some(service) = asked.service.as_deref().filter(|s| *s != realm.service) {
            return Err(Error::Unsupported(format!(
                "service {service:?} is not this registry ({})",
                realm.service
            )));
        }
        let key = self.auth.signing_key.as_ref().ok_or_else(|| {
            Error::Internal("TOKEN_SIGNING_KEY is not set: no tokens can be issued".into())
        })?;
        let now_ms = self.records.env.now_ms();
        let identity = match asked.grant {
            Grant::Anonymous => Identity::Anonymous,
            Grant::Password { user, password } => {
                match self.auth.policy.authenticate(&user, &password) {
                    Some(user) => Identity::User(user),
                    // Any user name: `docker login -u oidc --password-stdin` with an ID token.
                    None if !self.auth.oidc.trust.is_empty() && looks_like_jwt(&password) => {
                        Identity::Oidc(self.verify_id_token(&password, now_ms, &realm).await?)
                    }
                    None => return Err(bad_credentials("unknown user or wrong password", &realm)),
                }
            }
            Grant::Refresh(token) => Identity::User(self.refresh_user(&token, now_ms, &realm)?),
        };
        let user = match &identity {
            Identity::User(user) => Some(*user),
            Identity::Anonymous | Identity::Oidc(_) => None,
        };
        let (sub, idp, ttl) = match &identity {
            Identity::Anonymous => (String::new(), None, self.auth.token_ttl_seconds),
            Identity::User(user) => (user.name.clone(), None, self.auth.token_ttl_seconds),
            // Never longer than the ID token itself lives.
            Identity::Oidc(verified) => (
                verified.subject.clone(),
                Some(verified.issuer.clone()),
                self.auth
                    .token_ttl_seconds
                    .min(verified.expires_ms.saturating_sub(now_ms) / 1000),
            ),
        };
        let claims = |access, refresh| TokenClaims {
            iss: realm.url.clone(),
            sub: sub.clone(),
            aud: realm.service.clone(),
            jti: self.records.env.new_id(),
            access,
            refresh,
            idp: idp.clone(),
        };
        let policy = &self.auth.policy;
        let access = match &identity {
            Identity::Oidc(verified) => self.grant(&asked.scopes, |name| {
                policy
                    .allowed(None, name)
                    .union(verified.matched.allowed(name))
            }),
            _ => self.grant(&asked.scopes, |name| policy.allowed(user, name)),
        };
        let token = key.issue(claims(Some(access), None), now_ms, ttl);
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": rfc3339(now_ms),
        });
        // Only users get refresh tokens: an ID token's grant ends with the ID token.
        if let (true, Some(user)) = (asked.offline, user) {
            let refresh = claims(None, Some(user.credential_fingerprint()));
            body["refresh_token"] = key
                .issue(refresh, now_ms, self.auth.refresh_ttl_seconds)
                .into();
        }
        Ok(Response::new(StatusCode::OK)
            .header("Cache-Control", "no-store")
            .json(&body, "application/json"))
    }

    /// An OIDC ID token presented as a password, verified against `OIDC_TRUST`; the issuers'
    /// keys are cached in the sessions' KV namespace.
    async fn verify_id_token(
        &self,
        token: &str,
        now_ms: u64,
        realm: &Realm,
    ) -> Result<Verified<'_>> {
        let refuse = |error: AuthError| Error::from(error).with_challenge(realm.basic_challenge());
        let fetch = self.issuers.ok_or_else(|| {
            refuse(AuthError::BadCredentials(
                "ID tokens cannot be checked: no HTTP client for issuers".into(),
            ))
        })?;
        let oidc = &self.auth.oidc;
        let options = VerifyOptions {
            now_ms,
            audience: oidc.audience.as_deref().unwrap_or(&realm.service),
            min_refresh_ms: oidc.min_refresh_seconds.saturating_mul(1000),
        };
        oidc::verify(&oidc.trust, token, &options, fetch, self.records)
            .await
            .map_err(refuse)
    }

    /// The user a refresh token was issued to, as long as their credential is unchanged.
    fn refresh_user(&self, token: &str, now_ms: u64, realm: &Realm) -> Result<&User> {
        let key = self.auth.signing_key.as_ref();
        let claims = key.and_then(|key| key.verify(token, now_ms, &realm.url, &realm.service).ok());
        claims
            .and_then(|claims| {
                let user = self.auth.policy.user(&claims.sub)?;
                let current = user.credential_fingerprint();
                (claims.access.is_none() && claims.refresh == Some(current)).then_some(user)
            })
            .ok_or_else(|| bad_credentials("invalid or revoked refresh token", realm))
    }

    /// What of `scopes` the caller gets, `allowed` saying what they may do on a repository:
    /// one entry per repository asked for, with no actions where nothing was granted, so that
    /// the token records what was asked (a mount's challenge depends on it: see
    /// `Api::may_mount_from`).
    fn grant(&self, scopes: &[Scope], allowed: impl Fn(&str) -> Actions) -> Vec<ResourceAccess> {
        let mut repositories: BTreeMap<&str, Actions> = BTreeMap::new();
        let mut catalog = false;
        for scope in scopes {
            match (scope.resource_type.as_str(), scope.name.as_str()) {
                (REPOSITORY, name) => {
                    let actions = Actions::parse_list(&scope.actions).intersection(allowed(name));
                    let entry = repositories.entry(name).or_default();
                    *entry = entry.union(actions);
                }
                // Everyone may list the catalog; it shows only what they may pull.
                (REGISTRY, CATALOG) => catalog |= scope.actions.split(',').any(|a| a == "*"),
                _ => {}
            }
        }
        let mut access: Vec<ResourceAccess> = repositories
            .into_iter()
            .map(|(name, actions)| ResourceAccess::repository(name, actions))
            .collect();
        if catalog {
            access.push(ResourceAccess::catalog());
        }
        access
    }
}

fn query_request<B>(request: &Request<B>, realm: &Realm) -> Result<TokenRequest> {
    let credentials = Credentials::parse(request.header("authorization"))
        .map_err(|e| Error::from(e).with_challenge(realm.basic_challenge()))?;
    let grant = match credentials {
        Credentials::None => Grant::Anonymous,
        Credentials::Basic { user, password } => Grant::Password { user, password },
        Credentials::Bearer(_) => {
            return Err(bad_credentials(
                "the token endpoint takes Basic credentials",
                realm,
            ))
        }
    };
    Ok(TokenRequest {
        grant,
        scopes: scopes(values(&request.query, "scope"))?,
        service: request.query("service").map(str::to_string),
        offline: request.query("offline_token") == Some("true"),
    })
}

async fn form_request<B>(request: Request<B>) -> Result<TokenRequest>
where
    B: Stream<Item = BodyChunk> + Unpin,
{
    let body = read_bounded(request.body, MAX_FORM_BYTES)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge { limit } => {
                Error::Unsupported(format!("token request form over {limit} bytes"))
            }
            other => other.into(),
        })?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name| values(&form, name).next().map(str::to_string);
    let missing = |name: &str| Error::Unsupported(format!("the form has no {name}"));
    let grant = match field("grant_type").as_deref() {
        Some("password") => Grant::Password {
            user: field("username").ok_or_else(|| missing("username"))?,
            password: field("password").ok_or_else(|| missing("password"))?,
        },
        Some("refresh_token") => {
            Grant::Refresh(field("refresh_token").ok_or_else(|| missing("refresh_token"))?)
        }
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "grant_type {other:?}: only password and refresh_token are supported"
            )))
        }
        None => return Err(missing("grant_type")),
    };
    Ok(TokenRequest {
        grant,
        scopes: scopes(values(&form, "scope"))?,
        service: field("service"),
        offline: field("access_type").as_deref() == Some("offline"),
    })
}
