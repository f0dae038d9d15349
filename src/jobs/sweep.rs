//! The sweep: every repository's manifests beside their scan records, one list call of each
//! per step. An image without a scan is queued (the backfill, when scanning is turned on over
//! an existing registry), a scan matched before the advisories last changed is matched again,
//! a scan whose job was lost is queued again, and a scan whose image is gone is deleted.

use super::Jobs;
use crate::error::Result;
use crate::oci::{Digest, RepositoryName};
use crate::records::{Environment, ListedScan, ScanStatus};
use crate::scan::Job;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// How often the Cron Trigger starts a sweep when the advisories did not change: often enough
/// to find lost jobs and images pushed while scanning was off, at a cost of two list calls
/// per thousand manifests.
const SWEEP_EVERY_MS: u64 = 24 * 3600 * 1000;

/// A scan queued or started this long ago without an end lost its job (the queue delivers
/// within seconds, and retries for far less than this): it is queued again.
const STALE_SCAN_MS: u64 = 6 * 3600 * 1000;

/// Where a sweep step starts: after a repository, or within one after a digest. Written in a
/// job as `<name>` or `<name>@<digest>` (names have no `@`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    repository: RepositoryName,
    after: Option<Digest>,
}

impl Position {
    fn parse(text: &str) -> Option<Position> {
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest.parse().ok()?)),
            None => (text, None),
        };
        Some(Position {
            repository: RepositoryName::parse(name, "").ok()?,
            after: digest,
        })
    }

    fn to_job(&self) -> Job {
        let after = match &self.after {
            Some(digest) => format!("{}@{digest}", self.repository),
            None => self.repository.to_string(),
        };
        Job::Sweep { after: Some(after) }
    }
}

impl<S, K, E> Jobs<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Starts a sweep (for the Cron Trigger) if none started since the advisories last changed
    /// or for a day.
    pub async fn start_sweep_if_due(&self) -> Result<()> {
        let records = self.records;
        let now = records.env.now_ms();
        let last = records.sweep_started_at().await?;
        let updated = records.advisories_updated_at().await?;
        let due = match last {
            None => true,
            Some(last) => now.saturating_sub(last) >= SWEEP_EVERY_MS || updated > Some(last),
        };
        if due {
            records.set_sweep_started_at(now).await?;
            records.enqueue(Job::Sweep { after: None });
        }
        Ok(())
    }

    /// One step of the sweep, from `after` (the start when `None`); queues the next step
    /// unless the sweep is over.
    pub(super) async fn sweep(&self, after: Option<&str>) -> Result<()> {
        let records = self.records;
        let position = after.and_then(Position::parse);
        let (repository, after) = match position {
            Some(Position {
                repository,
                after: Some(digest),
            }) => (repository, Some(digest)),
            other => {
                let previous = other.map(|p| p.repository.to_string());
                match records.next_repository(previous.as_deref()).await? {
                    Some(repository) => (repository, None),
                    None => return Ok(()),
                }
            }
        };
        // Scan records first: a push writes its manifest before its record, so a record listed
        // here whose manifest the next listing lacks is gone for good, never just pushed.
        let (scans, more_scans) = records.scans_page(&repository, after.as_ref()).await?;
        let (manifests, more_manifests) = records
            .manifest_digests_page(&repository, after.as_ref())
            .await?;
        // Both listings are complete up to the smaller of their last keys.
        let cut = [
            more_manifests.then(|| manifests.last()).flatten(),
            more_scans
                .then(|| scans.last().map(|s| &s.digest))
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|digest| key_order(digest))
        .cloned();
        let within = |digest: &Digest| {
            cut.as_ref()
                .is_none_or(|cut| key_order(digest) <= key_order(cut))
        };
        let updated = records.advisories_updated_at().await?;
        let now = records.env.now_ms();
        let mut scans = scans.into_iter().filter(|s| within(&s.digest)).peekable();
        let mut gone = Vec::new();
        for digest in manifests.iter().filter(|d| within(d)) {
            while let Some(scan) = scans.next_if(|s| key_order(&s.digest) < key_order(digest)) {
                gone.push(scan.digest);
            }
            let scan = scans.next_if(|s| &s.digest == digest);
            if let Some(job) = self.needed(&repository, digest, scan.as_ref(), updated, now) {
                records.enqueue(job);
            }
        }
        gone.extend(scans.map(|s| s.digest));
        records.delete_scan_records(&repository, &gone).await?;
        let next = match cut {
            Some(cut) => Position {
                repository,
                after: Some(cut),
            },
            None => Position {
                repository,
                after: None,
            },
        };
        records.enqueue(next.to_job());
        Ok(())
    }

    /// What an image with the scan `scan` (as listed) needs, if anything.
    fn needed(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        scan: Option<&ListedScan>,
        advisories_updated_at: Option<u64>,
        now: u64,
    ) -> Option<Job> {
        let image = || (repository.to_string(), digest.to_string());
        let Some(scan) = scan else {
            let (repository, digest) = image();
            return Some(Job::Scan {
                repository,
                digest,
                source: None,
            });
        };
        match scan.status {
            Some(ScanStatus::Complete) if scan.matched_at < advisories_updated_at => {
                let (repository, digest) = image();
                Some(Job::Match { repository, digest })
            }
            Some(ScanStatus::Queued | ScanStatus::Scanning)
                if now.saturating_sub(scan.written_ms) > STALE_SCAN_MS =>
            {
                let (repository, digest) = image();
                Some(Job::Scan {
                    repository,
                    digest,
                    source: None,
                })
            }
            _ => None,
        }
    }
}

/// The order of the keys that name digests (`<alg>/<hex>`), which listings follow.
fn key_order(digest: &Digest) -> (&str, &str) {
    (digest.algorithm().as_str(), digest.hex())
}
