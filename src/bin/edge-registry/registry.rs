//! The distribution API as the CLI uses it, over a blocking HTTP client: authentication
//! (Docker's token protocol from a `Bearer` challenge, or HTTP Basic when asked for it), and
//! the requests of a push. Errors become one line naming what failed and why.

use std::io::Read;
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

pub struct Registry {
    agent: ureq::Agent,
    /// `host[:port]`, as the user wrote it.
    name: String,
    base: Url,
    credentials: Option<Credentials>,
    authorization: Authorization,
}

/// A request's body: nothing, bytes in memory (may be sent again), or a stream of `len`
/// bytes (sent once).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
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

impl Registry {
    pub fn new(
        name: &str,
        plain_http: bool,
        credentials: Option<Credentials>,
    ) -> Result<Registry, CliError> {
        let scheme = if plain_http || is_loopback(name) {
            "http"
        } else {
            "https"
        };
        let base = Url::parse(&format!("{scheme}://{name}/"))
            .map_err(|e| CliError::Usage(format!("registry {name:?}: {e}")))?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(READ_TIMEOUT)
            .user_agent(concat!("edge-registry/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Registry {
            agent,
            name: name.to_string(),
            base,
            credentials,
            authorization: Authorization::None,
        })
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
        self.authorization = Authorization::None;
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
            self.authorization = Authorization::Bearer(self.token(bearer, &scope)?);
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
            self.authorization = Authorization::Basic(basic(credentials));
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
        let mut url = Url::parse(realm).map_err(|e| CliError::Registry {
            what: format!("authenticating to {}", self.name),
            why: format!("realm {realm:?}: {e}"),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.agent.request_url("GET", &url);
        if let Some(credentials) = &self.credentials {
            request = request.set("Authorization", &basic(credentials));
        }
        let started = Instant::now();
        let response = match request.call() {
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
    fn authorization(&mut self) -> Result<Option<String>, CliError> {
        if let Authorization::Bearer(token) = &self.authorization {
            if Instant::now() >= token.renew_at {
                let renewed = self.token(&token.challenge, &token.scope)?;
                self.authorization = Authorization::Bearer(renewed);
            }
        }
        Ok(match &self.authorization {
            Authorization::None => None,
            Authorization::Basic(header) => Some(header.clone()),
            Authorization::Bearer(token) => Some(token.header.clone()),
        })
    }

    /// Sends a request; a 401 on a request whose body can be sent again gets the challenge
    /// answered and one more try. `what` names the request in errors.
    pub fn send(
        &mut self,
        what: &str,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        mut body: Body,
    ) -> Result<ureq::Response, CliError> {
        let mut retried = false;
        loop {
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
            match result {
                Ok(response) => return Ok(response),
                Err(ureq::Error::Status(401, response))
                    if !retried && !matches!(body, Body::Stream(..)) =>
                {
                    retried = true;
                    let challenges = response
                        .header("www-authenticate")
                        .map(challenge::parse)
                        .unwrap_or_default();
                    let why = explain(401, response);
                    self.answer(&challenges, "", &why)?;
                }
                Err(ureq::Error::Status(status, response)) => {
                    let why = explain(status, response);
                    return Err(match status {
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
                        _ => CliError::Registry {
                            what: what.to_string(),
                            why,
                        },
                    });
                }
                Err(ureq::Error::Transport(e)) => return Err(self.transport(e)),
            }
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
        if let Authorization::Basic(_) = self.authorization {
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
        let location = self.location(&what, &response)?;
        let chunk_max = response
            .header("oci-chunk-max-length")
            .and_then(|v| v.trim().parse().ok());
        Ok(UploadStart {
            location,
            chunk_max,
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
