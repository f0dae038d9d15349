//! OSV advisories (ossf.github.io/osv-schema) and whether one affects an installed package,
//! following the schema's range-evaluation algorithm with each ecosystem's version order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::version::{Ecosystem, Scheme, Version};

#[cfg(test)]
mod tests;

/// One advisory; unknown fields are ignored, absent lists are empty.
/// It serialises back (without what is empty) for the advisory index, which keeps a trimmed copy.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub modified: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Affected>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// A severity as the advisory gives it (`CVSS_V3` and its vector), mapped later.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub score: String,
}

/// The versions of one package that an advisory affects.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Affected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: RangeKind,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RangeKind {
    Ecosystem,
    Semver,
    /// Commit ranges: an image's packages carry no commits, so these are never evaluated.
    Git,
    #[serde(other)]
    Unknown,
}

/// One event; the schema gives each exactly one of these.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// A package as an image has it installed.
#[derive(Debug, Clone, Copy)]
pub struct Installed<'a> {
    pub ecosystem: Ecosystem,
    /// The release from os-release's VERSION_ID (`12`, `22.04`, `3.20.3`), if the ecosystem has them.
    pub release: Option<&'a str>,
    /// The name advisories use: for Debian and Ubuntu, the source package.
    pub name: &'a str,
    pub version: &'a str,
}

/// An advisory's verdict on an installed package that it affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The version that fixes it, if the advisory names one above the installed version.
    pub fixed: Option<String>,
}

impl Advisory {
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// `database_specific.severity` (Debian's and Ubuntu's own rating), as given.
    pub fn database_severity(&self) -> Option<&str> {
        self.database_specific.as_ref()?.get("severity")?.as_str()
    }

    /// Whether this advisory affects `installed`, and the fixed version that applies.
    pub fn affects(&self, installed: &Installed) -> Option<Finding> {
        self.affected
            .iter()
            .filter(|affected| affected.names(installed))
            .find_map(|affected| affected.evaluate(installed))
    }
}

impl Affected {
    /// Whether this entry is about `installed`'s package, in its ecosystem and release. An entry
    /// without a release applies to every release.
    fn names(&self, installed: &Installed) -> bool {
        let Some(package) = &self.package else {
            return false;
        };
        let Some((ecosystem, release)) = Ecosystem::parse_osv(&package.ecosystem) else {
            return false;
        };
        let release_matches = match (release, installed.release) {
            (None, _) => true,
            (Some(advisory), Some(image)) => ecosystem.release_matches(advisory, image),
            (Some(_), None) => false,
        };
        ecosystem == installed.ecosystem
            && release_matches
            && ecosystem.normalize_name(&package.name) == ecosystem.normalize_name(installed.name)
    }

    /// The schema's algorithm: affected if any range includes the version, or the `versions`
    /// list names it exactly (then the fixed version is the next `fixed` event above it). A
    /// range whose events or version do not parse in its order is not evaluated: a guess would
    /// be either a false alarm or a missed one.
    fn evaluate(&self, installed: &Installed) -> Option<Finding> {
        let mut fixed_above = None;
        for range in &self.ranges {
            let Some(events) = range.parse(installed.ecosystem) else {
                continue;
            };
            let Ok(version) = events.scheme.parse(installed.version) else {
                continue;
            };
            if events.includes(&version) {
                return Some(Finding {
                    fixed: events.next_fixed(&version),
                });
            }
            fixed_above = fixed_above.or_else(|| events.next_fixed(&version));
        }
        self.versions
            .iter()
            .any(|version| version == installed.version)
            .then_some(Finding { fixed: fixed_above })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Introduced,
    LastAffected,
    Fixed,
    Limit,
}

impl Event {
    fn kind_and_version(&self) -> Option<(EventKind, &str)> {
        [
            (EventKind::Introduced, &self.introduced),
            (EventKind::Fixed, &self.fixed),
            (EventKind::LastAffected, &self.last_affected),
            (EventKind::Limit, &self.limit),
        ]
        .into_iter()
        .find_map(|(kind, version)| Some((kind, version.as_deref()?)))
    }
}

/// An event's version; `introduced: "0"` is before every version. All of a range's versions
/// are parsed in one scheme, so comparing them always has an answer.
#[derive(Debug, Clone)]
enum Bound {
    Zero,
    At(Version),
}

impl Bound {
    fn cmp_version(&self, version: &Version) -> Ordering {
        match self {
            Bound::Zero => Ordering::Less,
            Bound::At(bound) => bound.compare(version).unwrap_or(Ordering::Equal),
        }
    }

    fn cmp_bound(&self, other: &Bound) -> Ordering {
        match (self, other) {
            (Bound::Zero, Bound::Zero) => Ordering::Equal,
            (Bound::Zero, Bound::At(_)) => Ordering::Less,
            (Bound::At(_), Bound::Zero) => Ordering::Greater,
            (Bound::At(a), Bound::At(b)) => a.compare(b).unwrap_or(Ordering::Equal),
        }
    }
}

/// A range's events parsed in its order and sorted by version.
struct Events {
    scheme: Scheme,
    sorted: Vec<(Bound, EventKind, String)>,
    /// Whether a `limit: "*"` lifts the limits.
    unlimited: bool,
}

impl Range {
    fn parse(&self, ecosystem: Ecosystem) -> Option<Events> {
        let scheme = match self.kind {
            RangeKind::Ecosystem => ecosystem.scheme(),
            RangeKind::Semver => Scheme::SemVer,
            RangeKind::Git | RangeKind::Unknown => return None,
        };
        let mut sorted = Vec::with_capacity(self.events.len());
        let mut unlimited = false;
        for event in &self.events {
            let Some((kind, text)) = event.kind_and_version() else {
                continue;
            };
            let bound = match (kind, text) {
                (EventKind::Introduced, "0") => Bound::Zero,
                (EventKind::Limit, "*") => {
                    unlimited = true;
                    continue;
                }
                _ => Bound::At(scheme.parse(text).ok()?),
            };
            sorted.push((bound, kind, text.to_owned()));
        }
        sorted.sort_by(|(a, a_kind, _), (b, b_kind, _)| a.cmp_bound(b).then(a_kind.cmp(b_kind)));
        Some(Events {
            scheme,
            sorted,
            unlimited,
        })
    }
}

impl Events {
    fn includes(&self, version: &Version) -> bool {
        let mut limits = self
            .sorted
            .iter()
            .filter(|(_, kind, _)| *kind == EventKind::Limit)
            .peekable();
        let below_limits = self.unlimited
            || limits.peek().is_none()
            || limits.any(|(limit, _, _)| limit.cmp_version(version) == Ordering::Greater);
        if !below_limits {
            return false;
        }
        let mut affected = false;
        for (bound, kind, _) in &self.sorted {
            let order = bound.cmp_version(version);
            match kind {
                EventKind::Introduced if order != Ordering::Greater => affected = true,
                EventKind::Fixed if order != Ordering::Greater => affected = false,
                EventKind::LastAffected if order == Ordering::Less => affected = false,
                _ => {}
            }
        }
        affected
    }

    /// The first `fixed` above `version`: the one that ends the span `version` is in.
    fn next_fixed(&self, version: &Version) -> Option<String> {
        self.sorted
            .iter()
            .find(|(bound, kind, _)| {
                *kind == EventKind::Fixed && bound.cmp_version(version) == Ordering::Greater
            })
            .map(|(_, _, text)| text.clone())
    }
}
