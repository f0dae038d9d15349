//! The HTTP client of the tests that drive the real worker under `wrangler dev` (tests/worker.rs,
//! tests/scan.rs): scripts/test starts the worker and sets REGISTRY_URL and REGISTRY_PART_MIB.

// The ureq error type in the retry helper is ureq's own; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::io::Read;
use std::time::Duration;

use super::{sha256, Client, Reply};

pub struct Http {
    pub base: String,
    pub part_size: usize,
}

pub fn client() -> Http {
    let base = std::env::var("REGISTRY_URL").expect("REGISTRY_URL: run these through scripts/test");
    let mib: usize = std::env::var("REGISTRY_PART_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    Http {
        base,
        part_size: mib * 1024 * 1024,
    }
}

pub fn reply(response: ureq::Response) -> Reply {
    let status = response.status();
    // A header sent on several lines is named once per line; `all` gives all its values.
    let mut names = response.headers_names();
    names.sort();
    names.dedup();
    let headers = names
        .into_iter()
        .flat_map(|name| {
            response
                .all(&name)
                .into_iter()
                .map(move |v| (name.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(u64::MAX)
        .read_to_end(&mut body)
        .expect("read response body");
    Reply {
        status,
        headers,
        body,
    }
}

/// wrangler dev's proxy sometimes reuses a pooled connection to the runtime that the runtime
/// has already closed (seen after long streamed requests, and under concurrent load). The
/// request then never reaches the worker: the proxy answers a POST, PUT, PATCH or DELETE with
/// 503 "Your worker restarted mid-request", and parks a GET or HEAD until the next reload,
/// which never comes. Production has no such proxy, so the test client sends such requests
/// again: on a 503 (the registry itself never answers 503), and for GET and HEAD after a read
/// timeout.
const DEV_PROXY_ATTEMPTS: usize = 4;
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Http {
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> ureq::Request {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_read(READ_TIMEOUT)
            .build();
        headers.iter().fold(
            agent.request(method, &format!("{}{path}", self.base)),
            |r, (k, v)| r.set(k, v),
        )
    }

    /// Sends a request, again where the dev proxy lost it (see [`DEV_PROXY_ATTEMPTS`]).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        send: impl Fn() -> Result<ureq::Response, ureq::Error>,
    ) -> ureq::Response {
        let idempotent = matches!(method, "GET" | "HEAD");
        for attempt in 1.. {
            let last = attempt == DEV_PROXY_ATTEMPTS;
            match send() {
                Ok(response) | Err(ureq::Error::Status(_, response))
                    if response.status() != 503 || last =>
                {
                    return response
                }
                Err(ureq::Error::Transport(err)) if !idempotent || last => {
                    panic!("{method} {path}: {err}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        unreachable!("the loop returns by the last attempt")
    }

    /// Sends `body` with chunked transfer encoding and no Content-Length, as docker and crane do.
    pub fn send_stream(&self, method: &str, path: &str, body: impl Read) -> Reply {
        let admin = super::basic("admin");
        match self
            .request(method, path, &[("Authorization", &admin)])
            .send(body)
        {
            Ok(response) | Err(ureq::Error::Status(_, response)) => reply(response),
            Err(err) => panic!("{method} {path}: {err}"),
        }
    }
}

impl Client for Http {
    fn send_once(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut headers = headers.to_vec();
        headers.extend(authorization.map(|value| ("Authorization", value)));
        reply(self.call(method, path, || {
            self.request(method, path, &headers).send_bytes(body)
        }))
    }

    fn origin(&self) -> String {
        self.base.clone()
    }

    fn part_size(&self) -> usize {
        self.part_size
    }

    fn now_ms(&self) -> u64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970");
        since_epoch.as_millis() as u64
    }

    fn let_time_pass(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    /// crane (installed by tests/clients/setup) writes the image as an OCI layout; crane
    /// checks each blob's digest as it reads it, and so does this, file by file.
    fn pull_with_client(&self, name: &str, tag: &str, manifest_digest: &str) {
        let crane = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/.tools/bin/crane");
        let host = self.base.trim_start_matches("http://");
        let layout = std::env::temp_dir().join(format!(
            "crane-{}-{}",
            std::process::id(),
            name.replace('/', "-")
        ));
        let _ = std::fs::remove_dir_all(&layout);
        let output = std::process::Command::new(crane)
            .args(["pull", "--insecure", "--format", "oci"])
            .arg(format!("{host}/{name}:{tag}"))
            .arg(&layout)
            .output()
            .unwrap_or_else(|e| panic!("{crane}: {e} (run tests/clients/setup)"));
        assert!(
            output.status.success(),
            "crane pull {name}:{tag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let blobs = layout.join("blobs/sha256");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&blobs).expect("an OCI layout") {
            let path = entry.unwrap().path();
            let name = format!("sha256:{}", path.file_name().unwrap().to_string_lossy());
            assert_eq!(sha256(&std::fs::read(&path).unwrap()), name);
            names.push(name);
        }
        assert!(
            names.iter().any(|n| n == manifest_digest),
            "{name}:{tag}: {manifest_digest} not among {names:?}"
        );
        std::fs::remove_dir_all(&layout).unwrap();
    }
}
