//! Keyless push in process: `/token` exchanging ID tokens from an issuer in memory for the
//! registry's own tokens. (Verification itself: `auth::oidc::verify`'s tests.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use futures::executor::block_on;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use rand_core::OsRng;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::Registry;
use crate::api::{Method, Request};
use crate::auth::oidc::verify::LocalFuture;
use crate::auth::oidc::{IssuerFetch, Trust};
use crate::auth::{Auth, OidcSettings, Policy, SigningKey};
use crate::config::Config;
use crate::records::Environment;
use crate::storage::memory::{MemoryBody, MemoryStore};
use crate::storage::SessionStore;

const ISSUER: &str = "https://issuer.test";
const NOW_MS: u64 = 1_800_000_000_000;

struct Clock;

impl Environment for Clock {
    fn now_ms(&self) -> u64 {
        NOW_MS
    }

    fn new_id(&self) -> String {
        "0123456789abcdef0123456789abcdef".into()
    }
}

/// The issuer's documents, shared with the test, and how many fetches it answered.
#[derive(Clone, Default)]
struct Issuer(Rc<Documents>);

#[derive(Default)]
struct Documents {
    by_url: RefCell<HashMap<String, String>>,
    fetches: Cell<usize>,
}

impl IssuerFetch for Issuer {
    fn get<'a>(&'a self, url: &'a str, _limit: usize) -> LocalFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.0.fetches.set(self.0.fetches.get() + 1);
            let documents = self.0.by_url.borrow();
            documents
                .get(url)
                .map(|body| body.clone().into_bytes())
                .ok_or_else(|| "HTTP 404".to_string())
        })
    }
}

struct Setup {
    registry: Registry<MemoryStore, MemoryStore, Clock>,
    issuer: Issuer,
    key: p256::ecdsa::SigningKey,
}

fn setup(rules: &str) -> Setup {
    let key = p256::ecdsa::SigningKey::random(&mut OsRng);
    let mut jwk = serde_json::to_value(JsonWebKey::from(key.verifying_key())).unwrap();
    jwk["kid"] = "k1".into();
    let issuer = Issuer::default();
    {
        let mut documents = issuer.0.by_url.borrow_mut();
        documents.insert(
            format!("{ISSUER}/.well-known/openid-configuration"),
            json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/jwks")}).to_string(),
        );
        documents.insert(
            format!("{ISSUER}/jwks"),
            json!({ "keys": [jwk] }).to_string(),
        );
    }
    let admin = format!("admin {}", hex::encode(Sha256::digest(b"admin-password")));
    let auth = Auth {
        policy: Policy::parse("", Some(&admin), "private/*").unwrap(),
        signing_key: Some(SigningKey::new("a-signing-key-of-at-least-32-bytes!!").unwrap()),
        token_ttl_seconds: 300,
        refresh_ttl_seconds: 3600,
        oidc: OidcSettings {
            trust: Trust::parse(rules).unwrap(),
            audience: None,
            min_refresh_seconds: 60,
        },
    };
    let registry = Registry::new(
        MemoryStore::new(),
        MemoryStore::new(),
        Clock,
        Config::default(),
        auth,
    )
    .with_issuer_fetch(issuer.clone());
    Setup {
        registry,
        issuer,
        key,
    }
}

const RULE: &str = "https://issuer.test repository_id=42 => acme/app=pull,push";

/// An ID token for the registry (`localhost`, as in-process requests name it) from
/// repository 42, living `seconds` more.
fn id_token(key: &p256::ecdsa::SigningKey, seconds: i64) -> String {
    let now = (NOW_MS / 1000) as i64;
    let custom =
        json!({"iss": ISSUER, "aud": "localhost", "sub": "repo:acme/app", "repository_id": "42"});
    let mut claims: Claims<Map<String, Value>> = Claims::new(custom.as_object().unwrap().clone());
    claims.issued_at = chrono::DateTime::from_timestamp(now - 10, 0);
    claims.expiration = chrono::DateTime::from_timestamp(now + seconds, 0);
    Es256
        .token(&Header::empty().with_key_id("k1"), &claims, key)
        .unwrap()
}

fn send(setup: &Setup, authorization: Option<&str>, method: Method, path: &str) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let request = Request::local(method, path, &headers, MemoryBody::new(b"", 0));
    let (response, _) = block_on(setup.registry.handle(request));
    let body = match response.body {
        crate::api::Body::Bytes(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status.as_u16(), body)
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

const TOKEN_PATH: &str =
    "/token?service=localhost&offline_token=true&scope=repository:acme/app:pull,push&scope=repository:private/x:pull&scope=repository:other/app:pull,push";

#[test]
fn an_id_token_buys_the_rules_grants_for_no_longer_than_it_lives() {
    let setup = setup(RULE);
    let id_token = id_token(&setup.key, 100);
    let (status, body) = send(
        &setup,
        Some(&basic("oidc", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 100, "the ID token's remaining lifetime");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["token"].as_str().unwrap();
    let claims = payload(token);
    assert_eq!(claims["sub"], "repo:acme/app");
    assert_eq!(claims["idp"], ISSUER);
    assert_eq!(claims["exp"].as_u64().unwrap(), NOW_MS / 1000 + 100);
    assert_eq!(
        claims["access"],
        json!([
            {"type": "repository", "name": "acme/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "other/app", "actions": ["pull"]},
            {"type": "repository", "name": "private/x", "actions": []},
        ])
    );
    // The token works on its repository, and names no user.
    let bearer = format!("Bearer {token}");
    let (status, _) = send(
        &setup,
        Some(&bearer),
        Method::POST,
        "/v2/acme/app/blobs/uploads/",
    );
    assert_eq!(status, 202);
    let (status, _) = send(
        &setup,
        Some(&bearer),
        Method::POST,
        "/v2/other/app/blobs/uploads/",
    );
    assert_eq!(status, 401);
    // The keys were fetched once (discovery and key set) and cached in KV.
    assert_eq!(setup.issuer.0.fetches.get(), 2);
    let key = crate::records::layout::oidc_keys(ISSUER);
    let cached = block_on(setup.registry.records.sessions.get(&key)).unwrap();
    assert!(cached.is_some_and(|record| String::from_utf8_lossy(&record).contains("\"k1\"")));
    let (status, _) = send(
        &setup,
        Some(&basic("any-name", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(status, 200, "any user name");
    assert_eq!(
        setup.issuer.0.fetches.get(),
        2,
        "the second login used the cache"
    );
    // A configured user's name with an ID token as password: still the ID token's grants.
    let (status, body) = send(
        &setup,
        Some(&basic("admin", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(status, 200);
    assert_eq!(payload(body["token"].as_str().unwrap())["idp"], ISSUER);
    // A longer-lived ID token: the registry's own lifetime.
    let long_lived = self::id_token(&setup.key, 3600);
    let (_, body) = send(
        &setup,
        Some(&basic("oidc", &long_lived)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(body["expires_in"], 300);
}

#[test]
fn id_tokens_are_refused_like_wrong_passwords() {
    // No rule matches repository 42.
    let setup = setup("https://issuer.test repository_id=43 => acme/app=pull,push");
    let id_token = id_token(&setup.key, 100);
    let (status, body) = send(
        &setup,
        Some(&basic("oidc", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(status, 401, "{body}");
    assert!(
        body.to_string().contains("match no OIDC_TRUST rule"),
        "{body}"
    );
    // Without OIDC_TRUST, an ID token is a wrong password, and nothing is fetched.
    let setup = setup_without_trust();
    let (status, body) = send(
        &setup,
        Some(&basic("oidc", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.to_string().contains("wrong password"), "{body}");
    assert_eq!(setup.issuer.0.fetches.get(), 0);
}

fn setup_without_trust() -> Setup {
    let mut setup = setup(RULE);
    std::rc::Rc::get_mut(&mut setup.registry.auth)
        .expect("the registry alone holds its auth")
        .oidc = OidcSettings::default();
    setup
}

#[test]
fn an_oidc_access_token_is_no_refresh_token() {
    let setup = setup(RULE);
    let id_token = id_token(&setup.key, 100);
    let (_, body) = send(
        &setup,
        Some(&basic("oidc", &id_token)),
        Method::GET,
        TOKEN_PATH,
    );
    let token = body["token"].as_str().unwrap().to_string();
    let form = format!("grant_type=refresh_token&refresh_token={token}&service=localhost");
    let request = Request::local(
        Method::POST,
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        MemoryBody::new(form.as_bytes(), form.len()),
    );
    let (response, _) = block_on(setup.registry.handle(request));
    assert_eq!(response.status.as_u16(), 401);
    // The OAuth2 password form takes the ID token.
    let form = format!("grant_type=password&username=oidc&password={id_token}&service=localhost&scope=repository:acme/app:push");
    let request = Request::local(
        Method::POST,
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        MemoryBody::new(form.as_bytes(), form.len()),
    );
    let (response, _) = block_on(setup.registry.handle(request));
    assert_eq!(response.status.as_u16(), 200);
}
