//! npm's version order: SemVer 2 precedence, by the `semver` crate, after stripping what npm's
//! parser tolerates in front of a version (spaces, `=`, `v`).

use super::{Scheme, VersionError};

pub fn parse(text: &str) -> Result<semver::Version, VersionError> {
    let text = text.trim().trim_start_matches(['=', 'v']);
    semver::Version::parse(text)
        .map_err(|error| VersionError::new(Scheme::SemVer, error.to_string()))
}
