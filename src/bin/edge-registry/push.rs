//! `push`: every blob the registry lacks (HEAD first), in chunks within its body limit, then
//! the manifests, children before the index that lists them, the root under its tag.

use std::io::Read;
use std::time::Instant;

use serde::Serialize;

use crate::chunks::{self, Plan};
use crate::error::CliError;
use crate::names::Destination;
use crate::registry::{Body, Registry};
use crate::source::{Blob, Image, ImageSource, ManifestFile};

pub struct Options {
    /// The largest PATCH to send, when smaller than what the registry advertises.
    pub chunk_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Blob,
    Manifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pushed,
    /// The registry had it already.
    Skipped,
}

/// One blob or manifest and what the push did with it.
#[derive(Debug, Serialize)]
pub struct Item {
    pub kind: Kind,
    pub digest: String,
    pub size: u64,
    pub status: Status,
    /// The requests that carried its bytes: the PATCHes, or the one PUT of a whole blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub reference: String,
    /// The root manifest's digest.
    pub digest: String,
    pub pushed: usize,
    pub skipped: usize,
    /// Bytes sent in blob and manifest bodies.
    pub bytes: u64,
    pub seconds: f64,
    pub items: Vec<Item>,
}

pub struct Push<'a> {
    pub source: &'a dyn ImageSource,
    pub registry: &'a mut Registry,
    pub destination: &'a Destination,
    pub options: Options,
}

impl Push<'_> {
    /// Pushes `image`, telling `report` about each item once it is done.
    pub fn run(
        mut self,
        image: &Image,
        report: &mut dyn FnMut(&Item),
    ) -> Result<Summary, CliError> {
        let started = Instant::now();
        let repository = self.destination.repository.to_string();
        self.registry
            .authenticate(&format!("repository:{repository}:pull,push"))?;
        let mut items = Vec::new();
        for blob in &image.blobs {
            let item = self.blob(&repository, blob)?;
            report(&item);
            items.push(item);
        }
        let root = image
            .manifests
            .last()
            .ok_or_else(|| CliError::Usage("the image has no manifest".into()))?;
        for manifest in &image.manifests {
            let reference = if std::ptr::eq(manifest, root) {
                self.destination.tag.to_string()
            } else {
                manifest.digest.to_string()
            };
            let item = self.manifest(&repository, manifest, &reference)?;
            report(&item);
            items.push(item);
        }
        let pushed = items.iter().filter(|i| i.status == Status::Pushed);
        Ok(Summary {
            reference: self.destination.to_string(),
            digest: root.digest.to_string(),
            pushed: pushed.clone().count(),
            skipped: items.len() - pushed.clone().count(),
            bytes: pushed.map(|i| i.size).sum(),
            seconds: started.elapsed().as_secs_f64(),
            items,
        })
    }

    fn blob(&mut self, repository: &str, blob: &Blob) -> Result<Item, CliError> {
        let what = format!("checking blob {}", blob.digest);
        let present = self
            .registry
            .exists(&what, &format!("{repository}/blobs/{}", blob.digest), None)?
            .is_some();
        let requests = if present {
            None
        } else {
            Some(self.upload(repository, blob)?)
        };
        Ok(Item {
            kind: Kind::Blob,
            digest: blob.digest.to_string(),
            size: blob.size,
            status: if present {
                Status::Skipped
            } else {
                Status::Pushed
            },
            requests,
        })
    }

    /// Uploads the blob; returns how many requests carried its bytes.
    fn upload(&mut self, repository: &str, blob: &Blob) -> Result<usize, CliError> {
        let what = format!("uploading blob {}", blob.digest);
        let start = self.registry.start_upload(repository, &blob.digest)?;
        let limit = chunks::limit(self.options.chunk_size, start.chunk_max);
        let mut reader = self.source.open_blob(blob, 0)?;
        let mut location = start.location;
        let mut requests = 0;
        let whole = match chunks::plan(blob.size, 0, limit) {
            Plan::Whole => {
                requests = 1;
                true
            }
            Plan::Chunks(ranges) => {
                for range in ranges {
                    let len = range.end - range.start;
                    let content_range = format!("{}-{}", range.start, range.end - 1);
                    let headers = [
                        ("Content-Type", "application/octet-stream"),
                        ("Content-Range", content_range.as_str()),
                    ];
                    let mut chunk = (&mut reader).take(len);
                    let response = self.registry.send(
                        &what,
                        "PATCH",
                        &location,
                        &headers,
                        Body::Stream(&mut chunk, len),
                    )?;
                    location = self.registry.location(&what, &response)?;
                    requests += 1;
                }
                false
            }
        };
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest.to_string());
        let content_length = if whole { blob.size } else { 0 }.to_string();
        let mut headers = vec![("Content-Type", "application/octet-stream")];
        let body = if whole {
            Body::Stream(&mut reader, blob.size)
        } else {
            headers.push(("Content-Length", &content_length));
            Body::Empty
        };
        self.registry
            .send(&what, "PUT", &location, &headers, body)?;
        Ok(requests)
    }

    fn manifest(
        &mut self,
        repository: &str,
        manifest: &ManifestFile,
        reference: &str,
    ) -> Result<Item, CliError> {
        let digest = manifest.digest.to_string();
        let path = format!("{repository}/manifests/{reference}");
        let what = format!("checking manifest {reference}");
        let present = self
            .registry
            .exists(&what, &path, Some(&manifest.media_type))?
            .is_some_and(|held| held == digest);
        if !present {
            let what = format!("pushing manifest {reference}");
            let url = self.registry.url(&format!("v2/{path}"));
            let response = self.registry.send(
                &what,
                "PUT",
                &url,
                &[("Content-Type", &manifest.media_type)],
                Body::Bytes(&manifest.bytes),
            )?;
            if let Some(stored) = response
                .header("docker-content-digest")
                .filter(|d| *d != digest)
            {
                return Err(CliError::Registry {
                    what,
                    why: format!("the registry stored it as {stored}, not {digest}"),
                });
            }
        }
        Ok(Item {
            kind: Kind::Manifest,
            digest,
            size: manifest.bytes.len() as u64,
            status: if present {
                Status::Skipped
            } else {
                Status::Pushed
            },
            requests: (!present).then_some(1),
        })
    }
}
