//! What an image's files say it contains: its operating system and its packages.
//!
//! The layer merger asks [`wanted`] about each regular file of the merged tree, reads at most
//! the cap it returns, and hands the bytes to [`parse`]; [`inventory`] then folds every
//! [`Found`] into one [`Inventory`]. Every file here is untrusted: text is decoded lossily,
//! never sliced by byte index, and a malformed file yields what it can or nothing.

mod apk;
mod dpkg;
mod npm;
mod os_release;
mod python;
mod stanza;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use python::normalise as normalise_python_name;

/// Caps on what is worth reading: a dpkg status or apk database of a large image runs to a few
/// megabytes; a single package's metadata to kilobytes.
const DATABASE_CAP: usize = 64 << 20;
const FILE_CAP: usize = 1 << 20;

/// The operating system, from os-release(5).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Os {
    /// `ID`, e.g. `debian`, `ubuntu`, `alpine`; `linux` when the file names none.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`, `22.04`, `3.20.0`; rolling releases have none.
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    pub pretty_name: Option<String>,
}

/// The package manager (and so the purl type and advisory ecosystem) a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ecosystem {
    Deb,
    Apk,
    Pypi,
    Npm,
}

/// The source package a binary package was built from: advisories for Debian, Ubuntu and
/// Alpine name source packages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    pub name: String,
    pub version: String,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Component {
    pub ecosystem: Ecosystem,
    /// The name as the package declares it (npm names include their `@scope/`).
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    /// Debian: from `Source:` (the package itself when absent); Alpine: the origin.
    pub source: Option<SourcePackage>,
}

/// Which os-release file an identity came from: `/etc/os-release` overrides the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OsReleaseFile {
    Etc,
    UsrLib,
}

/// What one file said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Os { file: OsReleaseFile, os: Os },
    Packages(Vec<Component>),
}

/// Everything an image's files said, deduplicated and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub os: Option<Os>,
    pub components: Vec<Component>,
}

/// The kinds of file worth reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OsRelease(OsReleaseFile),
    DpkgStatus,
    DpkgStatusD,
    ApkInstalled,
    PythonMetadata,
    NpmPackage,
}

impl Kind {
    fn of(path: &str) -> Option<Kind> {
        match path {
            "/etc/os-release" => return Some(Kind::OsRelease(OsReleaseFile::Etc)),
            "/usr/lib/os-release" => return Some(Kind::OsRelease(OsReleaseFile::UsrLib)),
            "/var/lib/dpkg/status" => return Some(Kind::DpkgStatus),
            // Merged-/usr systems keep the database under /usr/lib.
            "/lib/apk/db/installed" | "/usr/lib/apk/db/installed" => {
                return Some(Kind::ApkInstalled)
            }
            _ => {}
        }
        if !path.starts_with('/') {
            return None;
        }
        if let Some(file) = path.strip_prefix("/var/lib/dpkg/status.d/") {
            // Distroless images keep one stanza per package here, beside its `.md5sums`.
            let is_stanza = !file.is_empty()
                && !file.contains('/')
                && !file.starts_with('.')
                && !file.ends_with(".md5sums");
            return is_stanza.then_some(Kind::DpkgStatusD);
        }
        if python::is_metadata(path) {
            return Some(Kind::PythonMetadata);
        }
        if npm::is_package_root(path) {
            return Some(Kind::NpmPackage);
        }
        None
    }

    fn cap(self) -> usize {
        match self {
            Kind::DpkgStatus | Kind::ApkInstalled => DATABASE_CAP,
            _ => FILE_CAP,
        }
    }
}

/// For a normalised absolute path of a regular file: how many bytes of it are worth reading,
/// or `None` when it says nothing about the image's contents.
pub fn wanted(path: &str) -> Option<usize> {
    Kind::of(path).map(Kind::cap)
}

/// What the file at `path` (possibly cut at [`wanted`]'s cap) says, if anything.
pub fn parse(path: &str, bytes: &[u8]) -> Option<Found> {
    let kind = Kind::of(path)?;
    let text = String::from_utf8_lossy(bytes);
    let packages = match kind {
        Kind::OsRelease(file) => return os_release::parse(&text).map(|os| Found::Os { file, os }),
        Kind::DpkgStatus => dpkg::parse(&text, dpkg::Database::Status),
        Kind::DpkgStatusD => dpkg::parse(&text, dpkg::Database::StatusD),
        Kind::ApkInstalled => apk::parse(&text),
        Kind::PythonMetadata => python::parse(&text).into_iter().collect(),
        Kind::NpmPackage => npm::parse(bytes).into_iter().collect(),
    };
    (!packages.is_empty()).then_some(Found::Packages(packages))
}

/// One inventory from everything found: the OS from `/etc/os-release` when present, else from
/// `/usr/lib/os-release`; each package once (Python names compared as PEP 503 normalises
/// them), sorted.
pub fn inventory(found: impl IntoIterator<Item = Found>) -> Inventory {
    let mut os_files = Vec::new();
    let mut components = Vec::new();
    for item in found {
        match item {
            Found::Os { file, os } => os_files.push((file, os)),
            Found::Packages(packages) => components.extend(packages),
        }
    }
    components.sort();
    let mut seen = BTreeSet::new();
    components.retain(|component| seen.insert(identity(component)));
    Inventory {
        os: os_files.into_iter().min().map(|(_, os)| os),
        components,
    }
}

/// What makes two components the same package (and so gives them the same purl).
fn identity(component: &Component) -> (Ecosystem, String, String, Option<String>) {
    let name = match component.ecosystem {
        Ecosystem::Pypi => python::normalise(&component.name),
        _ => component.name.clone(),
    };
    (
        component.ecosystem,
        name,
        component.version.clone(),
        component.arch.clone(),
    )
}

#[cfg(test)]
mod tests;
