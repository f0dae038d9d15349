//! Conversion between the runtime's requests and responses and the core's.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use worker::web_sys::ReadableStream;
use worker::{ByteStream, Headers, Response, ResponseBody};

use crate::api::{self, Body, Method};
use crate::error::Error;
use crate::upload::{BodyChunk, RequestBody, UploadError};

/// The request body, shared between the core (which reads what it needs, or hands it whole to
/// R2) and the entry point (which discards what an early error left unread).
#[derive(Clone)]
pub struct CoreBody(Rc<RefCell<Source>>);

enum Source {
    /// Not touched yet: the runtime's stream, which R2 can take as it is.
    Whole(ReadableStream),
    Chunks(Pin<Box<dyn Stream<Item = BodyChunk>>>),
    /// Handed over whole, or never there.
    Gone,
}

impl Stream for CoreBody {
    type Item = BodyChunk;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        let mut source = self.0.borrow_mut();
        if let Source::Whole(stream) = &*source {
            let chunks = ByteStream::from(stream.clone())
                .map(|chunk| chunk.map_err(|e| UploadError::Read(e.to_string())));
            *source = Source::Chunks(Box::pin(chunks));
        }
        match &mut *source {
            Source::Chunks(chunks) => chunks.as_mut().poll_next(cx),
            _ => Poll::Ready(None),
        }
    }
}

impl RequestBody for CoreBody {
    type Whole = ReadableStream;

    fn take_whole(&mut self) -> Option<ReadableStream> {
        let mut source = self.0.borrow_mut();
        match std::mem::replace(&mut *source, Source::Gone) {
            Source::Whole(stream) => Some(stream),
            other => {
                *source = other;
                None
            }
        }
    }
}

/// Clients such as ureq write a whole body before they read the response; if an error answer
/// leaves the body unread, they see a connection reset instead of the error. Up to this many
/// bytes are read and dropped first; beyond it the client has to cope with the reset.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

impl CoreBody {
    pub async fn drain(mut self) {
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match self.next().await {
                Some(Ok(chunk)) => drained += chunk.len(),
                _ => return,
            }
        }
    }
}

pub fn into_core(request: worker::Request) -> worker::Result<api::Request<CoreBody>> {
    let url = request.url()?;
    let body = CoreBody(Rc::new(RefCell::new(match request.inner().body() {
        Some(stream) => Source::Whole(stream),
        None => Source::Gone,
    })));
    Ok(api::Request {
        method: Method::parse(request.method().as_ref()),
        origin: url.origin().ascii_serialization(),
        host: url.host_str().unwrap_or_default().to_string(),
        path: url.path().to_string(),
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers: request
            .headers()
            .entries()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body,
    })
}

pub fn from_core(response: api::Response<ResponseBody>) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let body = match response.body {
        Body::Empty => ResponseBody::Empty,
        Body::Bytes(bytes) => ResponseBody::Body(bytes),
        Body::Object(body) => body,
    };
    Ok(Response::from_body(body)?
        .with_status(response.status)
        .with_headers(headers))
}

pub fn error_response(error: &Error) -> worker::Result<Response> {
    from_core(api::Response::from_error(error))
}
