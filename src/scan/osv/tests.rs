use serde_json::json;

use super::{Advisory, Finding, Installed, RangeKind};
use crate::scan::version::Ecosystem;

fn parse_advisory(affected: serde_json::Value) -> Advisory {
    let document = json!({
        "schema_version": "1.6.0",
        "id": "TEST-1",
        "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2024-0001"],
        "summary": "a test",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": affected,
        "database_specific": {"severity": "high", "unknown": [1, 2]},
        "a_future_field": {"anything": true}
    });
    Advisory::from_json(document.to_string().as_bytes()).expect("advisory parses")
}

fn debian(name: &str, events: serde_json::Value) -> serde_json::Value {
    json!([{
        "package": {"ecosystem": "Debian:12", "name": name, "purl": format!("pkg:deb/debian/{name}")},
        "ranges": [{"type": "ECOSYSTEM", "events": events}]
    }])
}

fn installed<'a>(
    ecosystem: Ecosystem,
    release: Option<&'a str>,
    name: &'a str,
    version: &'a str,
) -> Installed<'a> {
    Installed {
        ecosystem,
        release,
        name,
        version,
    }
}

fn bookworm<'a>(name: &'a str, version: &'a str) -> Installed<'a> {
    installed(Ecosystem::Debian, Some("12"), name, version)
}

fn fixed(version: &str) -> Option<Finding> {
    Some(Finding {
        fixed: Some(version.to_owned()),
    })
}

const UNFIXED: Option<Finding> = Some(Finding { fixed: None });

#[test]
fn fields_are_kept_as_given_and_unknown_ones_ignored() {
    let advisory = parse_advisory(debian(
        "glibc",
        json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]),
    ));
    assert_eq!(advisory.id, "TEST-1");
    assert_eq!(advisory.aliases, ["CVE-2024-0001"]);
    assert_eq!(advisory.summary.as_deref(), Some("a test"));
    assert_eq!(advisory.severity[0].kind, "CVSS_V3");
    assert!(advisory.severity[0].score.starts_with("CVSS:3.1/AV:N"));
    assert_eq!(advisory.database_severity(), Some("high"));
    assert_eq!(advisory.affected[0].ranges[0].kind, RangeKind::Ecosystem);
    let minimal =
        Advisory::from_json(br#"{"id": "X", "affected": [{"ranges": [{"type": "NEW_KIND"}]}]}"#);
    assert_eq!(
        minimal.expect("parses").affected[0].ranges[0].kind,
        RangeKind::Unknown
    );
    assert!(
        Advisory::from_json(b"{\"aliases\": []}").is_err(),
        "an advisory needs an id"
    );
}

#[test]
fn introduced_and_fixed_bound_the_affected_versions() {
    let advisory = parse_advisory(debian(
        "glibc",
        json!([{"introduced": "2.30-1"}, {"fixed": "2.36-9+deb12u4"}]),
    ));
    assert_eq!(advisory.affects(&bookworm("glibc", "2.29-3")), None);
    assert_eq!(
        advisory.affects(&bookworm("glibc", "2.30-1")),
        fixed("2.36-9+deb12u4")
    );
    assert_eq!(
        advisory.affects(&bookworm("glibc", "2.36-9+deb12u3")),
        fixed("2.36-9+deb12u4")
    );
    assert_eq!(advisory.affects(&bookworm("glibc", "2.36-9+deb12u4")), None);
    assert_eq!(
        advisory.affects(&bookworm("glibc", "2.36-9+deb12u10")),
        None
    );
    assert_eq!(
        advisory.affects(&bookworm("glibc", "1:2.0")),
        None,
        "the epoch outranks"
    );
}

#[test]
fn introduced_zero_means_every_earlier_version() {
    let advisory = parse_advisory(debian(
        "bash",
        json!([{"fixed": "5.2.15-2+b3"}, {"introduced": "0"}]),
    ));
    assert_eq!(
        advisory.affects(&bookworm("bash", "0.1")),
        fixed("5.2.15-2+b3")
    );
    assert_eq!(
        advisory.affects(&bookworm("bash", "5.2.15-2+b2")),
        fixed("5.2.15-2+b3")
    );
    assert_eq!(advisory.affects(&bookworm("bash", "5.2.15-2+b3")), None);
    let unfixed = advisory_with_events(json!([{"introduced": "0"}]));
    assert_eq!(unfixed.affects(&bookworm("bash", "99")), UNFIXED);
}

fn advisory_with_events(events: serde_json::Value) -> Advisory {
    parse_advisory(debian("bash", events))
}

#[test]
fn last_affected_is_inclusive() {
    let advisory = advisory_with_events(json!([{"introduced": "1.0"}, {"last_affected": "1.4"}]));
    assert_eq!(advisory.affects(&bookworm("bash", "1.4")), UNFIXED);
    assert_eq!(advisory.affects(&bookworm("bash", "1.4~rc1")), UNFIXED);
    assert_eq!(advisory.affects(&bookworm("bash", "1.4-1")), None);
    assert_eq!(advisory.affects(&bookworm("bash", "0.9")), None);
}

#[test]
fn limit_bounds_the_range_from_above() {
    let advisory = advisory_with_events(json!([{"introduced": "0"}, {"limit": "2.0"}]));
    assert_eq!(advisory.affects(&bookworm("bash", "1.9")), UNFIXED);
    assert_eq!(advisory.affects(&bookworm("bash", "2.0")), None);
    assert_eq!(advisory.affects(&bookworm("bash", "3.0")), None);
    let unlimited = advisory_with_events(json!([{"introduced": "0"}, {"limit": "*"}]));
    assert_eq!(unlimited.affects(&bookworm("bash", "3.0")), UNFIXED);
}

#[test]
fn several_spans_and_ranges_are_each_evaluated() {
    let advisory = advisory_with_events(json!([
        {"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.5"}
    ]));
    let verdicts: Vec<_> = ["0.5", "1.0", "1.4", "1.5", "1.9", "2.0", "2.4", "2.5", "3"]
        .iter()
        .map(|version| {
            advisory
                .affects(&bookworm("bash", version))
                .map(|finding| finding.fixed)
        })
        .collect();
    let expected = [
        None,
        Some("1.5"),
        Some("1.5"),
        None,
        None,
        Some("2.5"),
        Some("2.5"),
        None,
        None,
    ];
    assert_eq!(
        verdicts,
        expected.map(|fixed| fixed.map(|fixed| Some(fixed.to_owned())))
    );
    let two_ranges = parse_advisory(json!([{
        "package": {"ecosystem": "npm", "name": "lodash"},
        "ranges": [
            {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.12"}]},
            {"type": "GIT", "repo": "https://example.invalid/lodash", "events": [{"introduced": "abc123"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "5.0.0-alpha.1"}, {"fixed": "5.0.0"}]}
        ]
    }]));
    let npm = |version| installed(Ecosystem::Npm, None, "lodash", version);
    assert_eq!(two_ranges.affects(&npm("4.17.11")), fixed("4.17.12"));
    assert_eq!(two_ranges.affects(&npm("v4.17.12")), None);
    assert_eq!(two_ranges.affects(&npm("5.0.0-beta.2")), fixed("5.0.0"));
    assert_eq!(two_ranges.affects(&npm("5.0.0+build")), None);
}

#[test]
fn a_versions_list_matches_exactly() {
    let advisory = parse_advisory(json!([{
        "package": {"ecosystem": "PyPI", "name": "Django"},
        "versions": ["4.2.1", "4.2.2"],
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "4.2.7"}, {"fixed": "4.2.8"}]}]
    }]));
    let pypi = |name, version| installed(Ecosystem::PyPI, None, name, version);
    assert_eq!(advisory.affects(&pypi("django", "4.2.1")), fixed("4.2.8"));
    assert_eq!(advisory.affects(&pypi("Django", "4.2.2")), fixed("4.2.8"));
    assert_eq!(advisory.affects(&pypi("Django", "4.2.3")), None);
    assert_eq!(advisory.affects(&pypi("Django", "4.2.7")), fixed("4.2.8"));
    assert_eq!(
        advisory.affects(&pypi("Django", "4.2.7rc1")),
        None,
        "PEP 440: a release candidate is earlier"
    );
    let versions_only = advisory_versions_only();
    assert_eq!(versions_only.affects(&pypi("requests", "2.0.0")), UNFIXED);
    assert_eq!(
        versions_only.affects(&pypi("requests", "2.0")),
        None,
        "the list is exact text"
    );
}

fn advisory_versions_only() -> Advisory {
    parse_advisory(
        json!([{"package": {"ecosystem": "PyPI", "name": "requests"}, "versions": ["2.0.0"]}]),
    )
}

#[test]
fn other_ecosystems_releases_and_packages_do_not_match() {
    let advisory = parse_advisory(debian(
        "openssl",
        json!([{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]),
    ));
    assert_eq!(
        advisory.affects(&bookworm("openssl", "3.0.11-1~deb12u2")),
        fixed("3.0.13-1~deb12u1")
    );
    assert_eq!(
        advisory.affects(&installed(
            Ecosystem::Debian,
            Some("11"),
            "openssl",
            "1.1.1n-0"
        )),
        None
    );
    assert_eq!(
        advisory.affects(&installed(Ecosystem::Debian, None, "openssl", "1.1.1n-0")),
        None
    );
    assert_eq!(
        advisory.affects(&installed(
            Ecosystem::Ubuntu,
            Some("12"),
            "openssl",
            "1.1.1n-0"
        )),
        None
    );
    assert_eq!(advisory.affects(&bookworm("openssl-dev", "1.0")), None);
    let alpine = advisory_for(
        "Alpine:v3.20",
        "busybox",
        json!([{"introduced": "0"}, {"fixed": "1.36.1-r29"}]),
    );
    assert_eq!(
        alpine.affects(&installed(
            Ecosystem::Alpine,
            Some("3.20.3"),
            "busybox",
            "1.36.1-r28"
        )),
        fixed("1.36.1-r29")
    );
    assert_eq!(
        alpine.affects(&installed(
            Ecosystem::Alpine,
            Some("3.19.1"),
            "busybox",
            "1.36.1-r28"
        )),
        None
    );
    let ubuntu = advisory_for(
        "Ubuntu:22.04:LTS",
        "curl",
        json!([{"introduced": "0"}, {"fixed": "7.81.0-1ubuntu1.16"}]),
    );
    assert_eq!(
        ubuntu.affects(&installed(
            Ecosystem::Ubuntu,
            Some("22.04"),
            "curl",
            "7.81.0-1ubuntu1.15"
        )),
        fixed("7.81.0-1ubuntu1.16")
    );
    let unknown = advisory_for("crates.io", "bash", json!([{"introduced": "0"}]));
    assert_eq!(unknown.affects(&bookworm("bash", "1.0")), None);
}

fn advisory_for(ecosystem: &str, name: &str, events: serde_json::Value) -> Advisory {
    parse_advisory(
        json!([{"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]),
    )
}

#[test]
fn unparsable_versions_decide_nothing_and_crash_nothing() {
    let advisory = parse_advisory(json!([{
        "package": {"ecosystem": "Debian:12", "name": "bash"},
        "versions": ["not a version"],
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2"}]}]
    }]));
    assert_eq!(
        advisory.affects(&bookworm("bash", "not a version")),
        UNFIXED,
        "only the exact list matches"
    );
    assert_eq!(advisory.affects(&bookworm("bash", "é:1.0")), None);
    assert_eq!(advisory.affects(&bookworm("bash", "")), None);
    let broken_event = advisory_with_events(json!([{"introduced": "0"}, {"fixed": "?!"}]));
    assert_eq!(
        broken_event.affects(&bookworm("bash", "1.0")),
        None,
        "a range that does not parse is not evaluated"
    );
    let empty_event = advisory_with_events(json!([{}, {"introduced": "1.0"}]));
    assert_eq!(empty_event.affects(&bookworm("bash", "1.0")), UNFIXED);
}
