//! Vulnerability scanning's pure core: what an image contains and which advisories affect it,
//! in plain Rust with no Workers types (the queue consumer and the records come on top).
//!
//! [`layers`] reads image layers as streams (gzip, zstd or plain tar) with flat memory and
//! merges them with their whiteouts; [`packages`] recognises and parses the files that name an
//! image's operating system and packages, [`purl`] names each package as a package URL, and
//! [`cyclonedx`] writes the inventory as a CycloneDX SBOM; [`version`] orders each ecosystem's
//! versions, and [`osv`] reads OSV advisories and decides which installed versions they affect.
//! [`Job`] is the queued work built on them.

pub mod cyclonedx;
mod job;
pub mod layers;
pub mod osv;
pub mod packages;
pub mod purl;
pub mod version;
pub mod zip;

pub use job::Job;

#[cfg(test)]
mod tests;
