//! Package URLs (github.com/package-url/purl-spec): `pkg:type/namespace/name@version?qualifiers`,
//! the name every SBOM consumer and advisory database matches packages by.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::packages::{normalise_python_name, Component, Ecosystem, Os};

/// What the purl spec leaves unencoded: unreserved characters, and `:`, which is unambiguous
/// everywhere (Debian epochs stay `1:2.3-4`). Everything else, `+` and `@` included, is
/// percent-encoded.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// The purl of `component`, an installed package of an image whose OS is `os`.
pub fn purl(component: &Component, os: Option<&Os>) -> String {
    let (namespace, name) = match component.ecosystem {
        Ecosystem::Deb => (Some(distro_id(os, "debian")), component.name.clone()),
        Ecosystem::Apk => (Some(distro_id(os, "alpine")), component.name.clone()),
        Ecosystem::Pypi => (None, normalise_python_name(&component.name)),
        Ecosystem::Npm => match component.name.split_once('/') {
            Some((scope, name)) if scope.starts_with('@') => {
                (Some(scope.to_owned()), name.to_owned())
            }
            _ => (None, component.name.clone()),
        },
    };
    let mut qualifiers = Vec::new();
    if matches!(component.ecosystem, Ecosystem::Deb | Ecosystem::Apk) {
        if let Some(arch) = &component.arch {
            qualifiers.push(("arch", arch.clone()));
        }
        if let Some(distro) = os.and_then(distro) {
            qualifiers.push(("distro", distro));
        }
    }
    format(
        component.ecosystem,
        namespace.as_deref(),
        &name,
        &component.version,
        qualifiers,
    )
}

/// The purl type of an ecosystem.
pub fn purl_type(ecosystem: Ecosystem) -> &'static str {
    match ecosystem {
        Ecosystem::Deb => "deb",
        Ecosystem::Apk => "apk",
        Ecosystem::Pypi => "pypi",
        Ecosystem::Npm => "npm",
    }
}

/// The distribution's ID as a namespace (`debian`, `ubuntu`, `alpine`, ...), lowercase as the
/// spec wants; `fallback` when the image has no os-release.
fn distro_id(os: Option<&Os>, fallback: &str) -> String {
    os.map_or(fallback, |os| os.id.as_str()).to_lowercase()
}

/// The `distro` qualifier: `<id>-<version_id>`, e.g. `debian-12`, `alpine-3.20.0`.
fn distro(os: &Os) -> Option<String> {
    let version = os.version_id.as_deref()?;
    Some(format!("{}-{version}", os.id.to_lowercase()))
}

fn format(
    ecosystem: Ecosystem,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    mut qualifiers: Vec<(&str, String)>,
) -> String {
    let mut purl = format!("pkg:{}/", purl_type(ecosystem));
    // Every namespace here is one segment: a `/` inside one is encoded, not a separator.
    if let Some(namespace) = namespace.filter(|namespace| !namespace.is_empty()) {
        purl.extend(utf8_percent_encode(namespace, ENCODED));
        purl.push('/');
    }
    purl.extend(utf8_percent_encode(name, ENCODED));
    purl.push('@');
    purl.extend(utf8_percent_encode(version, ENCODED));
    qualifiers.retain(|(_, value)| !value.is_empty());
    qualifiers.sort();
    for (index, (key, value)) in qualifiers.iter().enumerate() {
        purl.push(if index == 0 { '?' } else { '&' });
        purl.push_str(key);
        purl.push('=');
        purl.extend(utf8_percent_encode(value, ENCODED));
    }
    purl
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::packages::SourcePackage;

    fn os(id: &str, version_id: &str) -> Os {
        Os {
            id: id.to_owned(),
            version_id: Some(version_id.to_owned()),
            version_codename: None,
            pretty_name: None,
        }
    }

    fn component(ecosystem: Ecosystem, name: &str, version: &str, arch: Option<&str>) -> Component {
        Component {
            ecosystem,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.map(str::to_owned),
            source: None,
        }
    }

    #[test]
    fn deb_purls_encode_plus_and_keep_epochs_and_tildes() {
        let debian = os("debian", "12");
        let bash = component(Ecosystem::Deb, "bash", "5.2.15-2+b2", Some("amd64"));
        assert_eq!(
            purl(&bash, Some(&debian)),
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
        );
        let zlib = component(Ecosystem::Deb, "zlib1g", "1:1.2.13.dfsg-1", Some("amd64"));
        assert_eq!(
            purl(&zlib, Some(&debian)),
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12"
        );
        let tilde = component(Ecosystem::Deb, "libfoo++1", "2.0~rc1-1", Some("all"));
        assert_eq!(
            purl(&tilde, Some(&os("ubuntu", "22.04"))),
            "pkg:deb/ubuntu/libfoo%2B%2B1@2.0~rc1-1?arch=all&distro=ubuntu-22.04"
        );
    }

    #[test]
    fn deb_purls_without_os_release_default_to_debian_without_distro() {
        let mut bash = component(Ecosystem::Deb, "bash", "5.2.15-2", None);
        bash.source = Some(SourcePackage {
            name: "bash".to_owned(),
            version: "5.2.15-2".to_owned(),
        });
        assert_eq!(purl(&bash, None), "pkg:deb/debian/bash@5.2.15-2");
        let rolling = Os {
            version_id: None,
            ..os("debian", "")
        };
        assert_eq!(purl(&bash, Some(&rolling)), "pkg:deb/debian/bash@5.2.15-2");
    }

    #[test]
    fn apk_purls_name_alpine_and_its_release() {
        let busybox = component(Ecosystem::Apk, "busybox", "1.36.1-r15", Some("x86_64"));
        assert_eq!(
            purl(&busybox, Some(&os("alpine", "3.20.0"))),
            "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.20.0"
        );
    }

    #[test]
    fn pypi_purls_use_the_normalised_name() {
        let requests = component(Ecosystem::Pypi, "requests", "2.31.0", None);
        assert_eq!(purl(&requests, None), "pkg:pypi/requests@2.31.0");
        let odd = component(Ecosystem::Pypi, "Foo_Bar.baz", "1.0+local", None);
        assert_eq!(purl(&odd, None), "pkg:pypi/foo-bar-baz@1.0%2Blocal");
    }

    #[test]
    fn npm_purls_encode_the_scope() {
        let scoped = component(Ecosystem::Npm, "@scope/name", "1.0.0", None);
        assert_eq!(purl(&scoped, None), "pkg:npm/%40scope/name@1.0.0");
        let plain = component(Ecosystem::Npm, "left-pad", "1.3.0", None);
        assert_eq!(purl(&plain, None), "pkg:npm/left-pad@1.3.0");
    }

    #[test]
    fn reserved_characters_in_names_and_qualifiers_are_encoded() {
        let hostile = component(Ecosystem::Deb, "a/b?c#d", "1 2@3", Some("x&y=z"));
        assert_eq!(
            purl(&hostile, Some(&os("Debian", "12"))),
            "pkg:deb/debian/a%2Fb%3Fc%23d@1%202%403?arch=x%26y%3Dz&distro=debian-12"
        );
    }
}
