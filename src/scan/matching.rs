//! Which advisories affect an image's packages: each package looked up under the name, version
//! and release its advisories use ([`lookups`], [`queries`]), then judged by every advisory
//! that names it ([`match_inventory`]).
//!
//! Debian's and Ubuntu's advisories name source packages and give source versions; Alpine's
//! name origins. A flaw in a source package is in every binary built from it, so each binary
//! is reported, with the source it was found through.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::osv::{Advisory, Affected, Installed};
use super::packages::{self, Component, Inventory, Os};
use super::purl::purl;
use super::severity::{rate, rate_advisory, Cvss, Rating, Severity};
use super::version::Ecosystem;

/// How many characters of an advisory's details stand in for a missing summary.
const SUMMARY_CAP: usize = 200;

/// One installed package as its advisories name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup<'a> {
    pub component: &'a Component,
    pub ecosystem: Ecosystem,
    /// The name advisories use (the source package, the origin), as
    /// [`Ecosystem::normalize_name`] gives it.
    pub name: String,
    /// The version advisories compare: the source version for Debian and Ubuntu.
    pub version: &'a str,
    /// os-release's VERSION_ID, for the ecosystems whose advisories are per release.
    pub release: Option<&'a str>,
}

/// The names to fetch advisories for in one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub ecosystem: Ecosystem,
    /// As [`Ecosystem::normalize_name`] gives them: an advisory index keyed by the normalised
    /// name of each `affected[].package.name` finds them.
    pub names: BTreeSet<String>,
}

/// One advisory affecting one installed package: the report's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    pub id: String,
    pub aliases: Vec<String>,
    /// The installed (binary) package's name.
    pub package: String,
    /// The source package (or Alpine origin) the advisory names, when not the package itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    pub installed: String,
    pub fixed: Option<String>,
    pub severity: Severity,
    pub summary: Option<String>,
    /// The package's purl: its `bom-ref` in the SBOM.
    pub purl: String,
    /// The CVSS vector the severity was computed from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
}

/// Each component of `inventory` that advisories can be looked up for, in inventory order.
/// Debian and Ubuntu packages need the image's os-release to say which (other dpkg-based
/// distributions have their own advisories, or none), Alpine packages likewise.
pub fn lookups(inventory: &Inventory) -> Vec<Lookup<'_>> {
    let os = inventory.os.as_ref();
    inventory
        .components
        .iter()
        .filter_map(|component| lookup(component, os))
        .collect()
}

fn lookup<'a>(component: &'a Component, os: Option<&'a Os>) -> Option<Lookup<'a>> {
    let distribution = |ids: &[(&str, Ecosystem)]| {
        let os = os?;
        ids.iter()
            .find(|(id, _)| os.id.eq_ignore_ascii_case(id))
            .map(|(_, ecosystem)| (*ecosystem, os.version_id.as_deref()))
    };
    let (ecosystem, release) = match component.ecosystem {
        packages::Ecosystem::Deb => {
            distribution(&[("debian", Ecosystem::Debian), ("ubuntu", Ecosystem::Ubuntu)])?
        }
        packages::Ecosystem::Apk => distribution(&[("alpine", Ecosystem::Alpine)])?,
        packages::Ecosystem::Pypi => (Ecosystem::PyPI, None),
        packages::Ecosystem::Npm => (Ecosystem::Npm, None),
    };
    // Distributions' advisories name source packages (Alpine's origins carry their
    // subpackages' version: apk builds them at once).
    let (name, version) = match &component.source {
        Some(source)
            if matches!(
                ecosystem,
                Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine
            ) =>
        {
            (source.name.as_str(), source.version.as_str())
        }
        _ => (component.name.as_str(), component.version.as_str()),
    };
    Some(Lookup {
        component,
        ecosystem,
        name: ecosystem.normalize_name(name),
        version,
        release,
    })
}

/// Per ecosystem, the names whose advisories [`match_inventory`] needs, in inventory order of
/// the ecosystems.
pub fn queries(inventory: &Inventory) -> Vec<Query> {
    let mut queries: Vec<Query> = Vec::new();
    for lookup in lookups(inventory) {
        match queries
            .iter_mut()
            .find(|query| query.ecosystem == lookup.ecosystem)
        {
            Some(query) => {
                query.names.insert(lookup.name);
            }
            None => queries.push(Query {
                ecosystem: lookup.ecosystem,
                names: BTreeSet::from([lookup.name]),
            }),
        }
    }
    queries
}

/// Every (advisory, installed package) pair where the advisory affects the package (advisories
/// that alias each other counted once per package), most severe first, then by advisory id,
/// package name and purl. `advisories` may hold any ecosystems' advisories, and more than the
/// inventory needs: each package is judged only by the advisories that name it, so the work
/// grows with the matches, not with packages times advisories.
pub fn match_inventory(inventory: &Inventory, advisories: &[Advisory]) -> Vec<Vulnerability> {
    let naming = index(advisories);
    let os = inventory.os.as_ref();
    let mut found = Vec::new();
    for lookup in lookups(inventory) {
        let Some(candidates) = naming.get(&(lookup.ecosystem, lookup.name.clone())) else {
            continue;
        };
        let installed = Installed {
            ecosystem: lookup.ecosystem,
            release: lookup.release,
            name: &lookup.name,
            version: lookup.version,
        };
        for &candidate in candidates {
            let advisory = &advisories[candidate];
            if let Some(finding) = advisory.affects(&installed) {
                let rating = package_rating(advisory, &lookup);
                found.push(Vulnerability {
                    id: advisory.id.clone(),
                    aliases: advisory.aliases.clone(),
                    package: lookup.component.name.clone(),
                    source_package: (lookup.ecosystem.normalize_name(&lookup.component.name)
                        != lookup.name)
                        .then(|| lookup.name.clone()),
                    installed: lookup.component.version.clone(),
                    fixed: finding.fixed,
                    severity: rating.severity,
                    summary: summary(advisory),
                    purl: purl(lookup.component, os),
                    cvss: rating.cvss,
                });
            }
        }
    }
    let mut found = merge_aliases(found);
    found.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.purl.cmp(&b.purl))
    });
    found
}

/// Databases publish one flaw under several ids that name each other as aliases (GitHub's
/// GHSA and PyPA's PYSEC records of one PyPI flaw): per package, such findings are reported
/// once, under the most severe one's id (then the first id), with the others' ids among its
/// aliases. The same advisory given twice is reported once too.
fn merge_aliases(mut found: Vec<Vulnerability>) -> Vec<Vulnerability> {
    found.sort_by(|a, b| {
        a.purl
            .cmp(&b.purl)
            .then(b.severity.cmp(&a.severity))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut merged: Vec<Vulnerability> = Vec::with_capacity(found.len());
    // The current package's findings, by each of their ids and aliases.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for finding in found {
        if merged.last().is_some_and(|last| last.purl != finding.purl) {
            by_name.clear();
        }
        let names: Vec<String> = std::iter::once(&finding.id)
            .chain(&finding.aliases)
            .cloned()
            .collect();
        let position = names
            .iter()
            .find_map(|name| by_name.get(name).copied())
            .unwrap_or(merged.len());
        if position == merged.len() {
            merged.push(finding);
        } else {
            let kept = &mut merged[position];
            kept.aliases
                .extend(names.iter().filter(|name| **name != kept.id).cloned());
            kept.fixed = kept.fixed.take().or(finding.fixed);
        }
        for name in names {
            by_name.insert(name, position);
        }
    }
    for finding in &mut merged {
        finding.aliases.sort();
        finding.aliases.dedup();
    }
    merged
}

/// The advisories naming each (ecosystem, normalised package name), each advisory once.
fn index(advisories: &[Advisory]) -> HashMap<(Ecosystem, String), Vec<usize>> {
    let mut naming: HashMap<(Ecosystem, String), Vec<usize>> = HashMap::new();
    for (position, advisory) in advisories.iter().enumerate() {
        for key in advisory.affected.iter().filter_map(affected_key) {
            let entry = naming.entry(key).or_default();
            if entry.last() != Some(&position) {
                entry.push(position);
            }
        }
    }
    naming
}

fn affected_key(affected: &Affected) -> Option<(Ecosystem, String)> {
    let package = affected.package.as_ref()?;
    let (ecosystem, _) = Ecosystem::parse_osv(&package.ecosystem)?;
    Some((ecosystem, ecosystem.normalize_name(&package.name)))
}

/// The advisory's own rating; when it has none, the highest of the ratings its entries for
/// this package give (OSV puts a severity there when it differs per package).
fn package_rating(advisory: &Advisory, lookup: &Lookup) -> Rating {
    let rating = rate_advisory(advisory);
    if rating.severity != Severity::Unknown {
        return rating;
    }
    advisory
        .affected
        .iter()
        .filter(|affected| affected_key(affected) == Some((lookup.ecosystem, lookup.name.clone())))
        .map(|affected| {
            let database_severity = affected
                .database_specific
                .as_ref()
                .and_then(|value| value.get("severity")?.as_str());
            rate(&affected.severity, database_severity)
        })
        .max_by_key(|rating| rating.severity)
        .unwrap_or(rating)
}

/// The advisory's summary, else the first line of its details, cut at [`SUMMARY_CAP`]
/// characters.
fn summary(advisory: &Advisory) -> Option<String> {
    let text = advisory
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|summary| !summary.is_empty())
        .or_else(|| {
            advisory
                .details
                .as_deref()?
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
        })?;
    let mut characters = text.chars();
    let mut cut: String = characters.by_ref().take(SUMMARY_CAP).collect();
    if characters.next().is_some() {
        cut.push('…');
    }
    Some(cut)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_findings;
