//! Conversion between the runtime's requests and responses and the core's.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::{stream, Stream, StreamExt};
use worker::js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::ReadableStream;
use worker::{ByteStream, Headers, Response, ResponseBody};

use crate::api::{self, Body, Method};
use crate::error::Error;
use crate::storage::body::{BodyChunk, BodyReadError, RequestBody};

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
            *source = Source::Chunks(read_in_blocks(stream));
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
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// A body refused for passing `BODY_LIMIT_BYTES` is read further: under `wrangler dev` an
/// answer given before the body's end reaches the client as the proxy's 503 instead of the
/// 413 (skopeo's whole 40 MiB layer did). The setting is for local use, where no edge
/// refuses the body first; this bounds the reading all the same.
const OVER_LIMIT_DRAIN_LIMIT: u64 = 4 * 1024 * 1024 * 1024;

impl CoreBody {
    /// A fetched response's body, handed on as a request's would be.
    pub fn from_response(body: ResponseBody) -> Self {
        CoreBody(Rc::new(RefCell::new(match body {
            ResponseBody::Stream(stream) => Source::Whole(stream),
            ResponseBody::Body(bytes) => Source::Chunks(Box::pin(stream::iter([Ok(bytes)]))),
            ResponseBody::Empty => Source::Gone,
        })))
    }

    /// Reads and drops what an early `error` left of the body, within a bound.
    pub async fn drain(mut self, error: &Error) {
        let limit = match error {
            Error::BodyTooLarge { .. } => OVER_LIMIT_DRAIN_LIMIT,
            _ => DRAIN_LIMIT,
        };
        let mut drained = 0;
        while drained < limit {
            match self.next().await {
                Some(Ok(chunk)) => drained += chunk.len() as u64,
                _ => return,
            }
        }
    }
}

/// Bytes asked of the runtime per read. Request bodies arrive in pieces of about 2 KiB under
/// `wrangler dev`, and every piece that crosses into wasm costs a promise and a copy: reading
/// them a block at a time cuts those crossings a few hundredfold.
const READ_BLOCK: u32 = 1024 * 1024;

/// The body as blocks of up to [`READ_BLOCK`] bytes, through a BYOB reader's `readAtLeast`
/// (workerd's), or piece by piece where the stream offers no such reader.
fn read_in_blocks(stream: &ReadableStream) -> Pin<Box<dyn Stream<Item = BodyChunk>>> {
    let byob = byob_reader(stream);
    match byob {
        Some((reader, read_at_least)) => Box::pin(
            stream::unfold(Some((reader, read_at_least)), |state| async move {
                let (reader, read_at_least) = state?;
                match read_block(&reader, &read_at_least).await {
                    Ok(Some(block)) => Some((Ok(block), Some((reader, read_at_least)))),
                    Ok(None) => None,
                    Err(error) => Some((Err(error), None)),
                }
            })
            // Drained again after an early error: a finished body stays finished.
            .fuse(),
        ),
        None => Box::pin(
            ByteStream::from(stream.clone())
                .map(|chunk| chunk.map_err(|e| BodyReadError::Failed(e.to_string()))),
        ),
    }
}

/// `stream.getReader({mode: "byob"})` and its `readAtLeast` method, if the runtime has them.
fn byob_reader(stream: &ReadableStream) -> Option<(JsValue, Function)> {
    let options = Object::new();
    Reflect::set(&options, &"mode".into(), &"byob".into()).ok()?;
    let get_reader: Function = Reflect::get(stream, &"getReader".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let reader = get_reader.call1(stream, &options).ok()?;
    match Reflect::get(&reader, &"readAtLeast".into()).map(JsCast::dyn_into::<Function>) {
        Ok(Ok(read_at_least)) => Some((reader, read_at_least)),
        _ => {
            // Unlocks the stream for the piece-by-piece reader.
            let release: Function = Reflect::get(&reader, &"releaseLock".into())
                .ok()?
                .dyn_into()
                .ok()?;
            release.call0(&reader).ok()?;
            None
        }
    }
}

/// The next block, or `None` at the end of the body.
async fn read_block(
    reader: &JsValue,
    read_at_least: &Function,
) -> Result<Option<Vec<u8>>, BodyReadError> {
    let failed = |e: JsValue| BodyReadError::Failed(format!("{e:?}"));
    let buffer = Uint8Array::new_with_length(READ_BLOCK);
    let promise: Promise = read_at_least
        .call2(reader, &READ_BLOCK.into(), &buffer)
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let result = JsFuture::from(promise).await.map_err(failed)?;
    let value = Reflect::get(&result, &"value".into()).map_err(failed)?;
    let block = value
        .dyn_into::<Uint8Array>()
        .map(|view| view.to_vec())
        .unwrap_or_default();
    let done = Reflect::get(&result, &"done".into())
        .map_err(failed)?
        .as_bool()
        .unwrap_or(true);
    Ok(if done && block.is_empty() {
        None
    } else {
        Some(block)
    })
}

/// The core's request; refused with the core's error if a header value is one that the
/// core's `HeaderMap` cannot hold.
pub fn into_core(request: worker::Request) -> Result<api::Request<CoreBody>, Error> {
    let url = request
        .url()
        .map_err(|e| Error::Internal(format!("the request's URL: {e}")))?;
    // worker's Method names the methods it knows, in upper case, and reads any other as GET,
    // as it did before the core took http's methods.
    let method = Method::from_bytes(request.method().as_ref().as_bytes())
        .map_err(|e| Error::Internal(format!("the request's method: {e}")))?;
    let headers = api::header_map(request.headers().entries())?;
    let body = CoreBody(Rc::new(RefCell::new(match request.inner().body() {
        Some(stream) => Source::Whole(stream),
        None => Source::Gone,
    })));
    Ok(api::Request {
        method,
        origin: url.origin().ascii_serialization(),
        host: url.host_str().unwrap_or_default().to_string(),
        path: url.path().to_string(),
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers,
        body,
    })
}

pub fn from_core(response: api::Response<ResponseBody>) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        let value = std::str::from_utf8(value.as_bytes()).map_err(|e| e.to_string())?;
        headers.append(name.as_str(), value)?;
    }
    let body = match response.body {
        Body::Empty => ResponseBody::Empty,
        Body::Bytes(bytes) => ResponseBody::Body(bytes),
        Body::Object(body) => body,
    };
    Ok(Response::from_body(body)?
        .with_status(response.status.as_u16())
        .with_headers(headers))
}

pub fn error_response(error: &Error) -> worker::Result<Response> {
    from_core(api::Response::from_error(error))
}
