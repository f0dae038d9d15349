//! Packages looked up as each ecosystem's advisories name them, and matched by version and release.

use serde_json::{json, Value};

use super::*;
use crate::scan::packages::SourcePackage;

pub(super) fn component(
    ecosystem: packages::Ecosystem,
    name: &str,
    version: &str,
    source: Option<(&str, &str)>,
) -> Component {
    Component {
        ecosystem,
        name: name.to_owned(),
        version: version.to_owned(),
        arch: None,
        source: source.map(|(name, version)| SourcePackage {
            name: name.to_owned(),
            version: version.to_owned(),
        }),
    }
}

pub(super) fn deb(name: &str, version: &str, source: (&str, &str)) -> Component {
    component(packages::Ecosystem::Deb, name, version, Some(source))
}

pub(super) fn image(os: Option<(&str, &str)>, components: Vec<Component>) -> Inventory {
    Inventory {
        os: os.map(|(id, version_id)| Os {
            id: id.to_owned(),
            version_id: Some(version_id.to_owned()),
            version_codename: None,
            pretty_name: None,
        }),
        components,
    }
}

pub(super) fn advisory(id: &str, affected: Value) -> Advisory {
    advisory_with(id, affected, json!({}))
}

/// An advisory whose fields are `extra`'s, with `id` and `affected`.
pub(super) fn advisory_with(id: &str, affected: Value, mut extra: Value) -> Advisory {
    extra["id"] = json!(id);
    extra["affected"] = affected;
    Advisory::from_json(extra.to_string().as_bytes()).expect("advisory parses")
}

/// One `affected` entry with one ECOSYSTEM range.
pub(super) fn range(ecosystem: &str, name: &str, events: Value) -> Value {
    json!({
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": events}]
    })
}

pub(super) fn fixed_at(ecosystem: &str, name: &str, fixed: &str) -> Value {
    json!([range(
        ecosystem,
        name,
        json!([{"introduced": "0"}, {"fixed": fixed}])
    )])
}

/// (id, package, source_package, installed, fixed) of a finding.
pub(super) type Summary<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);

pub(super) fn summarise(found: &[Vulnerability]) -> Vec<Summary<'_>> {
    found
        .iter()
        .map(|finding| {
            (
                finding.id.as_str(),
                finding.package.as_str(),
                finding.source_package.as_deref(),
                finding.installed.as_str(),
                finding.fixed.as_deref(),
            )
        })
        .collect()
}

pub(super) fn bookworm() -> Inventory {
    image(
        Some(("debian", "12")),
        vec![
            deb("bash", "5.2.15-2+b8", ("bash", "5.2.15-2")),
            deb("libc-bin", "2.36-9+deb12u4", ("glibc", "2.36-9+deb12u4")),
            deb("libc6", "2.36-9+deb12u4", ("glibc", "2.36-9+deb12u4")),
        ],
    )
}

#[test]
fn every_debian_binary_of_an_affected_source_package_is_reported() {
    let advisories = [advisory(
        "DSA-5678-1",
        fixed_at("Debian:12", "glibc", "2.36-9+deb12u7"),
    )];
    let found = match_inventory(&bookworm(), &advisories);
    assert_eq!(
        summarise(&found),
        [
            (
                "DSA-5678-1",
                "libc-bin",
                Some("glibc"),
                "2.36-9+deb12u4",
                Some("2.36-9+deb12u7")
            ),
            (
                "DSA-5678-1",
                "libc6",
                Some("glibc"),
                "2.36-9+deb12u4",
                Some("2.36-9+deb12u7")
            ),
        ]
    );
    assert_eq!(
        found[1].purl,
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?distro=debian-12"
    );
}

#[test]
fn debian_advisories_compare_the_source_version_not_the_binarys() {
    // gcc-defaults 1.203 builds the `gcc` binary at 4:12.2.0-3: by its own version, the binary
    // would be far above a fix in 1.204.
    let inventory = image(
        Some(("debian", "12")),
        vec![deb("gcc", "4:12.2.0-3", ("gcc-defaults", "1.203"))],
    );
    let advisories = [advisory(
        "DEBIAN-CVE-2024-0001",
        fixed_at("Debian:12", "gcc-defaults", "1.204"),
    )];
    assert_eq!(
        summarise(&match_inventory(&inventory, &advisories)),
        [(
            "DEBIAN-CVE-2024-0001",
            "gcc",
            Some("gcc-defaults"),
            "4:12.2.0-3",
            Some("1.204")
        )]
    );
}

#[test]
fn a_package_at_or_above_the_fixed_version_is_not_reported() {
    for fixed in ["2.36-9+deb12u4", "2.36-9+deb12u3", "2.36-9"] {
        let advisories = [advisory("DSA-1", fixed_at("Debian:12", "glibc", fixed))];
        assert_eq!(match_inventory(&bookworm(), &advisories), [], "{fixed}");
    }
}

#[test]
fn an_advisory_for_another_release_is_not_reported() {
    let advisories = [advisory(
        "DLA-1",
        fixed_at("Debian:11", "glibc", "2.36-9+deb12u7"),
    )];
    assert_eq!(match_inventory(&bookworm(), &advisories), []);

    // One advisory, one entry per release: the image's release gives the fixed version.
    let advisories = [advisory(
        "DEBIAN-CVE-2024-0002",
        json!([
            range(
                "Debian:11",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.31-13+deb11u9"}])
            ),
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u5"}])
            ),
        ]),
    )];
    let found = match_inventory(&bookworm(), &advisories);
    assert_eq!(found.len(), 2);
    assert!(found
        .iter()
        .all(|finding| finding.fixed.as_deref() == Some("2.36-9+deb12u5")));
}

#[test]
fn ubuntu_images_match_ubuntu_advisories_of_their_release() {
    let inventory = image(
        Some(("ubuntu", "22.04")),
        vec![deb(
            "libssl3",
            "3.0.2-0ubuntu1.10",
            ("openssl", "3.0.2-0ubuntu1.10"),
        )],
    );
    let advisories = [
        advisory(
            "UBUNTU-CVE-2024-0001",
            fixed_at("Ubuntu:22.04:LTS", "openssl", "3.0.2-0ubuntu1.15"),
        ),
        // Another release, another product and another distribution: none of them apply.
        advisory(
            "UBUNTU-CVE-2024-0002",
            fixed_at("Ubuntu:20.04:LTS", "openssl", "3.0.2-0ubuntu1.15"),
        ),
        advisory(
            "UBUNTU-CVE-2024-0003",
            fixed_at("Ubuntu:Pro:22.04:LTS", "openssl", "3.0.2-0ubuntu1.15"),
        ),
        advisory("DSA-2", fixed_at("Debian:12", "openssl", "3.0.3")),
    ];
    assert_eq!(
        summarise(&match_inventory(&inventory, &advisories)),
        [(
            "UBUNTU-CVE-2024-0001",
            "libssl3",
            Some("openssl"),
            "3.0.2-0ubuntu1.10",
            Some("3.0.2-0ubuntu1.15")
        )]
    );
}

#[test]
fn dpkg_packages_of_other_or_unknown_distributions_are_not_looked_up() {
    let components = vec![deb("libc6", "2.36-9", ("glibc", "2.36-9"))];
    let advisories = [advisory("DSA-3", fixed_at("Debian:12", "glibc", "2.36-10"))];
    for inventory in [
        image(Some(("kali", "12")), components.clone()),
        image(None, components),
    ] {
        assert_eq!(lookups(&inventory), []);
        assert_eq!(queries(&inventory), []);
        assert_eq!(match_inventory(&inventory, &advisories), []);
    }
}

#[test]
fn alpine_packages_are_matched_by_origin_on_their_branch() {
    let inventory = image(
        Some(("alpine", "3.20.3")),
        vec![
            component(
                packages::Ecosystem::Apk,
                "libcrypto3",
                "3.3.2-r0",
                Some(("openssl", "3.3.2-r0")),
            ),
            component(
                packages::Ecosystem::Apk,
                "musl",
                "1.2.5-r0",
                Some(("musl", "1.2.5-r0")),
            ),
        ],
    );
    let advisories = [
        advisory(
            "ALPINE-CVE-2024-0001",
            fixed_at("Alpine:v3.20", "openssl", "3.3.2-r1"),
        ),
        advisory(
            "ALPINE-CVE-2024-0002",
            fixed_at("Alpine:v3.19", "openssl", "3.3.2-r1"),
        ),
        advisory(
            "ALPINE-CVE-2024-0003",
            fixed_at("Alpine:v3.20", "musl", "1.2.5-r0"),
        ),
    ];
    assert_eq!(
        summarise(&match_inventory(&inventory, &advisories)),
        [(
            "ALPINE-CVE-2024-0001",
            "libcrypto3",
            Some("openssl"),
            "3.3.2-r0",
            Some("3.3.2-r1")
        )]
    );
    let lookups = lookups(&inventory);
    assert_eq!(lookups[0].release, Some("3.20.3"));
    assert_eq!(lookups[0].name, "openssl");
}

#[test]
fn python_packages_are_matched_by_their_normalised_name() {
    let inventory = image(
        Some(("debian", "12")),
        vec![component(packages::Ecosystem::Pypi, "Foo_Bar", "1.0", None)],
    );
    let advisories = [
        advisory("PYSEC-2024-1", fixed_at("PyPI", "foo-bar", "1.1")),
        advisory("PYSEC-2024-2", fixed_at("PyPI", "FOO.bar", "1.0")),
    ];
    assert_eq!(
        summarise(&match_inventory(&inventory, &advisories)),
        [("PYSEC-2024-1", "Foo_Bar", None, "1.0", Some("1.1"))]
    );
    assert_eq!(
        queries(&inventory),
        [Query {
            ecosystem: Ecosystem::PyPI,
            names: BTreeSet::from(["foo-bar".to_owned()]),
        }]
    );
}

#[test]
fn npm_packages_follow_semver_precedence() {
    let advisories = [advisory(
        "GHSA-aaaa-bbbb-cccc",
        json!([{
            "package": {"ecosystem": "npm", "name": "@scope/name"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.2.4"}]}]
        }]),
    )];
    for (version, affected) in [
        ("0.9.9", false),
        ("1.0.0", true),
        ("1.2.3", true),
        // A pre-release of the fix precedes it.
        ("1.2.4-beta.1", true),
        ("1.2.4", false),
        ("1.10.0", false),
    ] {
        let inventory = image(
            None,
            vec![component(
                packages::Ecosystem::Npm,
                "@scope/name",
                version,
                None,
            )],
        );
        let found = match_inventory(&inventory, &advisories);
        assert_eq!(found.len(), usize::from(affected), "{version}");
        if affected {
            assert_eq!(found[0].purl, format!("pkg:npm/%40scope/name@{version}"));
        }
    }
}

#[test]
fn last_affected_includes_that_version_and_gives_no_fix() {
    let advisories = [advisory(
        "GHSA-last-affected",
        json!([range(
            "PyPI",
            "requests",
            json!([{"introduced": "2.0"}, {"last_affected": "2.31.0"}])
        )]),
    )];
    for (version, expected) in [("2.31.0", 1), ("2.0", 1), ("2.31.1", 0), ("1.9", 0)] {
        let inventory = image(
            None,
            vec![component(
                packages::Ecosystem::Pypi,
                "requests",
                version,
                None,
            )],
        );
        let found = match_inventory(&inventory, &advisories);
        assert_eq!(found.len(), expected, "{version}");
        assert!(found.iter().all(|finding| finding.fixed.is_none()));
    }
}

#[test]
fn a_versions_list_names_the_affected_versions_exactly() {
    let advisories = [advisory(
        "GHSA-versions",
        json!([{
            "package": {"ecosystem": "npm", "name": "left-pad"},
            "versions": ["1.0.0", "1.0.1"]
        }]),
    )];
    for (version, expected) in [("1.0.1", 1), ("1.0.0", 1), ("1.0.2", 0), ("1.0.1-rc.1", 0)] {
        let inventory = image(
            None,
            vec![component(
                packages::Ecosystem::Npm,
                "left-pad",
                version,
                None,
            )],
        );
        assert_eq!(
            match_inventory(&inventory, &advisories).len(),
            expected,
            "{version}"
        );
    }
}

#[test]
fn an_alpine_database_is_looked_up_by_the_origins_it_records() {
    let found = [
        ("/etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
        (
            "/lib/apk/db/installed",
            "P:libssl3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n",
        ),
    ]
    .map(|(path, text)| packages::parse(path, text.as_bytes()).unwrap());
    let inventory = packages::inventory(found);
    let named: Vec<_> = lookups(&inventory)
        .into_iter()
        .map(|lookup| (lookup.component.name.as_str(), lookup.name, lookup.version))
        .collect();
    assert_eq!(
        named,
        [
            ("busybox", "busybox".to_owned(), "1.36.1-r29"),
            ("libssl3", "openssl".to_owned(), "3.3.2-r0"),
        ]
    );
    let advisories = [advisory(
        "ALPINE-CVE-2024-0004",
        fixed_at("Alpine:v3.20", "openssl", "3.3.2-r1"),
    )];
    assert_eq!(
        summarise(&match_inventory(&inventory, &advisories)),
        [(
            "ALPINE-CVE-2024-0004",
            "libssl3",
            Some("openssl"),
            "3.3.2-r0",
            Some("3.3.2-r1")
        )]
    );
}
