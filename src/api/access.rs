//! Who is calling and whether they may: the `Authorization` header becomes a [`Caller`],
//! each route asks for the actions it needs, and refusals carry the challenge that tells
//! Docker-style clients where to get a token.
//!
//! - No credentials, or a token that fails verification: 401 UNAUTHORIZED with a challenge.
//! - A valid token without the action, which its user could be granted: 401 with
//!   `error="insufficient_scope"`, so that the client asks for a wider token.
//! - An anonymous caller asking for more than public pulls: 401, since logging in may help.
//! - A known user without the grant: 403 DENIED; no token would change that.

use crate::api::listing::Entry;
use crate::api::routes::Route;
use crate::api::Api;
use crate::api::Request;
use crate::auth::scope::{granted, grants_catalog, requested, REPOSITORY};
use crate::auth::{Actions, AuthError, Credentials, ResourceAccess, User};
use crate::error::{Error, Result};
use crate::oci::RepositoryName;
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// Where tokens come from, and whom they are for, as clients addressed this registry.
pub(crate) struct Realm {
    /// The token endpoint's URL; also the tokens' issuer.
    pub url: String,
    /// The registry's authority (`host[:port]`); the tokens' audience.
    pub service: String,
}

impl Realm {
    pub fn of<B>(request: &Request<B>) -> Realm {
        Realm {
            url: format!("{}{}", request.origin, Route::Token),
            service: request.authority().to_string(),
        }
    }

    /// The token endpoint's own `WWW-Authenticate`: it takes HTTP Basic credentials.
    pub fn basic_challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.url)
    }

    /// A `WWW-Authenticate: Bearer` value; scope and error only when there are any.
    pub fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        let mut challenge = format!("Bearer realm=\"{}\",service=\"{}\"", self.url, self.service);
        if let Some(scope) = scope {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            challenge.push_str(&format!(",error=\"{error}\""));
        }
        challenge
    }
}

pub(crate) enum Caller<'a> {
    Anonymous,
    /// Authenticated by password (HTTP Basic).
    User(&'a User),
    /// A verified access token; `user` is its subject, `None` for an anonymous token.
    Token {
        user: Option<&'a User>,
        access: Vec<ResourceAccess>,
    },
}

impl<'a> Caller<'a> {
    pub fn user(&self) -> Option<&'a User> {
        match self {
            Caller::Anonymous => None,
            Caller::User(user) => Some(user),
            Caller::Token { user, .. } => *user,
        }
    }
}

/// The scope a client should ask for to get `need`: pushing clients read blobs too.
fn scope_for(name: &RepositoryName, need: Actions) -> String {
    let actions = if need.contains(Actions::PUSH) {
        need.union(Actions::PULL)
    } else {
        need
    };
    format!("repository:{name}:{actions}")
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The caller a request's credentials prove; credentials that prove nothing are a 401.
    pub(crate) fn caller<B>(&self, request: &Request<B>, realm: &Realm) -> Result<Caller<'_>> {
        let policy = &self.auth.policy;
        let reject = |err: AuthError| {
            let error = matches!(err, AuthError::InvalidToken(_)).then_some("invalid_token");
            Error::from(err).with_challenge(realm.challenge(None, error))
        };
        match Credentials::parse(request.header("authorization")).map_err(reject)? {
            Credentials::None => Ok(Caller::Anonymous),
            Credentials::Basic { user, password } => {
                let user = policy.authenticate(&user, &password).ok_or_else(|| {
                    reject(AuthError::BadCredentials(
                        "unknown user or wrong password".into(),
                    ))
                })?;
                Ok(Caller::User(user))
            }
            Credentials::Bearer(token) => {
                let key = self.auth.signing_key.as_ref().ok_or_else(|| {
                    reject(AuthError::InvalidToken(
                        "this registry issues no tokens".into(),
                    ))
                })?;
                let claims = key
                    .verify(
                        &token,
                        self.records.env.now_ms(),
                        &realm.url,
                        &realm.service,
                    )
                    .map_err(reject)?;
                let (Some(access), None) = (claims.access, claims.refresh) else {
                    return Err(reject(AuthError::InvalidToken(
                        "not an access token".into(),
                    )));
                };
                // Removing a user revokes their tokens at once. A token exchanged for an
                // OIDC ID token names no user: its access claim is all it holds.
                let user = match claims.sub.as_str() {
                    _ if claims.idp.is_some() => None,
                    "" => None,
                    name => Some(policy.user(name).ok_or_else(|| {
                        reject(AuthError::InvalidToken("the token's user is gone".into()))
                    })?),
                };
                Ok(Caller::Token { user, access })
            }
        }
    }

    /// Whether the caller may do `need` on `repository`.
    pub(crate) fn may(&self, caller: &Caller, repository: &str, need: Actions) -> bool {
        match caller {
            Caller::Token { access, .. } => granted(access, repository).contains(need),
            Caller::Anonymous | Caller::User(_) => self.user_may(caller, repository, need),
        }
    }

    /// Whether the caller's user may do `need` on `repository`, whatever the token in hand
    /// says: whether a wider token would help.
    pub(crate) fn user_may(&self, caller: &Caller, repository: &str, need: Actions) -> bool {
        self.auth
            .policy
            .allowed(caller.user(), repository)
            .contains(need)
    }

    /// The repositories a token names for its catalog: those its access claims grant pull
    /// on, unless it carries `registry:catalog:*`; `None` for every other caller, whose
    /// catalog is what their user (or an anonymous caller) may pull. A token's catalog comes
    /// from its claims alone, so that neither its answer nor its `Link` ever names another
    /// repository.
    pub(crate) fn token_catalog(&self, caller: &Caller) -> Option<Vec<String>> {
        match caller {
            Caller::Token { access, .. } if !grants_catalog(access) => Some(
                access
                    .iter()
                    .filter(|entry| entry.resource_type == REPOSITORY)
                    .filter(|entry| granted(access, &entry.name).contains(Actions::PULL))
                    .map(|entry| entry.name.clone())
                    .collect(),
            ),
            _ => None,
        }
    }

    /// How the catalog treats `repository` for a caller without a [`Self::token_catalog`]:
    /// shown if their user may pull it; otherwise skipped, together with every repository
    /// after it that a private pattern hides from the user altogether.
    pub(crate) fn catalog_entry(&self, caller: &Caller, repository: &str) -> Entry {
        if self.user_may(caller, repository, Actions::PULL) {
            return Entry::Show;
        }
        match self.auth.policy.hidden_prefix(caller.user(), repository) {
            Some(prefix) => Entry::SkipPast(prefix),
            None => Entry::Skip,
        }
    }

    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        need: Actions,
        realm: &Realm,
    ) -> Result<()> {
        if self.may(caller, name.as_str(), need) {
            return Ok(());
        }
        let scope = scope_for(name, need);
        let insufficient = || Error::Unauthorized {
            why: format!("the token does not grant {need} on {name}"),
            challenge: Some(realm.challenge(Some(&scope), Some("insufficient_scope"))),
        };
        match caller {
            Caller::Anonymous => Err(Error::Unauthorized {
                why: format!("{need} on {name} needs credentials"),
                challenge: Some(realm.challenge(Some(&scope), None)),
            }),
            Caller::Token { user: None, .. } => Err(insufficient()),
            Caller::Token { .. } if self.user_may(caller, name.as_str(), need) => {
                Err(insufficient())
            }
            Caller::Token {
                user: Some(user), ..
            }
            | Caller::User(user) => Err(Error::Denied(format!(
                "{} may not {need} {name}",
                user.name
            ))),
        }
    }

    /// Whether the caller may read `source` to mount a blob from it into `target`. A token
    /// that never asked for `source`, held by someone allowed to read it, gets a challenge
    /// naming both repositories, so that the client comes back with a token that allows the
    /// mount; a token that asked and was refused gets a plain upload instead (`false`), so
    /// that no client loops. Passwords and tokens that grant the pull need no more.
    pub(crate) fn may_mount_from(
        &self,
        caller: &Caller,
        target: &RepositoryName,
        source: &RepositoryName,
        realm: &Realm,
    ) -> Result<bool> {
        let pull = Actions::PULL;
        if self.may(caller, source.as_str(), pull) {
            return Ok(true);
        }
        match caller {
            Caller::Token { access, .. }
                if !requested(access, source.as_str())
                    && self.user_may(caller, source.as_str(), pull) =>
            {
                let scope = format!(
                    "{} {}",
                    scope_for(target, Actions::PUSH),
                    scope_for(source, pull)
                );
                Err(Error::Unauthorized {
                    why: format!("the token does not grant pull on {source}, to mount from it"),
                    challenge: Some(realm.challenge(Some(&scope), Some("insufficient_scope"))),
                })
            }
            _ => Ok(false),
        }
    }

    /// `GET /v2/` answers 200 only to a caller with valid credentials or token: that is how
    /// `docker login` checks a password, and how clients learn where the token endpoint is.
    /// Maintenance on demand: the administrator, with a password (tokens carry repository
    /// scopes only).
    pub(crate) fn require_administrator(&self, caller: &Caller, realm: &Realm) -> Result<()> {
        match caller {
            Caller::User(user) if user.administrator => Ok(()),
            Caller::User(_) => Err(Error::Denied("only the administrator".into())),
            _ => Err(Error::Unauthorized {
                why: "the administrator's password is needed (HTTP Basic)".into(),
                challenge: Some(realm.basic_challenge()),
            }),
        }
    }

    pub(crate) fn require_login(&self, caller: &Caller, realm: &Realm) -> Result<()> {
        match caller {
            Caller::Anonymous => Err(Error::Unauthorized {
                why: "log in, or fetch a token from the realm".into(),
                challenge: Some(realm.challenge(None, None)),
            }),
            _ => Ok(()),
        }
    }
}
