//! Matching an image's inventory against the current advisories, and its report: kept in
//! the scan record, and attached to the image as a CycloneDX document with `vulnerabilities`,
//! replaced when what it says changes.

use chrono::DateTime;

use super::Jobs;
use crate::error::Result;
use crate::oci::{Digest, RepositoryName};
use crate::records::{Artifact, Environment, ScanRecord, ScanStatus};
use crate::scan::cyclonedx::{self, Subject};
use crate::scan::matching;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// The report's `artifactType`: its own, so that a client looking for the image's SBOM
/// (`application/vnd.cyclonedx+json`) finds exactly one.
pub const REPORT_ARTIFACT_TYPE: &str = "application/vnd.edge-registry.scan-report.v1+json";
const REPORT_TITLE: &str = "vulnerabilities.cdx.json";
/// The referrers a report replacement looks through for reports it supersedes.
const REFERRERS_PAGE: usize = 100;

impl<S, K, E> Jobs<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Matches a scanned image again, if the advisories changed since it was last matched.
    pub(super) async fn rematch(&self, name: &RepositoryName, digest: &Digest) -> Result<()> {
        let records = self.records;
        let Some(mut record) = records.scan_record(name, digest).await? else {
            return Ok(());
        };
        let updated = records.advisories_updated_at().await?;
        if record.status != ScanStatus::Complete || record.advisories_updated_at >= updated {
            return Ok(());
        }
        if records.manifest_object(name, digest).await?.is_none() {
            return Ok(records
                .delete_scan_records(name, std::slice::from_ref(digest))
                .await?);
        }
        self.match_and_report(name, digest, &mut record, updated)
            .await?;
        Ok(records.write_scan_record(name, digest, &record).await?)
    }

    /// Matches `record`'s inventory against the current advisories, last changed at
    /// `updated` (which the caller read), and attaches a new report if its findings changed;
    /// the caller writes the record.
    pub(super) async fn match_and_report(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        record: &mut ScanRecord,
        updated: Option<u64>,
    ) -> Result<()> {
        let records = self.records;
        let Some(inventory) = &record.inventory else {
            return Ok(());
        };
        let mut advisories = Vec::new();
        for query in matching::queries(inventory) {
            advisories.extend(
                records
                    .advisories_for(query.ecosystem, &query.names)
                    .await?,
            );
        }
        let vulnerabilities = matching::match_inventory(inventory, &advisories);
        let now = records.env.now_ms();
        if record.report_digest.is_none() || vulnerabilities != record.vulnerabilities {
            let subject = Subject {
                repository: name.as_str(),
                manifest_digest: &digest.to_string(),
            };
            let timestamp = DateTime::from_timestamp_millis(now as i64).unwrap_or_default();
            let serial = report_serial(records.env.new_id());
            let document =
                cyclonedx::report(subject, inventory, &vulnerabilities, serial, timestamp);
            let artifact = Artifact {
                artifact_type: REPORT_ARTIFACT_TYPE,
                media_type: cyclonedx::MEDIA_TYPE,
                document: serde_json::to_vec(&document).expect("report serialises"),
                title: REPORT_TITLE,
            };
            let report = records.put_artifact(name, digest, artifact).await?;
            self.drop_other_reports(name, digest, &report).await?;
            record.report_digest = Some(report.to_string());
        }
        record.vulnerabilities = vulnerabilities;
        record.matched_at = Some(now);
        record.advisories_updated_at = updated;
        Ok(())
    }

    /// Deletes the image's reports other than `current`: the one it replaces, and any that an
    /// interrupted replacement left behind.
    async fn drop_other_reports(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        current: &Digest,
    ) -> Result<()> {
        let records = self.records;
        let page = records
            .referrers(name, subject, None, REFERRERS_PAGE)
            .await?;
        for referrer in page.entries {
            if referrer.artifact_type.as_deref() != Some(REPORT_ARTIFACT_TYPE) {
                continue;
            }
            match referrer.digest.parse::<Digest>() {
                Ok(old) if &old != current => {
                    records.delete_manifest(name, &old).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A report's serial number: each report is a new document.
fn report_serial(id: String) -> [u8; 16] {
    let mut serial = [0u8; 16];
    if let Ok(bytes) = hex::decode(&id) {
        let n = bytes.len().min(16);
        serial[..n].copy_from_slice(&bytes[..n]);
    }
    serial
}
