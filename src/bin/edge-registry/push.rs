//! `push`: every blob the registry lacks, several at once, each mounted from another
//! repository when one is known to hold it, else uploaded in chunks within the registry's
//! body limit, resumed where the registry stands after a failure or an interrupted run; then
//! the manifests, children before the index that lists them, the root under its tag.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use url::Url;

use crate::cache::{Cache, UploadState};
use crate::chunks::{self, Plan};
use crate::error::CliError;
use crate::names::Destination;
use crate::progress::{BlobProgress, Progress};
use crate::registry::{Body, Mount, Registry};
use crate::source::{Blob, Image, ImageSource, ManifestFile};

/// At most this many other repositories are asked for in the token, to mount from: a
/// token request names each one.
const MAX_MOUNT_SOURCES: usize = 10;

pub struct Options {
    /// The largest PATCH to send, when smaller than what the registry advertises.
    pub chunk_size: Option<u64>,
    /// Blobs uploaded at once.
    pub jobs: usize,
    /// Where unfinished uploads and the blobs' repositories are remembered between runs.
    pub cache: Option<Cache>,
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
    /// Taken from another repository of the registry, nothing uploaded.
    Mounted,
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
    /// Bytes sent in request bodies, retries included.
    pub sent: u64,
    /// Where an upload left unfinished by an earlier run stood when this one took it up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub reference: String,
    /// The root manifest's digest.
    pub digest: String,
    pub pushed: usize,
    pub mounted: usize,
    pub skipped: usize,
    /// Bytes sent in blob and manifest bodies.
    pub bytes: u64,
    pub seconds: f64,
    pub items: Vec<Item>,
}

pub struct Push<'a> {
    pub source: &'a dyn ImageSource,
    pub registry: Registry,
    pub destination: &'a Destination,
    pub options: Options,
    pub progress: &'a Progress,
}

/// An upload session as the push knows it.
struct Session {
    location: Url,
    /// Bytes the registry holds.
    offset: u64,
    chunk_max: Option<u64>,
}

/// What one blob's upload has sent so far, over every try, and its bar.
struct Transfer<'a> {
    sent: Cell<u64>,
    requests: Cell<usize>,
    progress: &'a BlobProgress,
}

/// A blob's bytes on their way into a request, counted as they are read.
struct Counted<'a, R> {
    inner: R,
    transfer: &'a Transfer<'a>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let sent = &self.transfer.sent;
        sent.set(sent.get() + n as u64);
        self.transfer.progress.sent(n as u64);
        Ok(n)
    }
}

impl Push<'_> {
    /// Pushes `image`, reporting each item to the progress display once it is done.
    pub fn run(mut self, image: &Image) -> Result<Summary, CliError> {
        let started = Instant::now();
        let repository = self.destination.repository.to_string();
        let scope = self.scope(&repository, image);
        self.registry.authenticate(&scope)?;
        let mut items = self.blobs(&repository, &image.blobs)?;
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
            self.progress.done(&item, None);
            items.push(item);
        }
        let count = |status| items.iter().filter(|i| i.status == status).count();
        Ok(Summary {
            reference: self.destination.to_string(),
            digest: root.digest.to_string(),
            pushed: count(Status::Pushed),
            mounted: count(Status::Mounted),
            skipped: count(Status::Skipped),
            bytes: items.iter().map(|i| i.sent).sum(),
            seconds: started.elapsed().as_secs_f64(),
            items,
        })
    }

    /// Push and pull on the destination, and pull on the repositories the cache knows to
    /// hold some of the blobs, to mount from them.
    fn scope(&self, repository: &str, image: &Image) -> String {
        let mut scope = format!("repository:{repository}:pull,push");
        let Some(cache) = &self.options.cache else {
            return scope;
        };
        let mut holders: Vec<String> = image
            .blobs
            .iter()
            .filter_map(|blob| cache.holder(self.registry.name(), &blob.digest))
            .filter(|holder| holder != repository)
            .collect();
        holders.sort();
        holders.dedup();
        for holder in holders.iter().take(MAX_MOUNT_SOURCES) {
            scope.push_str(&format!(" repository:{holder}:pull"));
        }
        scope
    }

    /// The blobs, `jobs` at a time; the first failure stops the others from starting more.
    fn blobs(&self, repository: &str, blobs: &[Blob]) -> Result<Vec<Item>, CliError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<Item, CliError>>>> =
            Mutex::new(blobs.iter().map(|_| None).collect());
        std::thread::scope(|threads| {
            for _ in 0..self.options.jobs.clamp(1, blobs.len().max(1)) {
                threads.spawn(|| {
                    let mut registry = self.registry.clone();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(blob) = blobs.get(i) else { break };
                        let result = self.blob(&mut registry, repository, blob);
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        results.lock().expect("no thread panics holding it")[i] = Some(result);
                    }
                });
            }
        });
        let results = results.into_inner().expect("no thread panics holding it");
        // Not started after a failure: None, after the failure in order.
        results.into_iter().map_while(|r| r).collect()
    }

    fn blob(
        &self,
        registry: &mut Registry,
        repository: &str,
        blob: &Blob,
    ) -> Result<Item, CliError> {
        let what = format!("checking blob {}", blob.digest);
        let path = format!("{repository}/blobs/{}", blob.digest);
        let mut item = Item {
            kind: Kind::Blob,
            digest: blob.digest.to_string(),
            size: blob.size,
            status: Status::Skipped,
            requests: None,
            sent: 0,
            resumed_from: None,
        };
        if registry.exists(&what, &path, None)?.is_none() {
            let holder = self
                .options
                .cache
                .as_ref()
                .and_then(|cache| cache.holder(registry.name(), &blob.digest))
                .filter(|holder| holder != repository);
            let mounted = match holder {
                Some(from) => match registry.mount(repository, &blob.digest, &from) {
                    Ok(mounted) => Some(mounted),
                    // A registry that refuses the mount outright, instead of answering with an
                    // upload (202), still takes the blob uploaded.
                    Err(CliError::Denied { .. } | CliError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let started = match mounted {
                Some(Mount::Mounted) => None,
                Some(Mount::Started(start)) => Some(Session {
                    location: start.location,
                    offset: 0,
                    chunk_max: start.chunk_max,
                }),
                None => Some(self.session(registry, repository, blob, &mut item)?),
            };
            match started {
                None => item.status = Status::Mounted,
                Some(session) => {
                    let progress = self.progress.blob(blob);
                    self.upload(registry, repository, blob, session, &progress, &mut item)?;
                    item.status = Status::Pushed;
                    self.progress.done(&item, Some(progress));
                    self.remember(registry, repository, blob);
                    return Ok(item);
                }
            }
        }
        self.remember(registry, repository, blob);
        self.progress.done(&item, None);
        Ok(item)
    }

    fn remember(&self, registry: &Registry, repository: &str, blob: &Blob) {
        if let Some(cache) = &self.options.cache {
            cache.forget_upload(registry.name(), repository, &blob.digest);
            cache.save_holder(registry.name(), &blob.digest, repository);
        }
    }

    /// The upload an earlier run left unfinished, where the registry says it stands, or a
    /// new one.
    fn session(
        &self,
        registry: &mut Registry,
        repository: &str,
        blob: &Blob,
        item: &mut Item,
    ) -> Result<Session, CliError> {
        let cached = self
            .options
            .cache
            .as_ref()
            .and_then(|cache| cache.upload(registry.name(), repository, &blob.digest));
        if let Some(state) = cached {
            let location = Url::parse(&state.location).expect("the cache keeps valid URLs");
            match registry.upload_status(&location) {
                Ok((offset, location)) if offset <= blob.size => {
                    item.resumed_from = Some(offset);
                    return Ok(Session {
                        location,
                        offset,
                        chunk_max: state.chunk_max,
                    });
                }
                // Gone (expired, finished, or another registry's state): start again.
                Ok(_) | Err(CliError::NotFound { .. } | CliError::RangeRefused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let start = registry.start_upload(repository, &blob.digest)?;
        Ok(Session {
            location: start.location,
            offset: 0,
            chunk_max: start.chunk_max,
        })
    }

    /// Sends the blob's bytes from where the session stands and completes the upload. A
    /// transient failure is retried with backoff from where the registry then says the upload
    /// stands; a session the registry lost or refuses to resume starts again from 0.
    fn upload(
        &self,
        registry: &mut Registry,
        repository: &str,
        blob: &Blob,
        mut session: Session,
        progress: &BlobProgress,
        item: &mut Item,
    ) -> Result<(), CliError> {
        let retry = registry.retry();
        let transfer = Transfer {
            sent: Cell::new(0),
            requests: Cell::new(0),
            progress,
        };
        let mut failures = 0;
        loop {
            progress.at(session.offset);
            let error = match self.send(registry, repository, blob, &mut session, &transfer) {
                Ok(()) => break,
                Err(e) => e,
            };
            let lost = matches!(error, CliError::RangeRefused { .. })
                || (matches!(error, CliError::NotFound { .. }) && session.offset > 0);
            if !(error.is_transient() || lost) || failures >= retry.retries {
                return Err(error);
            }
            failures += 1;
            std::thread::sleep(retry.delay(failures, None));
            session = match registry.upload_status(&session.location) {
                Ok((offset, location)) if !lost && offset <= blob.size => Session {
                    location,
                    offset,
                    chunk_max: session.chunk_max,
                },
                Ok(_) | Err(CliError::NotFound { .. } | CliError::RangeRefused { .. }) => {
                    let start = registry.start_upload(repository, &blob.digest)?;
                    Session {
                        location: start.location,
                        offset: 0,
                        chunk_max: start.chunk_max,
                    }
                }
                Err(e) => return Err(e),
            };
        }
        item.requests = Some(transfer.requests.get());
        item.sent = transfer.sent.get();
        Ok(())
    }

    /// One pass: the chunks from `session.offset` on (or the whole blob), then the
    /// completing PUT. The session follows each acknowledged chunk, in the cache too.
    fn send(
        &self,
        registry: &mut Registry,
        repository: &str,
        blob: &Blob,
        session: &mut Session,
        transfer: &Transfer,
    ) -> Result<(), CliError> {
        let what = format!("uploading blob {}", blob.digest);
        let limit = chunks::limit(self.options.chunk_size, session.chunk_max);
        let mut reader = Counted {
            inner: self.source.open_blob(blob, session.offset)?,
            transfer,
        };
        let count_request = || transfer.requests.set(transfer.requests.get() + 1);
        let plan = chunks::plan(blob.size, session.offset, limit);
        if let Plan::Chunks(ranges) = &plan {
            for range in ranges {
                let len = range.end - range.start;
                let content_range = format!("{}-{}", range.start, range.end - 1);
                let headers = [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", content_range.as_str()),
                ];
                let mut chunk = (&mut reader).take(len);
                count_request();
                let response = registry.send(
                    &what,
                    "PATCH",
                    &session.location,
                    &headers,
                    Body::Stream(&mut chunk, len),
                )?;
                session.location = registry.location(&what, &response)?;
                session.offset = range.end;
                if let Some(cache) = &self.options.cache {
                    let state = UploadState {
                        location: session.location.to_string(),
                        offset: session.offset,
                        chunk_max: session.chunk_max,
                    };
                    cache.save_upload(registry.name(), repository, &blob.digest, &state);
                }
            }
        }
        let mut location = session.location.clone();
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest.to_string());
        let mut headers = vec![("Content-Type", "application/octet-stream")];
        let body = if plan == Plan::Whole {
            count_request();
            Body::Stream(&mut reader, blob.size)
        } else {
            headers.push(("Content-Length", "0"));
            Body::Empty
        };
        registry.send(&what, "PUT", &location, &headers, body)?;
        Ok(())
    }

    fn manifest(
        &self,
        repository: &str,
        manifest: &ManifestFile,
        reference: &str,
    ) -> Result<Item, CliError> {
        let mut registry = self.registry.clone();
        let digest = manifest.digest.to_string();
        let path = format!("{repository}/manifests/{reference}");
        let what = format!("checking manifest {reference}");
        let present = registry
            .exists(&what, &path, Some(&manifest.media_type))?
            .is_some_and(|held| held == digest);
        if !present {
            let what = format!("pushing manifest {reference}");
            let url = registry.url(&format!("v2/{path}"));
            let response = registry.send(
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
        let size = manifest.bytes.len() as u64;
        Ok(Item {
            kind: Kind::Manifest,
            digest,
            size,
            status: if present {
                Status::Skipped
            } else {
                Status::Pushed
            },
            requests: (!present).then_some(1),
            sent: if present { 0 } else { size },
            resumed_from: None,
        })
    }
}
