//! Advisories: OSV exports loaded per ecosystem, indexed in bounded steps ([`index`]) into
//! generations of bucket objects (see `layout`), and read back for matching.
//!
//! One record per ecosystem, `advisories/<eco>/status`, says which generation is current,
//! which load is under way and how far it got, and which objects are left to delete. Every
//! change to it is a compare-and-swap, so a new load, an indexing step and the cron's refresh
//! can interleave: a load that another replaced finds it is no longer the status's load and
//! stops, and what it wrote is deleted once the new one is current.

mod index;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{layout, Environment, Records};
use crate::scan::osv::Advisory;
use crate::scan::version::Ecosystem;
use crate::scan::zip::Directory;
use crate::scan::Job;
use crate::storage::body::RequestBody;
use crate::storage::{
    MultipartStore, ObjectInfo, ObjectStore, PutMode, PutOptions, SessionStore, StorageError,
    StorageResult, MAX_SINGLE_PUT,
};
use crate::upload::{UploadError, UploadState, Uploader, MAX_SEGMENT_PARTS};

/// The ecosystems whose advisories can be loaded, as OSV names them.
pub const ECOSYSTEMS: [Ecosystem; 5] = [
    Ecosystem::Debian,
    Ecosystem::Ubuntu,
    Ecosystem::Alpine,
    Ecosystem::PyPI,
    Ecosystem::Npm,
];

/// How long a load's record may stand still before the cron queues its next step again; a
/// step takes seconds.
pub const STALLED_MS: u64 = 15 * 60 * 1000;

/// Compare-and-swaps of the status record a load's start tries before it gives up.
const SWAP_ATTEMPTS: usize = 5;

/// The source of an export sent with `PUT /_advisories/<ecosystem>`.
pub const UPLOAD_SOURCE: &str = "upload";

pub fn ecosystem_name(ecosystem: Ecosystem) -> &'static str {
    match ecosystem {
        Ecosystem::Debian => "Debian",
        Ecosystem::Ubuntu => "Ubuntu",
        Ecosystem::Alpine => "Alpine",
        Ecosystem::PyPI => "PyPI",
        Ecosystem::Npm => "npm",
    }
}

/// An ecosystem by its OSV name, without a release (`Debian`, not `Debian:12`).
pub fn parse_ecosystem(name: &str) -> Option<Ecosystem> {
    ECOSYSTEMS
        .into_iter()
        .find(|&ecosystem| ecosystem_name(ecosystem) == name)
}

/// The validators of the export last fetched from a source URL, for a conditional refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// The advisories matching reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Generation {
    load: String,
    advisories: u64,
    loaded_at: u64,
    source: String,
    buckets: u32,
}

/// Where a load's indexing stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
enum Stage {
    /// The export is stored; its end records are read next.
    Opening,
    /// Directory entries from `position` (bytes into the directory) on are read next, and
    /// their advisories written as segments of step `step`.
    Reading {
        size: u64,
        directory: Directory,
        position: u64,
        step: u32,
        buckets: u32,
    },
    /// Buckets from `bucket` on are joined from their segments next.
    Compacting {
        bucket: u32,
        buckets: u32,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Load {
    id: String,
    source: String,
    started_at: u64,
    #[serde(flatten)]
    stage: Stage,
    advisories: u64,
    /// Entries that could not be read or parsed: skipped, not fatal.
    skipped: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct EcosystemRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<Generation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load: Option<Load>,
    /// Key prefixes whose objects are to be deleted: replaced generations and indexed exports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fetched: Option<Validators>,
}

impl EcosystemRecord {
    /// Makes `load` the load under way; one it replaces is retired with what it wrote.
    fn start(&mut self, ecosystem: &str, load: Load) {
        if let Some(replaced) = self.load.take() {
            self.retire_load(ecosystem, &replaced.id);
        }
        self.load = Some(load);
    }

    fn retire_load(&mut self, ecosystem: &str, load: &str) {
        for prefix in [
            layout::advisories_generation(ecosystem, load),
            layout::advisories_load(ecosystem, load),
        ] {
            if !self.retired.contains(&prefix) {
                self.retired.push(prefix);
            }
        }
    }
}

/// How an ecosystem's advisories stand, as `GET /_advisories` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadStatus {
    Indexing,
    Ready,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryState {
    pub ecosystem: Ecosystem,
    pub status: LoadStatus,
    /// How many advisories matching reads (of the current generation).
    pub advisories: u64,
    pub loaded_at: Option<u64>,
    /// Of the load under way or failed, else of the current generation.
    pub source: String,
    pub error: Option<String>,
}

impl AdvisoryState {
    fn of(ecosystem: Ecosystem, record: &EcosystemRecord) -> Option<Self> {
        let current = record.current.as_ref();
        let (status, source, error) = match (&record.load, current) {
            (Some(load), _) => match &load.stage {
                Stage::Failed { error } => (LoadStatus::Failed, &load.source, Some(error.clone())),
                _ => (LoadStatus::Indexing, &load.source, None),
            },
            (None, Some(current)) => (LoadStatus::Ready, &current.source, None),
            (None, None) => return None,
        };
        Some(AdvisoryState {
            ecosystem,
            status,
            advisories: current.map_or(0, |c| c.advisories),
            loaded_at: current.map(|c| c.loaded_at),
            source: source.clone(),
            error,
        })
    }
}

/// Which of 2^n buckets a (normalised) package name falls in: FNV-1a, stable across builds.
fn bucket_of(name: &str, buckets: u32) -> u32 {
    let hash = name.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % buckets.max(1)
}

/// A bucket line: the advisory's normalised package names (JSON, with no raw tab), a tab, and
/// the trimmed advisory (JSON), so that a reader parses only the advisories it needs.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let tab = line.iter().position(|&b| b == b'\t')?;
    Some((&line[..tab], &line[tab + 1..]))
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The ecosystem's record and the etag to swap it at (`None`: no record yet).
    async fn ecosystem_record(
        &self,
        ecosystem: &str,
    ) -> StorageResult<(Option<String>, EcosystemRecord)> {
        let (info, record) = self.stored_ecosystem_record(ecosystem).await?;
        Ok((info.map(|info| info.etag), record))
    }

    async fn stored_ecosystem_record(
        &self,
        ecosystem: &str,
    ) -> StorageResult<(Option<ObjectInfo>, EcosystemRecord)> {
        let key = layout::advisories_status(ecosystem);
        let Some((info, bytes)) = self.store.get_bytes(&key).await? else {
            return Ok((None, EcosystemRecord::default()));
        };
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::Corrupt(format!("{key}: {e}")))?;
        Ok((Some(info), record))
    }

    /// Queues again the next step of each load (or deletion) whose record has not moved for
    /// [`STALLED_MS`]: its message was lost, or dead-lettered during a storage outage. A step
    /// that was only slow runs twice, which steps allow. Answers how many were queued.
    pub async fn resume_stalled_advisories(&self) -> StorageResult<usize> {
        let now = self.env.now_ms();
        let mut resumed = 0;
        for ecosystem in ECOSYSTEMS {
            let name = ecosystem_name(ecosystem);
            let (Some(info), record) = self.stored_ecosystem_record(name).await? else {
                continue;
            };
            if now.saturating_sub(info.uploaded_ms) < STALLED_MS {
                continue;
            }
            let deleting = !record.retired.is_empty();
            let load = match (&record.load, &record.current) {
                (Some(load), _) if deleting || !matches!(load.stage, Stage::Failed { .. }) => {
                    load.id.clone()
                }
                (None, Some(current)) if deleting => current.load.clone(),
                _ => continue,
            };
            self.enqueue(Job::IndexAdvisories {
                ecosystem: name.into(),
                load,
            });
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Writes the record if it is still at `etag` (absent if `None`): `Ok(false)` if not.
    async fn swap_ecosystem_record(
        &self,
        ecosystem: &str,
        etag: Option<String>,
        record: &EcosystemRecord,
    ) -> StorageResult<bool> {
        let options = PutOptions {
            mode: etag.map_or(PutMode::CreateOnly, PutMode::IfEtag),
            content_type: Some("application/json".into()),
            ..PutOptions::default()
        };
        let bytes = serde_json::to_vec(record).expect("records serialise");
        let key = layout::advisories_status(ecosystem);
        Ok(self.store.put(&key, bytes, options).await?.is_some())
    }

    /// Stores an OSV export of `ecosystem` and starts indexing it, replacing any load under
    /// way; the export becomes current once indexed. The body goes to the bucket without the
    /// core reading it when its length is known, else in multipart parts of `part_size`.
    /// `fetched` are the validators of a source URL's answer, for the next refresh.
    pub async fn load_advisories<B>(
        &self,
        ecosystem: Ecosystem,
        source: &str,
        fetched: Option<Validators>,
        mut body: B,
        length: Option<u64>,
        part_size: u64,
    ) -> Result<AdvisoryState, UploadError>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        let name = ecosystem_name(ecosystem);
        let id = self.env.new_id();
        let key = layout::advisories_load(name, &id);
        self.store_export(&key, &mut body, length, part_size)
            .await?;
        let load = Load {
            id: id.clone(),
            source: source.to_owned(),
            started_at: self.env.now_ms(),
            stage: Stage::Opening,
            advisories: 0,
            skipped: 0,
        };
        // Another writer (a step, another load) may move the record meanwhile: try again, a
        // few times; past them the export is deleted and the client may retry.
        let mut started = None;
        for _ in 0..SWAP_ATTEMPTS {
            let (etag, mut record) = self.ecosystem_record(name).await?;
            record.start(name, load.clone());
            if fetched.is_some() {
                record.fetched.clone_from(&fetched);
            }
            if self.swap_ecosystem_record(name, etag, &record).await? {
                started = Some(record);
                break;
            }
        }
        let Some(record) = started else {
            self.store.delete(&[key]).await?;
            return Err(StorageError::TooManyRequests.into());
        };
        self.enqueue(Job::IndexAdvisories {
            ecosystem: name.into(),
            load: id,
        });
        Ok(AdvisoryState::of(ecosystem, &record).expect("a load is under way"))
    }

    async fn store_export<B>(
        &self,
        key: &str,
        body: &mut B,
        length: Option<u64>,
        part_size: u64,
    ) -> Result<(), UploadError>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        if let Some(length) = length.filter(|&l| l <= MAX_SINGLE_PUT) {
            if let Some(whole) = body.take_whole() {
                self.store.put_stream(key, whole, length).await?;
                return Ok(());
            }
        }
        let uploader = Uploader::new(&self.store, key, part_size, MAX_SEGMENT_PARTS);
        let mut state = UploadState::new(crate::oci::Algorithm::Sha256);
        if let Err(error) = uploader.append(&mut state, body).await {
            uploader.abort(&state).await?;
            return Err(error);
        }
        let digest = state.digest();
        let segments = uploader.seal(state, &digest).await?;
        if segments.len() > 1 {
            // Beyond one multipart upload (156 GiB at the default part size): no export is.
            self.store
                .delete(&crate::upload::segment_keys(&segments))
                .await?;
            return Err(UploadError::Storage(StorageError::Backend(
                "an export larger than one multipart upload".into(),
            )));
        }
        Ok(())
    }

    /// Every ecosystem that has advisories or a load, in [`ECOSYSTEMS`] order.
    pub async fn advisory_states(&self) -> StorageResult<Vec<AdvisoryState>> {
        let mut states = Vec::new();
        for ecosystem in ECOSYSTEMS {
            let (_, record) = self.ecosystem_record(ecosystem_name(ecosystem)).await?;
            states.extend(AdvisoryState::of(ecosystem, &record));
        }
        Ok(states)
    }

    /// When the newest current advisories of any ecosystem were loaded (ms since the epoch).
    pub async fn advisories_updated_at(&self) -> StorageResult<Option<u64>> {
        Ok(self
            .advisory_states()
            .await?
            .iter()
            .filter_map(|state| state.loaded_at)
            .max())
    }

    /// The headers that make a refresh from `url` cost one request when its export has not
    /// changed since `ecosystem`'s advisories were last fetched from it.
    pub async fn refresh_headers(
        &self,
        ecosystem: Ecosystem,
        url: &str,
    ) -> StorageResult<Vec<(&'static str, String)>> {
        let (_, record) = self.ecosystem_record(ecosystem_name(ecosystem)).await?;
        let Some(fetched) = record.fetched.filter(|fetched| fetched.url == url) else {
            return Ok(Vec::new());
        };
        let mut headers = Vec::new();
        if let Some(etag) = fetched.etag {
            headers.push(("If-None-Match", etag));
        }
        if let Some(last_modified) = fetched.last_modified {
            headers.push(("If-Modified-Since", last_modified));
        }
        Ok(headers)
    }

    /// Every current advisory of `ecosystem` with an affected entry that names one of `names`
    /// (any release): one read for the status and at most one per name, whatever the number
    /// of advisories.
    pub async fn advisories_for(
        &self,
        ecosystem: Ecosystem,
        names: &BTreeSet<String>,
    ) -> StorageResult<Vec<Advisory>> {
        let name = ecosystem_name(ecosystem);
        let (_, record) = self.ecosystem_record(name).await?;
        let Some(current) = record.current else {
            return Ok(Vec::new());
        };
        let wanted: BTreeSet<String> = names
            .iter()
            .map(|name| ecosystem.normalize_name(name))
            .collect();
        let buckets: BTreeSet<u32> = wanted
            .iter()
            .map(|name| bucket_of(name, current.buckets))
            .collect();
        let mut found: BTreeMap<String, Advisory> = BTreeMap::new();
        for bucket in buckets {
            let key = layout::advisories_bucket(name, &current.load, bucket);
            let Some((_, bytes)) = self.store.get_bytes(&key).await? else {
                continue;
            };
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let corrupt = |why: String| StorageError::Corrupt(format!("{key}: {why}"));
                let (names, advisory) = split_line(line).ok_or_else(|| corrupt("a line".into()))?;
                let names: Vec<String> =
                    serde_json::from_slice(names).map_err(|e| corrupt(e.to_string()))?;
                if !names.iter().any(|name| wanted.contains(name)) {
                    continue;
                }
                let advisory = Advisory::from_json(advisory).map_err(|e| corrupt(e.to_string()))?;
                found.entry(advisory.id.clone()).or_insert(advisory);
            }
        }
        Ok(found.into_values().collect())
    }
}
