//! Scanning an image: its layers streamed from the bucket in order, merged with their
//! whiteouts, the package files parsed into an inventory, the SBOM attached to the image.

use chrono::DateTime;
use sha2::{Digest as _, Sha256};

use super::Jobs;
use crate::error::Result;
use crate::oci::{Digest, RepositoryName};
use crate::records::{Artifact, Environment, ScanRecord, ScanStatus};
use crate::scan::cyclonedx::{self, Subject};
use crate::scan::image::{self, ImageLayer};
use crate::scan::layers::{Compression, Limits, Merged};
use crate::scan::packages::{self, Found, Inventory};
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// The SBOM's file name in its artifact.
const SBOM_TITLE: &str = "sbom.cdx.json";

impl<S, K, E> Jobs<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Scans the image `digest` of `name` unless it is scanned already: a job delivered twice,
    /// or queued by two pushes, scans once. Whether this call ended the scan (complete,
    /// failed or unsupported), so that its end is announced once.
    pub(super) async fn scan(&self, name: &RepositoryName, digest: &Digest) -> Result<bool> {
        let records = self.records;
        let now = records.env.now_ms();
        let record = records.scan_record(name, digest).await?;
        let mut record = match record {
            Some(record) if !matches!(record.status, ScanStatus::Queued | ScanStatus::Scanning) => {
                return Ok(false)
            }
            Some(record) => record,
            None => ScanRecord::queued(now),
        };
        let Some((_, manifest)) = records.manifest_object(name, digest).await? else {
            // Deleted since it was queued: nothing to scan, nothing to report.
            records
                .delete_scan_records(name, std::slice::from_ref(digest))
                .await?;
            return Ok(false);
        };
        let layers = match image::layers(&manifest) {
            Ok(layers) => layers,
            Err(reason) => {
                let record = record.finished(ScanStatus::Unsupported, reason);
                records.write_scan_record(name, digest, &record).await?;
                return Ok(true);
            }
        };
        let started_at = *record.started_at.get_or_insert(now);
        record.status = ScanStatus::Scanning;
        records.write_scan_record(name, digest, &record).await?;

        let inventory = match self.catalogue(name, &layers).await? {
            Ok(inventory) => inventory,
            Err(reason) => {
                let record = record.finished(ScanStatus::Failed, reason);
                records.write_scan_record(name, digest, &record).await?;
                return Ok(true);
            }
        };
        let subject = Subject {
            repository: name.as_str(),
            manifest_digest: &digest.to_string(),
        };
        let timestamp = DateTime::from_timestamp_millis(started_at as i64).unwrap_or_default();
        let sbom = cyclonedx::sbom(subject, &inventory, serial(digest), timestamp);
        let artifact = Artifact {
            artifact_type: cyclonedx::MEDIA_TYPE,
            media_type: cyclonedx::MEDIA_TYPE,
            document: serde_json::to_vec(&sbom).expect("SBOM serialises"),
            title: SBOM_TITLE,
        };
        let sbom_digest = records.put_artifact(name, digest, artifact).await?;
        record.sbom_digest = Some(sbom_digest.to_string());
        record.inventory = Some(inventory);
        record.scanned_at = Some(records.env.now_ms());
        record.reason = None;
        let updated = records.advisories_updated_at().await?;
        self.match_and_report(name, digest, &mut record, updated)
            .await?;
        record.status = ScanStatus::Complete;
        records.write_scan_record(name, digest, &record).await?;
        Ok(true)
    }

    /// What the image's layers contain, or why they cannot be read (a missing or corrupt
    /// layer, a layer past the limits): that is the scan's end, not a reason to retry.
    async fn catalogue(
        &self,
        name: &RepositoryName,
        layers: &[ImageLayer],
    ) -> Result<std::result::Result<Inventory, String>> {
        let mut merged = Merged::<Found>::new(packages::wanted, packages::parse);
        for (index, layer) in layers.iter().enumerate() {
            let which = format!("layer {} ({})", index + 1, layer.digest);
            let Ok(digest) = layer.digest.parse::<Digest>() else {
                return Ok(Err(format!("{which}: not a digest")));
            };
            let Some(mut chunks) = self.records.blob_chunks(name, &digest).await? else {
                return Ok(Err(format!("{which}: not in the repository")));
            };
            let compression = Compression::from_media_type(&layer.media_type);
            let mut reader = merged.layer(compression, Limits::default());
            while let Some(chunk) = self.records.next_chunk(&mut chunks).await? {
                if let Err(error) = reader.push(&chunk) {
                    return Ok(Err(format!("{which}: {error}")));
                }
            }
            match reader.finish() {
                Ok(changes) => changes.commit(),
                Err(error) => return Ok(Err(format!("{which}: {error}"))),
            }
        }
        Ok(Ok(packages::inventory(merged.into_files().into_values())))
    }

    /// Records an attempt's error on a scan that has not ended; `last` ends it as failed.
    pub(super) async fn note_scan_error(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        error: &str,
        last: bool,
    ) -> Result<()> {
        let records = self.records;
        let Some(record) = records.scan_record(name, digest).await? else {
            return Ok(());
        };
        if !matches!(record.status, ScanStatus::Queued | ScanStatus::Scanning) {
            return Ok(());
        }
        let record = if last {
            let reason = match &record.reason {
                Some(previous) => format!("{error}, the last time with: {previous}"),
                None => error.to_string(),
            };
            record.finished(ScanStatus::Failed, reason)
        } else {
            ScanRecord {
                reason: Some(error.to_string()),
                ..record
            }
        };
        Ok(records.write_scan_record(name, digest, &record).await?)
    }
}

/// The SBOM's serial number, derived from the image: a retried scan writes the same bytes.
fn serial(digest: &Digest) -> [u8; 16] {
    let hash = Sha256::digest(digest.to_string().as_bytes());
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&hash[..16]);
    serial
}
