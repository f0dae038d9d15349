//! The protocol's vocabulary, validated once at the edge of the core.

mod digest;
pub mod manifest;
mod name;
mod reference;
pub mod tag_pattern;

pub use digest::{Algorithm, Digest, DigestHasher};
pub use name::RepositoryName;
pub use reference::{Reference, Tag};
pub use tag_pattern::TagPattern;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    #[error("invalid repository name: {0}")]
    InvalidName(String),
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
}
