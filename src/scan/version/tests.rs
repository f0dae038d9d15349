use std::cmp::Ordering;

use proptest::prelude::*;

use super::{compare, Ecosystem, Scheme};

/// Checks that every version of `table` sorts before every later one, and the reverse.
fn assert_ascending(scheme: Scheme, table: &[&str]) {
    for (i, a) in table.iter().enumerate() {
        assert_eq!(scheme.compare(a, a), Some(Ordering::Equal), "{a} = {a}");
        for b in table.iter().skip(i + 1) {
            assert_eq!(scheme.compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(scheme.compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        }
    }
}

fn assert_equal(scheme: Scheme, pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        assert_eq!(scheme.compare(a, b), Some(Ordering::Equal), "{a} = {b}");
        assert_eq!(scheme.compare(b, a), Some(Ordering::Equal), "{b} = {a}");
    }
}

fn assert_invalid(scheme: Scheme, versions: &[&str]) {
    for version in versions {
        assert!(scheme.parse(version).is_err(), "{version:?} is refused");
        assert_eq!(
            scheme.compare(version, "1.0"),
            None,
            "{version:?} has no order"
        );
    }
}

#[test]
fn dpkg_orders_as_debian_policy_says() {
    // Policy 5.6.12: `~` before everything, even the end; letters before non-letters.
    assert_ascending(
        Scheme::Dpkg,
        &["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1"],
    );
    assert_ascending(
        Scheme::Dpkg,
        &[
            "1.0~rc1", "1.0~rc2", "1.0", "1.0-1", "1.0-1+b1", "1.0-2", "1.0-10",
        ],
    );
    // The epoch outranks everything else.
    assert_ascending(Scheme::Dpkg, &["2.0", "10.0", "1:0.9", "1:1.0", "2:0.1"]);
    // Numbers compare numerically, not as text.
    assert_ascending(Scheme::Dpkg, &["1.2", "1.9", "1.10", "1.100", "2"]);
    assert_ascending(
        Scheme::Dpkg,
        &[
            "5.2.15-2",
            "5.2.15-2+b1",
            "5.2.15-2+b2",
            "5.2.15-2+deb12u1",
            "5.2.21-2",
        ],
    );
    assert_ascending(
        Scheme::Dpkg,
        &["2.36-9", "2.36-9+deb12u3", "2.36-9+deb12u10"],
    );
    assert_ascending(
        Scheme::Dpkg,
        &["1.1.1n-0+deb11u5", "3.0.11-1~deb12u2", "3.0.11-1"],
    );
    assert_ascending(
        Scheme::Dpkg,
        &["2.4.7-1ubuntu0.1", "2.4.7-1ubuntu0.2", "2.4.7-1ubuntu1"],
    );
    // An absent revision and an absent epoch are the same as zero.
    assert_equal(
        Scheme::Dpkg,
        &[
            ("1.0", "0:1.0"),
            ("1.0", "1.0-0"),
            ("1.01", "1.1"),
            ("0:1.0-00", "1.0"),
        ],
    );
}

#[test]
fn dpkg_refuses_what_is_not_a_version() {
    assert_invalid(
        Scheme::Dpkg,
        &[
            "",
            "-1",
            "1.0-",
            "a:1.0",
            ":1.0",
            "1:",
            "a1.0",
            "1.0 beta",
            "1.0-1_2",
            "é",
            "1.0-1:2",
            "99999999999999999999999:1",
        ],
    );
}

#[test]
fn apk_orders_as_apk_tools_does() {
    assert_ascending(
        Scheme::Apk,
        &[
            "1.0_alpha",
            "1.0_beta",
            "1.0_pre",
            "1.0_rc1",
            "1.0",
            "1.0_cvs",
            "1.0_svn",
            "1.0_git",
            "1.0_hg",
            "1.0_p1",
        ],
    );
    assert_ascending(
        Scheme::Apk,
        &[
            "1.0_rc1", "1.0_rc2", "1.0_rc10", "1.0-r0", "1.0-r1", "1.0-r2", "1.0-r10",
        ],
    );
    assert_ascending(
        Scheme::Apk,
        &["1.2.9", "1.2.10", "1.3", "1.3.1", "1.3.1a", "1.3.1b", "2"],
    );
    assert_ascending(
        Scheme::Apk,
        &[
            "1.0_alpha1-r5",
            "1.0_alpha2",
            "1.0_beta1_p2",
            "1.0_beta1_p3",
            "1.0_beta2",
        ],
    );
    // A leading zero after a dot makes apk-tools compare the digits as text.
    assert_ascending(Scheme::Apk, &["1.001", "1.01", "1.010", "1.1"]);
    assert_ascending(Scheme::Apk, &["8.2.0015", "8.2.002"]);
    assert_ascending(
        Scheme::Apk,
        &["1.0", "1.0-r1", "1.0~abc", "1.0~abd", "1.0~abd-r1"],
    );
    assert_ascending(
        Scheme::Apk,
        &["3.0.15-r0", "3.1.4-r5", "3.1.4-r6", "3.3.2-r0"],
    );
    assert_equal(
        Scheme::Apk,
        &[("1.0-r01", "1.0-r1"), (" 1.2.3 ", "1.2.3"), ("01.0", "1.0")],
    );
}

#[test]
fn apk_refuses_what_is_not_a_version() {
    assert_invalid(
        Scheme::Apk,
        &[
            "",
            "a1",
            "1.0_foo",
            "1.0-1",
            "1.0a.1",
            "1.0ab",
            "1.0-r1.2",
            "1.0 2",
            "1.0_é",
            "1..0",
            "1.0-r",
            "1.0~",
            "1.0A",
            "1.0_rc1_p1a",
        ],
    );
}

#[test]
fn pep440_orders_as_the_spec_says() {
    assert_ascending(
        Scheme::Pep440,
        &[
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
        ],
    );
    assert_ascending(
        Scheme::Pep440,
        &["1.0", "1.0+abc", "1.0+abc.5", "1.0+5", "1.0+5.abc"],
    );
    assert_ascending(Scheme::Pep440, &["2.31.0", "2.32.3", "10.0", "1!0.1"]);
    // Spellings PEP 440 normalises.
    assert_equal(
        Scheme::Pep440,
        &[
            ("1.0RC1", "1.0rc1"),
            ("1.0c1", "1.0rc1"),
            ("1.0-post1", "1.0.post1"),
            ("1.0-1", "1.0.post1"),
            ("1.0alpha1", "1.0a1"),
            ("1.0.0", "1.0"),
            ("v1.0", "1.0"),
            ("1.0-dev", "1.0.dev0"),
        ],
    );
}

#[test]
fn pep440_refuses_what_is_not_a_version() {
    assert_invalid(
        Scheme::Pep440,
        &["", "one", "1.0+", "1.0.x", "1..0", "1.0-é"],
    );
}

#[test]
fn semver_orders_by_precedence() {
    assert_ascending(
        Scheme::SemVer,
        &[
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
    );
    assert_ascending(
        Scheme::SemVer,
        &["0.9.9", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"],
    );
    // Build metadata does not take part; npm tolerates a leading `v` or `=`.
    assert_equal(
        Scheme::SemVer,
        &[
            ("1.0.0+build.1", "1.0.0+build.2"),
            ("v1.2.3", "1.2.3"),
            ("=1.2.3", "1.2.3"),
            (" v1.2.3 ", "1.2.3"),
        ],
    );
}

#[test]
fn semver_refuses_what_is_not_a_version() {
    assert_invalid(
        Scheme::SemVer,
        &["", "1", "1.0", "1.0.0-", "01.0.0", "1.0.0-01", "x.y.z"],
    );
}

#[test]
fn ecosystems_parse_with_their_release() {
    assert_eq!(
        Ecosystem::parse_osv("Debian:12"),
        Some((Ecosystem::Debian, Some("12")))
    );
    assert_eq!(
        Ecosystem::parse_osv("Ubuntu:22.04:LTS"),
        Some((Ecosystem::Ubuntu, Some("22.04:LTS")))
    );
    assert_eq!(
        Ecosystem::parse_osv("Alpine:v3.20"),
        Some((Ecosystem::Alpine, Some("v3.20")))
    );
    assert_eq!(Ecosystem::parse_osv("PyPI"), Some((Ecosystem::PyPI, None)));
    assert_eq!(Ecosystem::parse_osv("npm"), Some((Ecosystem::Npm, None)));
    assert_eq!(
        Ecosystem::parse_osv("Debian:"),
        Some((Ecosystem::Debian, None))
    );
    assert_eq!(Ecosystem::parse_osv("crates.io"), None);
    assert_eq!(Ecosystem::parse_osv("debian:12"), None);
    assert_eq!(
        compare(Ecosystem::Ubuntu, "1.0~rc1", "1.0"),
        Some(Ordering::Less)
    );
    assert_eq!(compare(Ecosystem::Npm, "1.0~rc1", "1.0"), None);
}

#[test]
fn releases_match_what_os_release_says() {
    assert!(Ecosystem::Debian.release_matches("12", "12"));
    assert!(!Ecosystem::Debian.release_matches("11", "12"));
    assert!(Ecosystem::Ubuntu.release_matches("22.04:LTS", "22.04"));
    assert!(Ecosystem::Ubuntu.release_matches("24.10", "24.10"));
    assert!(!Ecosystem::Ubuntu.release_matches("Pro:18.04:LTS", "18.04"));
    assert!(!Ecosystem::Ubuntu.release_matches("20.04:LTS", "22.04"));
    assert!(Ecosystem::Alpine.release_matches("v3.20", "3.20.3"));
    assert!(!Ecosystem::Alpine.release_matches("v3.20", "3.2.0"));
    assert!(!Ecosystem::Alpine.release_matches("v3.19", "3.20.3"));
}

#[test]
fn pypi_names_are_normalised() {
    assert_eq!(
        Ecosystem::PyPI.normalize_name("Foo_Bar.baz--Qux"),
        "foo-bar-baz-qux"
    );
    assert_eq!(Ecosystem::Npm.normalize_name("@Scope/Pkg"), "@Scope/Pkg");
}

fn schemes() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Dpkg),
        Just(Scheme::Apk),
        Just(Scheme::Pep440),
        Just(Scheme::SemVer)
    ]
}

/// Version-like text: the characters versions are made of, and anything else now and then.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-z.~+:_=v-]{0,16}",
        "[0-9][0-9a-z.~+_-]{0,12}",
        any::<String>(),
    ]
}

/// Three valid versions of one scheme, from small alphabets so that ties and near-ties occur.
fn versions_of_a_scheme() -> impl Strategy<Value = (Scheme, Vec<String>)> {
    schemes().prop_flat_map(|scheme| {
        let pattern = match scheme {
            Scheme::Dpkg => "([0-2]:)?[0-9][0-9ab.~+]{0,5}(-[0-9ab.~+]{1,4})?",
            Scheme::Apk => "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}[ab]?(_(alpha|rc|p)[0-9]?)?(~[0-9a-f]{1,2})?(-r[0-9])?",
            Scheme::Pep440 => "([01]!)?[0-9](\\.[0-9]){0,2}((a|b|rc)[0-9])?(\\.post[0-9])?(\\.dev[0-9])?(\\+[a-z0-9]{1,2})?",
            Scheme::SemVer => "[0-2]\\.[0-2]\\.[0-2](-(alpha|[1-9]|beta)(\\.(alpha|[1-9])){0,2})?(\\+[a-z0-9]{1,2})?",
        };
        (Just(scheme), proptest::collection::vec(proptest::string::string_regex(pattern).expect("valid pattern"), 3))
    })
}

proptest! {
    #[test]
    fn comparison_never_panics_and_is_antisymmetric(scheme in schemes(), a in text(), b in text()) {
        let forward = scheme.compare(&a, &b);
        prop_assert_eq!(forward, scheme.compare(&b, &a).map(Ordering::reverse));
        if forward.is_some() {
            prop_assert_eq!(scheme.compare(&a, &a), Some(Ordering::Equal));
        }
    }

    #[test]
    fn comparison_is_a_total_order((scheme, versions) in versions_of_a_scheme()) {
        for x in &versions {
            prop_assert_eq!(scheme.compare(x, x), Some(Ordering::Equal), "{} parses", x);
            for y in &versions {
                for z in &versions {
                    let (xy, yz) = (scheme.compare(x, y), scheme.compare(y, z));
                    if xy != Some(Ordering::Greater) && yz != Some(Ordering::Greater) {
                        prop_assert_eq!(scheme.compare(x, z), xy.min(yz), "{} {} {}", x, y, z);
                    }
                }
            }
        }
    }
}
