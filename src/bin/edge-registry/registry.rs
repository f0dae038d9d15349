//! The distribution API as the CLI uses it, over a blocking HTTP client: authentication
//! (Docker's token protocol from a `Bearer` challenge, or HTTP Basic when asked for it),
//! retries with backoff, and the requests of a push. Errors become one line naming what failed
//! and why. A `Registry` is cloned for each thread that uploads; the clones share one
//! connection pool and one authorization.

use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edge_registry::oci::Digest;
use serde::Deserialize;
use url::Url;

use crate::challenge::{self, Challenge};
use crate::docker_config::Credentials;
use crate::error::CliError;

/// A token is fetched again this long before it expires, so that no upload runs into its end.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// Docker's token specification: 60 seconds when the response does not say.
const DEFAULT_TOKEN_SECONDS: u64 = 60;
/// A registry answers a request once it has the whole body; a large chunk takes a while.
const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest wait between two tries, whatever the backoff or a `Retry-After` says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// How the registry is reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connect {
    /// Plain HTTP (loopback hosts get it anyway).
    pub plain_http: bool,
    /// TLS without checking the certificate's chain and name.
    pub insecure: bool,
}

/// How often a failed request is tried again, and how long to wait first.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries after the first; 0 never retries.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each one after.
    pub first_delay: Duration,
}

impl Retry {
    /// The wait before retry number `attempt` (1 for the first), or the registry's
    /// `Retry-After` when it names one; never more than [`MAX_RETRY_DELAY`].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .first_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        retry_after.unwrap_or(backoff).min(MAX_RETRY_DELAY)
    }
}

/// Whether `registry` is served over plain HTTP by default: loopback hosts, as crane does.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

struct Token {
    header: String,
    /// When to fetch it again, with the challenge it answers.
    renew_at: Instant,
    challenge: Challenge,
    scope: String,
}

enum Authorization {
    None,
    Basic(String),
    Bearer(Token),
}

#[derive(Clone)]
pub struct Registry {
    agent: ureq::Agent,
    /// `host[:port]`, as the user wrote it.
    name: String,
    base: Url,
    credentials: Option<Credentials>,
    authorization: Arc<Mutex<Authorization>>,
    retry: Retry,
}

/// A request's body: nothing, bytes in memory (may be sent again), or a stream of `len`
/// bytes (sent once).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

/// What a mount request achieved.
pub enum Mount {
    Mounted,
    /// The registry did not mount the blob and opened an upload for it instead.
    Started(UploadStart),
}

/// How many bytes an upload's `Range: 0-<last byte>` says the registry holds. `0-0` is what
/// registries answer for an empty upload, so it reads as none (a registry holding exactly one
/// byte refuses the resumed chunk with 416, and the upload starts again).
fn parse_range_end(range: &str) -> Option<u64> {
    let (start, end) = range.trim().split_once('-')?;
    let end: u64 = end.trim().parse().ok()?;
    (start.trim() == "0").then_some(if end == 0 { 0 } else { end + 1 })
}

/// What the start of an upload returns.
pub struct UploadStart {
    pub location: Url,
    /// `OCI-Chunk-Max-Length`: the largest PATCH the registry takes.
    pub chunk_max: Option<u64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorsBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's own words for a failure: its OCI errors, else the status line.
fn explain(status: u16, response: ureq::Response) -> String {
    let text = response.status_text().to_string();
    let body = response.into_string().unwrap_or_default();
    match serde_json::from_str::<ErrorsBody>(&body) {
        Ok(errors) if !errors.errors.is_empty() => errors
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; "),
        _ => format!("{status} {text}"),
    }
}

/// Whether a failure may pass if the request is sent again: the connection failed, or the
/// registry said it is overloaded or failing (429, 5xx).
fn is_transient(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and ignored).
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

impl Registry {
    pub fn new(
        name: &str,
        connect: Connect,
        credentials: Option<Credentials>,
        retry: Retry,
    ) -> Result<Registry, CliError> {
        // `--insecure` asks for TLS, on loopback too (`wrangler dev --local-protocol https`).
        let scheme = if connect.plain_http || (is_loopback(name) && !connect.insecure) {
            "http"
        } else {
            "https"
        };
        let base = Url::parse(&format!("{scheme}://{name}/"))
            .map_err(|e| CliError::Usage(format!("registry {name:?}: {e}")))?;
        let mut agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(READ_TIMEOUT)
            .user_agent(concat!("edge-registry/", env!("CARGO_PKG_VERSION")));
        if connect.insecure {
            agent = agent.tls_config(crate::insecure_tls::client_config());
        }
        Ok(Registry {
            agent: agent.build(),
            name: name.to_string(),
            base,
            credentials,
            authorization: Arc::new(Mutex::new(Authorization::None)),
            retry,
        })
    }

    /// `host[:port]`, as the user wrote it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn retry(&self) -> Retry {
        self.retry
    }

    fn set_authorization(&self, authorization: Authorization) {
        *self
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = authorization;
    }

    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("paths of the API are valid URLs")
    }

    fn transport(&self, error: ureq::Transport) -> CliError {
        // A blob that failed its digest check on disk aborts the request from inside.
        if let Some(io) = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .filter(|e| e.kind() == std::io::ErrorKind::InvalidData)
        {
            return CliError::Registry {
                what: "reading the image".into(),
                why: io.to_string(),
            };
        }
        let why = match std::error::Error::source(&error) {
            Some(source) => format!("{}: {source}", error.kind()),
            None => error.to_string(),
        };
        CliError::Unreachable {
            registry: self.name.clone(),
            why,
        }
    }

    /// Learns how the registry wants callers to authenticate (`GET /v2/`) and gets what it
    /// asks for, for `scope` (e.g. `repository:team/app:pull,push`).
    pub fn authenticate(&mut self, scope: &str) -> Result<(), CliError> {
        self.set_authorization(Authorization::None);
        let response = self.agent.request_url("GET", &self.url("v2/")).call();
        match response {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(401, response)) => {
                let challenges = response
                    .header("www-authenticate")
                    .map(challenge::parse)
                    .unwrap_or_default();
                let why = explain(401, response);
                self.answer(&challenges, scope, &why)
            }
            Err(ureq::Error::Status(status, response)) => Err(CliError::Registry {
                what: format!("{} does not answer as a registry", self.url("v2/")),
                why: explain(status, response),
            }),
            Err(ureq::Error::Transport(e)) => Err(self.transport(e)),
        }
    }

    /// Sets the authorization a challenge asks for.
    fn answer(&mut self, challenges: &[Challenge], scope: &str, why: &str) -> Result<(), CliError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let scope = bearer.param("scope").unwrap_or(scope).to_string();
            self.set_authorization(Authorization::Bearer(self.token(bearer, &scope)?));
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let credentials = self
                .credentials
                .as_ref()
                .ok_or_else(|| CliError::NeedsLogin {
                    registry: self.name.clone(),
                    why: why.to_string(),
                })?;
            self.set_authorization(Authorization::Basic(basic(credentials)));
            return Ok(());
        }
        Err(CliError::Registry {
            what: format!("authenticating to {}", self.name),
            why: format!("no Bearer or Basic challenge in the 401 ({why})"),
        })
    }

    /// A token from the challenge's realm, with the stored credentials when there are some.
    fn token(&self, challenge: &Challenge, scope: &str) -> Result<Token, CliError> {
        let realm = challenge.param("realm").ok_or_else(|| CliError::Registry {
            what: format!("authenticating to {}", self.name),
            why: "the Bearer challenge names no realm".into(),
        })?;
        let url = Url::parse(realm).map_err(|e| CliError::Registry {
            what: format!("authenticating to {}", self.name),
            why: format!("realm {realm:?}: {e}"),
        })?;
        let mut params = Vec::new();
        if let Some(service) = challenge.param("service") {
            params.push(("service", service));
        }
        if !scope.is_empty() {
            params.push(("scope", scope));
        }
        let started = Instant::now();
        let result = match &self.credentials {
            // Docker's OAuth2 flow: the refresh token docker stored, posted as a form.
            Some(Credentials {
                identity_token: Some(refresh_token),
                ..
            }) => {
                params.extend([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                    ("client_id", "edge-registry"),
                ]);
                self.agent.request_url("POST", &url).send_form(&params)
            }
            credentials => {
                let mut url = url.clone();
                url.query_pairs_mut().extend_pairs(&params);
                let request = self.agent.request_url("GET", &url);
                match credentials {
                    Some(credentials) => request.set("Authorization", &basic(credentials)),
                    None => request,
                }
                .call()
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(status @ (401 | 403), response)) => {
                let why = explain(status, response);
                return Err(match self.credentials {
                    Some(_) => CliError::LoginRefused {
                        registry: self.name.clone(),
                        why,
                    },
                    None => CliError::NeedsLogin {
                        registry: self.name.clone(),
                        why,
                    },
                });
            }
            Err(ureq::Error::Status(status, response)) => {
                return Err(CliError::Registry {
                    what: format!("the token endpoint {realm}"),
                    why: explain(status, response),
                })
            }
            Err(ureq::Error::Transport(e)) => return Err(self.transport(e)),
        };
        let text = response.into_string().map_err(|e| CliError::Unreachable {
            registry: self.name.clone(),
            why: format!("reading the token: {e}"),
        })?;
        let body: TokenResponse = serde_json::from_str(&text).map_err(|e| CliError::Registry {
            what: format!("the token endpoint {realm}"),
            why: format!("not a token response: {e}"),
        })?;
        let token = body
            .token
            .or(body.access_token)
            .ok_or_else(|| CliError::Registry {
                what: format!("the token endpoint {realm}"),
                why: "the response holds no token".into(),
            })?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS));
        Ok(Token {
            header: format!("Bearer {token}"),
            renew_at: started + lifetime.saturating_sub(TOKEN_MARGIN),
            challenge: challenge.clone(),
            scope: scope.to_string(),
        })
    }

    /// The Authorization header for the next request, renewing a token about to expire.
    /// Holds the lock while renewing, so that threads wanting a token fetch only one.
    fn authorization(&self) -> Result<Option<String>, CliError> {
        let mut authorization = self
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Authorization::Bearer(token) = &*authorization {
            if Instant::now() >= token.renew_at {
                let renewed = self.token(&token.challenge, &token.scope)?;
                *authorization = Authorization::Bearer(renewed);
            }
        }
        Ok(match &*authorization {
            Authorization::None => None,
            Authorization::Basic(header) => Some(header.clone()),
            Authorization::Bearer(token) => Some(token.header.clone()),
        })
    }

    /// Sends a request. When its body can be sent again (not a stream), a 401 gets the
    /// challenge answered and one more try, and a transient failure (the connection, 429,
    /// 5xx) is retried with backoff; a stream's caller resumes instead (see `push`).
    /// `what` names the request in errors.
    pub fn send(
        &mut self,
        what: &str,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        mut body: Body,
    ) -> Result<ureq::Response, CliError> {
        let mut answered_challenge = false;
        let mut attempt = 0;
        loop {
            let replayable = !matches!(body, Body::Stream(..));
            let mut request = self.agent.request_url(method, url);
            if let Some(authorization) = self.authorization()? {
                request = request.set("Authorization", &authorization);
            }
            for (name, value) in headers {
                request = request.set(name, value);
            }
            let result = match &mut body {
                Body::Empty => request.call(),
                Body::Bytes(bytes) => request.send_bytes(bytes),
                Body::Stream(reader, len) => {
                    request.set("Content-Length", &len.to_string()).send(reader)
                }
            };
            let (error, wait) = match result {
                Ok(response) => return Ok(response),
                Err(ureq::Error::Status(401, response)) if !answered_challenge && replayable => {
                    answered_challenge = true;
                    let challenges = response
                        .header("www-authenticate")
                        .map(challenge::parse)
                        .unwrap_or_default();
                    let why = explain(401, response);
                    self.answer(&challenges, "", &why)?;
                    continue;
                }
                Err(ureq::Error::Status(status, response)) => {
                    let wait = retry_after(&response);
                    let why = explain(status, response);
                    let error = match status {
                        401 if self.credentials.is_none() => CliError::NeedsLogin {
                            registry: self.name.clone(),
                            why,
                        },
                        401 | 403 => CliError::Denied {
                            what: what.to_string(),
                            why,
                        },
                        404 => CliError::NotFound {
                            what: what.to_string(),
                            why,
                        },
                        416 => CliError::RangeRefused {
                            what: what.to_string(),
                            why,
                        },
                        status if is_transient(status) => CliError::Unavailable {
                            what: what.to_string(),
                            why,
                        },
                        _ => CliError::Registry {
                            what: what.to_string(),
                            why,
                        },
                    };
                    (error, wait)
                }
                Err(ureq::Error::Transport(e)) => (self.transport(e), None),
            };
            if !(replayable && error.is_transient() && attempt < self.retry.retries) {
                return Err(error);
            }
            attempt += 1;
            std::thread::sleep(self.retry.delay(attempt, wait));
        }
    }

    /// Whether the repository holds the blob (or manifest) at `path` relative to `/v2/`.
    pub fn exists(
        &mut self,
        what: &str,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Option<String>, CliError> {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        match self.send(
            what,
            "HEAD",
            &self.url(&format!("v2/{path}")),
            &headers,
            Body::Empty,
        ) {
            Ok(response) => Ok(Some(
                response
                    .header("docker-content-digest")
                    .unwrap_or_default()
                    .to_string(),
            )),
            Err(CliError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks the credentials as the registry asks for them: a token from its realm, or
    /// `GET /v2/` with Basic credentials.
    pub fn check_login(&mut self) -> Result<(), CliError> {
        self.authenticate("")?;
        let basic = matches!(
            *self
                .authorization
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            Authorization::Basic(_)
        );
        if basic {
            let url = self.url("v2/");
            match self.send("logging in", "GET", &url, &[], Body::Empty) {
                Err(CliError::Denied { why, .. }) => {
                    return Err(CliError::LoginRefused {
                        registry: self.name.clone(),
                        why,
                    })
                }
                result => {
                    result?;
                }
            }
        }
        Ok(())
    }

    /// `POST /v2/<name>/blobs/uploads/`: a new upload's location and chunk limit.
    pub fn start_upload(
        &mut self,
        repository: &str,
        digest: &Digest,
    ) -> Result<UploadStart, CliError> {
        let what = format!("starting the upload of {digest}");
        let url = self.url(&format!("v2/{repository}/blobs/uploads/"));
        let response = self.send(&what, "POST", &url, &[("Content-Length", "0")], Body::Empty)?;
        self.upload_start(&what, &response)
    }

    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<from>`: the blob mounted from
    /// another repository of the registry (201), or, when the registry will not (202), a new
    /// upload.
    pub fn mount(
        &mut self,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount, CliError> {
        let what = format!("mounting {digest} from {from}");
        let mut url = self.url(&format!("v2/{repository}/blobs/uploads/"));
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let response = self.send(&what, "POST", &url, &[("Content-Length", "0")], Body::Empty)?;
        if response.status() == 201 {
            return Ok(Mount::Mounted);
        }
        Ok(Mount::Started(self.upload_start(&what, &response)?))
    }

    /// `GET` of an upload's location: how many bytes the registry holds (its `Range`,
    /// `0-<last byte>`), and where to send the next chunk.
    pub fn upload_status(&mut self, location: &Url) -> Result<(u64, Url), CliError> {
        let what = "asking where the upload stands";
        let response = self.send(what, "GET", location, &[], Body::Empty)?;
        let next = self.location(what, &response)?;
        let offset = match response.header("range") {
            None => 0,
            Some(range) => parse_range_end(range).ok_or_else(|| CliError::Registry {
                what: what.to_string(),
                why: format!("Range {range:?} is not 0-<last byte>"),
            })?,
        };
        Ok((offset, next))
    }

    fn upload_start(&self, what: &str, response: &ureq::Response) -> Result<UploadStart, CliError> {
        Ok(UploadStart {
            location: self.location(what, response)?,
            chunk_max: response
                .header("oci-chunk-max-length")
                .and_then(|v| v.trim().parse().ok()),
        })
    }

    /// The response's `Location`, resolved against the request's URL.
    pub fn location(&self, what: &str, response: &ureq::Response) -> Result<Url, CliError> {
        let location = response
            .header("location")
            .ok_or_else(|| CliError::Registry {
                what: what.to_string(),
                why: "the response has no Location".into(),
            })?;
        self.base.join(location).map_err(|e| CliError::Registry {
            what: what.to_string(),
            why: format!("Location {location:?}: {e}"),
        })
    }
}

fn basic(credentials: &Credentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!("Basic {}", STANDARD.encode(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges_read_as_the_bytes_held() {
        assert_eq!(parse_range_end("0-0"), Some(0));
        assert_eq!(parse_range_end("0-1048575"), Some(1 << 20));
        assert_eq!(parse_range_end(" 0-9 "), Some(10));
        for bad in ["", "0", "5-9", "0-x", "bytes=0-9", "0--1"] {
            assert_eq!(parse_range_end(bad), None, "{bad}");
        }
    }

    #[test]
    fn retries_back_off_doubling_up_to_a_bound() {
        let retry = Retry {
            retries: 5,
            first_delay: Duration::from_millis(500),
        };
        assert_eq!(retry.delay(1, None), Duration::from_millis(500));
        assert_eq!(retry.delay(2, None), Duration::from_secs(1));
        assert_eq!(retry.delay(4, None), Duration::from_secs(4));
        assert_eq!(retry.delay(40, None), MAX_RETRY_DELAY);
        let asked = Some(Duration::from_secs(7));
        assert_eq!(retry.delay(1, asked), Duration::from_secs(7));
        assert_eq!(
            retry.delay(1, Some(Duration::from_secs(3600))),
            MAX_RETRY_DELAY
        );
    }

    #[test]
    fn loopback_registries_are_plain_http_by_default() {
        for host in [
            "127.0.0.1:8787",
            "127.1.2.3",
            "localhost:5000",
            "localhost",
            "registry.localhost",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example",
            "10.0.0.1:5000",
            "localhost.example",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
