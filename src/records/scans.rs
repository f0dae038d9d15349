//! Scan records: one per image manifest of a repository, saying where its scan stands, what
//! the image contains (its inventory, from which matching runs again without reading a
//! layer) and what the last matching found. Written by the push that queues the scan and by
//! the queue's jobs; read by `GET /v2/<name>/_scan/<digest>` and the sweep.

use serde::{Deserialize, Serialize};

use super::{layout, Environment, Records};
use crate::oci::{Digest, RepositoryName};
use crate::scan::matching::Vulnerability;
use crate::scan::packages::Inventory;
use crate::storage::{
    ListOptions, MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions, SessionStore,
    StorageError, StorageResult, LIST_PAGE_MAX,
};

/// The metadata of a scan record that tells the sweep, from a listing and without reading
/// the record, when it was last matched (ms) and what its status is.
const MATCHED_META: &str = "matched";
const STATUS_META: &str = "status";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    Queued,
    Scanning,
    Complete,
    Failed,
    Unsupported,
}

impl ScanStatus {
    /// The status as records, reports and events spell it (its serde name).
    pub fn name(self) -> &'static str {
        match self {
            ScanStatus::Queued => "queued",
            ScanStatus::Scanning => "scanning",
            ScanStatus::Complete => "complete",
            ScanStatus::Failed => "failed",
            ScanStatus::Unsupported => "unsupported",
        }
    }
}

/// Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub status: ScanStatus,
    /// Why a scan failed or is unsupported; while retrying, the last attempt's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub queued_at: u64,
    /// When the first attempt started: also the SBOM's timestamp, so that a retried scan
    /// writes the same SBOM again.
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub scanned_at: Option<u64>,
    #[serde(default)]
    pub matched_at: Option<u64>,
    /// The advisories' last change that the matching saw.
    #[serde(default)]
    pub advisories_updated_at: Option<u64>,
    #[serde(default)]
    pub inventory: Option<Inventory>,
    /// The SBOM artifact's manifest, a referrer of the image.
    #[serde(default)]
    pub sbom_digest: Option<String>,
    /// The report artifact's manifest, a referrer of the image, replaced when it changes.
    #[serde(default)]
    pub report_digest: Option<String>,
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
}

impl ScanRecord {
    pub fn queued(now_ms: u64) -> Self {
        ScanRecord {
            status: ScanStatus::Queued,
            reason: None,
            queued_at: now_ms,
            started_at: None,
            scanned_at: None,
            matched_at: None,
            advisories_updated_at: None,
            inventory: None,
            sbom_digest: None,
            report_digest: None,
            vulnerabilities: Vec::new(),
        }
    }

    /// A record that ends here: `status` (failed or unsupported) and why.
    pub fn finished(mut self, status: ScanStatus, reason: String) -> Self {
        self.status = status;
        self.reason = Some(reason);
        self
    }
}

/// One scan record as a listing shows it: its image's digest and when it was last matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedScan {
    pub digest: Digest,
    pub matched_at: Option<u64>,
    pub status: Option<ScanStatus>,
    /// When the record was last written.
    pub written_ms: u64,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn scan_record(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<ScanRecord>> {
        self.read_record(&layout::scan(name, digest)).await
    }

    /// Writes `record` unless the image has one already: `false` then. Only the push that
    /// creates the record queues the scan, so a re-push or a second tag does not rescan.
    pub(crate) async fn create_scan_record(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        record: &ScanRecord,
    ) -> StorageResult<bool> {
        let created = self
            .store
            .put(
                &layout::scan(name, digest),
                encode(record),
                options(record, PutMode::CreateOnly),
            )
            .await?;
        Ok(created.is_some())
    }

    pub(crate) async fn write_scan_record(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        record: &ScanRecord,
    ) -> StorageResult<()> {
        self.store
            .put(
                &layout::scan(name, digest),
                encode(record),
                options(record, PutMode::Overwrite),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_scan_records(
        &self,
        name: &RepositoryName,
        digests: &[Digest],
    ) -> StorageResult<()> {
        if digests.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = digests.iter().map(|d| layout::scan(name, d)).collect();
        self.store.delete(&keys).await
    }

    /// One list call's worth of `name`'s manifests after `after`, and whether more follow.
    pub(crate) async fn manifest_digests_page(
        &self,
        name: &RepositoryName,
        after: Option<&Digest>,
    ) -> StorageResult<(Vec<Digest>, bool)> {
        let prefix = layout::manifests_prefix(name);
        let page = self.list_after(&prefix, after, false).await?;
        let digests = page
            .0
            .iter()
            .filter_map(|o| layout::manifest_digest(name, &o.key))
            .collect();
        Ok((digests, page.1))
    }

    /// One list call's worth of `name`'s scan records after `after`, and whether more follow.
    pub(crate) async fn scans_page(
        &self,
        name: &RepositoryName,
        after: Option<&Digest>,
    ) -> StorageResult<(Vec<ListedScan>, bool)> {
        let prefix = layout::scans_prefix(name);
        let (objects, truncated) = self.list_after(&prefix, after, true).await?;
        let scans = objects
            .iter()
            .filter_map(|o| {
                Some(ListedScan {
                    digest: layout::scan_digest(name, &o.key)?,
                    matched_at: o.metadata.get(MATCHED_META).and_then(|m| m.parse().ok()),
                    status: o
                        .metadata
                        .get(STATUS_META)
                        .and_then(|s| serde_json::from_value(s.as_str().into()).ok()),
                    written_ms: o.uploaded_ms,
                })
            })
            .collect();
        Ok((scans, truncated))
    }

    /// One list call under `prefix` (whose keys end in `<alg>/<hex>`) after `after`.
    async fn list_after(
        &self,
        prefix: &str,
        after: Option<&Digest>,
        with_metadata: bool,
    ) -> StorageResult<(Vec<ObjectInfo>, bool)> {
        let options = ListOptions {
            prefix: prefix.to_string(),
            start_after: after.map(|d| format!("{prefix}{}/{}", d.algorithm().as_str(), d.hex())),
            limit: LIST_PAGE_MAX,
            with_metadata,
        };
        let page = self.store.list(&options).await?;
        Ok((page.objects, page.truncated))
    }

    /// The first repository in the catalog after `after`.
    pub(crate) async fn next_repository(
        &self,
        after: Option<&str>,
    ) -> StorageResult<Option<RepositoryName>> {
        let options = ListOptions {
            prefix: layout::CATALOG_PREFIX.to_string(),
            start_after: after.map(|name| format!("{}{name}", layout::CATALOG_PREFIX)),
            limit: 1,
            with_metadata: false,
        };
        let page = self.store.list(&options).await?;
        page.objects
            .first()
            .map(|o| {
                layout::stored_name(&o.key[layout::CATALOG_PREFIX.len()..])
                    .ok_or_else(|| StorageError::Corrupt(format!("{}: not a repository", o.key)))
            })
            .transpose()
    }
}

/// When the newest sweep started (ms).
#[derive(Serialize, Deserialize)]
struct SweepRecord {
    started_at: u64,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn sweep_started_at(&self) -> StorageResult<Option<u64>> {
        let record: Option<SweepRecord> = self.read_record(layout::SWEEP).await?;
        Ok(record.map(|r| r.started_at))
    }

    pub(crate) async fn set_sweep_started_at(&self, started_at: u64) -> StorageResult<()> {
        let json = serde_json::to_vec(&SweepRecord { started_at }).expect("record serialises");
        self.store
            .put(layout::SWEEP, json, PutOptions::default())
            .await?;
        Ok(())
    }
}

fn encode(record: &ScanRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("scan record serialises")
}

fn options(record: &ScanRecord, mode: PutMode) -> PutOptions {
    let mut options = PutOptions {
        mode,
        content_type: Some("application/json".to_string()),
        ..PutOptions::default()
    };
    options
        .metadata
        .insert(STATUS_META.to_string(), record.status.name().to_string());
    if let Some(matched_at) = record.matched_at {
        options
            .metadata
            .insert(MATCHED_META.to_string(), matched_at.to_string());
    }
    options
}
