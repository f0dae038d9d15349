//! Webhooks: registry events (a manifest pushed or deleted, a scan ended) sent to configured
//! receivers as CloudEvents 1.0 JSON, signed as the Standard Webhooks specification says.
//!
//! Configured by `WEBHOOKS` (a secret: it holds the signing keys), one receiver per line (or
//! `;`-separated entry):
//! `URL secret=whsec_BASE64 [events=push,delete,scan.completed] [repositories=PATTERN,...]`
//! (repository patterns as grants'; `events` and `repositories` left out mean all).
//!
//! Delivery goes through the jobs queue: a request that pushes or deletes (or the job that
//! ends a scan) only puts one delivery job (the jobs' `Deliver`) per (event, receiver) in the
//! records' outbox, which the platform sends once the answer is ready, so a push never waits for a receiver
//! nor fails because of one. The jobs queue is reused rather than a second queue declared:
//! it already has the consumer, the retries with exponential backoff and the dead-letter
//! queue that deliveries need, and a second queue would double the wrangler.toml bindings an
//! operator must create. A message names its receiver by URL, never by its secret: the
//! consumer finds the key in the settings and signs at delivery time (the signature's
//! timestamp is the attempt's), so queue messages and logs never hold a secret.

use std::fmt;
use std::future::Future;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use wildmatch::WildMatch;

/// The CloudEvents `type` prefix of this registry's events.
pub const TYPE_PREFIX: &str = "dev.edge-registry.";
/// A receiver has this long to answer a delivery before it counts as failed (and is retried).
pub const DELIVERY_TIMEOUT_MS: u64 = 10_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A manifest pushed, by tag or by digest.
    Push,
    /// A manifest or a tag deleted.
    Delete,
    /// An image's scan ended: its SBOM and vulnerability report are attached, or it failed
    /// or is unsupported.
    ScanCompleted,
}

impl EventKind {
    /// The name in `events=`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Delete => "delete",
            EventKind::ScanCompleted => "scan.completed",
        }
    }

    /// The CloudEvents `type`.
    pub fn cloud_event_type(self) -> String {
        let suffix = match self {
            EventKind::Push => "manifest.pushed",
            EventKind::Delete => "manifest.deleted",
            EventKind::ScanCompleted => "scan.completed",
        };
        format!("{TYPE_PREFIX}{suffix}")
    }
}

/// One event, as queued: everything its deliveries need except the receivers' keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Stable across retries and receivers: receivers de-duplicate on it.
    pub id: String,
    pub kind: EventKind,
    /// The registry's origin (`https://host`), the CloudEvents `source`.
    pub source: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
    /// The user name of who pushed or deleted, `None` for an anonymous caller.
    pub actor: Option<String>,
    /// When it happened, in milliseconds since the epoch.
    pub time_ms: u64,
    /// A `scan.completed` event's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanOutcome>,
}

/// How a scan ended, as a `scan.completed` event tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanOutcome {
    /// `complete`, `failed` or `unsupported`.
    pub status: String,
    /// Why it failed or is unsupported.
    pub reason: Option<String>,
    /// The vulnerability report's digest (a referrer of the image).
    pub report: Option<String>,
    pub vulnerabilities: usize,
}

impl Event {
    /// `NAME:TAG`, or `NAME@DIGEST` when no tag is involved.
    pub fn subject(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.repository),
            (None, Some(digest)) => format!("{}@{digest}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }

    /// The CloudEvents 1.0 JSON (structured mode) sent to every receiver of the event.
    pub fn cloud_event(&self) -> Vec<u8> {
        let time = rfc3339(self.time_ms);
        let mut body = serde_json::json!({
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.kind.cloud_event_type(),
            "subject": self.subject(),
            "time": time,
            "datacontenttype": "application/json",
            "data": {
                "repository": self.repository,
                "tag": self.tag,
                "digest": self.digest,
                "mediaType": self.media_type,
                "size": self.size,
                "actor": self.actor,
                "time": time,
            },
        });
        if let Some(scan) = &self.scan {
            body["data"]["scan"] = serde_json::to_value(scan).expect("an outcome serialises");
        }
        serde_json::to_vec(&body).expect("an event serialises")
    }
}

fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The configured receivers.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    receivers: Vec<Receiver>,
}

/// One receiver. Its `Debug` leaves the key out.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    key: Vec<u8>,
    /// `None`: every event.
    events: Option<Vec<EventKind>>,
    /// `None`: every repository.
    repositories: Option<Vec<WildMatch>>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("url", &self.url)
            .field("key", &"(secret)")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Lines (or `;`-separated entries) as described in the module's documentation; blank
    /// lines and `#` comments are ignored. Errors name the receiver by its URL and never
    /// quote a secret.
    pub fn parse(text: &str) -> Result<Webhooks, String> {
        let receivers = text
            .split(['\n', ';'])
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| !line.is_empty())
            .enumerate()
            .map(|(i, line)| Receiver::parse(i + 1, line))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Webhooks { receivers })
    }

    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }

    /// Whether any receiver wants `kind` events of `repository`.
    pub fn wants(&self, kind: EventKind, repository: &str) -> bool {
        self.receivers.iter().any(|r| r.wants(kind, repository))
    }

    /// The receivers of `event`.
    pub fn receivers_of<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a Receiver> {
        self.receivers
            .iter()
            .filter(|r| r.wants(event.kind, &event.repository))
    }

    /// The receiver at `url`, if still configured.
    pub fn receiver(&self, url: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.url == url)
    }
}

impl Receiver {
    /// Errors name the receiver by its place and host, and quote no word of the line: a
    /// mistyped `secret=` would otherwise be printed.
    fn parse(place: usize, line: &str) -> Result<Receiver, String> {
        let mut words = line.split_whitespace();
        let url = check_url(words.next().unwrap_or_default())
            .map_err(|why| format!("receiver {place}: its URL {why}"))?;
        let fail = |why: String| format!("receiver {place} ({}): {why}", host_of(&url));
        let mut receiver = Receiver {
            url: url.clone(),
            key: Vec::new(),
            events: None,
            repositories: None,
        };
        for word in words {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| fail("a word is not NAME=VALUE".into()))?;
            match name {
                "secret" => receiver.key = parse_secret(value).map_err(fail)?,
                "events" => {
                    let events = value
                        .split(',')
                        .filter(|e| !e.is_empty())
                        .map(|e| match e {
                            "push" => Ok(EventKind::Push),
                            "delete" => Ok(EventKind::Delete),
                            "scan.completed" => Ok(EventKind::ScanCompleted),
                            other => Err(fail(format!(
                                "event {other:?} is not one of push, delete, scan.completed"
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    receiver.events = Some(events);
                }
                "repositories" => {
                    receiver.repositories =
                        Some(crate::auth::policy::parse_patterns(value).map_err(fail)?);
                }
                _ => {
                    return Err(fail(
                        "an option is not one of secret=, events=, repositories=".into(),
                    ))
                }
            }
        }
        if receiver.key.is_empty() {
            return Err(fail("has no secret=whsec_...".into()));
        }
        Ok(receiver)
    }

    fn wants(&self, kind: EventKind, repository: &str) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&kind))
            && self
                .repositories
                .as_ref()
                .is_none_or(|patterns| patterns.iter().any(|p| p.matches(repository)))
    }

    /// The receiver's host, for logs.
    pub fn host(&self) -> String {
        host_of(&self.url)
    }

    /// The request delivering `event` now (`now_ms`).
    pub fn delivery(&self, event: &Event, now_ms: u64) -> Delivery {
        let body = event.cloud_event();
        let timestamp = (now_ms / 1000).to_string();
        let signature = sign(&self.key, &event.id, &timestamp, &body);
        Delivery {
            url: self.url.clone(),
            headers: vec![
                ("content-type", "application/cloudevents+json".to_string()),
                ("webhook-id", event.id.clone()),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signature),
            ],
            body,
        }
    }
}

/// A URL's host, for logs (no path or query, which might carry a token).
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "(invalid URL)".into())
}

/// https, or plain http to a loopback host (so that tests can run a receiver).
fn check_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be https (plain http only to 127.0.0.1 or localhost)".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(text.to_string())
}

/// `whsec_BASE64` → the key bytes. Errors never quote the value.
fn parse_secret(value: &str) -> Result<Vec<u8>, String> {
    let encoded = value
        .strip_prefix("whsec_")
        .ok_or("secret must be whsec_ followed by base64")?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "secret is not valid base64 after whsec_".to_string())?;
    if key.len() < 16 {
        return Err("secret must decode to at least 16 bytes".into());
    }
    Ok(key)
}

/// Standard Webhooks' signature header value: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` under `key`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// One POST to a receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What came of a POST: the status, or why none came (a timeout, a refused connection).
pub type Posted = Result<u16, String>;

/// Sends deliveries: the Workers fetch API on the platform, a recorder in tests.
pub trait Poster {
    fn post(&self, delivery: Delivery, timeout_ms: u64) -> impl Future<Output = Posted>;
}

/// Why a delivery failed, for the log: the receiver's host and the status or error. Never the
/// secret or the signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook {event_id} to {host}: {why}")]
pub struct DeliveryFailed {
    pub event_id: String,
    pub host: String,
    pub why: String,
}

/// Delivers `event` to the receiver at `url` now. A receiver no longer configured is skipped
/// (`Ok`): its deliveries end with it.
pub async fn deliver(
    webhooks: &Webhooks,
    url: &str,
    event: &Event,
    now_ms: u64,
    poster: &impl Poster,
) -> Result<(), DeliveryFailed> {
    let Some(receiver) = webhooks.receiver(url) else {
        return Ok(());
    };
    let failed = |why: String| DeliveryFailed {
        event_id: event.id.clone(),
        host: receiver.host(),
        why,
    };
    match poster
        .post(receiver.delivery(event, now_ms), DELIVERY_TIMEOUT_MS)
        .await
    {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => Err(failed(format!("answered {status}"))),
        Err(error) => Err(failed(error)),
    }
}

#[cfg(test)]
mod tests;
