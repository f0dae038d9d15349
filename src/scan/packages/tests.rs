use proptest::prelude::*;

use super::*;

/// Sixteen stanzas of this machine's (Debian 12) `/var/lib/dpkg/status`, with adduser's status
/// changed to `deinstall ok config-files` (removed, its configuration kept).
const DPKG_STATUS: &str = include_str!("testdata/dpkg/status");
/// `dpkg-query --admindir=DIR -W -f '${db:Status-Status} ${Package} ${Version} ${Architecture}
/// ${source:Package} ${source:Version}\n'` over that file, the `installed` lines only.
const DPKG_QUERY: &str = include_str!("testdata/dpkg/dpkg-query.txt");

fn packages(path: &str, text: &str) -> Vec<Component> {
    assert!(wanted(path).is_some(), "{path} is wanted");
    match parse(path, text.as_bytes()) {
        Some(Found::Packages(packages)) => packages,
        other => panic!("{path}: expected packages, got {other:?}"),
    }
}

fn os(path: &str, text: &str) -> (OsReleaseFile, Os) {
    match parse(path, text.as_bytes()) {
        Some(Found::Os { file, os }) => (file, os),
        other => panic!("{path}: expected an OS, got {other:?}"),
    }
}

fn dpkg_line(component: &Component) -> String {
    let source = component
        .source
        .as_ref()
        .expect("deb packages name a source");
    format!(
        "{} {} {} {} {}",
        component.name,
        component.version,
        component.arch.as_deref().unwrap_or(""),
        source.name,
        source.version
    )
}

#[test]
fn dpkg_status_lists_what_dpkg_query_lists() {
    let inventory = inventory([parse("/var/lib/dpkg/status", DPKG_STATUS.as_bytes()).unwrap()]);
    let ours: Vec<String> = inventory.components.iter().map(dpkg_line).collect();
    let dpkg_query: Vec<&str> = DPKG_QUERY.lines().collect();
    assert_eq!(ours, dpkg_query);
    assert!(inventory
        .components
        .iter()
        .all(|component| component.ecosystem == Ecosystem::Deb));
}

#[test]
fn dpkg_status_skips_removed_packages_and_reads_every_source_form() {
    let found = packages("/var/lib/dpkg/status", DPKG_STATUS);
    assert!(DPKG_STATUS.contains("Package: adduser\nStatus: deinstall ok config-files"));
    assert!(!found.iter().any(|component| component.name == "adduser"));
    let line = |name: &str| {
        dpkg_line(
            found
                .iter()
                .find(|component| component.name == name)
                .unwrap(),
        )
    };
    // `Source: bash (5.2.15-2)`: a binNMU carries its source's version.
    assert_eq!(line("bash"), "bash 5.2.15-2+b8 amd64 bash 5.2.15-2");
    // `Source: glibc`: the binary's version is the source's.
    assert_eq!(
        line("libc6"),
        "libc6 2.36-9+deb12u14 amd64 glibc 2.36-9+deb12u14"
    );
    // No `Source:`: the package is its own source.
    assert_eq!(
        line("tzdata"),
        "tzdata 2025b-0+deb12u2 all tzdata 2025b-0+deb12u2"
    );
}

#[test]
fn dpkg_continuation_lines_are_never_fields() {
    let status = "Package: real\nStatus: install ok installed\nVersion: 1.0\n\
                  Description: a package\n Package: fake\n Version: 9.9\n .\n\tStatus: x\n";
    let found = packages("/var/lib/dpkg/status", status);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].name.as_str(), found[0].version.as_str()),
        ("real", "1.0")
    );
}

#[test]
fn dpkg_held_packages_are_installed_half_installed_ones_are_not() {
    let status = "Package: held\nStatus: hold ok installed\nVersion: 1\n\n\
                  Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n\n\
                  Package: gone\nStatus: purge ok not-installed\n";
    let names: Vec<String> = packages("/var/lib/dpkg/status", status)
        .into_iter()
        .map(|component| component.name)
        .collect();
    assert_eq!(names, ["held"]);
}

/// A distroless image's `/var/lib/dpkg/status.d/libc6` (no `Status:` field).
const DISTROLESS_LIBC6: &str = "Package: libc6
Source: glibc
Version: 2.36-9+deb12u4
Architecture: amd64
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Installed-Size: 12986
Depends: libgcc-s1
Section: libs
Priority: optional
Multi-Arch: same
Homepage: https://www.gnu.org/software/libc/libc.html
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system. This package includes shared versions of the standard C library
 and the standard math library, as well as many others.
";

#[test]
fn distroless_status_d_files_are_read_but_not_their_checksums() {
    assert_eq!(wanted("/var/lib/dpkg/status.d/libc6.md5sums"), None);
    assert_eq!(wanted("/var/lib/dpkg/status.d/sub/libc6"), None);
    assert_eq!(wanted("/var/lib/dpkg/status.d/"), None);
    let found = packages("/var/lib/dpkg/status.d/libc6", DISTROLESS_LIBC6);
    assert_eq!(
        found.iter().map(dpkg_line).collect::<Vec<_>>(),
        ["libc6 2.36-9+deb12u4 amd64 glibc 2.36-9+deb12u4"]
    );
}

const APK_INSTALLED: &str = "C:Q1zT5p2IUeHyFmb1cR0KCHBmoU4fQ=
P:musl
V:1.2.5-r0
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1712227201
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1C0nNA4ve0rw3L/v3xLJnWJtHM6c=

C:Q1sgTQ8QmtLKqZ8Uw7lYc1V8x5gDg=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
F:bin
R:busybox

C:Q1kTy/BTaBr3z7UNGSD7E8WbE5fvk=
P:ssl_client
V:1.36.1-r15
A:x86_64
o:busybox

P:no-version
A:x86_64
";

#[test]
fn apk_installed_lists_packages_with_their_origin() {
    let found = packages("/lib/apk/db/installed", APK_INSTALLED);
    let lines: Vec<String> = inventory([Found::Packages(found)])
        .components
        .iter()
        .map(|component| {
            let origin = component.source.as_ref().unwrap();
            format!(
                "{} {} {} {}@{}",
                component.name,
                component.version,
                component.arch.as_deref().unwrap(),
                origin.name,
                origin.version
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "busybox 1.36.1-r15 x86_64 busybox@1.36.1-r15",
            "musl 1.2.5-r0 x86_64 musl@1.2.5-r0",
            "ssl_client 1.36.1-r15 x86_64 busybox@1.36.1-r15",
        ]
    );
}

const DEBIAN_12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;
const UBUNTU_22_04: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"#;
const ALPINE_3_20: &str = r#"NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.0
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
"#;

#[test]
fn os_release_of_debian_ubuntu_and_alpine() {
    let identity = |text| {
        let (_, os) = os("/etc/os-release", text);
        (os.id, os.version_id, os.version_codename, os.pretty_name)
    };
    let some = |value: &str| Some(value.to_owned());
    assert_eq!(
        identity(DEBIAN_12),
        (
            "debian".into(),
            some("12"),
            some("bookworm"),
            some("Debian GNU/Linux 12 (bookworm)")
        )
    );
    assert_eq!(
        identity(UBUNTU_22_04),
        (
            "ubuntu".into(),
            some("22.04"),
            some("jammy"),
            some("Ubuntu 22.04.4 LTS")
        )
    );
    assert_eq!(
        identity(ALPINE_3_20),
        (
            "alpine".into(),
            some("3.20.0"),
            None,
            some("Alpine Linux v3.20")
        )
    );
}

#[test]
fn os_release_quoting_and_comments() {
    let text = "# ID=commented\nID='arch'\nPRETTY_NAME=\"say \\\"hi\\\" \\\\ \\$x\"\nNOT A LINE\n";
    let (file, os) = os("/usr/lib/os-release", text);
    assert_eq!(file, OsReleaseFile::UsrLib);
    assert_eq!(os.id, "arch");
    assert_eq!(os.pretty_name.as_deref(), Some(r#"say "hi" \ $x"#));
    assert_eq!(os.version_id, None);
    assert_eq!(parse("/etc/os-release", b"garbage\n\xff\xfe"), None);
}

#[test]
fn etc_os_release_wins_over_usr_lib_in_either_order() {
    let etc = parse("/etc/os-release", UBUNTU_22_04.as_bytes()).unwrap();
    let usr_lib = parse("/usr/lib/os-release", DEBIAN_12.as_bytes()).unwrap();
    for found in [
        [etc.clone(), usr_lib.clone()],
        [usr_lib.clone(), etc.clone()],
    ] {
        assert_eq!(inventory(found).os.unwrap().id, "ubuntu");
    }
    assert_eq!(inventory([usr_lib]).os.unwrap().id, "debian");
    assert_eq!(inventory([]).os, None);
}

const METADATA: &str = "Metadata-Version: 2.1
Name: Foo_Bar
Version: 1.2.3
Summary: Something
License: a licence
        with a continuation line
Description-Content-Type: text/markdown

Name: not-a-header
Version: 9.9.9
";

#[test]
fn python_metadata_and_pkg_info_anywhere() {
    let path = "/usr/local/lib/python3.12/site-packages/Foo_Bar-1.2.3.dist-info/METADATA";
    let found = packages(path, METADATA);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].name.as_str(), found[0].version.as_str()),
        ("Foo_Bar", "1.2.3")
    );
    assert_eq!(found[0].ecosystem, Ecosystem::Pypi);
    assert_eq!(normalise_python_name("Foo_Bar"), "foo-bar");
    assert_eq!(normalise_python_name("zope.interface"), "zope-interface");
    assert_eq!(normalise_python_name("A-_.b"), "a-b");

    let egg = "Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n";
    assert_eq!(
        packages("/opt/app/six.egg-info/PKG-INFO", egg)[0].name,
        "six"
    );
    assert_eq!(
        packages("/usr/lib/python3/dist-packages/six-1.16.0.egg-info", egg)[0].name,
        "six"
    );

    for path in [
        "/app/METADATA",
        "/app/.dist-info/METADATA",
        "/app/foo.dist-info/RECORD",
        "/app/foo.dist-info/PKG-INFO",
        "/app/foo.egg-info/METADATA",
        "/app/.egg-info",
    ] {
        assert_eq!(wanted(path), None, "{path}");
    }
    assert_eq!(parse(path, b"Name: x\n"), None, "no version, no package");
}

#[test]
fn npm_packages_at_their_roots_under_node_modules() {
    let scoped = r#"{"name":"@scope/name","version":"1.0.0","dependencies":{"x":"^1"}}"#;
    let found = packages("/app/node_modules/@scope/name/package.json", scoped);
    assert_eq!(
        (found[0].name.as_str(), found[0].version.as_str()),
        ("@scope/name", "1.0.0")
    );
    assert_eq!(found[0].ecosystem, Ecosystem::Npm);
    let nested = r#"{"name":"ms","version":"2.1.3"}"#;
    let path = "/app/node_modules/debug/node_modules/ms/package.json";
    assert_eq!(packages(path, nested)[0].name, "ms");
    let pnpm = "/app/node_modules/.pnpm/ms@2.1.3/node_modules/ms/package.json";
    assert_eq!(packages(pnpm, nested)[0].version, "2.1.3");

    for path in [
        "/app/package.json",
        "/app/node_modules/package.json",
        "/app/node_modules/debug/src/package.json",
        "/app/node_modules/.bin/package.json",
        "/app/node_modules/@scope/package.json",
        "/app/node_modules/@/name/package.json",
        "/app/node_modules/debug/package.json.bak",
    ] {
        assert_eq!(wanted(path), None, "{path}");
    }
    let root = "/app/node_modules/x/package.json";
    assert_eq!(parse(root, br#"{"name":"x"}"#), None);
    assert_eq!(parse(root, br#"{"version":"1.0.0"}"#), None);
    assert_eq!(parse(root, br#"{"name":"x","version":7}"#), None);
    assert_eq!(parse(root, br#"{"name":"x","version":"1"#), None);
}

#[test]
fn inventory_deduplicates_and_sorts_across_files() {
    let status = packages("/var/lib/dpkg/status", DPKG_STATUS);
    let libc6 = packages("/var/lib/dpkg/status.d/libc6", DISTROLESS_LIBC6);
    let dist_info = |name: &str| {
        parse(
            &format!("/app/{name}-1.2.3.dist-info/METADATA"),
            format!("Name: {name}\nVersion: 1.2.3\n").as_bytes(),
        )
        .unwrap()
    };
    let once = inventory([
        dist_info("foo-bar"),
        Found::Packages(status.clone()),
        Found::Packages(libc6.clone()),
        dist_info("Foo_Bar"),
    ]);
    let twice = inventory([
        Found::Packages(libc6),
        dist_info("Foo_Bar"),
        Found::Packages(status.clone()),
        Found::Packages(status),
        dist_info("foo-bar"),
    ]);
    assert_eq!(once, twice);
    let python: Vec<&str> = once
        .components
        .iter()
        .filter(|component| component.ecosystem == Ecosystem::Pypi)
        .map(|component| component.name.as_str())
        .collect();
    assert_eq!(
        python,
        ["Foo_Bar"],
        "one of the two spellings, always the same"
    );
    // Fifteen installed in the status file, plus distroless libc6 at another version.
    assert_eq!(once.components.len(), 15 + 1 + 1);
    assert!(once.components.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn malformed_files_yield_what_they_can() {
    let mut status = b"Package: ok\nStatus: install ok installed\nVersion: 1\n\n".to_vec();
    status.extend_from_slice(b"Package: \xff\xfe\nStatus: install ok installed\nVersion: 2\n\n");
    status.extend_from_slice(b"no colon here\n\n:\n\nStatus: install ok installed\n\n");
    status.extend(std::iter::repeat_n(b'x', 100_000));
    status.extend_from_slice(
        "\n\nPackage: é\u{301}\nStatus: install ok installed\nVersion: 3".as_bytes(),
    );
    let found = match parse("/var/lib/dpkg/status", &status) {
        Some(Found::Packages(found)) => found,
        other => panic!("{other:?}"),
    };
    let names: Vec<&str> = found
        .iter()
        .map(|component| component.name.as_str())
        .collect();
    assert_eq!(names, ["ok", "\u{fffd}\u{fffd}", "é\u{301}"]);
    assert_eq!(parse("/var/lib/dpkg/status", b"\n\n\xff"), None);
    assert_eq!(parse("/lib/apk/db/installed", b"P:\nV:\n"), None);
    assert_eq!(parse("/etc/passwd", b"root:x:0:0"), None);
}

#[test]
fn caps_are_generous_but_bounded() {
    assert_eq!(wanted("/var/lib/dpkg/status"), Some(64 << 20));
    assert_eq!(wanted("/lib/apk/db/installed"), Some(64 << 20));
    assert_eq!(wanted("/etc/os-release"), Some(1 << 20));
    assert_eq!(wanted("/var/lib/dpkg/status.d/libc6"), Some(1 << 20));
    assert_eq!(wanted("var/lib/dpkg/status.d/libc6"), None);
    assert_eq!(wanted("/etc/os-release.bak"), None);
}

fn scanned_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/etc/os-release".to_owned()),
        Just("/usr/lib/os-release".to_owned()),
        Just("/var/lib/dpkg/status".to_owned()),
        Just("/var/lib/dpkg/status.d/pkg".to_owned()),
        Just("/lib/apk/db/installed".to_owned()),
        Just("/x/y.dist-info/METADATA".to_owned()),
        Just("/x/y.egg-info/PKG-INFO".to_owned()),
        Just("/x/node_modules/@s/n/package.json".to_owned()),
        any::<String>(),
        "(/[a-z.@_-]{0,12}){1,6}(/node_modules)?/(package\\.json|METADATA|PKG-INFO)",
    ]
}

/// Field-shaped noise, so that the parsers get past their first checks.
fn scanned_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "((Package|Status|Version|Source|Name|[PVAo]|ID|VERSION_ID)[:=][ -~\u{e9}()\"'\\\\]{0,20}\n{0,2})*"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(path in scanned_path(), bytes in scanned_bytes()) {
        let wanted = wanted(&path);
        let found = parse(&path, &bytes);
        prop_assert!(found.is_none() || wanted.is_some());
        let _ = inventory(found);
    }
}
