//! Vulnerability scanning's pure core: what an image contains and which advisories affect it,
//! in plain Rust with no Workers types (the queue consumer and the records come on top).
//!
//! [`layers`] reads image layers as streams (gzip, zstd or plain tar) with flat memory and
//! merges them with their whiteouts; [`packages`] recognises and parses the files that name an
//! image's operating system and packages, [`purl`] names each package as a package URL, and
//! [`cyclonedx`] writes the inventory as a CycloneDX SBOM (and the scan report); [`version`]
//! orders each ecosystem's versions, and [`osv`] reads OSV advisories and decides which
//! installed versions they affect; [`matching`] looks an inventory's packages up as advisories
//! name them and lists the vulnerabilities found, rated by [`severity`].
//! [`Job`] is the queued work built on them.

pub mod cyclonedx;
pub mod image;
mod job;
pub mod layers;
pub mod matching;
pub mod osv;
pub mod packages;
pub mod purl;
pub mod severity;
pub mod version;
pub mod zip;

pub use job::Job;

#[cfg(test)]
pub(crate) mod tests;
