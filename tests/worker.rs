//! The protocol scenarios over HTTP against the real wasm worker under `wrangler dev`, plus
//! what only a real server can show: large streamed bodies and concurrent requests.
//! scripts/test starts the worker and sets REGISTRY_URL and REGISTRY_PART_MIB.

// The ureq error type in the retry helper is ureq's own; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use common::http::{client, reply, Http, READ_TIMEOUT};
use common::{assert_oci_error, basic, data, repo, sha256, Client, Reply};

scenario_tests!(client());
access_tests!(client());
pull_tests!(client());
// Against a worker of their own (scripts/test), one at a time: collection is registry-wide.
maintenance_tests!(client());

/// Deterministic bytes produced on the fly, so that a 1 GiB body needs no 1 GiB buffer.
struct Generated {
    remaining: u64,
    block: Vec<u8>,
    position: usize,
}

impl Generated {
    fn new(len: u64) -> Self {
        Generated {
            remaining: len,
            block: data(1 << 20, 99),
            position: 0,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.remaining as usize)
            .min(self.block.len() - self.position);
        buf[..n].copy_from_slice(&self.block[self.position..self.position + n]);
        // Shift the pattern by one byte per block so that parts never repeat exactly.
        self.position = (self.position + n) % (self.block.len() - 1);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The byte count and SHA-256 digest of everything `reader` yields.
fn hash_reader(mut reader: impl Read) -> (u64, String) {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut total = 0;
    loop {
        let n = reader.read(&mut buffer).expect("read");
        if n == 0 {
            return (total, format!("sha256:{}", hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

/// Ignored by default: scripts/test runs it alone with `--ignored` after the others, so that a
/// minute of streaming does not compete with them.
#[test]
#[ignore = "slow: run alone by scripts/test"]
fn one_gib_in_one_streamed_patch() {
    const LEN: u64 = 1 << 30;
    let c = client();
    let name = repo("gib");
    let (_, digest) = hash_reader(Generated::new(LEN));
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let patch = c.send_stream("PATCH", &location, Generated::new(LEN));
    assert_eq!(
        patch.status,
        202,
        "{}",
        String::from_utf8_lossy(&patch.body)
    );
    assert_eq!(
        patch.header("Range"),
        Some(format!("0-{}", LEN - 1).as_str())
    );
    let put = c.send(
        "PUT",
        &format!("{}?digest={digest}", patch.header("Location").unwrap()),
        &[],
        b"",
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let head = c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(
        head.header("Content-Length"),
        Some(LEN.to_string().as_str())
    );
    // Redirected, as every large pull is, to the worker's own signed URL.
    let path = format!("/v2/{name}/blobs/{digest}");
    let redirect = c.send_once(None, "GET", &path, &[], b"");
    assert_eq!(redirect.status, 307);
    let location = redirect.header("Location").unwrap();
    let target = location
        .strip_prefix(&c.base)
        .expect("a signed URL of the worker's own");
    let response = c.call("GET", target, || c.request("GET", target, &[]).call());
    assert_eq!(hash_reader(response.into_reader()), (LEN, digest));
}

#[test]
fn racing_patches_on_one_session_accept_exactly_one() {
    let c = client();
    let name = repo("race");
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..2u64)
            .map(|seed| {
                let (c, location) = (&c, &location);
                s.spawn(move || {
                    let chunk = data(200_000, seed);
                    c.send("PATCH", location, &[("Content-Range", "0-199999")], &chunk)
                        .status
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [202, 416], "{statuses:?}");
    let status = c.send("GET", &location, &[], b"");
    assert_eq!(status.header("Range"), Some("0-199999"));
}

/// Four pushes of different content racing to create the same immutable tag (tests/access.env:
/// semver in test/immutable-*): R2's create-only put lets exactly one win; the others are
/// refused with 403 DENIED, and the tag names the winner's manifest. The tag is new on every
/// run, so that the test holds against a worker that keeps its state.
#[test]
fn racing_first_pushes_of_an_immutable_tag_accept_exactly_one() {
    let c = client();
    let name = repo("immutable-worker-race");
    let config = data(40, 4100);
    let layer = data(300, 4101);
    let (config_digest, layer_digest) = (
        common::push_blob(&c, &name, &config),
        common::push_blob(&c, &name, &layer),
    );
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let tag = format!("1.0.0-race.{run}");
    let manifests: Vec<Vec<u8>> = (0..4)
        .map(|racer| {
            common::image_manifest(
                (&config_digest, config.len()),
                &[(&layer_digest, layer.len())],
                &format!(r#","annotations":{{"racer":"{racer}"}}"#),
            )
        })
        .collect();
    let path = format!("/v2/{name}/manifests/{tag}");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = manifests
            .iter()
            .map(|manifest| {
                let (c, path) = (&c, &path);
                s.spawn(move || {
                    c.send(
                        "PUT",
                        path,
                        &[("Content-Type", common::OCI_MANIFEST)],
                        manifest,
                    )
                    .status
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [201, 403, 403, 403], "{statuses:?}");
    let winner = statuses.iter().position(|&s| s == 201).unwrap();
    let tagged = c.send("GET", &path, &[], b"");
    assert_eq!(tagged.status, 200);
    assert_eq!(tagged.body, manifests[winner]);
}

/// A body that yields `first`, says so on `sent`, and yields `rest` only once `release` fires:
/// a request that stays in flight, on the worker, for as long as the test wants.
struct Gated {
    first: std::io::Cursor<Vec<u8>>,
    rest: std::io::Cursor<Vec<u8>>,
    sent: Option<std::sync::mpsc::Sender<()>>,
    release: std::sync::mpsc::Receiver<()>,
}

impl Read for Gated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.first.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if let Some(sent) = self.sent.take() {
            sent.send(()).expect("the test waits for the first piece");
            self.release.recv().expect("the test releases the rest");
        }
        self.rest.read(buf)
    }
}

/// Uploads `bytes` to `name` in one streamed PATCH that pauses after its first 100 kB while
/// `meanwhile` runs, and checks that the upload completes and pulls back; returns what
/// `meanwhile` returned.
fn while_uploading<T>(c: &Http, name: &str, bytes: &[u8], meanwhile: impl FnOnce() -> T) -> T {
    let digest = sha256(bytes);
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let (sent, first_sent) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel();
    let body = Gated {
        first: std::io::Cursor::new(bytes[..100_000].to_vec()),
        rest: std::io::Cursor::new(bytes[100_000..].to_vec()),
        sent: Some(sent),
        release: released,
    };
    let (outcome, patch) = std::thread::scope(|s| {
        let upload = s.spawn(|| c.send_stream("PATCH", &location, body));
        first_sent.recv().expect("the upload started");
        let outcome = meanwhile();
        release.send(()).unwrap();
        (outcome, upload.join().unwrap())
    });
    assert_eq!(
        patch.status,
        202,
        "{}",
        String::from_utf8_lossy(&patch.body)
    );
    let range = format!("0-{}", bytes.len() - 1);
    assert_eq!(patch.header("Range"), Some(range.as_str()));
    let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], b"");
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let pulled = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert!(pulled.body == bytes);
    outcome
}

/// A request that fails unexpectedly must not take others down with it: an upload streaming
/// while a malformed signed URL (once a panic, after which the next request reset the wasm
/// instance under every request in flight) and then another request are answered completes.
#[test]
fn a_malformed_request_leaves_requests_in_flight_alone() {
    let c = client();
    let name = repo("in-flight");
    // A current date, so that the URL gets past the expiry check to where the date was cut.
    let large = data(c.part_size() + 1, 32);
    let large_digest = common::push_blob(&c, &name, &large);
    let redirect = c.send_once(
        Some(&basic("admin")),
        "GET",
        &format!("/v2/{name}/blobs/{large_digest}"),
        &[],
        b"",
    );
    let target = redirect.header("Location").unwrap().replace(&c.base, "");
    let date = target
        .split('&')
        .find_map(|param| param.strip_prefix("X-Amz-Date="))
        .unwrap()
        .to_string();
    let malformed = target.replace(&date, &format!("{}%E3%80%80{}", &date[..6], &date[6..]));

    let (refused, next) = while_uploading(&c, &name, &data(300_000, 31), || {
        let refused = c.send_once(None, "GET", &malformed, &[], b"").status;
        (refused, c.send("GET", "/v2/", &[], b"").status)
    });
    assert_eq!((refused, next), (403, 200));
}

/// The path at which the worker under test panics (scripts/test sets `TEST_PANIC_PATH`).
const PANIC_PATH: &str = "/_test/panic";

/// What a request that panics gets: its status, or how its connection ended.
fn panic_outcome(c: &Http) -> Result<Reply, String> {
    match c
        .request("GET", PANIC_PATH, &[])
        .timeout(Duration::from_secs(30))
        .call()
    {
        Ok(response) | Err(ureq::Error::Status(_, response)) => Ok(reply(response)),
        Err(err) => Err(format!("transport: {err}")),
    }
}

/// A panic that gets through anyway costs only its own request, which is answered with an OCI
/// 500: an upload streaming meanwhile completes, and the worker goes on serving. The request
/// panics after waking its own task in the same poll, with a timer of its own pending: neither
/// wake may reach its poisoned task. The
/// second round panics in the instance that the first one tainted, or in its replacement.
#[test]
fn a_panicking_request_leaves_requests_in_flight_alone() {
    let c = client();
    let name = repo("panic");
    for round in 0..2u64 {
        let (panicked, next) = while_uploading(&c, &name, &data(300_000, 40 + round), || {
            let panicked = panic_outcome(&c);
            // Past the panicking request's 100 ms timer, with the upload still held open: a
            // wake reaching its poisoned task would abort the instance under the upload.
            std::thread::sleep(Duration::from_millis(300));
            (panicked, c.send("GET", "/v2/", &[], b"").status)
        });
        assert_eq!(next, 200, "round {round}");
        let panicked = panicked.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_oci_error(&panicked, 500, "UNKNOWN");
    }
}

/// A header value with a control character, which RFC 9110 forbids but the runtime passes on,
/// is refused with an OCI error. ureq sends no such header, so the request is written by hand.
#[test]
fn a_header_value_with_a_control_character_is_refused() {
    let c = client();
    let authority = c.base.strip_prefix("http://").expect("a plain-HTTP worker");
    let mut stream = TcpStream::connect(authority).expect("connect to the worker");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {authority}\r\nX-Probe: a\x01b\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    // The answer's head, line by line, then as many bytes as its Content-Length says.
    let mut answer = BufReader::new(stream);
    let mut line = || {
        let mut line = String::new();
        answer
            .read_line(&mut line)
            .expect("a line of the answer's head");
        line.trim_end().to_string()
    };
    let status = line().split(' ').nth(1).and_then(|s| s.parse().ok());
    let headers: Vec<(String, String)> = std::iter::from_fn(|| Some(line()))
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.to_string(), value.trim().to_string()))
        })
        .collect();
    let mut reply = Reply {
        status: status.expect("a status line"),
        headers,
        body: Vec::new(),
    };
    let length = reply.header("Content-Length").and_then(|l| l.parse().ok());
    reply.body = vec![0; length.expect("a Content-Length")];
    answer
        .read_exact(&mut reply.body)
        .expect("the answer's body");
    assert_oci_error(&reply, 400, "UNSUPPORTED");
}

#[test]
fn concurrent_uploads_of_one_blob_both_succeed() {
    let c = client();
    let bytes = data(c.part_size() + 1000, 77);
    let digest = sha256(&bytes);
    let names = [repo("same-blob-a"), repo("same-blob-b")];
    std::thread::scope(|s| {
        for name in &names {
            let (c, bytes, digest) = (&c, &bytes, &digest);
            s.spawn(move || {
                let reply = c.send(
                    "POST",
                    &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
                    &[],
                    bytes,
                );
                assert_eq!(reply.status, 201);
            });
        }
    });
    for name in &names {
        assert!(
            c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
                .body
                == bytes
        );
    }
}

/// Public pulls by digest are answered from the edge cache after the first; private ones
/// never are; a tag is looked up again once its few seconds are over (the test worker caches
/// tags for TAG_CACHE_SECONDS=2).
#[test]
fn edge_cache_serves_public_content_and_expires_tags() {
    let c = client();
    let anonymous =
        |path: &str, headers: &[(&str, &str)]| c.send_as(None, "GET", path, headers, b"");
    let name = "team/edge-cache";
    let first = common::push_image(&c, name, "v1", 2000);
    let by_digest = format!("/v2/{name}/manifests/{first}");
    anonymous(&by_digest, &[]);
    let hit = anonymous(&by_digest, &[]);
    assert_eq!(hit.header("X-Cache"), Some("HIT"));
    assert_eq!(hit.header("Docker-Content-Digest"), Some(first.as_str()));
    assert_eq!(sha256(&hit.body), first);
    let etag = format!("\"{first}\"");
    let not_modified = anonymous(&by_digest, &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    // A range, or a caller with bad credentials, bypasses the cache.
    let partial = anonymous(&by_digest, &[("Range", "bytes=0-9")]);
    assert_eq!(partial.header("X-Cache"), None);
    let bad = c.send_as(Some("Bearer not-a-token"), "GET", &by_digest, &[], b"");
    assert_eq!(bad.status, 401);

    let private = "private/edge-cache";
    let digest = common::push_image(&c, private, "v1", 2001);
    let path = format!("/v2/{private}/manifests/{digest}");
    for _ in 0..2 {
        let reply = c.send_as(Some(&basic("reader")), "GET", &path, &[], b"");
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("X-Cache"),
            None,
            "private content is never cached"
        );
    }

    let by_tag = format!("/v2/{name}/manifests/v1");
    anonymous(&by_tag, &[]);
    let cached = anonymous(&by_tag, &[]);
    assert_eq!(cached.header("X-Cache"), Some("HIT"));
    let second = common::push_image(&c, name, "v1", 2002);
    std::thread::sleep(Duration::from_secs(3));
    let moved = anonymous(&by_tag, &[]);
    assert_eq!(moved.header("Docker-Content-Digest"), Some(second.as_str()));
    // A push by digest that applies the tag (`?tag=`) purges the tag's cached answer too: the
    // next pull, well within the tag's cache lifetime, sees the move.
    // The cache's put runs after the answer (waitUntil): give it a moment.
    let cached_again = (0..20).any(|_| {
        let hit = anonymous(&by_tag, &[]).header("X-Cache") == Some("HIT");
        if !hit {
            std::thread::sleep(Duration::from_millis(50));
        }
        hit
    });
    assert!(cached_again, "the tag is cached again");
    let retag = format!("{by_digest}?tag=v1");
    let content_type = [("Content-Type", common::OCI_MANIFEST)];
    assert_eq!(c.send("PUT", &retag, &content_type, &hit.body).status, 201);
    let back = anonymous(&by_tag, &[]);
    assert_eq!(back.header("Docker-Content-Digest"), Some(first.as_str()));
    let second_again = format!("/v2/{name}/manifests/{second}?tag=v1");
    let second_bytes = anonymous(&format!("/v2/{name}/manifests/{second}"), &[]).body;
    assert_eq!(
        c.send("PUT", &second_again, &content_type, &second_bytes)
            .status,
        201
    );

    // A deletion is seen at once where it happened, under every spelling of the digest.
    let by_second = format!("/v2/{name}/manifests/{second}");
    let escaped = by_second.replace(':', "%3A");
    for path in [&by_second, &escaped] {
        anonymous(path, &[]);
        assert_eq!(
            anonymous(path, &[]).header("X-Cache"),
            Some("HIT"),
            "{path}"
        );
    }
    assert_eq!(c.send("DELETE", &by_second, &[], b"").status, 202);
    assert_eq!(anonymous(&by_second, &[]).status, 404);
    assert_eq!(anonymous(&escaped, &[]).status, 404);
}

/// The public-blobs bucket over HTTP (common/public_bucket.rs), against the worker that
/// scripts/test starts with a second bucket (tests/public-bucket/wrangler.toml): what the
/// bucket must hold goes to PUBLIC_BUCKET_EXPECTED, and scripts/test lists the bucket once the
/// worker has stopped (tests/public-bucket/check.js).
#[test]
fn public_bucket_holds_only_public_blob_bytes() {
    let base = std::env::var("PUBLIC_BLOB_BASE_URL")
        .expect("PUBLIC_BLOB_BASE_URL: run through scripts/test");
    let expected = std::env::var("PUBLIC_BUCKET_EXPECTED")
        .expect("PUBLIC_BUCKET_EXPECTED: run through scripts/test");
    let (held, not_held) = common::public_bucket::push_pull_and_collect(&client(), &base);
    let json = serde_json::json!({ "held": held, "not_held": not_held });
    std::fs::write(&expected, json.to_string()).unwrap();
}

/// Two maintenance runs requested at once: the lease lets one work, and the other reports
/// that it found the lease held and did nothing. Whether two requests overlap is up to the
/// scheduler, so pairs are sent until one does (each run makes tens of storage calls, so the
/// first pair nearly always does). Run with the maintenance tests, on their worker.
#[test]
fn maintenance_runs_one_at_a_time() {
    let c = client();
    for _ in 0..20 {
        let barrier = std::sync::Barrier::new(2);
        let reports: Vec<serde_json::Value> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    let (c, barrier) = (&c, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let reply = c.send("POST", "/_maintenance", &[], b"");
                        assert_eq!(reply.status, 200);
                        reply.json()
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let held: Vec<&serde_json::Value> = reports
            .iter()
            .filter(|r| r["lease_held_until_ms"].is_u64())
            .collect();
        assert!(held.len() < 2, "neither run worked: {reports:?}");
        if let Some(report) = held.first() {
            assert_eq!(report["operations"], 0, "{report}");
            return;
        }
    }
    panic!("no two maintenance runs ever overlapped");
}

/// Waits until `ecosystem`'s advisories are no longer indexing (the queue runs the steps in
/// this worker), and answers its line of GET /_advisories.
fn advisories_settled(c: &Http, ecosystem: &str) -> serde_json::Value {
    for _ in 0..600 {
        let reply = c.send("GET", "/_advisories", &[], b"");
        assert_eq!(reply.status, 200);
        let all = reply.json();
        let line = all["ecosystems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["ecosystem"] == ecosystem)
            .cloned()
            .expect("the ecosystem is listed once loaded");
        if line["status"] != "indexing" {
            return line;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{ecosystem}'s advisories are still indexing");
}

/// Issue 14: an OSV export of more than 100 MB streams into R2 and is indexed in the queue's
/// bounded steps; an entry that inflates past the limit (a zip bomb) is skipped, a malformed
/// zip fails its load with a clear error and leaves the advisories before it in place, and
/// other ecosystems and callers are refused. Ubuntu is this test's alone: no other worker test
/// loads it.
#[test]
fn advisories_load_from_a_large_export_and_refuse_broken_ones() {
    use common::osv_zip::{advisory, export};

    let c = client();
    let unknown = c.send("PUT", "/_advisories/Gentoo", &[], b"PK");
    assert_oci_error(&unknown, 400, "UNSUPPORTED");
    let anonymous = c.send_as(None, "PUT", "/_advisories/Ubuntu", &[], b"PK");
    assert_eq!(anonymous.status, 401);

    let padding_len = 110 * 1024 * 1024;
    let mut crc = flate2::Crc::new();
    let mut padding = Generated::new(padding_len);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = padding.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        crc.update(&buffer[..n]);
    }
    let bomb = vec![b' '; 40 * 1024 * 1024];
    let files = [
        (
            "UBUNTU-CVE-2026-1.json",
            advisory(
                "UBUNTU-CVE-2026-1",
                "Ubuntu:24.04:LTS",
                "openssl",
                "3.0.13-0ubuntu3.5",
            ),
        ),
        ("bomb.json", bomb),
    ];
    let padding: Box<dyn Read> = Box::new(Generated::new(padding_len));
    let (len, body) = export(&files, Some((padding_len, crc.sum(), padding)));
    assert!(len > 100_000_000);
    let admin = basic("admin");
    let response = c
        .request(
            "PUT",
            "/_advisories/Ubuntu",
            &[
                ("Authorization", &admin),
                ("Content-Length", &len.to_string()),
            ],
        )
        .send(body);
    let reply = match response {
        Ok(response) | Err(ureq::Error::Status(_, response)) => reply(response),
        Err(err) => panic!("PUT /_advisories/Ubuntu: {err}"),
    };
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["status"], "indexing");
    let line = advisories_settled(&c, "Ubuntu");
    assert_eq!(line["status"], "ready", "{line}");
    assert_eq!(line["advisories"], 1);
    assert_eq!(line["source"], "upload");
    assert!(line["loaded_at"].as_str().unwrap().ends_with('Z'));

    let malformed = c.send("PUT", "/_advisories/Ubuntu", &[], &data(4096, 14));
    assert_eq!(malformed.status, 202);
    let line = advisories_settled(&c, "Ubuntu");
    assert_eq!(line["status"], "failed", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("not a readable zip archive"), "{error}");
    assert_eq!(line["advisories"], 1, "the advisories before stay: {line}");
}
