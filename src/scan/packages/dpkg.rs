//! dpkg's databases: `/var/lib/dpkg/status`, and distroless images' `/var/lib/dpkg/status.d/*`.

use super::stanza::{field, stanzas, Fields};
use super::{Component, Ecosystem, SourcePackage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Database {
    /// The status file lists removed packages too; only installed ones count.
    Status,
    /// Distroless images write stanzas of installed packages, usually without `Status:`.
    StatusD,
}

pub(super) fn parse(text: &str, database: Database) -> Vec<Component> {
    stanzas(text)
        .filter(|fields| match field(fields, "Status") {
            Some(status) => is_installed(status),
            None => database == Database::StatusD,
        })
        .filter_map(|fields| package(&fields))
        .collect()
}

/// `Status: <want> <error> <state>`: the package's files are on disk when the state is
/// `installed`, whatever was wanted (`install` or `hold`).
fn is_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_whitespace().collect();
    matches!(words.as_slice(), [_, "ok", "installed"])
}

fn package(fields: &Fields<'_>) -> Option<Component> {
    let name = non_empty(field(fields, "Package"))?;
    let version = non_empty(field(fields, "Version"))?;
    let arch = non_empty(field(fields, "Architecture")).map(str::to_owned);
    Some(Component {
        ecosystem: Ecosystem::Deb,
        name: name.to_owned(),
        version: version.to_owned(),
        arch,
        source: Some(source(field(fields, "Source"), name, version)),
    })
}

/// `Source: glibc (2.36-9)` names the source package and its version; `Source: glibc` alone
/// means the binary's own version; no `Source:` means the package is its own source.
fn source(field: Option<&str>, name: &str, version: &str) -> SourcePackage {
    let Some(field) = non_empty(field) else {
        return SourcePackage {
            name: name.to_owned(),
            version: version.to_owned(),
        };
    };
    let (source_name, rest) = field.split_once(char::is_whitespace).unwrap_or((field, ""));
    let source_version = rest
        .trim()
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::trim)
        .filter(|version| !version.is_empty())
        .unwrap_or(version);
    SourcePackage {
        name: source_name.to_owned(),
        version: source_version.to_owned(),
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}
