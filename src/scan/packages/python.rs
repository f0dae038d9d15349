//! Python distributions' metadata: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` (or an
//! `*.egg-info` file), RFC 822-style headers before the description.

use super::stanza::{field, stanzas};
use super::{Component, Ecosystem};

pub(super) fn is_metadata(path: &str) -> bool {
    let Some((directory, file)) = path.rsplit_once('/') else {
        return false;
    };
    let named = |directory: &str, suffix: &str| {
        directory
            .rsplit('/')
            .next()
            .and_then(|name| name.strip_suffix(suffix))
            .is_some_and(|stem| !stem.is_empty())
    };
    match file {
        "METADATA" => named(directory, ".dist-info"),
        "PKG-INFO" => named(directory, ".egg-info"),
        _ => named(path, ".egg-info"),
    }
}

pub(super) fn parse(text: &str) -> Option<Component> {
    let headers = stanzas(text).next()?;
    let name = field(&headers, "Name").filter(|name| !name.is_empty())?;
    let version = field(&headers, "Version").filter(|version| !version.is_empty())?;
    Some(Component {
        ecosystem: Ecosystem::Pypi,
        name: name.to_owned(),
        version: version.to_owned(),
        arch: None,
        source: None,
    })
}

/// PEP 503's normal form of a project name: lowercase, each run of `-`, `_` and `.` one `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}
