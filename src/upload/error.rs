//! What can go wrong while a blob is received and stored.

use crate::oci::Digest;
use crate::storage::body::BodyReadError;
use crate::storage::StorageError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The client's body could not be read (connection closed, malformed chunking).
    #[error(transparent)]
    Read(#[from] BodyReadError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A body over a bounded read's limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected {expected}, content has {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// The store checked the bytes against the digest as it wrote them, and they differ.
    #[error("the content does not match {expected}")]
    ContentMismatch { expected: Digest },
}
