//! Path routing. Repository names contain `/`, so a path is read from its end: the last
//! segments say which resource it is, and everything between `/v2/` and them is the name.

use std::fmt;

use crate::oci::{Digest, RepositoryName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The token endpoint, outside `/v2/` as Docker's token protocol has it.
    Token,
    /// A data object behind a URL the worker signed (`/_blobs/<key>`, local mode).
    SignedBlob,
    Base,
    Catalog,
    Tags {
        name: String,
    },
    Manifest {
        name: String,
        reference: String,
    },
    Blob {
        name: String,
        digest: String,
    },
    UploadStart {
        name: String,
    },
    Upload {
        name: String,
        id: String,
    },
    Referrers {
        name: String,
        digest: String,
    },
    /// One maintenance run on demand (`POST`, administrator only).
    Maintenance,
    /// An image's scan report (`/v2/<name>/_scan/<digest>`).
    Scan {
        name: String,
        digest: String,
    },
    /// The advisories' load status (`/_advisories`), or one ecosystem's advisories
    /// (`/_advisories/<ecosystem>`, to load them).
    Advisories {
        ecosystem: Option<String>,
    },
}

/// Docker's token protocol's endpoint.
const TOKEN_PATH: &str = "/token";
/// Where the worker serves the blob URLs it signs itself.
pub const SIGNED_BLOB_PREFIX: &str = "/_blobs/";
/// Where an administrator runs maintenance on demand.
pub const MAINTENANCE_PATH: &str = "/_maintenance";
/// Where an administrator loads advisories and sees how their loads went.
const ADVISORIES_PATH: &str = "/_advisories";

/// The routes of a repository's resources, for the URLs the registry sends.
impl Route {
    pub fn tags(name: &RepositoryName) -> Route {
        Route::Tags {
            name: name.to_string(),
        }
    }

    pub fn manifest(name: &RepositoryName, reference: &impl fmt::Display) -> Route {
        Route::Manifest {
            name: name.to_string(),
            reference: reference.to_string(),
        }
    }

    pub fn blob(name: &RepositoryName, digest: &Digest) -> Route {
        Route::Blob {
            name: name.to_string(),
            digest: digest.to_string(),
        }
    }

    pub fn upload(name: &RepositoryName, id: &str) -> Route {
        Route::Upload {
            name: name.to_string(),
            id: id.to_string(),
        }
    }

    pub fn referrers(name: &RepositoryName, subject: &Digest) -> Route {
        Route::Referrers {
            name: name.to_string(),
            digest: subject.to_string(),
        }
    }
}

/// A route's path, the inverse of [`parse`]: the registry builds the URLs it sends (upload and
/// content locations, next-page links) from the route they name. [`Route::SignedBlob`] keeps
/// no object key and prints as its prefix.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Token => f.write_str(TOKEN_PATH),
            Route::SignedBlob => f.write_str(SIGNED_BLOB_PREFIX),
            Route::Maintenance => f.write_str(MAINTENANCE_PATH),
            Route::Base => f.write_str("/v2/"),
            Route::Catalog => f.write_str("/v2/_catalog"),
            Route::Tags { name } => write!(f, "/v2/{name}/tags/list"),
            Route::Manifest { name, reference } => write!(f, "/v2/{name}/manifests/{reference}"),
            Route::Blob { name, digest } => write!(f, "/v2/{name}/blobs/{digest}"),
            Route::UploadStart { name } => write!(f, "/v2/{name}/blobs/uploads/"),
            Route::Upload { name, id } => write!(f, "/v2/{name}/blobs/uploads/{id}"),
            Route::Referrers { name, digest } => write!(f, "/v2/{name}/referrers/{digest}"),
            Route::Scan { name, digest } => write!(f, "/v2/{name}/_scan/{digest}"),
            Route::Advisories { ecosystem: None } => f.write_str(ADVISORIES_PATH),
            Route::Advisories {
                ecosystem: Some(ecosystem),
            } => write!(f, "{ADVISORIES_PATH}/{ecosystem}"),
        }
    }
}

pub fn parse(path: &str) -> Option<Route> {
    // Some clients escape the ':' of a digest.
    let path = path.replace("%3A", ":").replace("%3a", ":");
    if path == TOKEN_PATH {
        return Some(Route::Token);
    }
    if path.starts_with(SIGNED_BLOB_PREFIX) {
        return Some(Route::SignedBlob);
    }
    if path == MAINTENANCE_PATH {
        return Some(Route::Maintenance);
    }
    if let Some(rest) = path.strip_prefix(ADVISORIES_PATH) {
        return match rest.strip_prefix('/') {
            None if rest.is_empty() => Some(Route::Advisories { ecosystem: None }),
            Some(ecosystem) if !ecosystem.is_empty() && !ecosystem.contains('/') => {
                Some(Route::Advisories {
                    ecosystem: Some(ecosystem.to_string()),
                })
            }
            _ => None,
        };
    }
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let name_before = |count: usize| -> Option<String> {
        let name_segments = segments.len().checked_sub(count).filter(|&n| n > 0)?;
        Some(segments[..name_segments].join("/"))
    };
    let last = |i: usize| segments[segments.len() - i];
    let n = segments.len();
    if n >= 3 && last(2) == "tags" && last(1) == "list" {
        return Some(Route::Tags {
            name: name_before(2)?,
        });
    }
    if n >= 3 && last(3) == "blobs" && last(2) == "uploads" {
        let name = name_before(3)?;
        return Some(match last(1) {
            "" => Route::UploadStart { name },
            id => Route::Upload {
                name,
                id: id.to_string(),
            },
        });
    }
    if n >= 3 && last(2) == "blobs" && last(1) == "uploads" {
        return Some(Route::UploadStart {
            name: name_before(2)?,
        });
    }
    if n >= 3 && last(2) == "blobs" {
        return Some(Route::Blob {
            name: name_before(2)?,
            digest: last(1).to_string(),
        });
    }
    if n >= 3 && last(2) == "manifests" {
        return Some(Route::Manifest {
            name: name_before(2)?,
            reference: last(1).to_string(),
        });
    }
    if n >= 3 && last(2) == "referrers" {
        return Some(Route::Referrers {
            name: name_before(2)?,
            digest: last(1).to_string(),
        });
    }
    if n >= 3 && last(2) == "_scan" {
        return Some(Route::Scan {
            name: name_before(2)?,
            digest: last(1).to_string(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> String {
        s.to_string()
    }

    /// Paths of every endpoint, with the route each is.
    fn cases() -> Vec<(&'static str, Route)> {
        let d = "sha256:abc";
        vec![
            ("/token", Route::Token),
            ("/_blobs/data/abc", Route::SignedBlob),
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/a/b/tags/list", Route::Tags { name: name("a/b") }),
            (
                "/v2/a/manifests/latest",
                Route::Manifest {
                    name: name("a"),
                    reference: name("latest"),
                },
            ),
            (
                "/v2/a/blobs/sha256:abc",
                Route::Blob {
                    name: name("a"),
                    digest: name(d),
                },
            ),
            (
                "/v2/a/blobs/sha256%3Aabc",
                Route::Blob {
                    name: name("a"),
                    digest: name(d),
                },
            ),
            (
                "/v2/a/b/blobs/uploads/",
                Route::UploadStart { name: name("a/b") },
            ),
            (
                "/v2/a/b/blobs/uploads",
                Route::UploadStart { name: name("a/b") },
            ),
            (
                "/v2/a/blobs/uploads/xyz",
                Route::Upload {
                    name: name("a"),
                    id: name("xyz"),
                },
            ),
            (
                "/v2/a/referrers/sha256:abc",
                Route::Referrers {
                    name: name("a"),
                    digest: name(d),
                },
            ),
            (
                "/v2/a/b/_scan/sha256:abc",
                Route::Scan {
                    name: name("a/b"),
                    digest: name(d),
                },
            ),
            ("/_advisories", Route::Advisories { ecosystem: None }),
            (
                "/_advisories/Debian",
                Route::Advisories {
                    ecosystem: Some(name("Debian")),
                },
            ),
            // Names may contain the words the routes use.
            (
                "/v2/blobs/manifests/tags/list",
                Route::Tags {
                    name: name("blobs/manifests"),
                },
            ),
            (
                "/v2/x/blobs/blobs/uploads/",
                Route::UploadStart {
                    name: name("x/blobs"),
                },
            ),
        ]
    }

    #[test]
    fn routes_every_endpoint() {
        for (path, route) in cases() {
            assert_eq!(parse(path), Some(route), "{path}");
        }
    }

    #[test]
    fn a_route_s_path_routes_to_it() {
        for (path, route) in cases() {
            assert_eq!(parse(&route.to_string()), Some(route), "{path}");
        }
    }

    /// The URLs the registry sends, as clients have always been given them.
    #[test]
    fn locations_are_the_v2_paths() {
        let name = RepositoryName::parse("team/app", "").unwrap();
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let id = "0".repeat(32);
        let cases = [
            (Route::tags(&name), "/v2/team/app/tags/list".to_string()),
            (
                Route::manifest(&name, &digest),
                format!("/v2/team/app/manifests/{digest}"),
            ),
            (
                Route::manifest(&name, &"latest"),
                "/v2/team/app/manifests/latest".to_string(),
            ),
            (
                Route::blob(&name, &digest),
                format!("/v2/team/app/blobs/{digest}"),
            ),
            (
                Route::upload(&name, &id),
                format!("/v2/team/app/blobs/uploads/{id}"),
            ),
            (
                Route::referrers(&name, &digest),
                format!("/v2/team/app/referrers/{digest}"),
            ),
            (Route::Catalog, "/v2/_catalog".to_string()),
            (Route::Token, "/token".to_string()),
        ];
        for (route, path) in cases {
            assert_eq!(route.to_string(), path);
        }
    }

    #[test]
    fn unknown_paths_do_not_route() {
        for path in [
            "/",
            "/v1/",
            "/v2x",
            "/v2/a",
            "/v2/manifests/x",
            "/v2/a/unknown/x",
            "/v2/tags/list",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }
}
