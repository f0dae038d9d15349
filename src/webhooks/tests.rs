use std::cell::RefCell;

use super::*;

const SECRET: &str = "secret=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[test]
fn signature_matches_an_independent_computation() {
    // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    //   b'0123456789abcdef0123456789abcdef', b'msg_1.1700000000.{\"a\":1}',
    //   hashlib.sha256).digest()).decode())"
    assert_eq!(
        sign(
            b"0123456789abcdef0123456789abcdef",
            "msg_1",
            "1700000000",
            br#"{"a":1}"#
        ),
        "v1,rkwp5YuvdrMkcu0ZhuMsXoTg44mHAr1Q0+FFgFpXsjY="
    );
}

fn event(kind: EventKind, repository: &str, tag: Option<&str>) -> Event {
    Event {
        id: "0123456789abcdef0123456789abcdef".into(),
        kind,
        source: "https://registry.example".into(),
        repository: repository.into(),
        tag: tag.map(str::to_string),
        digest: Some("sha256:abcd".into()),
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        size: Some(123),
        actor: Some("alice".into()),
        time_ms: 1_700_000_000_123,
        scan: None,
    }
}

#[test]
fn cloud_events_carry_the_fields() {
    let body: serde_json::Value =
        serde_json::from_slice(&event(EventKind::Push, "acme/app", Some("v1")).cloud_event())
            .unwrap();
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["id"], "0123456789abcdef0123456789abcdef");
    assert_eq!(body["source"], "https://registry.example");
    assert_eq!(body["type"], "dev.edge-registry.manifest.pushed");
    assert_eq!(body["subject"], "acme/app:v1");
    assert_eq!(body["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(body["datacontenttype"], "application/json");
    let data = &body["data"];
    assert_eq!(data["repository"], "acme/app");
    assert_eq!(data["tag"], "v1");
    assert_eq!(data["digest"], "sha256:abcd");
    assert_eq!(
        data["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(data["size"], 123);
    assert_eq!(data["actor"], "alice");
    assert_eq!(data["time"], body["time"]);

    let by_digest = event(EventKind::Delete, "acme/app", None);
    assert_eq!(by_digest.subject(), "acme/app@sha256:abcd");
    let body: serde_json::Value = serde_json::from_slice(&by_digest.cloud_event()).unwrap();
    assert_eq!(body["type"], "dev.edge-registry.manifest.deleted");
    assert!(body["data"]["tag"].is_null());
}

#[test]
fn receivers_match_events_and_repositories() {
    let hooks = Webhooks::parse(&format!(
        "https://a.example/hook {SECRET}\n\
         # a comment\n\
         https://b.example/hook {SECRET} events=delete repositories=acme/*,lib/x ; \
         http://127.0.0.1:8080/ {SECRET} events=push"
    ))
    .unwrap();
    let urls = |e: &Event| {
        hooks
            .receivers_of(e)
            .map(|r| r.url.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        urls(&event(EventKind::Push, "acme/app", Some("v1"))),
        ["https://a.example/hook", "http://127.0.0.1:8080/"]
    );
    assert_eq!(
        urls(&event(EventKind::Delete, "acme/app", None)),
        ["https://a.example/hook", "https://b.example/hook"]
    );
    assert_eq!(
        urls(&event(EventKind::Delete, "other/app", None)),
        ["https://a.example/hook"]
    );
    assert!(hooks.wants(EventKind::Delete, "lib/x"));
    assert!(Webhooks::parse("").unwrap().is_empty());
}

#[test]
fn bad_receivers_are_refused_without_quoting_the_secret() {
    let bad = [
        format!("http://example.com/ {SECRET}"),
        format!("ftp://127.0.0.1/ {SECRET}"),
        "https://a.example/ secret=whsec_!!notbase64topsecret".into(),
        "https://a.example/ secret=topsecretvalue".into(),
        "https://a.example/ secret=whsec_dG9wc2VjcmV0".into(), // too short
        "https://a.example/".into(),
        format!("https://a.example/ {SECRET} events=push,tagged"),
        format!("https://a.example/ {SECRET} repositories=ACME"),
        format!("https://a.example/ {SECRET} colour=blue"),
        // A mistyped option name whose value is the secret.
        "https://a.example/ sercet=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
        "https://a.example/ whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY".into(),
        format!("https://user:pw@a.example/ {SECRET}"),
    ];
    for line in bad {
        let error = Webhooks::parse(&line).expect_err(&line);
        for secret in ["MDEyMzQ1", "topsecret", "dG9wc2VjcmV0"] {
            assert!(!error.contains(secret), "{error}");
        }
    }
    let hooks = Webhooks::parse(&format!("https://a.example/ {SECRET}")).unwrap();
    assert!(!format!("{hooks:?}").contains("MDEyMzQ1"));
    assert!(!format!("{hooks:?}").contains("0123456789abcdef"));
}

struct Recorder {
    answer: Posted,
    sent: RefCell<Vec<(Delivery, u64)>>,
}

impl Poster for Recorder {
    async fn post(&self, delivery: Delivery, timeout_ms: u64) -> Posted {
        self.sent.borrow_mut().push((delivery, timeout_ms));
        self.answer.clone()
    }
}

#[test]
fn deliveries_are_signed_and_failures_name_host_and_status() {
    let hooks = Webhooks::parse(&format!("https://a.example/hook?token=x {SECRET}")).unwrap();
    let event = event(EventKind::Push, "acme/app", Some("v1"));
    let recorder = Recorder {
        answer: Ok(204),
        sent: RefCell::default(),
    };
    let url = "https://a.example/hook?token=x";
    futures::executor::block_on(deliver(&hooks, url, &event, 1_700_000_005_000, &recorder))
        .unwrap();
    let (delivery, timeout) = recorder.sent.borrow()[0].clone();
    assert_eq!(timeout, DELIVERY_TIMEOUT_MS);
    assert_eq!(delivery.url, url);
    let header = |name| {
        delivery
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("webhook-id"), event.id);
    assert_eq!(header("webhook-timestamp"), "1700000005");
    assert_eq!(
        header("webhook-signature"),
        sign(
            b"0123456789abcdef0123456789abcdef",
            &event.id,
            "1700000005",
            &delivery.body
        )
    );
    assert_eq!(delivery.body, event.cloud_event());

    let failing = Recorder {
        answer: Ok(500),
        sent: RefCell::default(),
    };
    let error = futures::executor::block_on(deliver(&hooks, url, &event, 0, &failing))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!("webhook {} to a.example: answered 500", event.id)
    );
    let down = Recorder {
        answer: Err("timed out".into()),
        sent: RefCell::default(),
    };
    let error = futures::executor::block_on(deliver(&hooks, url, &event, 0, &down)).unwrap_err();
    assert_eq!(error.why, "timed out");
    // A receiver no longer configured: nothing sent, nothing to retry.
    futures::executor::block_on(deliver(&hooks, "https://gone.example/", &event, 0, &down))
        .unwrap();
    assert_eq!(down.sent.borrow().len(), 1);
}
