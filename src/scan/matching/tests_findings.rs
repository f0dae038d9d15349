//! The findings as the report gives them: their order, ratings, summaries and merged aliases.

use serde_json::json;

use super::tests::{
    advisory, advisory_with, bookworm, component, fixed_at, image, range, summarise,
};
use super::*;

fn rated(id: &str, database_severity: &str) -> Advisory {
    advisory_with(
        id,
        fixed_at("Debian:12", "glibc", "2.36-9+deb12u7"),
        json!({"database_specific": {"severity": database_severity}}),
    )
}

#[test]
fn findings_are_ordered_by_severity_then_id_then_package_whatever_the_input_order() {
    let advisories = vec![
        rated("DEBIAN-CVE-2024-0003", "low"),
        rated("DEBIAN-CVE-2024-0001", "high"),
        rated("DEBIAN-CVE-2024-0002", "high"),
        rated("DEBIAN-CVE-2024-0004", "not yet assigned"),
        rated("DEBIAN-CVE-2024-0005", "critical"),
    ];
    let expected = [
        ("DEBIAN-CVE-2024-0005", "libc-bin", Severity::Critical),
        ("DEBIAN-CVE-2024-0005", "libc6", Severity::Critical),
        ("DEBIAN-CVE-2024-0001", "libc-bin", Severity::High),
        ("DEBIAN-CVE-2024-0001", "libc6", Severity::High),
        ("DEBIAN-CVE-2024-0002", "libc-bin", Severity::High),
        ("DEBIAN-CVE-2024-0002", "libc6", Severity::High),
        ("DEBIAN-CVE-2024-0003", "libc-bin", Severity::Low),
        ("DEBIAN-CVE-2024-0003", "libc6", Severity::Low),
        ("DEBIAN-CVE-2024-0004", "libc-bin", Severity::Unknown),
        ("DEBIAN-CVE-2024-0004", "libc6", Severity::Unknown),
    ];
    let mut inventory = bookworm();
    let mut reversed = advisories.clone();
    reversed.reverse();
    // The same advisory given twice is reported once.
    reversed.push(advisories[0].clone());
    for advisories in [advisories, reversed] {
        let found = match_inventory(&inventory, &advisories);
        let order: Vec<_> = found
            .iter()
            .map(|finding| {
                (
                    finding.id.as_str(),
                    finding.package.as_str(),
                    finding.severity,
                )
            })
            .collect();
        assert_eq!(order, expected);
    }
    inventory.components.reverse();
    let order: Vec<_> = match_inventory(&inventory, &[rated("DSA-9", "high")])
        .into_iter()
        .map(|finding| finding.package)
        .collect();
    assert_eq!(order, ["libc-bin", "libc6"]);
}

#[test]
fn queries_name_each_ecosystems_packages_once_as_advisories_name_them() {
    let mut inventory = bookworm();
    inventory.components.extend([
        component(packages::Ecosystem::Pypi, "Foo_Bar", "1.0", None),
        component(packages::Ecosystem::Pypi, "foo.bar", "2.0", None),
        component(packages::Ecosystem::Npm, "@scope/name", "1.0.0", None),
    ]);
    let names = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
    assert_eq!(
        queries(&inventory),
        [
            Query {
                ecosystem: Ecosystem::Debian,
                names: names(&["bash", "glibc"]),
            },
            Query {
                ecosystem: Ecosystem::PyPI,
                names: names(&["foo-bar"]),
            },
            Query {
                ecosystem: Ecosystem::Npm,
                names: names(&["@scope/name"]),
            },
        ]
    );
}

#[test]
fn a_package_entrys_own_severity_rates_an_advisory_without_one() {
    let advisories = [advisory(
        "GHSA-per-package",
        json!([{
            "package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]
        }, {
            "package": {"ecosystem": "Debian:12", "name": "bash"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            "database_specific": {"severity": "low"}
        }]),
    )];
    let found = match_inventory(&bookworm(), &advisories);
    let ratings: Vec<_> = found
        .iter()
        .map(|finding| (finding.package.as_str(), finding.severity))
        .collect();
    assert_eq!(
        ratings,
        [
            ("libc-bin", Severity::High),
            ("libc6", Severity::High),
            ("bash", Severity::Low),
        ]
    );
    assert_eq!(found[0].cvss.as_ref().unwrap().score, 7.5);
}

#[test]
fn the_summary_falls_back_to_the_details_first_line_cut_by_characters() {
    let long = "é".repeat(SUMMARY_CAP + 10);
    let table = [
        (
            json!({"summary": " heap overflow "}),
            Some("heap overflow".to_owned()),
        ),
        (
            json!({"summary": "", "details": "\n\nfirst line\nsecond"}),
            Some("first line".to_owned()),
        ),
        (
            json!({"details": long}),
            Some(format!("{}…", "é".repeat(SUMMARY_CAP))),
        ),
        (json!({}), None),
    ];
    for (fields, expected) in table {
        let advisories = [advisory_with(
            "DSA-4",
            fixed_at("Debian:12", "bash", "5.2.15-3"),
            fields,
        )];
        let found = match_inventory(&bookworm(), &advisories);
        assert_eq!(found[0].summary, expected);
    }
}

#[test]
fn a_finding_serialises_as_the_report_spells_it() {
    let advisories = [advisory_with(
        "DSA-5",
        fixed_at("Debian:12", "bash", "5.2.15-3"),
        json!({"aliases": ["CVE-2024-0005"], "summary": "a flaw"}),
    )];
    let found = match_inventory(&bookworm(), &advisories);
    assert_eq!(
        serde_json::to_value(&found).unwrap(),
        json!([{
            "id": "DSA-5",
            "aliases": ["CVE-2024-0005"],
            "package": "bash",
            "installed": "5.2.15-2+b8",
            "fixed": "5.2.15-3",
            "severity": "unknown",
            "summary": "a flaw",
            "purl": "pkg:deb/debian/bash@5.2.15-2%2Bb8?distro=debian-12"
        }])
    );
    let round_trip: Vec<Vulnerability> =
        serde_json::from_value(serde_json::to_value(&found).unwrap()).unwrap();
    assert_eq!(round_trip, found);
}

#[test]
fn advisories_aliasing_each_other_are_one_finding_per_package() {
    let inventory = image(
        None,
        vec![
            component(packages::Ecosystem::Pypi, "jinja2", "2.10", None),
            component(packages::Ecosystem::Pypi, "markupsafe", "1.0", None),
        ],
    );
    let advisories = [
        advisory_with(
            "PYSEC-2019-217",
            fixed_at("PyPI", "jinja2", "2.10.1"),
            json!({"aliases": ["CVE-2019-10906", "GHSA-462w-v97r-4m45"]}),
        ),
        advisory_with(
            "GHSA-462w-v97r-4m45",
            fixed_at("PyPI", "jinja2", "2.10.1"),
            json!({
                "aliases": ["CVE-2019-10906"],
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N"}]
            }),
        ),
        // Linked to the others only through the CVE, without a fix of its own.
        advisory_with(
            "OSV-2019-1",
            json!([range("PyPI", "jinja2", json!([{"introduced": "0"}]))]),
            json!({"aliases": ["CVE-2019-10906"]}),
        ),
        // Another flaw of the same package, and the same flaw's advisory for another package.
        advisory("PYSEC-2020-1", fixed_at("PyPI", "jinja2", "2.11")),
        advisory_with(
            "PYSEC-2019-300",
            fixed_at("PyPI", "markupsafe", "1.1"),
            json!({"aliases": ["CVE-2019-10906"]}),
        ),
    ];
    let found = match_inventory(&inventory, &advisories);
    assert_eq!(
        summarise(&found),
        [
            (
                "GHSA-462w-v97r-4m45",
                "jinja2",
                None,
                "2.10",
                Some("2.10.1")
            ),
            ("PYSEC-2019-300", "markupsafe", None, "1.0", Some("1.1")),
            ("PYSEC-2020-1", "jinja2", None, "2.10", Some("2.11")),
        ]
    );
    assert_eq!(found[0].severity, Severity::High);
    assert_eq!(
        found[0].aliases,
        ["CVE-2019-10906", "OSV-2019-1", "PYSEC-2019-217"]
    );
    assert_eq!(found[1].aliases, ["CVE-2019-10906"]);
}
