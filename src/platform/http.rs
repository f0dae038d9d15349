//! Conversion between the runtime's requests and responses and the core's.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::{stream, Stream, StreamExt};
use worker::{Headers, Response, ResponseBody};

use crate::api::{self, Body, Method};
use crate::error::Error;
use crate::upload::{BodyChunk, UploadError};

/// The request body, shared between the core (which reads what it needs) and the entry point
/// (which discards what an early error left unread).
#[derive(Clone)]
pub struct CoreBody(Rc<RefCell<Pin<Box<dyn Stream<Item = BodyChunk>>>>>);

impl Stream for CoreBody {
    type Item = BodyChunk;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        self.0.borrow_mut().as_mut().poll_next(cx)
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

pub fn into_core(mut request: worker::Request) -> worker::Result<api::Request<CoreBody>> {
    let url = request.url()?;
    let stream: Pin<Box<dyn Stream<Item = BodyChunk>>> = match request.inner().body() {
        None => Box::pin(stream::empty()),
        Some(_) => Box::pin(
            request
                .stream()?
                .map(|chunk| chunk.map_err(|e| UploadError::Read(e.to_string()))),
        ),
    };
    let body = CoreBody(Rc::new(RefCell::new(stream)));
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
