//! The queue's work, over records: scanning an image (its SBOM), matching it against the
//! advisories (its report), indexing loaded advisories, and the sweep that keeps every image
//! scanned and every report current. One job does a bounded amount of work; what remains is
//! queued as further jobs through the records' outbox.
//!
//! A job that fails with a storage error is retried by the queue with backoff; one that can
//! never succeed (its image is gone, its layer is corrupt) ends and says so in its record.

pub mod advisories;
mod matching;
mod scanning;
mod sweep;

use crate::error::{Error, Result};
use crate::oci::{Digest, RepositoryName};
use crate::records::{Environment, Records};
use crate::scan::Job;
use crate::webhooks::{Event, EventKind, ScanOutcome, Webhooks};

/// The `source` of `scan.completed` events whose scan no push queued (the sweep's backfill),
/// where no request named the registry's origin.
const SCANNER_SOURCE: &str = "urn:edge-registry:scanner";
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// The report artifact's type, as the referrers API lists it.
pub use matching::REPORT_ARTIFACT_TYPE;

pub struct Jobs<'a, S, K, E> {
    pub records: &'a Records<S, K, E>,
    /// The receivers of `scan.completed` events.
    pub webhooks: &'a Webhooks,
}

impl<S, K, E> Jobs<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Runs one job. An error is worth retrying when it is internal (storage); any other
    /// means the job is malformed and retrying it cannot help.
    pub async fn run(&self, job: Job) -> Result<()> {
        match job {
            Job::Scan {
                repository,
                digest,
                source,
            } => {
                let (name, digest) = image(&repository, &digest)?;
                if self.scan(&name, &digest).await? {
                    self.scan_completed(&name, &digest, source).await?;
                }
                Ok(())
            }
            Job::Match { repository, digest } => {
                let (name, digest) = image(&repository, &digest)?;
                self.rematch(&name, &digest).await
            }
            Job::IndexAdvisories { ecosystem, load } => {
                advisories::index_step(self.records, &ecosystem, &load).await
            }
            Job::Sweep { after } => self.sweep(after.as_deref()).await,
            // Deliveries talk to the network, which the records cannot: the platform's
            // consumer runs them with `webhooks::deliver` and never brings them here.
            Job::Deliver { .. } => Err(Error::Internal(
                "a webhook delivery needs a poster: run it with webhooks::deliver".into(),
            )),
        }
    }

    /// Notes why an attempt at `job` failed, where its status is shown, before the queue
    /// retries it.
    pub async fn attempt_failed(&self, job: &Job, error: &Error) -> Result<()> {
        if let Job::Scan {
            repository, digest, ..
        } = job
        {
            let (name, digest) = image(repository, digest)?;
            self.note_scan_error(&name, &digest, &error.to_string(), false)
                .await?;
        }
        Ok(())
    }

    /// The queue gave up on `job` after its retries (the dead-letter queue): a scan is failed.
    pub async fn gave_up(&self, job: &Job) -> Result<()> {
        if let Job::Scan {
            repository, digest, ..
        } = job
        {
            let (name, digest) = image(repository, digest)?;
            self.note_scan_error(&name, &digest, "the scan kept failing", true)
                .await?;
        }
        Ok(())
    }
}

impl<S, K, E> Jobs<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Queues the `scan.completed` deliveries of the scan that just ended, one per receiver
    /// that wants them, with the outcome its record holds.
    async fn scan_completed(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        source: Option<String>,
    ) -> Result<()> {
        let repository = name.as_str();
        if !self.webhooks.wants(EventKind::ScanCompleted, repository) {
            return Ok(());
        }
        let Some(record) = self.records.scan_record(name, digest).await? else {
            return Ok(());
        };
        let event = Event {
            id: self.records.env.new_id(),
            kind: EventKind::ScanCompleted,
            source: source.unwrap_or_else(|| SCANNER_SOURCE.to_string()),
            repository: repository.to_string(),
            tag: None,
            digest: Some(digest.to_string()),
            media_type: None,
            size: None,
            actor: None,
            time_ms: self.records.env.now_ms(),
            scan: Some(ScanOutcome {
                status: record.status.name().to_string(),
                reason: record.reason,
                report: record.report_digest,
                vulnerabilities: record.vulnerabilities.len(),
            }),
        };
        for receiver in self.webhooks.receivers_of(&event) {
            self.records.enqueue(Job::Deliver {
                receiver: receiver.url.clone(),
                event: Box::new(event.clone()),
            });
        }
        Ok(())
    }
}

fn image(repository: &str, digest: &str) -> Result<(RepositoryName, Digest)> {
    let name = RepositoryName::parse(repository, "")?;
    let digest = digest
        .parse()
        .map_err(|_| Error::DigestInvalid(format!("{digest:?} is not a digest")))?;
    Ok((name, digest))
}
