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
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// The report artifact's type, as the referrers API lists it.
pub use matching::REPORT_ARTIFACT_TYPE;

pub struct Jobs<'a, S, K, E> {
    pub records: &'a Records<S, K, E>,
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
            Job::Scan { repository, digest } => {
                let (name, digest) = image(&repository, &digest)?;
                self.scan(&name, &digest).await
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
        if let Job::Scan { repository, digest } = job {
            let (name, digest) = image(repository, digest)?;
            self.note_scan_error(&name, &digest, &error.to_string(), false)
                .await?;
        }
        Ok(())
    }

    /// The queue gave up on `job` after its retries (the dead-letter queue): a scan is failed.
    pub async fn gave_up(&self, job: &Job) -> Result<()> {
        if let Job::Scan { repository, digest } = job {
            let (name, digest) = image(repository, digest)?;
            self.note_scan_error(&name, &digest, "the scan kept failing", true)
                .await?;
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
