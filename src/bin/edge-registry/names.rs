//! The command line's image names: a source `oci:DIR[:TAG]` and a destination
//! `REGISTRY/NAME[:TAG]`.

use std::path::PathBuf;

use edge_registry::oci::{RepositoryName, Tag};

use crate::error::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An OCI image layout directory, and the `org.opencontainers.image.ref.name` to push
    /// (needed when the layout holds several images).
    Oci { dir: PathBuf, tag: Option<String> },
}

impl Source {
    pub fn parse(text: &str) -> Result<Source, CliError> {
        let Some((transport, rest)) = text.split_once(':') else {
            return Err(CliError::Usage(format!(
                "source {text:?}: expected oci:DIR[:TAG] (an OCI image layout)"
            )));
        };
        match transport {
            "oci" => {
                // A `:` followed by no `/` ends the directory: `oci:./out:v1`, `oci:/a:b/c`.
                let (dir, tag) = match rest.rsplit_once(':') {
                    Some((dir, tag)) if !tag.contains('/') => (dir, Some(tag.to_string())),
                    _ => (rest, None),
                };
                if dir.is_empty() || tag.as_deref() == Some("") {
                    return Err(CliError::Usage(format!(
                        "source {text:?}: expected oci:DIR[:TAG] (an OCI image layout)"
                    )));
                }
                Ok(Source::Oci {
                    dir: PathBuf::from(dir),
                    tag,
                })
            }
            "docker-archive" | "docker-daemon" | "docker" => Err(CliError::Usage(format!(
                "source {text:?}: {transport}: sources are not supported yet; use oci:DIR[:TAG]"
            ))),
            other => Err(CliError::Usage(format!(
                "source {text:?}: unknown transport {other:?}; use oci:DIR[:TAG]"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `host[:port]`, as typed: the key of its credentials too.
    pub registry: String,
    pub repository: RepositoryName,
    pub tag: Tag,
}

impl Destination {
    /// `REGISTRY/NAME[:TAG]`; the tag defaults to `latest`, as for docker.
    pub fn parse(text: &str) -> Result<Destination, CliError> {
        let usage = |why: String| CliError::Usage(format!("destination {text:?}: {why}"));
        let (registry, path) = text
            .split_once('/')
            .filter(|(registry, path)| !registry.is_empty() && !path.is_empty())
            .ok_or_else(|| usage("expected REGISTRY/NAME:TAG".into()))?;
        let (name, tag) = match path.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (path, "latest"),
        };
        if path.contains('@') {
            return Err(usage(
                "pushing to a digest is not supported; give a tag".into(),
            ));
        }
        Ok(Destination {
            registry: registry.to_string(),
            repository: RepositoryName::parse(name, registry).map_err(|e| usage(e.to_string()))?,
            tag: Tag::parse(tag).map_err(|e| usage(e.to_string()))?,
        })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(dir: &str, tag: Option<&str>) -> Source {
        Source::Oci {
            dir: dir.into(),
            tag: tag.map(str::to_string),
        }
    }

    #[test]
    fn oci_sources_with_and_without_a_tag() {
        assert_eq!(Source::parse("oci:out").unwrap(), oci("out", None));
        assert_eq!(
            Source::parse("oci:./out:v1.2").unwrap(),
            oci("./out", Some("v1.2"))
        );
        assert_eq!(
            Source::parse("oci:/tmp/a:b/c").unwrap(),
            oci("/tmp/a:b/c", None)
        );
        assert_eq!(
            Source::parse("oci:/tmp/a:b/c:t").unwrap(),
            oci("/tmp/a:b/c", Some("t"))
        );
        for bad in [
            "out",
            "oci:",
            "oci::v1",
            "oci:out:",
            "docker-archive:x.tar",
            "http:x",
        ] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn destinations() {
        let d = Destination::parse("127.0.0.1:8787/team/app:v1").unwrap();
        assert_eq!(
            (d.registry.as_str(), d.repository.as_str(), d.tag.as_str()),
            ("127.0.0.1:8787", "team/app", "v1")
        );
        assert_eq!(d.to_string(), "127.0.0.1:8787/team/app:v1");
        assert_eq!(
            Destination::parse("r.example/app").unwrap().tag.as_str(),
            "latest"
        );
        for bad in [
            "app:v1",
            "r.example/",
            "/app",
            "r.example/App:v1",
            "r.example/app:",
            "r.example/app@sha256:00",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}
