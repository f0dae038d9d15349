//! Verification against an in-memory issuer, with keys made here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::executor::block_on;
use jwt_compact::alg::{Hs256, Hs256Key, ModulusBits, RsaPrivateKey};
use jwt_compact::{AlgorithmExt, Header};
use rand_core::OsRng;
use serde_json::json;

use super::*;
use crate::auth::Actions;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "registry.test";
const NOW: u64 = 1_800_000_000_000;

/// An issuer in memory: its discovery document and key set, and how often each was fetched.
#[derive(Default)]
struct FakeIssuer {
    documents: RefCell<HashMap<String, Vec<u8>>>,
    fetches: Cell<usize>,
    down: Cell<bool>,
}

impl FakeIssuer {
    fn new(keys: Vec<Value>) -> FakeIssuer {
        let issuer = FakeIssuer::default();
        issuer.documents.borrow_mut().insert(
            format!("{ISSUER}/.well-known/openid-configuration"),
            json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/keys")})
                .to_string()
                .into_bytes(),
        );
        issuer.publish(keys);
        issuer
    }

    fn publish(&self, keys: Vec<Value>) {
        self.documents.borrow_mut().insert(
            format!("{ISSUER}/keys"),
            json!({ "keys": keys }).to_string().into_bytes(),
        );
    }
}

impl IssuerFetch for FakeIssuer {
    fn get<'a>(&'a self, url: &'a str, limit: usize) -> LocalFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.fetches.set(self.fetches.get() + 1);
            if self.down.get() {
                return Err("connection refused".into());
            }
            match self.documents.borrow().get(url) {
                Some(body) if body.len() <= limit => Ok(body.clone()),
                Some(_) => Err("too large".into()),
                None => Err("HTTP 404".into()),
            }
        })
    }
}

#[derive(Default)]
struct MemoryCache(RefCell<HashMap<String, Vec<u8>>>);

impl KeyCache for MemoryCache {
    async fn load(&self, issuer: &str) -> Option<Vec<u8>> {
        self.0.borrow().get(issuer).cloned()
    }

    async fn save(&self, issuer: &str, record: Vec<u8>, _ttl_seconds: u64) {
        self.0.borrow_mut().insert(issuer.to_string(), record);
    }
}

struct RsaKey {
    kid: String,
    private: RsaPrivateKey,
}

impl RsaKey {
    fn new(kid: &str) -> RsaKey {
        let (private, _) = Rsa::generate(&mut OsRng, ModulusBits::TwoKibibytes).unwrap();
        RsaKey {
            kid: kid.into(),
            private: private.into_inner(),
        }
    }

    fn jwk(&self) -> Value {
        let public = self.private.to_public_key();
        let mut jwk = serde_json::to_value(JsonWebKey::from(&public)).unwrap();
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = "RS256".into();
        jwk["use"] = "sig".into();
        jwk
    }

    fn sign(&self, claims: &Claims<Map<String, Value>>) -> String {
        Rsa::rs256()
            .token(
                &Header::empty().with_key_id(&self.kid),
                claims,
                &self.private,
            )
            .unwrap()
    }
}

struct EcKey {
    kid: String,
    private: <Es256 as Algorithm>::SigningKey,
}

impl EcKey {
    fn new(kid: &str) -> EcKey {
        EcKey {
            kid: kid.into(),
            private: p256::ecdsa::SigningKey::random(&mut OsRng),
        }
    }

    fn jwk(&self) -> Value {
        let mut jwk = serde_json::to_value(JsonWebKey::from(self.private.verifying_key())).unwrap();
        jwk["kid"] = self.kid.clone().into();
        jwk
    }

    fn sign(&self, claims: &Claims<Map<String, Value>>) -> String {
        Es256
            .token(
                &Header::empty().with_key_id(&self.kid),
                claims,
                &self.private,
            )
            .unwrap()
    }
}

fn trust() -> Trust {
    Trust::parse(&format!(
        "{ISSUER} repository=acme/app repository_id=42 => acme/app=pull,push"
    ))
    .unwrap()
}

/// Claims that match the rule, issued at NOW for ten minutes.
fn claims() -> Claims<Map<String, Value>> {
    let custom = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app", "repository_id": "42",
    });
    let mut claims = Claims::new(custom.as_object().unwrap().clone());
    claims.issued_at = Some(time(NOW));
    claims.not_before = Some(time(NOW));
    claims.expiration = Some(time(NOW + 600_000));
    claims
}

fn options(now_ms: u64) -> VerifyOptions<'static> {
    VerifyOptions {
        now_ms,
        audience: AUDIENCE,
        min_refresh_ms: 60_000,
    }
}

fn check(
    trust: &Trust,
    token: &str,
    now_ms: u64,
    issuer: &FakeIssuer,
    cache: &MemoryCache,
) -> Result<(u64, Actions), AuthError> {
    block_on(verify(trust, token, &options(now_ms), issuer, cache))
        .map(|verified| (verified.expires_ms, verified.matched.allowed("acme/app")))
}

fn refused(result: Result<(u64, Actions), AuthError>, why: &str) {
    match result {
        Err(AuthError::BadCredentials(text)) => assert!(text.contains(why), "{text} / {why}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

#[test]
fn accepts_rs256_and_es256_tokens_whose_claims_match() {
    let (rsa, ec) = (RsaKey::new("r1"), EcKey::new("e1"));
    let issuer = FakeIssuer::new(vec![rsa.jwk(), ec.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    let push = Actions::PULL.union(Actions::PUSH);
    for token in [rsa.sign(&claims()), ec.sign(&claims())] {
        assert_eq!(
            check(&trust, &token, NOW, &issuer, &cache).unwrap(),
            (NOW + 600_000, push)
        );
    }
    // Discovery and the key set once; the second token's key came from the cache.
    assert_eq!(issuer.fetches.get(), 2);
    // An audience among several.
    let mut several = claims();
    several.custom["aud"] = json!(["other", AUDIENCE]);
    assert!(check(&trust, &rsa.sign(&several), NOW, &issuer, &cache).is_ok());
}

#[test]
fn checks_times_with_a_minute_of_leeway() {
    let rsa = RsaKey::new("r1");
    let issuer = FakeIssuer::new(vec![rsa.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    let token = rsa.sign(&claims());
    // nbf and iat a minute in the future pass, beyond that not.
    assert!(check(&trust, &token, NOW - 59_000, &issuer, &cache).is_ok());
    refused(check(&trust, &token, NOW - 61_000, &issuer, &cache), "nbf");
    // exp: a minute late passes, beyond that not.
    assert!(check(&trust, &token, NOW + 659_000, &issuer, &cache).is_ok());
    refused(
        check(&trust, &token, NOW + 661_000, &issuer, &cache),
        "expired",
    );
    let mut future = claims();
    future.not_before = None;
    future.issued_at = Some(time(NOW + 120_000));
    refused(
        check(&trust, &rsa.sign(&future), NOW, &issuer, &cache),
        "iat",
    );
    let mut no_iat = claims();
    no_iat.issued_at = None;
    refused(
        check(&trust, &rsa.sign(&no_iat), NOW, &issuer, &cache),
        "iat",
    );
    let mut no_exp = claims();
    no_exp.expiration = None;
    refused(
        check(&trust, &rsa.sign(&no_exp), NOW, &issuer, &cache),
        "exp",
    );
}

#[test]
fn refuses_other_audiences_issuers_and_claims() {
    let rsa = RsaKey::new("r1");
    let issuer = FakeIssuer::new(vec![rsa.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    let with = |name: &str, value: Value| {
        let mut claims = claims();
        claims.custom[name] = value;
        rsa.sign(&claims)
    };
    refused(
        check(
            &trust,
            &with("aud", json!("other.test")),
            NOW,
            &issuer,
            &cache,
        ),
        "audience",
    );
    refused(
        check(
            &trust,
            &with("aud", json!(["a", "b"])),
            NOW,
            &issuer,
            &cache,
        ),
        "audience",
    );
    refused(
        check(
            &trust,
            &with("repository_id", json!("43")),
            NOW,
            &issuer,
            &cache,
        ),
        "match no OIDC_TRUST rule",
    );
    let before = issuer.fetches.get();
    refused(
        check(
            &trust,
            &with("iss", json!("https://evil.test")),
            NOW,
            &issuer,
            &cache,
        ),
        "not trusted",
    );
    refused(
        check(
            &trust,
            &with("iss", json!(format!("{ISSUER}/"))),
            NOW,
            &issuer,
            &cache,
        ),
        "not trusted",
    );
    // Nothing was fetched for an untrusted issuer.
    assert_eq!(issuer.fetches.get(), before);
}

#[test]
fn refuses_unsigned_symmetric_and_forged_tokens() {
    let (rsa, other) = (RsaKey::new("r1"), RsaKey::new("r1"));
    let issuer = FakeIssuer::new(vec![rsa.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    let payload = rsa.sign(&claims()).split('.').nth(1).unwrap().to_string();
    for header in [
        json!({"alg": "none", "kid": "r1"}),
        json!({"alg": "None", "kid": "r1"}),
        json!({"alg": "RS512", "kid": "r1"}),
    ] {
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        refused(
            check(
                &trust,
                &format!("{header}.{payload}."),
                NOW,
                &issuer,
                &cache,
            ),
            "algorithm",
        );
    }
    // HS256 keyed with the public key, as published and as its modulus.
    let jwk = rsa.jwk();
    for secret in [
        jwk.to_string().into_bytes(),
        URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
    ] {
        let token = Hs256
            .token(
                &Header::empty().with_key_id("r1"),
                &claims(),
                &Hs256Key::new(secret),
            )
            .unwrap();
        refused(check(&trust, &token, NOW, &issuer, &cache), "algorithm");
    }
    // The same kid, another key: a bad signature.
    refused(
        check(&trust, &other.sign(&claims()), NOW, &issuer, &cache),
        "bad signature",
    );
    // A payload swapped under a valid signature.
    let token = rsa.sign(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged.custom["repository"] = json!("acme/other");
    let forged_token = rsa.sign(&forged);
    parts[1] = forged_token.split('.').nth(1).unwrap();
    refused(
        check(&trust, &parts.join("."), NOW, &issuer, &cache),
        "bad signature",
    );
    // No kid.
    let no_kid = Rsa::rs256()
        .token(&Header::empty(), &claims(), &rsa.private)
        .unwrap();
    refused(check(&trust, &no_kid, NOW, &issuer, &cache), "kid");
    refused(
        check(
            &trust,
            &"a".repeat(MAX_ID_TOKEN_BYTES + 1),
            NOW,
            &issuer,
            &cache,
        ),
        "over",
    );
    refused(
        check(&trust, "not.a.token", NOW, &issuer, &cache),
        "malformed",
    );
    // An ES256 token naming the RSA key.
    let ec = EcKey {
        kid: "r1".into(),
        ..EcKey::new("x")
    };
    refused(
        check(&trust, &ec.sign(&claims()), NOW, &issuer, &cache),
        "its key is for RS256",
    );
}

#[test]
fn rotation_refetches_at_most_once_per_bound() {
    let (old, new) = (RsaKey::new("old"), EcKey::new("new"));
    let issuer = FakeIssuer::new(vec![old.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    assert!(check(&trust, &old.sign(&claims()), NOW, &issuer, &cache).is_ok());
    assert_eq!(issuer.fetches.get(), 2);
    // A token under a key the issuer does not publish: one refetch, then none for a minute.
    let unknown = EcKey::new("unknown");
    refused(
        check(
            &trust,
            &unknown.sign(&claims()),
            NOW + 60_000,
            &issuer,
            &cache,
        ),
        "unknown key",
    );
    assert_eq!(issuer.fetches.get(), 4);
    for i in 1..10 {
        refused(
            check(
                &trust,
                &unknown.sign(&claims()),
                NOW + 60_000 + i * 1000,
                &issuer,
                &cache,
            ),
            "unknown key",
        );
    }
    assert_eq!(issuer.fetches.get(), 4);
    // The issuer rotates: the new key is fetched once the bound has passed.
    issuer.publish(vec![new.jwk()]);
    refused(
        check(&trust, &new.sign(&claims()), NOW + 119_000, &issuer, &cache),
        "unknown key",
    );
    assert!(check(&trust, &new.sign(&claims()), NOW + 120_000, &issuer, &cache).is_ok());
    assert_eq!(issuer.fetches.get(), 6);
    // The old key is gone from the cache with the new key set.
    refused(
        check(&trust, &old.sign(&claims()), NOW + 121_000, &issuer, &cache),
        "unknown key",
    );
    assert_eq!(issuer.fetches.get(), 6);
}

#[test]
fn old_keys_are_fetched_again_and_serve_while_the_issuer_is_down() {
    let rsa = RsaKey::new("r1");
    let issuer = FakeIssuer::new(vec![rsa.jwk()]);
    let cache = MemoryCache::default();
    let trust = trust();
    let mut late = claims();
    late.expiration = Some(time(NOW + 3 * MAX_KEYS_AGE_MS));
    let token = rsa.sign(&late);
    assert!(check(&trust, &token, NOW, &issuer, &cache).is_ok());
    assert!(check(&trust, &token, NOW + MAX_KEYS_AGE_MS - 1, &issuer, &cache).is_ok());
    assert_eq!(issuer.fetches.get(), 2);
    assert!(check(&trust, &token, NOW + MAX_KEYS_AGE_MS, &issuer, &cache).is_ok());
    assert_eq!(issuer.fetches.get(), 4);
    issuer.down.set(true);
    let later = NOW + 2 * MAX_KEYS_AGE_MS + 1;
    assert!(check(&trust, &token, later, &issuer, &cache).is_ok());
    // The failed attempt counts against the bound.
    assert!(check(&trust, &token, later + 1000, &issuer, &cache).is_ok());
    assert_eq!(issuer.fetches.get(), 5);
    // Not for longer than a day after the keys were fetched.
    let day_later = NOW + MAX_KEYS_AGE_MS + KEYS_FALLBACK_MS;
    refused(
        check(&trust, &token, day_later, &issuer, &cache),
        "could not be fetched",
    );
    // With nothing cached, the failure is the answer.
    refused(
        check(&trust, &token, NOW, &issuer, &MemoryCache::default()),
        "could not be fetched",
    );
}

#[test]
fn refuses_discovery_for_another_issuer_and_insecure_key_sets() {
    let rsa = RsaKey::new("r1");
    let trust = trust();
    for discovery in [
        json!({"issuer": "https://elsewhere.test", "jwks_uri": format!("{ISSUER}/keys")}),
        json!({"issuer": ISSUER, "jwks_uri": "http://issuer.test/keys"}),
        json!({"issuer": ISSUER, "jwks_uri": "http://127.0.0.1:8080/keys"}),
        json!({"issuer": ISSUER}),
    ] {
        let issuer = FakeIssuer::new(vec![rsa.jwk()]);
        let mut documents = issuer.documents.borrow_mut();
        if let Some(uri) = discovery["jwks_uri"].as_str() {
            // The keys are there: only the document's claims are wrong.
            let keys = documents[&format!("{ISSUER}/keys")].clone();
            documents.insert(uri.to_string(), keys);
        }
        documents.insert(
            format!("{ISSUER}/.well-known/openid-configuration"),
            discovery.to_string().into_bytes(),
        );
        drop(documents);
        refused(
            check(
                &trust,
                &rsa.sign(&claims()),
                NOW,
                &issuer,
                &MemoryCache::default(),
            ),
            "could not be fetched",
        );
    }
}
