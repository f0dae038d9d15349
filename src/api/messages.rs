//! The request and response the core works with; the platform layer converts to and from
//! the runtime's types.

use futures::{Stream, StreamExt};

use crate::error::Error;
use crate::storage::body::BodyChunk;
use crate::upload::UploadError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Other,
}

impl Method {
    pub fn parse(method: &str) -> Method {
        match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

pub struct Request<B> {
    pub method: Method,
    /// `scheme://host[:port]` as the client addressed the registry: where tokens come from.
    pub origin: String,
    /// The registry's host as the client addressed it; names count it towards their limit.
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: B,
}

impl<B> Request<B> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter that may repeat (`?tag=a&tag=b`), in order.
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `host[:port]` as the client addressed the registry.
    pub fn authority(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, authority)| authority)
    }

    /// Whether `If-None-Match` names `etag` (or `*`): the client already has the content.
    pub fn not_modified(&self, etag: &str) -> bool {
        self.header("if-none-match").is_some_and(|header| {
            header
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        })
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// `O` is the storage's object body, streamed out by the platform without entering the core.
pub enum Body<O> {
    Empty,
    Bytes(Vec<u8>),
    Object(O),
}

pub struct Response<O> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<O>,
}

impl<O> Response<O> {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(self, value: &impl serde::Serialize, content_type: &str) -> Self {
        let bytes = serde_json::to_vec(value).expect("response bodies serialise");
        self.bytes(bytes, content_type)
    }

    pub fn bytes(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self = self
            .header("Content-Type", content_type)
            .header("Content-Length", bytes.len().to_string());
        self.body = Body::Bytes(bytes);
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn from_error(error: &Error) -> Self {
        let response = Response::new(error.status()).bytes(error.body(), "application/json");
        error
            .headers()
            .into_iter()
            .fold(response, |r, (name, value)| r.header(name, value))
    }
}

/// Reads a body of at most `limit` bytes, failing as soon as it is longer.
pub(crate) async fn read_bounded<B>(mut body: B, limit: usize) -> Result<Vec<u8>, UploadError>
where
    B: Stream<Item = BodyChunk> + Unpin,
{
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if bytes.len() + chunk.len() > limit {
            return Err(UploadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
