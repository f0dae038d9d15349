//! The upload state machine.
//!
//! A blob arrives as any sequence of request bodies: one streamed PATCH of unknown length,
//! a POST or PUT with everything, or many PATCHes of arbitrary sizes. R2 multipart uploads
//! need parts of one fixed size (at least 5 MiB, the last may be shorter), so the bytes are
//! re-blocked into parts of the session's `part_size`; whatever is left over at the end of a
//! request (the carry) is saved with the progress and goes first into the next part. The
//! hash (SHA-256, or SHA-512 when the upload was started with `digest-algorithm=sha512`) is
//! computed as the bytes arrive and saved with the progress, so a blob's digest is verified
//! without reading it back. A blob that never fills one part is written with a
//! single put, no multipart upload at all.

mod error;
mod hash;
mod segments;
mod state;
mod uploader;

pub use error::UploadError;
pub use hash::ResumableHash;
pub use segments::{segment_keys, Segment, MAX_SEGMENT_PARTS};
pub use state::UploadState;
pub use uploader::Uploader;

#[cfg(test)]
mod tests;
