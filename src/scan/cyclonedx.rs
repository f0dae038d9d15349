//! The SBOM: an image's inventory as a CycloneDX 1.5 JSON document (cyclonedx.org/docs/1.5/json),
//! and the scan report: the same document with the vulnerabilities found in its components.
//!
//! Deterministic: the same inventory (and findings) give the same bytes but for the serial
//! number and the timestamp, so a re-scan of an unchanged image changes nothing else.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::matching::Vulnerability;
use super::packages::{Component, Inventory, Os};
use super::purl::{purl, purl_type};

/// The media type of the document, the `artifactType` of the OCI artifact that carries it.
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The image an SBOM describes.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub repository: &'a str,
    /// The image manifest's digest, e.g. `sha256:…`.
    pub manifest_digest: &'a str,
}

/// The SBOM of `subject`, whose files said `inventory`. `serial` makes the document's
/// `serialNumber` (a random or derived id; its version and variant bits are set to a v4 UUID's),
/// `timestamp` is when the scan ran.
pub fn sbom(
    subject: Subject<'_>,
    inventory: &Inventory,
    serial: [u8; 16],
    timestamp: DateTime<Utc>,
) -> Value {
    let os = inventory.os.as_ref();
    let mut components: Vec<Value> = os.map(os_component).into_iter().collect();
    components.extend(libraries(inventory));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid(serial)),
        "version": 1,
        "metadata": {
            "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": env!("CARGO_PKG_NAME"),
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": format!("{}@{}", subject.repository, subject.manifest_digest),
                "name": subject.repository,
                "version": subject.manifest_digest,
                "properties": os.map(os_properties).unwrap_or_default(),
            },
        },
        "components": components,
    })
}

/// The scan report of `subject`: its SBOM (as [`sbom`] makes it) with `vulnerabilities[]`, one
/// per finding, in the findings' order. Each finding's `affects` names its package by the purl
/// that is the package's `bom-ref`, so `vulnerabilities` must come from
/// [`match_inventory`](super::matching::match_inventory) on the same `inventory`.
pub fn report(
    subject: Subject<'_>,
    inventory: &Inventory,
    vulnerabilities: &[Vulnerability],
    serial: [u8; 16],
    timestamp: DateTime<Utc>,
) -> Value {
    let mut document = sbom(subject, inventory, serial, timestamp);
    document["vulnerabilities"] = vulnerabilities.iter().map(vulnerability).collect();
    document
}

/// What an OSV id's URL leaves unencoded: ids are advisory text, untrusted.
const OSV_ID: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

fn osv_source(id: &str) -> Value {
    json!({
        "name": "OSV",
        "url": format!("https://osv.dev/vulnerability/{}", utf8_percent_encode(id, OSV_ID)),
    })
}

fn vulnerability(finding: &Vulnerability) -> Value {
    let mut rating = json!({ "severity": finding.severity.as_str() });
    if let Some(cvss) = &finding.cvss {
        rating["method"] = json!(cvss.method.as_str());
        rating["vector"] = json!(cvss.vector);
        rating["score"] = json!(cvss.score);
    }
    let mut entry = json!({
        "id": finding.id,
        "source": osv_source(&finding.id),
        "ratings": [rating],
        "affects": [{
            "ref": finding.purl,
            "versions": [{ "version": finding.installed, "status": "affected" }],
        }],
    });
    if !finding.aliases.is_empty() {
        entry["references"] = finding
            .aliases
            .iter()
            .map(|alias| json!({ "id": alias, "source": osv_source(alias) }))
            .collect();
    }
    if let Some(summary) = &finding.summary {
        entry["description"] = json!(summary);
    }
    let mut properties = vec![property("installed_version", &finding.installed)];
    if let Some(fixed) = &finding.fixed {
        entry["recommendation"] = json!(format!("Upgrade {} to {fixed}", finding.package));
        properties.push(property("fixed_version", fixed));
    }
    if let Some(source) = &finding.source_package {
        properties.push(property("source_package", source));
    }
    entry["properties"] = json!(properties);
    entry
}

/// The packages, one per purl (its `bom-ref`), in purl order.
fn libraries(inventory: &Inventory) -> Vec<Value> {
    let os = inventory.os.as_ref();
    let mut by_purl = BTreeMap::new();
    for component in &inventory.components {
        by_purl.entry(purl(component, os)).or_insert(component);
    }
    by_purl
        .into_iter()
        .map(|(purl, component)| library(purl, component))
        .collect()
}

fn library(purl: String, component: &Component) -> Value {
    let mut entry = json!({
        "type": "library",
        "bom-ref": purl,
        "name": component.name,
        "version": component.version,
        "purl": purl,
    });
    if let Some(source) = &component.source {
        entry["properties"] = json!([property(
            &format!("{}:source", purl_type(component.ecosystem)),
            &format!("{}@{}", source.name, source.version),
        )]);
    }
    entry
}

fn os_component(os: &Os) -> Value {
    let mut entry = json!({
        "type": "operating-system",
        "name": os.id,
    });
    let bom_ref = match &os.version_id {
        Some(version) => {
            entry["version"] = json!(version);
            format!("os:{}@{version}", os.id)
        }
        None => format!("os:{}", os.id),
    };
    entry["bom-ref"] = json!(bom_ref);
    if let Some(pretty_name) = &os.pretty_name {
        entry["description"] = json!(pretty_name);
    }
    entry
}

fn os_properties(os: &Os) -> Vec<Value> {
    [
        ("id", Some(&os.id)),
        ("version_id", os.version_id.as_ref()),
        ("version_codename", os.version_codename.as_ref()),
        ("pretty_name", os.pretty_name.as_ref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(property(&format!("os:{key}"), value?)))
    .collect()
}

/// A property in the registry's own namespace (CycloneDX's convention for tool-specific ones).
fn property(name: &str, value: &str) -> Value {
    json!({ "name": format!("edge-registry:{name}"), "value": value })
}

/// RFC 4122 form, with the version (4) and variant bits CycloneDX's schema pattern requires.
fn uuid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests;
