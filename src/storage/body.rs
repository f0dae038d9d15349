//! Request bodies as the core reads them: a stream of chunks, or the platform's own body
//! handed to a store untouched.

use futures::Stream;

/// The client's body could not be read (connection closed, malformed chunking).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading the request body failed: {0}")]
pub struct BodyReadError(pub String);

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
