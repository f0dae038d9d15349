//! Keyless push against the real worker under `wrangler dev`: an OIDC issuer run here on
//! loopback (discovery and key sets, RSA and EC keys) whose ID tokens `/token` exchanges for
//! the registry's own tokens, as far as `OIDC_TRUST` allows.
//!
//! scripts/test picks the issuer's port, starts the worker with
//!
//! ```text
//! OIDC_TRUST = http://127.0.0.1:PORT repository=acme/app repository_id=42 ref=refs/heads/main => oidc/app=pull,push;
//!              http://127.0.0.1:PORT/rotating repository_id=42 => oidc/rotating=pull,push
//! OIDC_JWKS_MIN_REFRESH_SECONDS = 3
//! ```
//!
//! and sets REGISTRY_URL and OIDC_ISSUER_PORT; this binds that port. The audience is the
//! registry's host as the tests address it (no OIDC_AUDIENCE). skopeo comes from the system or
//! tests/clients/setup; the OCI layout is packed by tests/scan-fixtures/oci-layout.py.
#![cfg(feature = "integration")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jwt_compact::alg::{Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use rand_core::OsRng;
use serde_json::{json, Map, Value};

use common::http::{client, Http};
use common::{oci_layout, Client, Reply, TempDir};

const MIN_REFRESH_SECONDS: u64 = 3;

/// The issuer's state: what it serves at each path, and how often each was asked for.
#[derive(Default)]
struct Served {
    documents: HashMap<String, Vec<u8>>,
    hits: HashMap<String, usize>,
}

struct Issuer {
    /// `http://127.0.0.1:PORT`.
    base: String,
    served: Arc<Mutex<Served>>,
    rsa: RsaKey,
    ec: EcKey,
}

impl Issuer {
    /// Publishes `keys` as the key set of the issuer at `base`/`path`.
    fn publish(&self, path: &str, keys: Vec<Value>) {
        let issuer = format!("{}{path}", self.base);
        let mut served = self.served.lock().unwrap();
        served.documents.insert(
            format!("{path}/.well-known/openid-configuration"),
            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")})
                .to_string()
                .into_bytes(),
        );
        served.documents.insert(
            format!("{path}/keys"),
            json!({ "keys": keys }).to_string().into_bytes(),
        );
    }

    fn hits(&self, path: &str) -> usize {
        let served = self.served.lock().unwrap();
        served.hits.get(path).copied().unwrap_or(0)
    }
}

/// The issuer, started once for every test of this binary on OIDC_ISSUER_PORT.
fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let port = std::env::var("OIDC_ISSUER_PORT")
            .expect("OIDC_ISSUER_PORT: run these through scripts/test");
        let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("the issuer's port");
        let served = Arc::new(Mutex::new(Served::default()));
        let shared = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let served = shared.clone();
                std::thread::spawn(move || serve(stream, &served));
            }
        });
        let issuer = Issuer {
            base: format!("http://127.0.0.1:{port}"),
            served,
            rsa: RsaKey::new("rsa-1"),
            ec: EcKey::new("ec-1"),
        };
        issuer.publish("", vec![issuer.rsa.jwk(), issuer.ec.jwk()]);
        issuer
    })
}

/// One HTTP/1.1 exchange: GET of a served path, 404 for anything else.
fn serve(stream: std::net::TcpStream, served: &Mutex<Served>) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let body = {
        let mut served = served.lock().unwrap();
        *served.hits.entry(path.clone()).or_default() += 1;
        served.documents.get(&path).cloned()
    };
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
}

struct RsaKey {
    kid: String,
    private: RsaPrivateKey,
}

impl RsaKey {
    fn new(kid: &str) -> RsaKey {
        RsaKey {
            kid: kid.into(),
            private: RsaPrivateKey::new(&mut OsRng, 2048).unwrap(),
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
        let header = Header::empty()
            .with_key_id(&self.kid)
            .with_token_type("JWT");
        Rsa::rs256().token(&header, claims, &self.private).unwrap()
    }
}

struct EcKey {
    kid: String,
    private: p256::ecdsa::SigningKey,
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
        jwk["alg"] = "ES256".into();
        jwk
    }

    fn sign(&self, claims: &Claims<Map<String, Value>>) -> String {
        let header = Header::empty()
            .with_key_id(&self.kid)
            .with_token_type("JWT");
        Es256.token(&header, claims, &self.private).unwrap()
    }
}

/// The registry's host as the tests address it: the default audience.
fn audience(c: &Http) -> String {
    c.base.strip_prefix("http://").unwrap().to_string()
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// GitHub Actions' claims for acme/app's main branch, from `issuer`, valid for ten minutes.
fn claims(c: &Http, issuer: &str) -> Claims<Map<String, Value>> {
    let custom = json!({
        "iss": issuer,
        "aud": audience(c),
        "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app",
        "repository_id": "42",
        "repository_owner": "acme",
        "repository_owner_id": "7",
        "ref": "refs/heads/main",
    });
    let now = now_seconds();
    let mut claims = Claims::new(custom.as_object().unwrap().clone());
    claims.issued_at = chrono::DateTime::from_timestamp(now, 0);
    claims.not_before = chrono::DateTime::from_timestamp(now, 0);
    claims.expiration = chrono::DateTime::from_timestamp(now + 600, 0);
    claims
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Docker's token request: GET /token with Basic credentials, as `docker login` and
/// `docker push` send it.
fn docker_token(c: &Http, id_token: &str, scope: Option<&str>) -> Reply {
    let mut path = format!(
        "/token?account=oidc&client_id=docker&offline_token=true&service={}",
        escape(&audience(c))
    );
    if let Some(scope) = scope {
        path.push_str(&format!("&scope={}", escape(scope)));
    }
    c.send_as(Some(&basic("oidc", id_token)), "GET", &path, &[], b"")
}

fn payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn assert_refused(c: &Http, id_token: &str, what: &str) {
    let reply = docker_token(c, id_token, Some("repository:oidc/app:pull,push"));
    assert_eq!(reply.status, 401, "{what}: {}", text(&reply));
    assert!(
        reply
            .header("WWW-Authenticate")
            .is_some_and(|h| h.starts_with("Basic ")),
        "{what}: a refused login asks for credentials again"
    );
}

#[test]
fn a_matching_id_token_logs_in_with_dockers_flow_and_the_oauth2_form() {
    let c = client();
    let issuer = issuer();
    let scope = "repository:oidc/app:pull,push";
    for id_token in [
        issuer.rsa.sign(&claims(&c, &issuer.base)),
        issuer.ec.sign(&claims(&c, &issuer.base)),
    ] {
        // `docker login`: the token endpoint without a scope, then GET /v2/ with the token.
        let login = docker_token(&c, &id_token, None);
        assert_eq!(login.status, 200, "{}", text(&login));
        let body = login.json();
        assert!(
            body.get("refresh_token").is_none(),
            "no refresh token outlives the ID token"
        );
        let token = body["token"].as_str().unwrap();
        let base = c.send_as(Some(&format!("Bearer {token}")), "GET", "/v2/", &[], b"");
        assert_eq!(base.status, 200, "{}", text(&base));
        // `docker push`: pull and push on the rule's repository, and no further than the
        // ID token lives.
        let reply = docker_token(&c, &id_token, Some(scope));
        assert_eq!(reply.status, 200, "{}", text(&reply));
        let body = reply.json();
        let token = body["token"].as_str().unwrap().to_string();
        let claims = payload(&token);
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "name": "oidc/app", "actions": ["pull", "push"]}])
        );
        assert_eq!(claims["sub"], "repo:acme/app:ref:refs/heads/main");
        let id_exp = payload(&id_token)["exp"].as_i64().unwrap();
        assert!(claims["exp"].as_i64().unwrap() <= id_exp, "{claims}");
        assert!(body["expires_in"].as_u64().unwrap() <= 600);
        let bearer = format!("Bearer {token}");
        let upload = c.send_as(
            Some(&bearer),
            "POST",
            "/v2/oidc/app/blobs/uploads/",
            &[],
            b"",
        );
        assert_eq!(upload.status, 202, "{}", text(&upload));
        // Another repository: a public one's pull, as anyone may, and no push; nothing of a
        // private one.
        let reply = docker_token(&c, &id_token, Some("repository:private/app:pull,push"));
        let token = reply.json()["token"].as_str().unwrap().to_string();
        assert_eq!(payload(&token)["access"][0]["actions"], json!([]));
        let reply = docker_token(&c, &id_token, Some("repository:team/app:pull,push"));
        let token = reply.json()["token"].as_str().unwrap().to_string();
        assert_eq!(payload(&token)["access"][0]["actions"], json!(["pull"]));
        let upload = c.send_as(
            Some(&format!("Bearer {token}")),
            "POST",
            "/v2/team/app/blobs/uploads/",
            &[],
            b"",
        );
        assert_eq!(upload.status, 401, "{}", text(&upload));
    }
    // The OAuth2 form, as containerd and others post it.
    let id_token = issuer.rsa.sign(&claims(&c, &issuer.base));
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "password"),
            ("username", "oidc"),
            ("password", id_token.as_str()),
            ("service", audience(&c).as_str()),
            ("scope", scope),
            ("client_id", "containerd"),
        ])
        .finish();
    let reply = c.send_as(
        None,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let token = reply.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        payload(&token)["access"][0]["actions"],
        json!(["pull", "push"])
    );
}

#[test]
fn tokens_that_match_no_rule_or_fail_verification_are_refused() {
    let c = client();
    let issuer = issuer();
    let with = |name: &str, value: Value| {
        let mut claims = claims(&c, &issuer.base);
        claims.custom.insert(name.into(), value);
        claims
    };
    assert_refused(
        &c,
        &issuer.rsa.sign(&with("repository_id", json!("43"))),
        "no rule",
    );
    assert_refused(
        &c,
        &issuer.rsa.sign(&with("ref", json!("refs/heads/dev"))),
        "no rule",
    );
    assert_refused(
        &c,
        &issuer.ec.sign(&with("aud", json!("elsewhere.test"))),
        "audience",
    );
    let mut expired = claims(&c, &issuer.base);
    let long_ago = now_seconds() - 3600;
    expired.issued_at = chrono::DateTime::from_timestamp(long_ago, 0);
    expired.not_before = expired.issued_at;
    expired.expiration = chrono::DateTime::from_timestamp(long_ago + 600, 0);
    assert_refused(&c, &issuer.rsa.sign(&expired), "expired");
    // A key the issuer never published, under a new kid and under a published one.
    let stranger = RsaKey::new("stranger");
    assert_refused(&c, &stranger.sign(&claims(&c, &issuer.base)), "unknown key");
    let impostor = RsaKey {
        kid: issuer.rsa.kid.clone(),
        private: stranger.private.clone(),
    };
    assert_refused(
        &c,
        &impostor.sign(&claims(&c, &issuer.base)),
        "forged signature",
    );
    // alg none, with and without a signature.
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&c, &issuer.base)).unwrap());
    for alg in ["none", "None"] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"}).to_string());
        assert_refused(&c, &format!("{header}.{body}."), "alg none");
        assert_refused(&c, &format!("{header}.{body}.c2ln"), "alg none");
    }
    // HS256 keyed with the RSA public key's bytes: its JWK as served, its modulus, and the
    // EC key's JWK.
    let rsa_jwk = issuer.rsa.jwk();
    for secret in [
        rsa_jwk.to_string().into_bytes(),
        URL_SAFE_NO_PAD
            .decode(rsa_jwk["n"].as_str().unwrap())
            .unwrap(),
        issuer.ec.jwk().to_string().into_bytes(),
    ] {
        let header = Header::empty().with_key_id("rsa-1").with_token_type("JWT");
        let token = Hs256
            .token(&header, &claims(&c, &issuer.base), &Hs256Key::new(secret))
            .unwrap();
        assert_refused(&c, &token, "HS256 with the public key");
    }
    // Issuers OIDC_TRUST does not name, even on the same server.
    let mut other = claims(&c, &format!("{}/other", issuer.base));
    other
        .custom
        .insert("iss".into(), json!(format!("{}/other", issuer.base)));
    assert_refused(&c, &issuer.rsa.sign(&other), "unknown issuer");
    assert_eq!(issuer.hits("/other/.well-known/openid-configuration"), 0);
}

#[test]
fn rotating_the_issuers_keys_needs_no_restart_and_refetches_are_bounded() {
    let c = client();
    let issuer = issuer();
    let path = "/rotating";
    let base = format!("{}{path}", issuer.base);
    let old = RsaKey::new("old");
    issuer.publish(path, vec![old.jwk()]);
    let scope = Some("repository:oidc/rotating:pull,push");
    let reply = docker_token(&c, &old.sign(&claims(&c, &base)), scope);
    assert_eq!(reply.status, 200, "{}", text(&reply));
    // Rotation: the issuer serves only a new key, of another type.
    let new = EcKey::new("new");
    issuer.publish(path, vec![new.jwk()]);
    let keys = format!("{path}/keys");
    let fetched_before = issuer.hits(&keys);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(4 * MIN_REFRESH_SECONDS + 10);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let reply = docker_token(&c, &new.sign(&claims(&c, &base)), scope);
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 401, "{}", text(&reply));
        assert!(
            Instant::now() < deadline,
            "the new key was never fetched: {}",
            text(&reply)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let refetches = issuer.hits(&keys) - fetched_before;
    // However many tokens named the new key before it was fetched, the key set was fetched
    // about once per bound.
    let bound_periods = started.elapsed().as_secs() / MIN_REFRESH_SECONDS + 1;
    assert!(
        refetches as u64 <= bound_periods && refetches <= attempts,
        "{refetches} fetches for {attempts} attempts over {:?}",
        started.elapsed()
    );
    // The old key is gone with the old key set.
    let reply = docker_token(&c, &old.sign(&claims(&c, &base)), scope);
    assert_eq!(reply.status, 401, "{}", text(&reply));
    // A burst of tokens under an unknown key fetches at most once per bound.
    let unknown = EcKey::new("unknown");
    let fetched_before = issuer.hits(&keys);
    let started = Instant::now();
    for _ in 0..8 {
        let reply = docker_token(&c, &unknown.sign(&claims(&c, &base)), scope);
        assert_eq!(reply.status, 401, "{}", text(&reply));
    }
    let refetches = (issuer.hits(&keys) - fetched_before) as u64;
    assert!(
        refetches <= started.elapsed().as_secs() / MIN_REFRESH_SECONDS + 1,
        "{refetches} fetches for 8 tokens over {:?}",
        started.elapsed()
    );
}

/// A small OCI layout tagged `tag`.
fn layout(work: &Path, tag: &str) -> PathBuf {
    let hello = format!("pushed with OIDC ({tag})\n");
    oci_layout(work, tag, &[("hello.txt", hello.as_bytes())])
}

fn skopeo_push(c: &Http, layout: &Path, tag: &str, name: &str, creds: &str) -> (bool, String) {
    // Against wrangler dev's plain HTTP, skopeo first waits about 10 s for a TLS handshake
    // nothing answers, then falls back to HTTP.
    let output = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false", "--retry-times=0"])
        .args(["--dest-creds", creds])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{}/{name}:{tag}", audience(c)))
        .output()
        .expect("skopeo (the system's, or tests/clients/setup's)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn skopeo_pushes_with_an_id_token_as_its_password() {
    let c = client();
    let issuer = issuer();
    let work = TempDir::new("oidc-skopeo");
    let layout = layout(&work.0, "keyless");
    let id_token = issuer.ec.sign(&claims(&c, &issuer.base));
    let (pushed, stderr) = skopeo_push(
        &c,
        &layout,
        "keyless",
        "oidc/app",
        &format!("oidc:{id_token}"),
    );
    assert!(pushed, "skopeo copy: {stderr}");
    let manifest = c.send(
        "GET",
        "/v2/oidc/app/manifests/keyless",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(manifest.status, 200, "{}", text(&manifest));
    // The same token cannot push where its rule grants nothing.
    let (pushed, stderr) = skopeo_push(
        &c,
        &layout,
        "keyless",
        "team/keyless",
        &format!("oidc:{id_token}"),
    );
    assert!(!pushed, "skopeo pushed to team/keyless: {stderr}");
    let manifest = c.send("GET", "/v2/team/keyless/manifests/keyless", &[], b"");
    assert_eq!(manifest.status, 404, "{}", text(&manifest));
}
