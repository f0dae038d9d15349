//! Verifying an ID token: its issuer's keys from OpenID Connect discovery
//! (`ISSUER/.well-known/openid-configuration` names the `jwks_uri`), cached between requests,
//! its signature (RS256 with keys of at least 2048 bits, or ES256), and its claims.
//!
//! The keys are fetched again when a token names a key id the cache does not hold (the
//! issuer rotated its keys), but at most once per `min_refresh_ms`, however many such tokens
//! come, so that no one can make every request fetch; and when the cached keys are older than
//! [`MAX_KEYS_AGE_MS`], so that a key the issuer withdrew stops being trusted. When the issuer
//! cannot be reached, the keys cached last still serve, for [`KEYS_FALLBACK_MS`] after they
//! were fetched.
//!
//! Refused before any key is looked at: tokens over [`MAX_ID_TOKEN_BYTES`], algorithms other
//! than RS256 and ES256 (`none`, and HS256 "signed" with a public key, among them), tokens
//! without a key id, and issuers no rule names.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Es256, Rsa, RsaPublicKey, StrongAlg, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, Claims, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_issuer, Matched, Trust};
use crate::auth::AuthError;

/// GitHub's ID tokens are about 1.5 KB; no issuer's needs 8 KiB.
pub const MAX_ID_TOKEN_BYTES: usize = 8 * 1024;
/// A discovery document or key set is a few KB; Google's key set is under 2 KB.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Clock skew tolerated between the issuer and the registry on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// Cached keys older than this are fetched again even when they hold the key asked for.
pub const MAX_KEYS_AGE_MS: u64 = 60 * 60 * 1000;
/// How long the cache keeps a record at all.
pub const KEYS_CACHE_TTL_SECONDS: u64 = 24 * 60 * 60;
/// How long after they were fetched keys still serve while their issuer is unreachable.
pub const KEYS_FALLBACK_MS: u64 = KEYS_CACHE_TTL_SECONDS * 1000;
/// The default of `OIDC_JWKS_MIN_REFRESH_SECONDS`.
pub const DEFAULT_MIN_REFRESH_SECONDS: u64 = 60;

/// A future of the platform's; Workers futures are not `Send`.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// How the core reaches issuers: the platform's HTTP client (the Workers fetch API), or an
/// in-memory issuer in tests.
pub trait IssuerFetch {
    /// GETs `url`; the body of a 200 answer, at most `limit` bytes, or why not.
    fn get<'a>(&'a self, url: &'a str, limit: usize) -> LocalFuture<'a, Result<Vec<u8>, String>>;
}

/// Where issuers' keys are kept between requests (the registry's KV namespace).
#[allow(async_fn_in_trait)] // Single-threaded by design: Workers futures are not Send.
pub trait KeyCache {
    async fn load(&self, issuer: &str) -> Option<Vec<u8>>;
    async fn save(&self, issuer: &str, record: Vec<u8>, ttl_seconds: u64);
}

/// What is cached per issuer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeysRecord {
    /// When the keys were fetched.
    fetched_ms: u64,
    /// When they were last fetched or tried: the refresh bound counts from here.
    checked_ms: u64,
    /// The key set's keys, as published.
    keys: Vec<Value>,
}

impl KeysRecord {
    fn key(&self, kid: &str) -> Option<&Value> {
        self.keys
            .iter()
            .find(|key| key.get("kid").and_then(Value::as_str) == Some(kid))
    }
}

pub struct VerifyOptions<'a> {
    pub now_ms: u64,
    /// `OIDC_AUDIENCE`, or the registry's host as the request named it.
    pub audience: &'a str,
    /// `OIDC_JWKS_MIN_REFRESH_SECONDS`, in milliseconds.
    pub min_refresh_ms: u64,
}

/// A token that passed: what it may do, and until when.
#[derive(Debug)]
pub struct Verified<'a> {
    pub issuer: String,
    pub subject: String,
    /// The token's `exp`, in milliseconds.
    pub expires_ms: u64,
    pub matched: Matched<'a>,
}

fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::BadCredentials(format!("ID token: {}", why.into()))
}

/// Verifies `token` against `trust`'s issuers and rules; a token that verifies but matches no
/// rule is refused too.
pub async fn verify<'t>(
    trust: &'t Trust,
    token: &str,
    options: &VerifyOptions<'_>,
    fetch: &dyn IssuerFetch,
    cache: &impl KeyCache,
) -> Result<Verified<'t>, AuthError> {
    if token.len() > MAX_ID_TOKEN_BYTES {
        return Err(invalid(format!("over {MAX_ID_TOKEN_BYTES} bytes")));
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| invalid("malformed"))?;
    let alg = untrusted.algorithm().to_string();
    if alg != "RS256" && alg != "ES256" {
        return Err(invalid(format!("algorithm {alg:?}: only RS256 and ES256")));
    }
    let kid = untrusted
        .header()
        .key_id
        .clone()
        .ok_or_else(|| invalid("no key id (kid)"))?;
    // Unverified until the signature is checked: only the issuer is read, to pick its keys.
    let unverified: Claims<Map<String, Value>> = untrusted
        .deserialize_claims_unchecked()
        .map_err(|_| invalid("malformed claims"))?;
    let issuer = unverified
        .custom
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no issuer (iss)"))?
        .to_string();
    if !trust.trusts(&issuer) {
        return Err(invalid(format!("issuer {issuer:?} is not trusted")));
    }
    let key = issuer_key(&issuer, &kid, options, fetch, cache).await?;
    let claims = check_signature(&alg, &key, &untrusted)?;
    check_claims(&claims, &issuer, options)?;
    let matched = trust.matching(&claims.custom);
    if matched.is_empty() {
        return Err(invalid("its claims match no OIDC_TRUST rule"));
    }
    let expires_ms = claims
        .expiration
        .map_or(0, |exp| u64::try_from(exp.timestamp_millis()).unwrap_or(0));
    let subject = claims
        .custom
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(Verified {
        issuer,
        subject,
        expires_ms,
        matched,
    })
}

/// The key `kid` of `issuer`, from the cache or, within the refresh bound, from the issuer.
async fn issuer_key(
    issuer: &str,
    kid: &str,
    options: &VerifyOptions<'_>,
    fetch: &dyn IssuerFetch,
    cache: &impl KeyCache,
) -> Result<Value, AuthError> {
    let now = options.now_ms;
    let cached: Option<KeysRecord> = cache
        .load(issuer)
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(record) = &cached {
        let fresh = now.saturating_sub(record.fetched_ms) < MAX_KEYS_AGE_MS;
        if let (true, Some(key)) = (fresh, record.key(kid)) {
            return Ok(key.clone());
        }
        if now.saturating_sub(record.checked_ms) < options.min_refresh_ms {
            // Fetched (or tried) moments ago: what the cache holds is all there is for now.
            return record.key(kid).cloned().ok_or_else(|| {
                invalid(format!(
                    "unknown key {kid:?} of {issuer} (keys fetched recently)"
                ))
            });
        }
    }
    match fetch_keys(issuer, fetch).await {
        Ok(keys) => {
            let record = KeysRecord {
                fetched_ms: now,
                checked_ms: now,
                keys,
            };
            save(cache, issuer, &record).await;
            record
                .key(kid)
                .cloned()
                .ok_or_else(|| invalid(format!("unknown key {kid:?} of {issuer}")))
        }
        Err(why) => {
            // The failure counts against the bound too, and the keys cached last still serve,
            // for a day from when they were fetched at most.
            let mut record = cached
                .filter(|record| now.saturating_sub(record.fetched_ms) < KEYS_FALLBACK_MS)
                .unwrap_or_default();
            record.checked_ms = now;
            save(cache, issuer, &record).await;
            record
                .key(kid)
                .cloned()
                .ok_or_else(|| invalid(format!("the keys of {issuer} could not be fetched: {why}")))
        }
    }
}

async fn save(cache: &impl KeyCache, issuer: &str, record: &KeysRecord) {
    let bytes = serde_json::to_vec(record).expect("a record of JSON values serialises");
    cache.save(issuer, bytes, KEYS_CACHE_TTL_SECONDS).await;
}

/// Discovery, then the key set it names.
async fn fetch_keys(issuer: &str, fetch: &dyn IssuerFetch) -> Result<Vec<Value>, String> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    #[derive(Deserialize)]
    struct KeySet {
        keys: Vec<Value>,
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body = fetch.get(&url, MAX_DOCUMENT_BYTES).await?;
    let discovery: Discovery =
        serde_json::from_slice(&body).map_err(|e| format!("discovery document: {e}"))?;
    // OpenID Connect Discovery 1.0, section 4.3: the document names the issuer it is for.
    if discovery.issuer != issuer {
        return Err(format!(
            "the discovery document is for issuer {:?}",
            discovery.issuer
        ));
    }
    // The key set over https, or plain http on loopback for a loopback issuer only.
    let plain = discovery.jwks_uri.starts_with("http:");
    if check_issuer(&discovery.jwks_uri).is_err() || (plain && !issuer.starts_with("http:")) {
        return Err(format!(
            "jwks_uri {:?} is not https (nor http on loopback, for a loopback issuer)",
            discovery.jwks_uri
        ));
    }
    let body = fetch.get(&discovery.jwks_uri, MAX_DOCUMENT_BYTES).await?;
    let set: KeySet = serde_json::from_slice(&body).map_err(|e| format!("key set: {e}"))?;
    Ok(set.keys)
}

/// The claims of a token whose signature `jwk` verifies under `alg`.
fn check_signature(
    alg: &str,
    jwk: &Value,
    token: &UntrustedToken<'_>,
) -> Result<Claims<Map<String, Value>>, AuthError> {
    if let Some(key_alg) = jwk.get("alg").and_then(Value::as_str) {
        if key_alg != alg {
            return Err(invalid(format!(
                "signed with {alg}, its key is for {key_alg}"
            )));
        }
    }
    if jwk
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return Err(invalid("its key is not for signatures"));
    }
    let parsed: JsonWebKey<'_> = serde_json::from_value(jwk.clone())
        .map_err(|_| invalid("the issuer's key is malformed"))?;
    let bad = |e: ValidationError| match e {
        ValidationError::MalformedClaims(_) => invalid("malformed claims"),
        _ => invalid("bad signature"),
    };
    let unusable = || invalid(format!("the issuer's key is not one for {alg}"));
    let token = match alg {
        "RS256" => {
            let key = RsaPublicKey::try_from(&parsed).map_err(|_| unusable())?;
            let key = StrongKey::try_from(key)
                .map_err(|_| invalid("the issuer's RSA key is under 2048 bits"))?;
            StrongAlg(Rsa::rs256())
                .validator::<Map<String, Value>>(&key)
                .validate(token)
                .map_err(bad)?
        }
        "ES256" => {
            let key =
                <Es256 as Algorithm>::VerifyingKey::try_from(&parsed).map_err(|_| unusable())?;
            Es256
                .validator::<Map<String, Value>>(&key)
                .validate(token)
                .map_err(bad)?
        }
        _ => return Err(invalid(format!("algorithm {alg:?}"))),
    };
    Ok(token.claims().clone())
}

fn time(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `iss` (exactly the rule's issuer), `aud` (the audience, or an array holding it), and the
/// times: `exp` required, `nbf` when present, `iat` required and not in the future.
fn check_claims(
    claims: &Claims<Map<String, Value>>,
    issuer: &str,
    options: &VerifyOptions<'_>,
) -> Result<(), AuthError> {
    if claims.custom.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid("issuer changed"));
    }
    let audience_matches = match claims.custom.get("aud") {
        Some(Value::String(aud)) => aud == options.audience,
        Some(Value::Array(auds)) => auds
            .iter()
            .any(|aud| aud.as_str() == Some(options.audience)),
        _ => false,
    };
    if !audience_matches {
        return Err(invalid(format!(
            "not for audience {:?} (aud)",
            options.audience
        )));
    }
    let now = time(options.now_ms);
    let leeway = Duration::seconds(LEEWAY_SECONDS);
    let time_options = TimeOptions::new(leeway, move || now);
    claims
        .validate_expiration(&time_options)
        .map_err(|e| match e {
            ValidationError::Expired => invalid("expired"),
            _ => invalid("no expiry (exp)"),
        })?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&time_options)
            .map_err(|_| invalid("not valid yet (nbf)"))?;
    }
    match claims.issued_at {
        Some(iat) if iat <= now + leeway => Ok(()),
        Some(_) => Err(invalid("issued in the future (iat)")),
        None => Err(invalid("no issue time (iat)")),
    }
}

#[cfg(test)]
mod tests;
