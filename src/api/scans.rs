//! `GET /v2/<name>/_scan/<digest>`: an image's scan report, to whoever may pull the image;
//! and the queueing of a scan when an image is pushed.

use serde::Serialize;

use crate::api::{Api, Response, StatusCode};
use crate::auth::token::rfc3339;
use crate::error::{Error, Result};
use crate::oci::{Digest, RepositoryName};
use crate::records::{Environment, ScanRecord, ScanStatus};
use crate::scan::matching::Vulnerability;
use crate::scan::Job;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

#[derive(Serialize)]
struct Report<'a> {
    digest: String,
    status: ScanStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    os: Option<Os<'a>>,
    components: usize,
    sbom_digest: Option<&'a str>,
    report_digest: Option<&'a str>,
    vulnerabilities: &'a [Vulnerability],
    scanned_at: Option<String>,
    matched_at: Option<String>,
    advisories_updated_at: Option<String>,
}

#[derive(Serialize)]
struct Os<'a> {
    id: &'a str,
    version_id: Option<&'a str>,
}

impl<'a> Report<'a> {
    fn of(digest: &Digest, record: &'a ScanRecord) -> Self {
        let inventory = record.inventory.as_ref();
        Report {
            digest: digest.to_string(),
            status: record.status,
            reason: record.reason.as_deref(),
            os: inventory.and_then(|i| i.os.as_ref()).map(|os| Os {
                id: &os.id,
                version_id: os.version_id.as_deref(),
            }),
            components: inventory.map_or(0, |i| i.components.len()),
            sbom_digest: record.sbom_digest.as_deref(),
            report_digest: record.report_digest.as_deref(),
            vulnerabilities: &record.vulnerabilities,
            scanned_at: record.scanned_at.map(rfc3339),
            matched_at: record.matched_at.map(rfc3339),
            advisories_updated_at: record.advisories_updated_at.map(rfc3339),
        }
    }
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The scan of an image of `name`. An image with no scan yet (pushed before scanning was
    /// turned on, and not yet reached by the sweep) is queued now.
    pub(crate) async fn scan_report(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Response<S::Body>> {
        if !self.config.scanning {
            return Err(Error::Unsupported(
                "scanning is off: the registry has no queue bound".to_string(),
            ));
        }
        let Some((_, bytes)) = self.records.manifest_object(name, digest).await? else {
            return Err(Error::ManifestUnknown);
        };
        let record = match self.records.scan_record(name, digest).await? {
            Some(record) => record,
            None => {
                let scannable = crate::scan::image::layers(&bytes).map(|_| ());
                self.queue_scan(name, digest, scannable, None).await?;
                self.records
                    .scan_record(name, digest)
                    .await?
                    .ok_or_else(|| Error::Internal(format!("the scan of {digest} vanished")))?
            }
        };
        Ok(Response::new(StatusCode::OK).json(&Report::of(digest, &record), "application/json"))
    }

    /// Queues the scan of a pushed manifest unless it has a scan already: an image is queued,
    /// anything else is recorded as unsupported (`scannable` says which, and why). `source`
    /// is the registry's origin as the push reached it, for the `scan.completed` event.
    pub(crate) async fn queue_scan(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        scannable: std::result::Result<(), String>,
        source: Option<String>,
    ) -> Result<()> {
        if !self.config.scanning {
            return Ok(());
        }
        let now = self.records.env.now_ms();
        let record = match scannable {
            Ok(()) => ScanRecord::queued(now),
            Err(reason) => ScanRecord::queued(now).finished(ScanStatus::Unsupported, reason),
        };
        let created = self
            .records
            .create_scan_record(name, digest, &record)
            .await?;
        if created && record.status == ScanStatus::Queued {
            self.records.enqueue(Job::Scan {
                repository: name.to_string(),
                digest: digest.to_string(),
                source,
            });
        }
        Ok(())
    }
}
