//! The protocol's vocabulary, validated once at the edge of the core.

mod digest;
pub mod manifest;
mod name;
mod reference;

pub use digest::{Algorithm, Digest, DigestHasher};
pub use name::RepositoryName;
pub use reference::{Reference, Tag};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciError {
    InvalidName(String),
    InvalidTag(String),
    InvalidDigest(String),
    UnsupportedAlgorithm(String),
    InvalidManifest(String),
}
