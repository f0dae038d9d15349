//! The request and response the core works with, in the `http` crate's vocabulary (method,
//! headers, status); the platform layer converts to and from the runtime's types.

use futures::{Stream, StreamExt};
pub use http::{HeaderMap, Method, StatusCode};
use http::{HeaderName, HeaderValue};

use crate::error::Error;
use crate::storage::body::BodyChunk;
use crate::upload::UploadError;

/// A request as the core reads it: the `http` crate's method and headers, and, as the handlers
/// read them, what an `http::Request` would keep only inside its URI: the origin and host the
/// client addressed (tokens and name limits depend on them) and the query, parsed once into
/// pairs as the runtime's URL gives it (a parameter may repeat).
pub struct Request<B> {
    pub method: Method,
    /// `scheme://host[:port]` as the client addressed the registry: where tokens come from.
    pub origin: String,
    /// The registry's host as the client addressed it; names count it towards their limit.
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: B,
}

impl<B> Request<B> {
    /// The first value of a header, whatever the case of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_text(&self.headers, name)
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

    /// The same request with its body wrapped (or replaced) by `wrap`.
    pub fn map_body<C>(self, wrap: impl FnOnce(B) -> C) -> Request<C> {
        Request {
            method: self.method,
            origin: self.origin,
            host: self.host,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: wrap(self.body),
        }
    }
}

/// `O` is the storage's object body, streamed out by the platform without entering the core.
pub enum Body<O> {
    Empty,
    Bytes(Vec<u8>),
    Object(O),
}

/// A response as the handlers build it: an `http` status and headers, and a [`Body`] that may
/// be a storage object. The builder methods are infallible for the handlers, which set only
/// headers of their own making.
pub struct Response<O> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body<O>,
}

impl<O> Response<O> {
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// Adds a header. Names are the handlers' own and values are made of numbers, digests,
    /// validated names and tags, and escaped text, so an invalid one is a bug in the registry:
    /// it panics, which the platform answers with a 500, as it answered the runtime's refusal
    /// of such a header before.
    pub fn header<V>(mut self, name: &str, value: V) -> Self
    where
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: std::fmt::Debug,
    {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        let value = HeaderValue::try_from(value)
            .unwrap_or_else(|e| panic!("an invalid value for header {name}: {e:?}"));
        self.headers.append(name, value);
        self
    }

    pub fn json(self, value: &impl serde::Serialize, content_type: &str) -> Self {
        let bytes = serde_json::to_vec(value).expect("response bodies serialise");
        self.bytes(bytes, content_type)
    }

    pub fn bytes(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self = self
            .header("Content-Type", content_type)
            .header("Content-Length", bytes.len());
        self.body = Body::Bytes(bytes);
        self
    }

    /// The first value of a header, whatever the case of `name`.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        first_text(&self.headers, name)
    }

    pub fn from_error(error: &Error) -> Self {
        let response = Response::new(error.status()).bytes(error.body(), "application/json");
        error
            .headers()
            .into_iter()
            .fold(response, |r, (name, value)| r.header(name, value))
    }
}

/// Headers as the runtime hands them over, as text. A request whose header values hold
/// control characters, which RFC 9110 forbids and a `HeaderMap` cannot hold, is malformed.
pub fn header_map<N, V>(fields: impl IntoIterator<Item = (N, V)>) -> Result<HeaderMap, Error>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        let (name, value) = (name.as_ref(), value.as_ref());
        let field = HeaderName::from_bytes(name.as_bytes())
            .ok()
            .zip(HeaderValue::from_str(value).ok());
        let Some((name, value)) = field else {
            return Err(Error::Unsupported(format!(
                "header {name:?} is not a valid HTTP field"
            )));
        };
        headers.append(name, value);
    }
    Ok(headers)
}

/// Header values are read as text: the runtime hands them over as text, and handlers compare
/// and parse them as such (a value outside ASCII is still read, and refused by its parser).
fn first_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    std::str::from_utf8(headers.get(name)?.as_bytes()).ok()
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

#[cfg(test)]
impl<B> Request<B> {
    /// `path_and_query` as a client of `http://localhost` sends it, for unit tests.
    pub(crate) fn local(
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: B,
    ) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method,
            origin: "http://localhost".into(),
            host: "localhost".into(),
            path: path.into(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers: header_map(headers.iter().copied()).unwrap(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: &[(&str, &str)]) -> Request<()> {
        Request::local(Method::GET, "/v2/", fields, ())
    }

    #[test]
    fn headers_are_read_whatever_their_case_and_keep_every_value() {
        let request = request(&[("If-None-Match", "\"a\""), ("if-none-match", "\"b\"")]);
        assert_eq!(request.header("IF-NONE-MATCH"), Some("\"a\""));
        assert_eq!(request.headers.get_all("if-none-match").iter().count(), 2);
        let response = Response::<()>::new(StatusCode::OK)
            .header("Docker-Content-Digest", "sha256:abc")
            .header("OCI-Tag", "a")
            .header("OCI-Tag", "b");
        assert_eq!(
            response.get_header("docker-content-digest"),
            Some("sha256:abc")
        );
        assert_eq!(response.headers.get_all("oci-tag").iter().count(), 2);
    }

    /// The runtime hands header values over as text: text beyond ASCII is read as it came,
    /// and a control character, which no HTTP field may hold, makes the request malformed.
    #[test]
    fn header_values_are_text_without_control_characters() {
        assert_eq!(
            request(&[("authorization", "Basic é")]).header("authorization"),
            Some("Basic é")
        );
        for value in ["a\u{1}b", "a\nb", "\u{7f}"] {
            let refused = header_map([("authorization", value)]).unwrap_err();
            assert_eq!(
                (refused.status(), refused.code()),
                (StatusCode::BAD_REQUEST, "UNSUPPORTED"),
                "{value:?}"
            );
        }
        assert!(header_map([("bad name", "v")]).is_err());
        assert_eq!(request(&[("range", "a\tb")]).header("range"), Some("a\tb"));
    }
}
