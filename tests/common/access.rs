//! Access-control scenarios, written once against [`Client`] and run in process and against
//! the worker, with the users and private patterns of tests/access.env:
//! `outsider` (push on outsider/*), `reader` (pull on private/*), `pusher` (pull and push on
//! team/* and private/*), `admin` (everything); private/* is private, the rest public.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edge_registry::auth::{Actions, ResourceAccess, SigningKey, TokenClaims};

use super::{assert_oci_error, basic, data, push_blob, push_image, Client, Reply};

#[macro_export]
macro_rules! access_tests {
    ($client:expr) => {
        $crate::access_tests!($client =>
            base_challenges_anonymous_callers, access_matrix_with_passwords, access_matrix_with_tokens,
            catalog_lists_what_the_caller_may_pull, catalog_follows_the_token_scope,
            mounts_reveal_nothing_unreadable, mounts_ask_once_for_the_source_scope,
            token_endpoint_grants_the_intersection, oauth_form_and_refresh_tokens,
            bad_tokens_are_rejected, tokens_do_not_reach_other_repositories,
            malformed_authorization_is_a_clear_401, wrong_passwords_are_rejected);
    };
    ($client:expr => $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { common::access::$name(&$client); } )*
    };
}

/// A value of tests/access.env.
pub fn access_env(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/access.env");
    let text = std::fs::read_to_string(path).expect("tests/access.env");
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{name} is not in tests/access.env"))
}

const PUBLIC: &str = "team/app";
const PRIVATE: &str = "private/app";
/// Every kind of caller: anonymous, then the configured users by growing rights.
const CALLERS: [Option<&str>; 5] = [
    None,
    Some("outsider"),
    Some("reader"),
    Some("pusher"),
    Some("admin"),
];

/// The parameters of a `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Default)]
pub struct Challenge {
    pub realm: String,
    pub service: String,
    pub scope: Option<String>,
    pub error: Option<String>,
}

pub fn challenge(reply: &Reply) -> Challenge {
    let header = reply
        .header("WWW-Authenticate")
        .unwrap_or_else(|| panic!("no challenge on a {}", reply.status));
    let params = header
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {header}"));
    let mut challenge = Challenge::default();
    for param in params.split("\",") {
        let (key, value) = param.split_once("=\"").expect("key=\"value\"");
        let value = value.trim_end_matches('"').to_string();
        match key {
            "realm" => challenge.realm = value,
            "service" => challenge.service = value,
            "scope" => challenge.scope = Some(value),
            "error" => challenge.error = Some(value),
            other => panic!("unexpected challenge parameter {other}"),
        }
    }
    challenge
}

/// The realm and service this registry announces.
fn realm(c: &dyn Client) -> Challenge {
    challenge(&c.send_as(None, "GET", "/v2/", &[], b""))
}

fn query_escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Asks the token endpoint, as `user` (anonymous for `None`), for `scopes`.
pub fn fetch_token(c: &dyn Client, user: Option<&str>, scopes: &[&str]) -> Reply {
    let realm = realm(c);
    let mut path = format!("/token?service={}", query_escape(&realm.service));
    for scope in scopes {
        path.push_str(&format!("&scope={}", query_escape(scope)));
    }
    c.send_as(user.map(basic).as_deref(), "GET", &path, &[], b"")
}

pub fn token(c: &dyn Client, user: Option<&str>, scopes: &[&str]) -> String {
    let reply = fetch_token(c, user, scopes);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["token"].as_str().unwrap().to_string()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn body(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

pub fn assert_unauthorized(reply: &Reply, context: &str) -> Challenge {
    assert_eq!(reply.status, 401, "{context}: {}", body(reply));
    assert_eq!(reply.error_code(), "UNAUTHORIZED", "{context}");
    challenge(reply)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Pull,
    Push,
    Delete,
    Mount,
}

const OPS: [Op; 4] = [Op::Pull, Op::Push, Op::Delete, Op::Mount];

#[derive(Debug, PartialEq)]
enum Outcome {
    Allowed,
    Unauthorized,
    Denied,
}

/// What each caller may do on a public or private repository (tests/access.env).
fn expected(caller: Option<&str>, private: bool, op: Op) -> Outcome {
    let allowed = match (caller, op) {
        (Some("admin"), _) => true,
        (Some("pusher"), Op::Pull | Op::Push | Op::Mount) => true,
        (Some("reader"), Op::Pull) => true,
        (_, Op::Pull) => !private,
        _ => false,
    };
    match (allowed, caller) {
        (true, _) => Outcome::Allowed,
        (false, None) => Outcome::Unauthorized,
        (false, Some(_)) => Outcome::Denied,
    }
}

/// Pushes the images the matrix reads: one in each repository, and a layer source to mount.
fn seed(c: &dyn Client) -> String {
    push_image(c, PUBLIC, "v1", 900);
    push_image(c, PRIVATE, "v1", 900);
    push_blob(c, "team/source", &data(70, 901))
}

/// The scopes a Docker-style client asks for before `op` on `repository`.
fn scopes_for(op: Op, repository: &str) -> Vec<String> {
    match op {
        Op::Pull => vec![format!("repository:{repository}:pull")],
        Op::Push => vec![format!("repository:{repository}:pull,push")],
        Op::Delete => vec![format!("repository:{repository}:delete")],
        Op::Mount => vec![
            format!("repository:{repository}:pull,push"),
            "repository:team/source:pull".to_string(),
        ],
    }
}

/// Runs `op` on `repository` with `authorization`; `Allowed` only when every request of the
/// operation got past access control with the answer the protocol gives.
fn attempt(
    c: &dyn Client,
    authorization: Option<&str>,
    op: Op,
    repository: &str,
    layer: &str,
) -> Outcome {
    let zero = format!("sha256:{}", "0".repeat(64));
    let (method, path, expected_status) = match op {
        Op::Pull => ("GET", format!("/v2/{repository}/manifests/v1"), 200),
        Op::Push => ("POST", format!("/v2/{repository}/blobs/uploads/"), 202),
        Op::Delete => ("DELETE", format!("/v2/{repository}/manifests/{zero}"), 404),
        Op::Mount => (
            "POST",
            format!("/v2/{repository}/blobs/uploads/?mount={layer}&from=team/source"),
            201,
        ),
    };
    let reply = c.send_as(authorization, method, &path, &[], b"");
    let context = format!("{method} {path}");
    match reply.status {
        401 => {
            let challenge = assert_unauthorized(&reply, &context);
            let scope = challenge.scope.expect("a scope in the challenge");
            assert!(
                scope.starts_with(&format!("repository:{repository}:")),
                "{scope}"
            );
            Outcome::Unauthorized
        }
        403 => {
            assert_eq!(reply.error_code(), "DENIED", "{context}");
            Outcome::Denied
        }
        status => {
            assert_eq!(status, expected_status, "{context}: {}", body(&reply));
            Outcome::Allowed
        }
    }
}

pub fn base_challenges_anonymous_callers(c: &dyn Client) {
    let reply = c.send_as(None, "GET", "/v2/", &[], b"");
    let found = assert_unauthorized(&reply, "anonymous GET /v2/");
    assert_eq!(
        reply.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    assert!(found.realm.ends_with("/token"), "{found:?}");
    assert!(!found.service.is_empty());
    assert_eq!((found.scope, found.error), (None, None));
    let head = c.send_as(None, "HEAD", "/v2/", &[], b"");
    assert_eq!(head.status, 401);
    assert!(head.header("WWW-Authenticate").is_some());
    for authorization in [basic("reader"), bearer(&token(c, None, &[]))] {
        let reply = c.send_as(Some(&authorization), "GET", "/v2/", &[], b"");
        assert_eq!(reply.status, 200, "{}", body(&reply));
    }
}

pub fn access_matrix_with_passwords(c: &dyn Client) {
    let layer = seed(c);
    for caller in CALLERS {
        let authorization = caller.map(basic);
        for (repository, private) in [(PUBLIC, false), (PRIVATE, true)] {
            for op in OPS {
                let outcome = attempt(c, authorization.as_deref(), op, repository, &layer);
                let want = expected(caller, private, op);
                assert_eq!(outcome, want, "{caller:?} {op:?} {repository}");
            }
        }
    }
}

/// The same matrix the way Docker-style clients go: a token for the operation's scopes first.
/// A token never grants more than its user has, so the outcomes are the same.
pub fn access_matrix_with_tokens(c: &dyn Client) {
    let layer = seed(c);
    for caller in CALLERS {
        for (repository, private) in [(PUBLIC, false), (PRIVATE, true)] {
            for op in OPS {
                let scopes = scopes_for(op, repository);
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                let authorization = bearer(&token(c, caller, &scopes));
                let outcome = attempt(c, Some(&authorization), op, repository, &layer);
                let want = expected(caller, private, op);
                assert_eq!(outcome, want, "{caller:?} {op:?} {repository} with a token");
            }
        }
    }
}

pub fn catalog_lists_what_the_caller_may_pull(c: &dyn Client) {
    seed(c);
    for caller in CALLERS {
        let catalog_token = token(c, caller, &["registry:catalog:*"]);
        for authorization in [caller.map(basic), Some(bearer(&catalog_token))] {
            let reply = c.send_as(authorization.as_deref(), "GET", "/v2/_catalog", &[], b"");
            assert_eq!(reply.status, 200, "{caller:?}: {}", body(&reply));
            let listed = reply.json()["repositories"].clone();
            let lists = |name: &str| listed.as_array().unwrap().iter().any(|r| r == name);
            assert!(lists(PUBLIC), "{caller:?}: {listed}");
            let sees_private = expected(caller, true, Op::Pull) == Outcome::Allowed;
            assert_eq!(lists(PRIVATE), sees_private, "{caller:?}: {listed}");
        }
    }
}

/// A token lists only what it grants: the repositories its access claims cover with pull, or,
/// with `registry:catalog:*`, everything its user may pull (above).
pub fn catalog_follows_the_token_scope(c: &dyn Client) {
    seed(c);
    let pull = |repository: &str| format!("repository:{repository}:pull");
    for (user, scopes, listed) in [
        (Some("pusher"), vec![pull(PUBLIC)], vec![PUBLIC]),
        (Some("pusher"), vec![pull(PRIVATE)], vec![PRIVATE]),
        (
            Some("pusher"),
            vec![pull(PUBLIC), pull(PRIVATE)],
            vec![PRIVATE, PUBLIC],
        ),
        // `docker login`'s token: no scope at all.
        (Some("pusher"), vec![], vec![]),
        (None, vec![pull(PUBLIC)], vec![PUBLIC]),
    ] {
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let authorization = bearer(&token(c, user, &scopes));
        let reply = c.send_as(Some(&authorization), "GET", "/v2/_catalog", &[], b"");
        assert_eq!(reply.status, 200, "{user:?} {scopes:?}: {}", body(&reply));
        assert_eq!(
            reply.json()["repositories"],
            serde_json::json!(listed),
            "{user:?} {scopes:?}"
        );
    }
}

/// A mount answers 201 only from a repository the caller may pull; otherwise it is an
/// ordinary upload (202), which says nothing about what the source holds.
pub fn mounts_reveal_nothing_unreadable(c: &dyn Client) {
    seed(c);
    let private_layer = push_blob(c, PRIVATE, &data(80, 902));
    let public_layer = push_blob(c, PUBLIC, &data(80, 903));
    let outsider = basic("outsider");
    let mount = |layer: &str, from: &str| {
        let path = format!("/v2/outsider/copy/blobs/uploads/?mount={layer}&from={from}");
        c.send_as(Some(&outsider), "POST", &path, &[], b"")
    };
    let hidden = mount(&private_layer, PRIVATE);
    assert_eq!(hidden.status, 202, "{}", body(&hidden));
    let path = format!("/v2/outsider/copy/blobs/{private_layer}");
    assert_eq!(
        c.send_as(Some(&outsider), "HEAD", &path, &[], b"").status,
        404
    );
    assert_eq!(mount(&public_layer, PUBLIC).status, 201);
    // A caller who may push a repository but not pull it learns nothing from it either.
    let upload_only = format!("/v2/{PUBLIC}/blobs/uploads/?mount={public_layer}");
    let token = token(c, Some("pusher"), &[&format!("repository:{PUBLIC}:push")]);
    let reply = c.send_as(Some(&bearer(&token)), "POST", &upload_only, &[], b"");
    assert_eq!(reply.status, 202, "{}", body(&reply));
}

/// A mount whose token never asked for the source is answered with a challenge for both
/// repositories when the user may read the source; the token that challenge leads to mounts.
/// A token that asked for the source and did not get pull falls back to a plain upload, so
/// that no client loops; so does a user who may not read the source at all.
pub fn mounts_ask_once_for_the_source_scope(c: &dyn Client) {
    seed(c);
    let layer = push_blob(c, PRIVATE, &data(90, 904));
    let mount = |authorization: &str, target: &str| {
        let path = format!("/v2/{target}/blobs/uploads/?mount={layer}&from={PRIVATE}");
        c.send_as(Some(authorization), "POST", &path, &[], b"")
    };
    let target = "team/mounted";
    let narrow = token(
        c,
        Some("pusher"),
        &[&format!("repository:{target}:pull,push")],
    );
    let reply = mount(&bearer(&narrow), target);
    let asked = assert_unauthorized(&reply, "token without the source");
    assert_eq!(asked.error.as_deref(), Some("insufficient_scope"));
    let scope = asked.scope.expect("a scope to ask for");
    assert_eq!(
        scope,
        format!("repository:{target}:pull,push repository:{PRIVATE}:pull")
    );
    // The client asks for the challenge's scope as it stands, spaces and all.
    let wide = token(c, Some("pusher"), &[&scope]);
    assert_eq!(mount(&bearer(&wide), target).status, 201);
    let head = format!("/v2/{target}/blobs/{layer}");
    assert_eq!(
        c.send_as(Some(&bearer(&wide)), "HEAD", &head, &[], b"")
            .status,
        200
    );

    // Asked for the source, but not for pull on it: no second challenge.
    let other = "team/mounted-push-only";
    let push_only = token(
        c,
        Some("pusher"),
        &[
            &format!("repository:{other}:pull,push"),
            &format!("repository:{PRIVATE}:push"),
        ],
    );
    assert_eq!(mount(&bearer(&push_only), other).status, 202);
    // Asked and refused: the token records the refusal, and the mount is a plain upload.
    let target = "outsider/mounted";
    let refused = token(
        c,
        Some("outsider"),
        &[
            &format!("repository:{target}:pull,push"),
            &format!("repository:{PRIVATE}:pull"),
        ],
    );
    assert_eq!(
        claims(&refused)["access"][1],
        serde_json::json!({"type": "repository", "name": PRIVATE, "actions": []})
    );
    assert_eq!(mount(&bearer(&refused), target).status, 202);
    // Never asked, and no token could allow it: no challenge either.
    let unasked = token(
        c,
        Some("outsider"),
        &[&format!("repository:{target}:pull,push")],
    );
    assert_eq!(mount(&bearer(&unasked), target).status, 202);
    // Passwords: the user's grants decide at once.
    assert_eq!(mount(&basic("pusher"), "team/mounted-basic").status, 201);
    assert_eq!(mount(&basic("outsider"), target).status, 202);
}

pub fn token_endpoint_grants_the_intersection(c: &dyn Client) {
    let reply = fetch_token(
        c,
        Some("pusher"),
        &[
            "repository:private/app:pull,push,delete",
            "repository:team/x:pull repository:outsider/y:push",
            "registry:catalog:*",
        ],
    );
    assert_eq!(reply.status, 200, "{}", body(&reply));
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    let json = reply.json();
    assert_eq!(json["token"], json["access_token"]);
    assert!(json["expires_in"].as_u64().unwrap() >= 60);
    assert!(json["issued_at"].as_str().unwrap().ends_with('Z'));
    assert!(json.get("refresh_token").is_none());
    let token = json["token"].as_str().unwrap();
    let granted = claims(token);
    let realm = realm(c);
    assert_eq!(granted["sub"], "pusher");
    assert_eq!(granted["aud"], realm.service.as_str());
    assert_eq!(granted["iss"], realm.realm.as_str());
    for claim in ["exp", "nbf", "iat", "jti"] {
        assert!(granted.get(claim).is_some(), "{claim} in {granted}");
    }
    assert_eq!(
        granted["access"],
        serde_json::json!([
            {"type": "repository", "name": "outsider/y", "actions": []},
            {"type": "repository", "name": "private/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "team/x", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );
    // `docker login`: no scope at all, and an offline token to keep.
    let login = c.send_as(
        Some(&basic("reader")),
        "GET",
        &format!(
            "/token?service={}&offline_token=true&client_id=docker",
            query_escape(&realm.service)
        ),
        &[],
        b"",
    );
    assert_eq!(login.status, 200, "{}", body(&login));
    assert_eq!(
        claims(login.json()["token"].as_str().unwrap())["access"],
        serde_json::json!([])
    );
    assert!(login.json()["refresh_token"].is_string());
    // Anonymous callers get public pulls and nothing more; what they were refused stays as
    // an entry without actions.
    let anonymous = token_claims(
        c,
        None,
        &[
            "repository:private/app:pull",
            "repository:team/app:pull,push",
        ],
    );
    assert_eq!(anonymous["sub"], "");
    assert_eq!(
        anonymous["access"],
        serde_json::json!([
            {"type": "repository", "name": "private/app", "actions": []},
            {"type": "repository", "name": "team/app", "actions": ["pull"]},
        ])
    );
    let wrong_service = c.send_as(None, "GET", "/token?service=elsewhere.example", &[], b"");
    assert_eq!(wrong_service.status, 400, "{}", body(&wrong_service));
    let bad_scope = c.send_as(None, "GET", "/token?scope=repository", &[], b"");
    assert_eq!(bad_scope.status, 400, "{}", body(&bad_scope));
}

fn token_claims(c: &dyn Client, user: Option<&str>, scopes: &[&str]) -> serde_json::Value {
    claims(&token(c, user, scopes))
}

fn post_form(c: &dyn Client, fields: &[(&str, &str)]) -> Reply {
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    c.send_as(
        None,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

pub fn oauth_form_and_refresh_tokens(c: &dyn Client) {
    let service = realm(c).service;
    let scope = "repository:team/app:pull,push";
    let password = post_form(
        c,
        &[
            ("grant_type", "password"),
            ("username", "pusher"),
            ("password", "pusher-password"),
            ("service", &service),
            ("client_id", "tests"),
            ("access_type", "offline"),
            ("scope", scope),
        ],
    );
    assert_eq!(password.status, 200, "{}", body(&password));
    let json = password.json();
    let access = json["access_token"].as_str().unwrap();
    assert_eq!(
        claims(access)["access"][0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    let refresh = json["refresh_token"].as_str().unwrap().to_string();
    let refreshed = post_form(
        c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("service", &service),
            ("client_id", "tests"),
            ("scope", scope),
        ],
    );
    assert_eq!(refreshed.status, 200, "{}", body(&refreshed));
    let renewed = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims(&renewed)["sub"], "pusher");
    let upload = c.send_as(
        Some(&bearer(&renewed)),
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[],
        b"",
    );
    assert_eq!(upload.status, 202, "{}", body(&upload));
    // Each kind of token only where it belongs.
    let misused = c.send_as(Some(&bearer(&refresh)), "GET", "/v2/", &[], b"");
    assert_unauthorized(&misused, "a refresh token as an access token");
    let swapped = post_form(
        c,
        &[("grant_type", "refresh_token"), ("refresh_token", access)],
    );
    assert_eq!(swapped.status, 401, "{}", body(&swapped));
    for fields in [
        &[
            ("grant_type", "password"),
            ("username", "pusher"),
            ("password", "nope"),
        ][..],
        &[
            ("grant_type", "password"),
            ("username", "nobody"),
            ("password", "nope"),
        ][..],
    ] {
        let reply = post_form(c, fields);
        assert_eq!(reply.status, 401, "{fields:?}: {}", body(&reply));
        assert_eq!(reply.error_code(), "UNAUTHORIZED");
    }
    for fields in [
        &[("grant_type", "client_credentials")][..],
        &[("username", "pusher")][..],
        &[("grant_type", "password"), ("username", "pusher")][..],
    ] {
        let reply = post_form(c, fields);
        assert_eq!(reply.status, 400, "{fields:?}: {}", body(&reply));
    }
}

pub fn bad_tokens_are_rejected(c: &dyn Client) {
    let realm = realm(c);
    let key = SigningKey::new(&access_env("TOKEN_SIGNING_KEY")).unwrap();
    let claims = |iss: &str, aud: &str| TokenClaims {
        iss: iss.to_string(),
        sub: "admin".into(),
        aud: aud.to_string(),
        jti: "made-by-the-tests".into(),
        access: Some(vec![ResourceAccess::repository(PUBLIC, Actions::ALL)]),
        refresh: None,
        idp: None,
    };
    let now = c.now_ms();
    let good = claims(&realm.realm, &realm.service);
    let valid = key.issue(good.clone(), now, 300);
    let path = format!("/v2/{PUBLIC}/blobs/uploads/");
    let post = |token: &str| c.send_as(Some(&bearer(token)), "POST", &path, &[], b"");
    assert_eq!(post(&valid).status, 202, "the control token works");

    let (header, payload, signature) = {
        let parts: Vec<&str> = valid.split('.').collect();
        (parts[0], parts[1], parts[2])
    };
    let mut widened: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    widened["access"][0]["name"] = "private/app".into();
    let widened = URL_SAFE_NO_PAD.encode(widened.to_string());
    let unsigned_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let other_key = SigningKey::new("some other key that is long enough").unwrap();
    let bad = [
        ("expired", key.issue(good.clone(), now - 3_600_000, 300)),
        (
            "not yet valid",
            key.issue(good.clone(), now + 3_600_000, 300),
        ),
        (
            "wrong audience",
            key.issue(claims(&realm.realm, "other.example"), now, 300),
        ),
        (
            "wrong issuer",
            key.issue(
                claims("https://evil.example/token", &realm.service),
                now,
                300,
            ),
        ),
        ("other key", other_key.issue(good.clone(), now, 300)),
        ("tampered", format!("{header}.{widened}.{signature}")),
        ("alg none", format!("{unsigned_header}.{payload}.")),
        (
            "alg none, old signature",
            format!("{unsigned_header}.{payload}.{signature}"),
        ),
        ("truncated", format!("{header}.{payload}")),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (what, token) in bad {
        let found = assert_unauthorized(&post(&token), what);
        assert_eq!(found.error.as_deref(), Some("invalid_token"), "{what}");
    }
}

pub fn tokens_do_not_reach_other_repositories(c: &dyn Client) {
    let pusher = token(c, Some("pusher"), &["repository:team/app:pull,push"]);
    let reply = c.send_as(
        Some(&bearer(&pusher)),
        "POST",
        "/v2/team/other/blobs/uploads/",
        &[],
        b"",
    );
    let found = assert_unauthorized(&reply, "a token for another repository");
    assert_eq!(found.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(
        found.scope.as_deref(),
        Some("repository:team/other:pull,push")
    );
    let read = c.send_as(
        Some(&bearer(&pusher)),
        "GET",
        "/v2/private/app/manifests/v1",
        &[],
        b"",
    );
    assert_unauthorized(&read, "a token without private/app");
    // Where no token could help, the answer is final.
    let outsider = token(c, Some("outsider"), &["repository:team/app:pull,push"]);
    let denied = c.send_as(
        Some(&bearer(&outsider)),
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[],
        b"",
    );
    assert_oci_error(&denied, 403, "DENIED");
    let anonymous = token(c, None, &["repository:team/app:pull,push"]);
    let push = c.send_as(
        Some(&bearer(&anonymous)),
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[],
        b"",
    );
    assert_unauthorized(&push, "an anonymous token");
}

pub fn malformed_authorization_is_a_clear_401(c: &dyn Client) {
    let long = format!("Bearer {}", "a".repeat(16 * 1024));
    let long_basic = format!("Basic {}", "QUFB".repeat(4 * 1024));
    for authorization in [
        "Bearer",
        "Bearer ",
        "Basic",
        "Basic !!!not-base64",
        "Basic bm8tY29sb24=",
        "Digest username=\"admin\"",
        "admin:admin-password",
        "Bearer a.b.c.d",
        long.as_str(),
        long_basic.as_str(),
    ] {
        let short = &authorization[..authorization.len().min(30)];
        for path in ["/v2/", "/v2/team/app/manifests/v1"] {
            let reply = c.send_as(Some(authorization), "GET", path, &[], b"");
            assert!(
                reply.status == 400 || reply.status == 401,
                "{short:?} on {path}: {} {}",
                reply.status,
                body(&reply)
            );
            if reply.status == 401 {
                assert_eq!(reply.error_code(), "UNAUTHORIZED", "{short:?}");
            }
        }
    }
}

pub fn wrong_passwords_are_rejected(c: &dyn Client) {
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:reader-password")
    );
    for path in ["/v2/", "/v2/team/app/manifests/v1"] {
        assert_unauthorized(&c.send_as(Some(&wrong), "GET", path, &[], b""), path);
    }
    let reply = c.send_as(
        Some(&wrong),
        "GET",
        "/token?scope=repository:team/app:pull",
        &[],
        b"",
    );
    assert_eq!(reply.status, 401, "{}", body(&reply));
    assert!(reply
        .header("WWW-Authenticate")
        .unwrap()
        .starts_with("Basic "));
}
