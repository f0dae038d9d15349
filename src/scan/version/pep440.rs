//! PyPI's version order: PEP 440, by `pep440_rs` (uv's parser), which also normalises the
//! spellings PEP 440 allows (`1.0RC1`, `1.0-post1`, `v1.0`).

use std::str::FromStr;

use super::{Scheme, VersionError};

pub fn parse(text: &str) -> Result<pep440_rs::Version, VersionError> {
    pep440_rs::Version::from_str(text.trim())
        .map_err(|error| VersionError::new(Scheme::Pep440, error.to_string()))
}
