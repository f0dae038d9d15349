//! Access control: who the caller is, what they may do, and the tokens that say so.
//!
//! - [`scope`]: actions, the token scope grammar, and a token's `access` claim.
//! - [`policy`]: users (hashed tokens) with grants on repository patterns; private repositories.
//! - [`token`]: HS256 access and refresh tokens.
//! - [`oidc`]: OpenID Connect ID tokens (keyless push from CI), verified and mapped to grants.
//!
//! Plain Rust: the platform hands over configuration text and the clock.

pub mod oidc;
pub mod policy;
pub mod scope;
pub mod token;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub use policy::{Policy, User};
pub use scope::{Actions, ResourceAccess, Scope};
pub use token::{SigningKey, TokenClaims};

/// Failures of the access-control layer; `api::access` turns them into wire errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Credentials that are malformed or do not match a user.
    #[error("bad credentials: {0}")]
    BadCredentials(String),
    /// A bearer token that fails verification.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// Configuration that cannot be used; names the setting, never its secret value.
    #[error("access configuration: {0}")]
    Config(String),
}

/// Longer Authorization headers are refused before any decoding.
pub const MAX_AUTHORIZATION_BYTES: usize = 8192;

/// What a request's `Authorization` header presents.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credentials {
    pub fn parse(header: Option<&str>) -> Result<Credentials, AuthError> {
        let Some(header) = header else {
            return Ok(Credentials::None);
        };
        let bad = |why: &str| AuthError::BadCredentials(why.to_string());
        if header.len() > MAX_AUTHORIZATION_BYTES {
            return Err(bad("authorization header too long"));
        }
        let (scheme, value) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("authorization header is not `SCHEME CREDENTIALS`"))?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(value)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| bad("basic credentials are not base64 of UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("basic credentials are not USER:PASSWORD"))?;
            Ok(Credentials::Basic {
                user: user.to_string(),
                password: password.to_string(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Ok(Credentials::Bearer(value.to_string()))
        } else {
            Err(bad("authorization scheme is neither Basic nor Bearer"))
        }
    }
}

/// Access-control configuration of a deployment.
#[derive(Debug, Default)]
pub struct Auth {
    pub policy: Policy,
    /// `None` when no key is configured: then no tokens are issued or accepted.
    pub signing_key: Option<SigningKey>,
    pub token_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    /// `OIDC_TRUST` and its companions: which ID tokens `/token` accepts as passwords.
    pub oidc: OidcSettings,
}

/// Keyless push (see [`oidc`]).
#[derive(Debug, Default)]
pub struct OidcSettings {
    /// `OIDC_TRUST`: empty when unset, and then no ID token is accepted.
    pub trust: oidc::Trust,
    /// `OIDC_AUDIENCE`; by default the registry's host as the request named it.
    pub audience: Option<String>,
    /// `OIDC_JWKS_MIN_REFRESH_SECONDS`: at most one fetch of an issuer's keys per this long
    /// for tokens naming a key the cache does not hold.
    pub min_refresh_seconds: u64,
}

/// Five minutes: clients fetch a new token when one expires, so short costs little.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 300;
/// Docker's token specification: never less than 60 seconds.
pub const MIN_TOKEN_TTL_SECONDS: u64 = 60;
/// Thirty days: how long `docker login` lasts without the password being entered again.
pub const DEFAULT_REFRESH_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_password))
    }

    #[test]
    fn parses_authorization_headers() {
        assert_eq!(Credentials::parse(None), Ok(Credentials::None));
        assert_eq!(
            Credentials::parse(Some(&basic("alice:p:w"))),
            Ok(Credentials::Basic {
                user: "alice".into(),
                password: "p:w".into()
            })
        );
        assert_eq!(
            Credentials::parse(Some("bearer abc.def.ghi")),
            Ok(Credentials::Bearer("abc.def.ghi".into()))
        );
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        for bad in [
            "Basic",
            "Basic !!!",
            &basic("no-colon"),
            "Digest x",
            "",
            long.as_str(),
        ] {
            assert!(
                matches!(
                    Credentials::parse(Some(bad)),
                    Err(AuthError::BadCredentials(_))
                ),
                "{bad:?}"
            );
        }
    }
}
