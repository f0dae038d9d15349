//! The command line's image names: a source `oci:DIR[:TAG]`, `docker-archive:FILE[:REPO:TAG]`
//! or `docker-daemon:IMAGE`, a destination `REGISTRY/NAME[:TAG]`, and what `copy` copies,
//! `REGISTRY/NAME:TAG` or `REGISTRY/NAME@DIGEST`.

use std::path::PathBuf;

use edge_registry::oci::{Reference, RepositoryName, Tag};

use crate::error::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An OCI image layout directory, and the `org.opencontainers.image.ref.name` to push
    /// (needed when the layout holds several images).
    Oci { dir: PathBuf, tag: Option<String> },
    /// A `docker save` archive, and the image to push by one of its RepoTags (`REPO:TAG`,
    /// needed when the archive holds several images).
    DockerArchive { file: PathBuf, name: Option<String> },
    /// An image of the local Docker daemon, by any name `docker save` takes.
    DockerDaemon { image: String },
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
            "docker-archive" => Source::docker_archive(text, rest),
            "docker-daemon" if !rest.is_empty() => Ok(Source::DockerDaemon {
                image: rest.to_string(),
            }),
            "docker-daemon" => Err(CliError::Usage(format!(
                "source {text:?}: expected docker-daemon:IMAGE"
            ))),
            other => Err(CliError::Usage(format!(
                "source {text:?}: unknown transport {other:?}; use oci:DIR[:TAG], \
                 docker-archive:FILE[:REPO:TAG] or docker-daemon:IMAGE"
            ))),
        }
    }

    /// `FILE[:REPO:TAG]`: as for skopeo, the first `:` ends the file, since a name may hold
    /// a registry's port (`docker-archive:a.tar:localhost:5000/app:v1`).
    fn docker_archive(text: &str, rest: &str) -> Result<Source, CliError> {
        let usage = |why: &str| {
            CliError::Usage(format!(
                "source {text:?}: expected docker-archive:FILE[:REPO:TAG]{why}"
            ))
        };
        let (file, name) = match rest.split_once(':') {
            Some((file, name)) => (file, Some(name)),
            None => (rest, None),
        };
        if file.is_empty() {
            return Err(usage(""));
        }
        if let Some(name) = name {
            let tagged = name
                .rsplit_once(':')
                .filter(|(repo, tag)| !repo.is_empty() && !tag.contains('/'));
            match tagged {
                Some((_, tag)) if Tag::parse(tag).is_ok() => {}
                _ => return Err(usage(" (a name with its tag, as docker lists in RepoTags)")),
            }
        }
        Ok(Source::DockerArchive {
            file: PathBuf::from(file),
            name: name.map(str::to_string),
        })
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
        if text.contains('@') {
            return Err(CliError::Usage(format!(
                "destination {text:?}: pushing to a digest is not supported; give a tag"
            )));
        }
        let image = parse_image(text, "destination", "REGISTRY/NAME:TAG")?;
        let Reference::Tag(tag) = image.reference else {
            unreachable!("without an @, the reference is a tag");
        };
        Ok(Destination {
            registry: image.registry,
            repository: image.repository,
            tag,
        })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// An image in a registry, by tag or by digest: what `copy` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    /// `host[:port]`, as typed: the key of its credentials too.
    pub registry: String,
    pub repository: RepositoryName,
    pub reference: Reference,
}

impl RemoteImage {
    /// `REGISTRY/NAME:TAG` or `REGISTRY/NAME@DIGEST`; the tag defaults to `latest`.
    pub fn parse(text: &str) -> Result<RemoteImage, CliError> {
        parse_image(text, "source", "REGISTRY/NAME:TAG or REGISTRY/NAME@DIGEST")
    }
}

/// `REGISTRY/NAME[:TAG]` or `REGISTRY/NAME@DIGEST`, the `role` it plays and the `form`
/// expected named in errors.
fn parse_image(text: &str, role: &str, form: &str) -> Result<RemoteImage, CliError> {
    let usage = |why: String| CliError::Usage(format!("{role} {text:?}: {why}"));
    let (registry, path) = text
        .split_once('/')
        .filter(|(registry, path)| !registry.is_empty() && !path.is_empty())
        .ok_or_else(|| usage(format!("expected {form}")))?;
    let (name, reference) = match path.split_once('@') {
        Some((name, digest)) => (
            name,
            Reference::Digest(digest.parse().map_err(|e| usage(format!("{e}")))?),
        ),
        None => {
            let (name, tag) = match path.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => (name, tag),
                _ => (path, "latest"),
            };
            (
                name,
                Reference::Tag(Tag::parse(tag).map_err(|e| usage(e.to_string()))?),
            )
        }
    };
    Ok(RemoteImage {
        registry: registry.to_string(),
        repository: RepositoryName::parse(name, registry).map_err(|e| usage(e.to_string()))?,
        reference,
    })
}

impl std::fmt::Display for RemoteImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reference {
            Reference::Tag(tag) => write!(f, "{}/{}:{tag}", self.registry, self.repository),
            Reference::Digest(digest) => {
                write!(f, "{}/{}@{digest}", self.registry, self.repository)
            }
        }
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
            "docker-archive:",
            "docker-archive::app:v1",
            "docker-archive:x.tar:app",
            "docker-archive:x.tar:app:",
            "docker-archive:x.tar:localhost:5000/app",
            "docker-daemon:",
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

#[cfg(test)]
mod source_tests {
    use super::*;

    fn archive(file: &str, name: Option<&str>) -> Source {
        Source::DockerArchive {
            file: file.into(),
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn docker_archives_with_and_without_a_name() {
        assert_eq!(
            Source::parse("docker-archive:app.tar").unwrap(),
            archive("app.tar", None)
        );
        assert_eq!(
            Source::parse("docker-archive:/tmp/app.tar:app:v1").unwrap(),
            archive("/tmp/app.tar", Some("app:v1"))
        );
        assert_eq!(
            Source::parse("docker-archive:a.tar:localhost:5000/team/app:v1").unwrap(),
            archive("a.tar", Some("localhost:5000/team/app:v1"))
        );
        assert_eq!(
            Source::parse("docker-daemon:alpine:3.20").unwrap(),
            Source::DockerDaemon {
                image: "alpine:3.20".into()
            }
        );
    }

    #[test]
    fn copy_sources_by_tag_and_by_digest() {
        let tagged = RemoteImage::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(
            (tagged.registry.as_str(), tagged.repository.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        assert_eq!(tagged.reference, Reference::Tag(Tag::parse("v1").unwrap()));
        assert_eq!(tagged.to_string(), "127.0.0.1:5000/team/app:v1");
        let latest = RemoteImage::parse("r.example/app").unwrap();
        assert_eq!(latest.to_string(), "r.example/app:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = RemoteImage::parse(&format!("r.example:5000/app@{digest}")).unwrap();
        assert_eq!(pinned.reference, Reference::Digest(digest.parse().unwrap()));
        assert_eq!(pinned.to_string(), format!("r.example:5000/app@{digest}"));
        for bad in [
            "app:v1",
            "r.example/",
            "/app",
            "r.example/App:v1",
            "r.example/app:",
            "r.example/app@sha256:00",
            "r.example/app@v1",
        ] {
            assert!(RemoteImage::parse(bad).is_err(), "{bad}");
        }
    }
}
