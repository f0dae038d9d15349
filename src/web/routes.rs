//! The pages' paths. `-` is never a repository name component, so `/-/` separates a
//! repository's name from what of it a page shows.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Home,
    Repository {
        name: String,
    },
    Tag {
        name: String,
        tag: String,
    },
    Digest {
        name: String,
        digest: String,
    },
    Login,
    Logout,
    Static {
        file: String,
    },
    /// A path in the pages' space that names nothing.
    Unknown,
}

pub const STATIC_PREFIX: &str = "/_static/";
const REPOSITORY_PREFIX: &str = "/r/";

/// The page `path` asks for; `None` for paths outside the pages (the API's).
pub fn parse(path: &str) -> Option<Page> {
    match path {
        "/" => return Some(Page::Home),
        "/login" => return Some(Page::Login),
        "/logout" => return Some(Page::Logout),
        _ => {}
    }
    if let Some(file) = path.strip_prefix(STATIC_PREFIX) {
        return Some(Page::Static {
            file: file.to_string(),
        });
    }
    let rest = path.strip_prefix(REPOSITORY_PREFIX)?;
    let page = match rest.split_once("/-/") {
        None => Page::Repository {
            name: rest.to_string(),
        },
        Some((name, reference)) => {
            let name = name.to_string();
            if let Some(tag) = reference.strip_prefix("tag/") {
                Page::Tag {
                    name,
                    tag: tag.to_string(),
                }
            } else if let Some(digest) = reference.strip_prefix("digest/") {
                Page::Digest {
                    name,
                    digest: digest.to_string(),
                }
            } else {
                Page::Unknown
            }
        }
    };
    Some(page)
}

pub fn repository(name: &str) -> String {
    format!("{REPOSITORY_PREFIX}{name}")
}

pub fn tag(name: &str, tag: &str) -> String {
    format!("{REPOSITORY_PREFIX}{name}/-/tag/{tag}")
}

pub fn digest(name: &str, digest: &str) -> String {
    format!("{REPOSITORY_PREFIX}{name}/-/digest/{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_and_the_api_is_left_alone() {
        assert_eq!(parse("/"), Some(Page::Home));
        assert_eq!(parse("/login"), Some(Page::Login));
        assert_eq!(parse("/logout"), Some(Page::Logout));
        assert_eq!(
            parse("/r/library/alpine"),
            Some(Page::Repository {
                name: "library/alpine".into()
            })
        );
        assert_eq!(
            parse("/r/a/b/-/tag/v1.0"),
            Some(Page::Tag {
                name: "a/b".into(),
                tag: "v1.0".into()
            })
        );
        assert_eq!(
            parse("/r/a/-/digest/sha256:00"),
            Some(Page::Digest {
                name: "a".into(),
                digest: "sha256:00".into()
            })
        );
        assert_eq!(parse("/r/a/-/blob/x"), Some(Page::Unknown));
        assert_eq!(
            parse("/_static/style.css"),
            Some(Page::Static {
                file: "style.css".into()
            })
        );
        for api in [
            "/v2/",
            "/v2/a/tags/list",
            "/token",
            "/_blobs/x",
            "/_maintenance",
        ] {
            assert_eq!(parse(api), None, "{api}");
        }
        assert_eq!(parse(&tag("a/b", "v1")), parse("/r/a/b/-/tag/v1"));
    }
}
