//! Scanning's pure core: what an image's files say it contains, and the documents made of it.
//!
//! Plain Rust with no Workers types; the platform layer feeds it layer contents and stores what
//! it returns. [`packages`] recognises and parses the files that name an image's operating
//! system and packages, [`purl`] names each package as a package URL, and [`cyclonedx`] writes
//! the inventory as a CycloneDX SBOM.

pub mod cyclonedx;
pub mod packages;
pub mod purl;
