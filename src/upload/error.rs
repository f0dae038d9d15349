//! What can go wrong while a blob is received and stored.

use crate::oci::Digest;
use crate::storage::body::BodyReadError;
use crate::storage::StorageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The client's body could not be read (connection closed, malformed chunking).
    Read(String),
    Storage(StorageError),
    /// A body over a bounded read's limit.
    TooLarge {
        limit: usize,
    },
    DigestMismatch {
        expected: Digest,
        actual: Digest,
    },
    /// The store checked the bytes against the digest as it wrote them, and they differ.
    ContentMismatch {
        expected: Digest,
    },
}

impl From<StorageError> for UploadError {
    fn from(err: StorageError) -> Self {
        UploadError::Storage(err)
    }
}

impl From<BodyReadError> for UploadError {
    fn from(err: BodyReadError) -> Self {
        UploadError::Read(err.0)
    }
}
