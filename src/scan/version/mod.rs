//! Each ecosystem's version order, behind one entry point: [`compare`].
//!
//! Version strings come from images and advisories, both untrusted: parsing never panics, and a
//! string a scheme rejects has no place in its order ([`compare`] answers `None`), so a range
//! is never decided on a guess.

mod apk;
mod dpkg;
mod npm;
mod pep440;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;

/// A package ecosystem, as OSV names it (`Debian`, `Ubuntu`, `Alpine`, `PyPI`, `npm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    Debian,
    Ubuntu,
    Alpine,
    PyPI,
    Npm,
}

/// An algorithm that orders version strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian Policy 5.6.12 (Debian and Ubuntu).
    Dpkg,
    /// apk-tools' version rules (Alpine).
    Apk,
    /// PEP 440 (PyPI).
    Pep440,
    /// SemVer 2 with npm's tolerance of a leading `v` or `=` (npm, and OSV's SEMVER ranges).
    SemVer,
}

/// A version string that its scheme rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme:?} version: {reason}")]
pub struct VersionError {
    pub scheme: Scheme,
    pub reason: String,
}

impl VersionError {
    fn new(scheme: Scheme, reason: impl Into<String>) -> Self {
        Self {
            scheme,
            reason: reason.into(),
        }
    }
}

impl Ecosystem {
    /// Parses an OSV ecosystem string, with its release qualifier if any: `Debian:12` gives
    /// (Debian, `12`), `Ubuntu:22.04:LTS` (Ubuntu, `22.04:LTS`), `Alpine:v3.20` (Alpine,
    /// `v3.20`), `npm` (npm, none). `None` for ecosystems the scanner does not know.
    pub fn parse_osv(text: &str) -> Option<(Ecosystem, Option<&str>)> {
        let (name, release) = match text.split_once(':') {
            Some((name, release)) => (name, Some(release)),
            None => (text, None),
        };
        let ecosystem = match name {
            "Debian" => Ecosystem::Debian,
            "Ubuntu" => Ecosystem::Ubuntu,
            "Alpine" => Ecosystem::Alpine,
            "PyPI" => Ecosystem::PyPI,
            "npm" => Ecosystem::Npm,
            _ => return None,
        };
        Some((ecosystem, release.filter(|release| !release.is_empty())))
    }

    /// The scheme that orders this ecosystem's versions.
    pub fn scheme(self) -> Scheme {
        match self {
            Ecosystem::Debian | Ecosystem::Ubuntu => Scheme::Dpkg,
            Ecosystem::Alpine => Scheme::Apk,
            Ecosystem::PyPI => Scheme::Pep440,
            Ecosystem::Npm => Scheme::SemVer,
        }
    }

    /// Whether an advisory's release qualifier (`12`, `22.04:LTS`, `v3.20`) names the release
    /// an image reports in os-release's VERSION_ID (`12`, `22.04`, `3.20.3`). Ubuntu's other
    /// products (`Pro:18.04:LTS`) name packages a plain release does not have: no match.
    pub fn release_matches(self, advisory: &str, image: &str) -> bool {
        match self {
            Ecosystem::Debian => major(advisory) == major(image),
            Ecosystem::Ubuntu => advisory.strip_suffix(":LTS").unwrap_or(advisory) == image,
            Ecosystem::Alpine => alpine_branch(advisory).eq(alpine_branch(image)),
            Ecosystem::PyPI | Ecosystem::Npm => advisory == image,
        }
    }

    /// The name under which the ecosystem compares package names: PyPI's are normalised as
    /// PEP 503 says (case, and runs of `-`, `_`, `.`); the others' are exact.
    pub fn normalize_name(self, name: &str) -> String {
        match self {
            Ecosystem::PyPI => {
                let mut normalized = String::with_capacity(name.len());
                for part in name.split(['-', '_', '.']).filter(|part| !part.is_empty()) {
                    if !normalized.is_empty() {
                        normalized.push('-');
                    }
                    normalized.push_str(&part.to_lowercase());
                }
                normalized
            }
            _ => name.to_owned(),
        }
    }
}

/// Alpine's branch (`3.20`) from `v3.20` or `3.20.3`.
fn alpine_branch(release: &str) -> impl Iterator<Item = &str> {
    release
        .strip_prefix('v')
        .unwrap_or(release)
        .split('.')
        .take(2)
}

fn major(release: &str) -> &str {
    release.split('.').next().unwrap_or(release)
}

/// A version parsed in its scheme, ready to be compared with others of the same scheme.
#[derive(Debug, Clone)]
pub enum Version {
    Dpkg(dpkg::Version),
    Apk(apk::Version),
    Pep440(pep440_rs::Version),
    SemVer(semver::Version),
}

impl Scheme {
    /// Parses `text` in this scheme.
    pub fn parse(self, text: &str) -> Result<Version, VersionError> {
        Ok(match self {
            Scheme::Dpkg => Version::Dpkg(dpkg::Version::parse(text)?),
            Scheme::Apk => Version::Apk(apk::Version::parse(text)?),
            Scheme::Pep440 => Version::Pep440(pep440::parse(text)?),
            Scheme::SemVer => Version::SemVer(npm::parse(text)?),
        })
    }

    /// Orders two version strings; `None` if either is not a version of this scheme.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        self.parse(a).ok()?.compare(&self.parse(b).ok()?)
    }
}

impl Version {
    /// Orders two versions of the same scheme; `None` across schemes.
    pub fn compare(&self, other: &Version) -> Option<Ordering> {
        match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => Some(a.cmp(b)),
            (Version::Apk(a), Version::Apk(b)) => Some(a.cmp(b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::SemVer(a), Version::SemVer(b)) => Some(a.cmp_precedence(b)),
            _ => None,
        }
    }
}

/// Orders two version strings of `ecosystem`; `None` if either is not a valid version there.
pub fn compare(ecosystem: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    ecosystem.scheme().compare(a, b)
}
