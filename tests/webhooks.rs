//! Webhooks against the real worker under `wrangler dev`, started by scripts/test with a
//! `WEBHOOKS` receiver on a loopback port it chose (`WEBHOOK_PORT`), whose key it passes as
//! `WEBHOOK_SECRET` (`whsec_...`), and the worker's log file as `WORKER_LOG`. The receiver is a
//! tiny HTTP server run by this test; deliveries come through the worker's queue (miniflare's
//! local queue), so they are waited for.
#![cfg(feature = "integration")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use common::http::client;
use common::{push_image, Client};

/// One request the receiver got: its headers (lowercase names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// The receiver: listening on the port until dropped, answering every POST with its status.
struct Listening {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listening {
    fn start(port: u16, sink: Sender<Received>) -> Listening {
        Listening::answering(port, 200, sink)
    }

    fn answering(port: u16, status: u16, sink: Sender<Received>) -> Listening {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the webhook port is free");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        if let Some(received) = serve(stream, status) {
                            let _ = sink.send(received);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            // The listener is dropped here: the port refuses connections again.
        });
        Listening {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn serve(stream: std::net::TcpStream, status: u16) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    stream
        .write_all(
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    line.starts_with("POST ")
        .then_some(Received { headers, body })
}

/// Waits up to `seconds` for a delivery whose subject is `subject` and type ends with `kind`.
fn wait_for(events: &Receiver<Received>, subject: &str, kind: &str, seconds: u64) -> Received {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {kind} event for {subject} within {seconds} s"));
        let body = received.json();
        if body["subject"] == subject && body["type"].as_str().unwrap().ends_with(kind) {
            return received;
        }
    }
}

/// Checks the Standard Webhooks signature with the key, as a receiver would.
fn verify(received: &Received, secret: &str) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = received.header("webhook-id");
    let timestamp = received.header("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let signatures: Vec<&str> = received.header("webhook-signature").split(' ').collect();
    assert!(signatures.contains(&expected.as_str()), "{signatures:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sent: u64 = timestamp.parse().unwrap();
    assert!(now.abs_diff(sent) < 300, "timestamp {sent}, now {now}");
    assert_eq!(received.json()["id"], id, "webhook-id is the event's id");
}

fn port_and_secret() -> (u16, String) {
    let port = std::env::var("WEBHOOK_PORT")
        .expect("WEBHOOK_PORT: run through scripts/test")
        .parse()
        .unwrap();
    (
        port,
        std::env::var("WEBHOOK_SECRET").expect("WEBHOOK_SECRET"),
    )
}

/// Only on the worker of tests/webhooks-dead/wrangler.toml (one retry), which scripts/test
/// starts and runs this test alone against (`WEBHOOK_DEAD_LETTERS` set): a receiver that
/// always answers 500 gets the first attempt, the retry and the dead-letter consumer's last
/// attempt, all with the same id; then the log says why the delivery was given up.
#[test]
fn a_delivery_that_keeps_failing_is_dead_lettered_with_its_reason_logged() {
    if std::env::var("WEBHOOK_DEAD_LETTERS").is_err() {
        return;
    }
    let (port, secret) = port_and_secret();
    let client = client();
    let (sink, events) = channel();
    let _receiver = Listening::answering(port, 500, sink);
    push_image(&client, "test/webhooks-dead", "v1", 7300);
    let first = wait_for(&events, "test/webhooks-dead:v1", ".manifest.pushed", 60);
    verify(&first, &secret);
    let id = first.header("webhook-id").to_string();
    for attempt in ["the retry", "the dead-letter consumer's last attempt"] {
        let again = wait_for(&events, "test/webhooks-dead:v1", ".manifest.pushed", 90);
        assert_eq!(again.header("webhook-id"), id, "{attempt}");
        verify(&again, &secret);
    }
    let path = std::env::var("WORKER_LOG").expect("WORKER_LOG");
    let given_up =
        format!("webhooks: gave up after the last retry: webhook {id} to 127.0.0.1: answered 500");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&path).unwrap();
        if log.contains(&given_up) {
            assert!(!log.contains(secret.strip_prefix("whsec_").unwrap()));
            break;
        }
        assert!(Instant::now() < deadline, "the log never says: {given_up}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(events.try_recv().is_err(), "no attempt after the last");
}

#[test]
fn webhooks_deliver_signed_cloud_events_and_retry_until_the_receiver_is_back() {
    if std::env::var("WEBHOOK_DEAD_LETTERS").is_ok() {
        return;
    }
    let (port, secret) = port_and_secret();
    let client = client();
    let name = "test/webhooks";
    let (sink, events) = channel();

    // A push by tag, and the tag's deletion, while the receiver listens.
    let receiver = Listening::start(port, sink.clone());
    let digest = push_image(&client, name, "v1", 7100);
    let pushed = wait_for(&events, &format!("{name}:v1"), ".manifest.pushed", 60);
    verify(&pushed, &secret);
    let event = pushed.json();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "dev.edge-registry.manifest.pushed");
    assert_eq!(event["source"], client.origin());
    assert_eq!(event["datacontenttype"], "application/json");
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    let data = &event["data"];
    assert_eq!(data["repository"], name);
    assert_eq!(data["tag"], "v1");
    assert_eq!(data["digest"], digest);
    assert_eq!(data["mediaType"], common::OCI_MANIFEST);
    assert!(data["size"].as_u64().unwrap() > 0);
    assert_eq!(data["actor"], "admin");
    assert_eq!(
        pushed.header("content-type"),
        "application/cloudevents+json"
    );

    let reply = client.send("DELETE", &format!("/v2/{name}/manifests/v1"), &[], b"");
    assert_eq!(reply.status, 202);
    let deleted = wait_for(&events, &format!("{name}:v1"), ".manifest.deleted", 60);
    verify(&deleted, &secret);
    let event = deleted.json();
    assert_eq!(event["type"], "dev.edge-registry.manifest.deleted");
    assert_eq!(event["data"]["tag"], "v1");
    assert_eq!(event["data"]["digest"], digest);
    assert_ne!(event["id"], pushed.json()["id"]);

    // The receiver down during a push: the push succeeds at once, and the event arrives
    // after the receiver comes back (the queue's retry, at least 10 s later).
    drop(receiver);
    let started = Instant::now();
    push_image(&client, name, "v2", 7200);
    assert!(started.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(4));
    assert!(events.try_recv().is_err(), "nothing could have arrived");
    let _receiver = Listening::start(port, sink);
    let late = wait_for(&events, &format!("{name}:v2"), ".manifest.pushed", 90);
    verify(&late, &secret);

    // The worker's log names receivers by host and never holds the secret or a signature.
    if let Ok(path) = std::env::var("WORKER_LOG") {
        let log = std::fs::read_to_string(path).unwrap();
        let encoded = secret.strip_prefix("whsec_").unwrap();
        assert!(!log.contains(encoded), "the secret is in the worker's log");
        for received in [&pushed, &deleted, &late] {
            let signature = received.header("webhook-signature");
            assert!(!log.contains(&signature[3..]), "a signature is in the log");
        }
        assert!(log.contains("webhooks: failed, retried: webhook"), "{log}");
    }
}

/// The scan of a pushed image ends (here failed: its layer is not a tar) and its end is
/// announced to the receiver of `scan.completed` events, a second one on its own port
/// (`WEBHOOK_SCAN_PORT`, for repositories `test/scanhooks*`), signed like every delivery.
#[test]
fn a_scan_s_end_is_announced_as_scan_completed() {
    let Ok(port) = std::env::var("WEBHOOK_SCAN_PORT") else {
        return;
    };
    let (_, secret) = port_and_secret();
    let client = client();
    let name = "test/scanhooks";
    let (sink, events) = channel();
    let _receiver = Listening::start(port.parse().unwrap(), sink);
    let digest = push_image(&client, name, "v1", 7400);
    let completed = wait_for(&events, &format!("{name}@{digest}"), ".scan.completed", 120);
    verify(&completed, &secret);
    let event = completed.json();
    assert_eq!(event["type"], "dev.edge-registry.scan.completed");
    assert_eq!(event["data"]["repository"], name);
    assert_eq!(event["data"]["digest"], digest);
    let scan = &event["data"]["scan"];
    assert_eq!(scan["status"], "failed", "{event}");
    assert!(
        scan["reason"].as_str().unwrap().starts_with("layer 1"),
        "{event}"
    );
}
