//! Request bodies as the core reads them: a stream of chunks, or the platform's own body
//! handed to a store untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

/// The client's body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyReadError {
    /// The connection closed, or its chunking was malformed.
    #[error("reading the request body failed: {0}")]
    Failed(String),
    /// More than the deployment's body limit arrived (see [`LimitedBody`]).
    #[error("the request body is larger than {limit} bytes")]
    OverLimit { limit: u64 },
}

pub type BodyChunk = Result<Vec<u8>, BodyReadError>;

/// A request body as the core sees it: chunks to read, or, untouched, the platform's own body,
/// which a store that checks digests itself can write without the core reading a byte
/// ([`super::ObjectStore::put_checked`]).
pub trait RequestBody: Stream<Item = BodyChunk> + Unpin {
    type Whole;
    /// The whole body, unread; `None` once reading has begun, or when the platform cannot
    /// hand it over. Called before anything is read.
    fn take_whole(&mut self) -> Option<Self::Whole>;
}

/// A body of undeclared length held to a limit: the chunk that would pass it is never handed
/// on; a [`BodyReadError::OverLimit`] comes instead, so a reader fails before it could keep
/// any of it. Without a limit (or with a declared length, which the runtime holds the client
/// to) it is the body itself.
pub struct LimitedBody<B> {
    body: B,
    limit: Option<u64>,
    read: u64,
}

impl<B> LimitedBody<B> {
    pub fn new(body: B, limit: Option<u64>) -> Self {
        LimitedBody {
            body,
            limit,
            read: 0,
        }
    }
}

impl<B: RequestBody> Stream for LimitedBody<B> {
    type Item = BodyChunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        let Some(limit) = self.limit else {
            return Pin::new(&mut self.body).poll_next(cx);
        };
        if self.read > limit {
            return Poll::Ready(None);
        }
        let chunk = match Pin::new(&mut self.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            other => return other,
        };
        self.read = self.read.saturating_add(chunk.len() as u64);
        if self.read > limit {
            return Poll::Ready(Some(Err(BodyReadError::OverLimit { limit })));
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl<B: RequestBody> RequestBody for LimitedBody<B> {
    type Whole = B::Whole;

    /// Only an unlimited body goes whole: a limited one must be counted as it is read.
    fn take_whole(&mut self) -> Option<B::Whole> {
        match self.limit {
            None => self.body.take_whole(),
            Some(_) => None,
        }
    }
}
