//! Short-lived JWTs, made and checked with jwt-compact: HS256 under a key from a secret.
//!
//! Access tokens carry Docker's `access` claim. Refresh tokens (what `docker login` stores as
//! an identity token) carry no access, only the fingerprint of the user's credential, so that
//! replacing a user's token revokes them; each kind is rejected where the other is expected.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};

use super::scope::ResourceAccess;
use super::AuthError;

/// Clock skew tolerated between the edge machines that issue and check a token.
pub const LEEWAY_SECONDS: i64 = 30;
/// HS256 is only as strong as its key: a secret shorter than SHA-256's output is refused.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    /// The user's name; empty for an anonymous caller.
    pub sub: String,
    /// The service (the registry's host) the token is for.
    pub aud: String,
    pub jti: String,
    /// Present in access tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<ResourceAccess>>,
    /// Present in refresh tokens only: the user's credential fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// The OIDC issuer of the ID token this access token was exchanged for; `sub` is then
    /// that token's subject, not a user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

/// The key tokens are signed and verified with.
pub struct SigningKey(Hs256Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

fn time(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn seconds(seconds: u64) -> Duration {
    Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000))
}

/// `issued_at` in a token response.
pub fn rfc3339(ms: u64) -> String {
    time(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SigningKey {
    pub fn new(secret: &str) -> Result<SigningKey, AuthError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(AuthError::Config(format!(
                "the token signing key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        Ok(SigningKey(Hs256Key::new(secret.as_bytes())))
    }

    /// A token valid from `now_ms` for `ttl_seconds`.
    pub fn issue(&self, claims: TokenClaims, now_ms: u64, ttl_seconds: u64) -> String {
        let now = time(now_ms);
        let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now);
        let claims = Claims::new(claims)
            .set_duration_and_issuance(&options, seconds(ttl_seconds))
            .set_not_before(now);
        Hs256
            .token(&Header::empty().with_token_type("JWT"), &claims, &self.0)
            .expect("claims of strings serialise")
    }

    /// Checks the algorithm, signature, times, issuer and audience; the caller checks the kind.
    pub fn verify(
        &self,
        token: &str,
        now_ms: u64,
        issuer: &str,
        audience: &str,
    ) -> Result<TokenClaims, AuthError> {
        let invalid = |why: &str| AuthError::InvalidToken(why.to_string());
        let untrusted = UntrustedToken::new(token).map_err(|_| invalid("malformed token"))?;
        let token = Hs256
            .validator::<TokenClaims>(&self.0)
            .validate(&untrusted)
            .map_err(|e| match e {
                ValidationError::AlgorithmMismatch { .. } => invalid("unexpected algorithm"),
                ValidationError::MalformedClaims(_) => invalid("malformed claims"),
                _ => invalid("bad signature"),
            })?;
        let now = time(now_ms);
        let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now);
        let claims = token.claims();
        claims
            .validate_expiration(&options)
            .and_then(|claims| claims.validate_maturity(&options))
            .map_err(|e| match e {
                ValidationError::Expired => invalid("token expired"),
                ValidationError::NotMature => invalid("token not valid yet"),
                _ => invalid("token without exp or nbf"),
            })?;
        if claims.custom.iss != issuer {
            return Err(invalid("token from another issuer"));
        }
        if claims.custom.aud != audience {
            return Err(invalid("token for another service"));
        }
        Ok(claims.custom.clone())
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;
    use crate::auth::scope::Actions;

    const NOW: u64 = 1_800_000_000_000;
    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn claims() -> TokenClaims {
        TokenClaims {
            iss: "https://registry.test/token".into(),
            sub: "alice".into(),
            aud: "registry.test".into(),
            jti: "j1".into(),
            access: Some(vec![ResourceAccess::repository("a/b", Actions::PULL)]),
            refresh: None,
            idp: None,
        }
    }

    fn verify(key: &SigningKey, token: &str, now: u64) -> Result<TokenClaims, AuthError> {
        key.verify(token, now, "https://registry.test/token", "registry.test")
    }

    #[test]
    fn round_trips_within_its_lifetime() {
        let key = SigningKey::new(KEY).unwrap();
        let token = key.issue(claims(), NOW, 300);
        assert_eq!(verify(&key, &token, NOW).unwrap(), claims());
        assert_eq!(verify(&key, &token, NOW + 300_000).unwrap(), claims());
        // Within the leeway on either side, and not beyond it.
        assert!(verify(&key, &token, NOW - 29_000).is_ok());
        assert!(verify(&key, &token, NOW - 31_000).is_err());
        assert!(verify(&key, &token, NOW + 329_000).is_ok());
        assert!(verify(&key, &token, NOW + 331_000).is_err());
        let payload: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        for claim in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"] {
            assert!(payload.get(claim).is_some(), "{claim} missing: {payload}");
        }
    }

    #[test]
    fn rejects_other_keys_issuers_audiences_and_tampering() {
        let key = SigningKey::new(KEY).unwrap();
        let other = SigningKey::new("another key of at least 32 bytes!").unwrap();
        let token = key.issue(claims(), NOW, 300);
        assert!(verify(&other, &token, NOW).is_err());
        assert!(key
            .verify(&token, NOW, "elsewhere", "registry.test")
            .is_err());
        assert!(key
            .verify(&token, NOW, "https://registry.test/token", "other.test")
            .is_err());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["access"][0]["actions"] = serde_json::json!(["pull", "push"]);
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(verify(&key, &parts.join("."), NOW).is_err());
        assert!(verify(&key, "not a token", NOW).is_err());
    }

    #[test]
    fn rejects_unsigned_tokens() {
        let key = SigningKey::new(KEY).unwrap();
        let token = key.issue(claims(), NOW, 300);
        let payload = token.split('.').nth(1).unwrap();
        for alg in ["none", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for signature in ["", "c2lnbmF0dXJl"] {
                let forged = format!("{header}.{payload}.{signature}");
                assert!(verify(&key, &forged, NOW).is_err(), "{alg} {signature:?}");
            }
        }
    }

    #[test]
    fn refuses_short_keys() {
        assert!(SigningKey::new("short").is_err());
    }
}
