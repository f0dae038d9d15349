use std::cell::Cell;
use std::rc::Rc;

use base64::{engine::general_purpose::STANDARD, Engine};
use futures::executor::block_on;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::api::{routes, Api, Body, Method, Request, Response, StatusCode};
use crate::auth::{Auth, Policy};
use crate::config::Config;
use crate::records::{ClockedEnvironment, Records};
use crate::scan::zip::build::{archive, Member};
use crate::scan::Job;
use crate::storage::memory::{Clock, MemoryBody, MemoryStore};

/// The API's parts over memory stores, administered by `admin:pw`.
struct Registry {
    records: Records<MemoryStore, MemoryStore, ClockedEnvironment>,
    config: Config,
    auth: Auth,
}

impl Registry {
    fn handle(
        &self,
        request: Request<MemoryBody>,
    ) -> (Response<Vec<u8>>, Option<crate::error::Error>) {
        let api = Api {
            records: &self.records,
            config: &self.config,
            auth: &self.auth,
            issuers: None,
        };
        let route = routes::parse(&request.path).unwrap();
        match block_on(api.serve(route, request)) {
            Ok(response) => (response, None),
            Err(error) => (Response::from_error(&error), Some(error)),
        }
    }

    fn store(&self) -> &MemoryStore {
        &self.records.store
    }
}

fn registry() -> Registry {
    let admin = format!("admin {}", hex::encode(Sha256::digest(b"pw")));
    let auth = Auth {
        policy: Policy::parse("", Some(&admin), "").unwrap(),
        ..Auth::default()
    };
    // 2026-12-02T10:00:00Z
    let clock: Clock = Rc::new(Cell::new(1_796_205_600_000));
    let store = MemoryStore::new().with_clock(clock.clone());
    Registry {
        records: Records::new(
            store,
            None,
            MemoryStore::new(),
            ClockedEnvironment::new(clock),
        ),
        config: Config::default(),
        auth,
    }
}

fn request(method: Method, path: &str, user: Option<&str>, body: &[u8]) -> Request<MemoryBody> {
    let authorization = user.map(|user| format!("Basic {}", STANDARD.encode(user)));
    let mut headers = vec![("content-length".to_string(), body.len().to_string())];
    headers.extend(authorization.map(|a| ("authorization".to_string(), a)));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Request::local(method, path, &headers, MemoryBody::new(body, 4096))
}

fn json_of(response: &Response<Vec<u8>>) -> Value {
    match &response.body {
        Body::Bytes(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => panic!("a JSON body"),
    }
}

fn export() -> Vec<u8> {
    let advisory = json!({
        "id": "DSA-1",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.1"}]}]
        }]
    });
    archive(
        &[Member::deflated(
            "DSA-1.json",
            &serde_json::to_vec(&advisory).unwrap(),
        )],
        false,
    )
}

#[test]
fn the_administrator_loads_advisories_and_sees_how_they_stand() {
    let registry = registry();
    let admin = Some("admin:pw");
    let (response, _) = registry.handle(request(Method::GET, "/_advisories", admin, b""));
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        json_of(&response),
        json!({"ecosystems": [], "updated_at": null})
    );

    let put = request(Method::PUT, "/_advisories/Debian", admin, &export());
    let (response, error) = registry.handle(put);
    assert_eq!(response.status, StatusCode::ACCEPTED, "{error:?}");
    assert_eq!(
        json_of(&response),
        json!({"ecosystem": "Debian", "status": "indexing", "advisories": 0,
               "loaded_at": null, "source": "upload"})
    );
    loop {
        let jobs = registry.records.take_jobs();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if let Job::IndexAdvisories { ecosystem, load } = job {
                block_on(crate::jobs::advisories::index_step(
                    &registry.records,
                    &ecosystem,
                    &load,
                ))
                .unwrap();
            }
        }
    }
    let (response, _) = registry.handle(request(Method::GET, "/_advisories", admin, b""));
    assert_eq!(
        json_of(&response),
        json!({
            "ecosystems": [{"ecosystem": "Debian", "status": "ready", "advisories": 1,
                            "loaded_at": "2026-12-02T10:00:00Z", "source": "upload"}],
            "updated_at": "2026-12-02T10:00:00Z"
        })
    );
}

#[test]
fn others_and_unknown_ecosystems_are_refused() {
    let registry = registry();
    for (method, path) in [
        (Method::GET, "/_advisories"),
        (Method::PUT, "/_advisories/Debian"),
    ] {
        let (response, _) = registry.handle(request(method, path, None, &export()));
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert!(response.headers.contains_key("www-authenticate"));
    }
    let wrong = request(Method::PUT, "/_advisories/Debian", Some("admin:nope"), b"x");
    assert_eq!(registry.handle(wrong).0.status, StatusCode::UNAUTHORIZED);
    let admin = Some("admin:pw");
    let gentoo = request(Method::PUT, "/_advisories/Gentoo", admin, &export());
    let (response, _) = registry.handle(gentoo);
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let body = json_of(&response);
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Gentoo") && message.contains("Debian, Ubuntu, Alpine, PyPI, npm"));
    for (method, path) in [
        (Method::GET, "/_advisories/Debian"),
        (Method::DELETE, "/_advisories/Debian"),
        (Method::PUT, "/_advisories"),
    ] {
        let (response, _) = registry.handle(request(method, path, admin, b""));
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let off = Registry {
        config: Config {
            scanning: false,
            ..Config::default()
        },
        ..registry
    };
    let (response, _) = off.handle(request(Method::PUT, "/_advisories/npm", admin, &export()));
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(off.records.take_jobs().is_empty());
    assert!(off.store().keys().is_empty());
}
