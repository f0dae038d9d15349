//! Indexing a loaded export, one bounded step per `IndexAdvisories` job.
//!
//! Opening reads the archive's end records (one or two range reads). Each reading step reads a
//! window of the central directory, at most [`ENTRIES_PER_STEP`] entries and
//! [`DATA_WINDOWS_PER_STEP`] windows of their data, and writes one segment per bucket its
//! advisories fall in. Compacting joins each bucket's segments into one object, as many
//! buckets per step as [`COMPACT_READS_PER_STEP`] reads allow. Then the generation becomes
//! current in one write, a sweep is queued to match stored SBOMs again, and what the load
//! replaced is deleted, [`RETIRE_PAGES_PER_STEP`] list pages per step. Every step is
//! idempotent: a step run twice writes the same keys with the same bytes.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{
    bucket_of, ecosystem_name, parse_ecosystem, EcosystemRecord, Generation, Load, Records, Stage,
};
use crate::records::{layout, Environment};
use crate::scan::osv::{Advisory, RangeKind};
use crate::scan::version::Ecosystem;
use crate::scan::zip::{self, Directory, End, Entry, EntryError, Limits};
use crate::scan::Job;
use crate::storage::{
    ByteRange, ListOptions, MultipartStore, ObjectStore, PutOptions, SessionStore, StorageResult,
    LIST_PAGE_MAX,
};

pub(super) const ENTRIES_PER_STEP: usize = 1000;
/// Directory bytes read per step: more than the largest entry can take.
const DIRECTORY_WINDOW: u64 = 256 * 1024;
/// A window of entries' data; it holds any entry within [`ENTRY_LIMITS`] with its header.
const DATA_WINDOW: u64 = 8 * 1024 * 1024 + 256 * 1024;
pub(super) const DATA_WINDOWS_PER_STEP: usize = 4;
/// One advisory's JSON: the largest OSV advisories (long version lists) stay far below it.
pub(super) const ENTRY_LIMITS: Limits = Limits {
    max_size: 4 * 1024 * 1024,
    max_ratio: 1000,
};
pub(super) const COMPACT_READS_PER_STEP: usize = 200;
pub(super) const RETIRE_PAGES_PER_STEP: usize = 4;
/// Summaries are shown in reports, not searched: a long one is cut.
const SUMMARY_MAX_CHARS: usize = 512;

/// About 512 entries per bucket, between 16 and 256 buckets: few objects for a small
/// ecosystem, small objects for a large one, and at most 256 segments per reading step.
fn buckets_for(entries: u64) -> u32 {
    let wanted = (entries / 512).clamp(16, 256) as u32;
    wanted.next_power_of_two().min(256)
}

/// What a step found that stops the load: the archive does not hold together.
struct Broken(String);

impl From<zip::ZipError> for Broken {
    fn from(error: zip::ZipError) -> Self {
        Broken(error.to_string())
    }
}

/// What one reading step made of its entries.
#[derive(Default)]
struct Batch {
    lines: BTreeMap<u32, Vec<u8>>,
    advisories: u64,
    skipped: u64,
    /// Directory bytes of the entries the step is done with.
    consumed: u64,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// One bounded step of indexing `load` of `ecosystem`, or of deleting what the load
    /// replaced; it queues the next step when there is more to do. A step of a load that was
    /// replaced does nothing.
    pub async fn index_advisories_step(&self, ecosystem: &str, load: &str) -> StorageResult<()> {
        let Some(family) = parse_ecosystem(ecosystem) else {
            return Ok(());
        };
        let (etag, record) = self.ecosystem_record(ecosystem).await?;
        let active = record
            .load
            .as_ref()
            .filter(|l| l.id == load && !matches!(l.stage, Stage::Failed { .. }));
        if let Some(active) = active.cloned() {
            return self.advance(family, etag, record, active).await;
        }
        let settled = match &record.load {
            Some(l) => l.id == load,
            None => record.current.as_ref().is_some_and(|c| c.load == load),
        };
        if settled && !record.retired.is_empty() {
            self.retire(ecosystem, load, etag, record).await?;
        }
        Ok(())
    }

    async fn advance(
        &self,
        family: Ecosystem,
        etag: Option<String>,
        mut record: EcosystemRecord,
        mut load: Load,
    ) -> StorageResult<()> {
        let ecosystem = ecosystem_name(family);
        let export = layout::advisories_load(ecosystem, &load.id);
        let mut written = Vec::new();
        let outcome = match load.stage.clone() {
            Stage::Opening => self.open(&export).await?,
            Stage::Reading {
                size,
                directory,
                position,
                step,
                buckets,
            } => match self
                .read_entries(family, &export, size, directory, position, buckets)
                .await?
            {
                Err(broken) => Err(broken),
                Ok(batch) => {
                    for (bucket, bytes) in batch.lines {
                        let key = layout::advisories_segment(ecosystem, &load.id, bucket, step);
                        self.store.put(&key, bytes, PutOptions::default()).await?;
                        written.push(key);
                    }
                    load.advisories += batch.advisories;
                    load.skipped += batch.skipped;
                    let position = position + batch.consumed;
                    Ok(if position < directory.size {
                        Stage::Reading {
                            size,
                            directory,
                            position,
                            step: step + 1,
                            buckets,
                        }
                    } else if load.advisories == 0 {
                        Stage::Failed {
                            error: format!(
                                "the export holds no readable {ecosystem} advisory ({} skipped)",
                                load.skipped
                            ),
                        }
                    } else {
                        Stage::Compacting { bucket: 0, buckets }
                    })
                }
            },
            Stage::Compacting { bucket, buckets } => {
                let next = self.compact(ecosystem, &load.id, bucket, buckets).await?;
                Ok(Stage::Compacting {
                    bucket: next,
                    buckets,
                })
            }
            Stage::Failed { .. } => return Ok(()),
        };
        load.stage = match outcome {
            Ok(stage) => stage,
            Err(Broken(error)) => Stage::Failed { error },
        };
        let mut sweep = false;
        match &load.stage {
            Stage::Compacting { bucket, buckets } if bucket >= buckets => {
                if let Some(replaced) = record.current.take() {
                    record.retire_load(ecosystem, &replaced.load);
                }
                record
                    .retired
                    .retain(|p| p != &layout::advisories_generation(ecosystem, &load.id));
                record.retired.push(export);
                record.current = Some(Generation {
                    load: load.id.clone(),
                    advisories: load.advisories,
                    loaded_at: self.env.now_ms(),
                    source: load.source.clone(),
                    buckets: *buckets,
                });
                record.load = None;
                sweep = true;
            }
            Stage::Failed { .. } => {
                record.retire_load(ecosystem, &load.id);
                record.load = Some(load.clone());
            }
            _ => record.load = Some(load.clone()),
        }
        if !self.swap_ecosystem_record(ecosystem, etag, &record).await? {
            // Another step or load moved the record first. If this load was replaced, what
            // this step wrote may be past the deletion of its generation: delete it now.
            let (_, now) = self.ecosystem_record(ecosystem).await?;
            if now.load.as_ref().is_none_or(|l| l.id != load.id) {
                self.store.delete(&written).await?;
            }
            return Ok(());
        }
        if sweep {
            // Recorded as the scans' sweep the Cron Trigger would start for these advisories,
            // so that it does not start a second one.
            self.set_sweep_started_at(self.env.now_ms()).await?;
            self.enqueue(Job::Sweep { after: None });
        }
        let more = !matches!(load.stage, Stage::Failed { .. }) || !record.retired.is_empty();
        if more {
            self.enqueue(Job::IndexAdvisories {
                ecosystem: ecosystem.into(),
                load: load.id,
            });
        }
        Ok(())
    }

    /// Finds the central directory from the archive's end records.
    async fn open(&self, export: &str) -> StorageResult<Result<Stage, Broken>> {
        let Some(info) = self.store.head(export).await? else {
            return Ok(Err(Broken("the export is gone from the bucket".into())));
        };
        let size = info.size;
        let tail_len = size.min(zip::TAIL_MAX);
        let tail = self.read_exact(export, size - tail_len, tail_len).await?;
        let directory = match tail.map(|tail| zip::find_end(&tail, size)) {
            None => return Ok(Err(Broken("the export is cut short".into()))),
            Some(Err(error)) => return Ok(Err(error.into())),
            Some(Ok(End::Directory(directory))) => directory,
            Some(Ok(End::Zip64At(at))) => {
                let record = self.read_exact(export, at, zip::ZIP64_EOCD_LEN).await?;
                match record.map(|record| zip::zip64_end(&record, at)) {
                    Some(Ok(directory)) => directory,
                    Some(Err(error)) => return Ok(Err(error.into())),
                    None => return Ok(Err(Broken("the export is cut short".into()))),
                }
            }
        };
        Ok(Ok(Stage::Reading {
            size,
            directory,
            position: 0,
            step: 0,
            buckets: buckets_for(directory.entries),
        }))
    }

    /// Exactly `length` bytes from `offset`, or `None` if the object is shorter or gone.
    async fn read_exact(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StorageResult<Option<Vec<u8>>> {
        let bytes = self
            .store
            .read_range(key, ByteRange { offset, length })
            .await?;
        Ok(bytes.filter(|bytes| bytes.len() as u64 == length))
    }

    async fn read_entries(
        &self,
        family: Ecosystem,
        export: &str,
        size: u64,
        directory: Directory,
        position: u64,
        buckets: u32,
    ) -> StorageResult<Result<Batch, Broken>> {
        let length = DIRECTORY_WINDOW.min(directory.size - position);
        let Some(window) = self
            .read_exact(export, directory.offset + position, length)
            .await?
        else {
            return Ok(Err(Broken("the export is cut short".into())));
        };
        let mut entries = Vec::new();
        let mut used = 0;
        while entries.len() < ENTRIES_PER_STEP && used < window.len() {
            match zip::directory_entry(&window[used..]) {
                Ok(Some((entry, len))) => {
                    used += len;
                    entries.push((entry, len as u64));
                }
                Ok(None) if used > 0 => break,
                Ok(None) => return Ok(Err(Broken("a directory entry is cut short".into()))),
                Err(error) => return Ok(Err(error.into())),
            }
        }
        let mut batch = Batch::default();
        let mut data = DataWindows::default();
        for (entry, len) in entries {
            if !entry.is_directory() {
                match self.entry_content(export, size, &entry, &mut data).await? {
                    None => break,
                    Some(Ok(content)) => match trimmed(family, &content) {
                        Some(Some(indexed)) => {
                            batch.advisories += 1;
                            indexed.add_to(&mut batch.lines, buckets);
                        }
                        Some(None) => {}
                        None => batch.skipped += 1,
                    },
                    Some(Err(_)) => batch.skipped += 1,
                }
            }
            batch.consumed += len;
        }
        Ok(Ok(batch))
    }

    /// An entry's content, from the data window or a new one; `None` when this step has read
    /// all the windows it may.
    async fn entry_content(
        &self,
        export: &str,
        size: u64,
        entry: &Entry,
        data: &mut DataWindows,
    ) -> StorageResult<Option<Result<Vec<u8>, EntryError>>> {
        if let Err(error) = zip::check_entry(entry, ENTRY_LIMITS) {
            return Ok(Some(Err(error)));
        }
        let start = entry.local_offset;
        if start >= size {
            return Ok(Some(Err(EntryError::Malformed(
                "outside the export".into(),
            ))));
        }
        let fits = |data: &DataWindows| {
            data.slice(start, zip::LOCAL_HEADER_LEN)
                .and_then(|header| zip::data_start(header).ok())
                .is_some_and(|offset| data.slice(start + offset, entry.compressed).is_some())
        };
        if !fits(data) {
            if data.reads == DATA_WINDOWS_PER_STEP {
                return Ok(None);
            }
            data.reads += 1;
            data.start = Some(start);
            data.bytes = self
                .store
                .read_range(
                    export,
                    ByteRange {
                        offset: start,
                        length: DATA_WINDOW.min(size - start),
                    },
                )
                .await?
                .unwrap_or_default();
        }
        let header = data.slice(start, zip::LOCAL_HEADER_LEN).unwrap_or_default();
        let content = zip::data_start(header).and_then(|offset| {
            let bytes = data
                .slice(start + offset, entry.compressed)
                .ok_or_else(|| EntryError::Malformed("the entry runs past the export".into()))?;
            zip::extract(entry, bytes, ENTRY_LIMITS)
        });
        Ok(Some(content))
    }

    /// Joins buckets' segments from `bucket` on, as many as this step's reads allow; answers
    /// the next bucket to join.
    async fn compact(
        &self,
        ecosystem: &str,
        load: &str,
        mut bucket: u32,
        buckets: u32,
    ) -> StorageResult<u32> {
        let mut reads = 0;
        while bucket < buckets && reads < COMPACT_READS_PER_STEP {
            let prefix = layout::advisories_segments(ecosystem, load, bucket);
            let segments = self.list_all(&prefix, false).await?;
            reads += 1 + segments.len();
            // A step that joined this bucket and deleted its segments but did not record it
            // finds none: the bucket object stands.
            if !segments.is_empty() {
                let mut joined = Vec::new();
                for segment in &segments {
                    let Some((_, bytes)) = self.store.get_bytes(&segment.key).await? else {
                        // Another delivery of this step joined the bucket and deleted its
                        // segments meanwhile: what is left would be part of the bucket.
                        return Ok(bucket);
                    };
                    joined.extend_from_slice(&bytes);
                }
                let key = layout::advisories_bucket(ecosystem, load, bucket);
                self.store.put(&key, joined, PutOptions::default()).await?;
                let keys: Vec<String> = segments.into_iter().map(|s| s.key).collect();
                for chunk in keys.chunks(LIST_PAGE_MAX as usize) {
                    self.store.delete(chunk).await?;
                }
            }
            bucket += 1;
        }
        Ok(bucket)
    }

    /// Deletes what `retired` names, a few list pages per step.
    async fn retire(
        &self,
        ecosystem: &str,
        load: &str,
        etag: Option<String>,
        mut record: EcosystemRecord,
    ) -> StorageResult<()> {
        let mut pages = 0;
        while let Some(prefix) = record.retired.first().cloned() {
            if pages == RETIRE_PAGES_PER_STEP {
                break;
            }
            let options = ListOptions {
                prefix: prefix.clone(),
                limit: LIST_PAGE_MAX,
                ..ListOptions::default()
            };
            let page = self.store.list(&options).await?;
            pages += 1;
            let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
            self.store.delete(&keys).await?;
            if !page.truncated {
                record.retired.remove(0);
            }
        }
        if self.swap_ecosystem_record(ecosystem, etag, &record).await? && !record.retired.is_empty()
        {
            self.enqueue(Job::IndexAdvisories {
                ecosystem: ecosystem.into(),
                load: load.into(),
            });
        }
        Ok(())
    }
}

/// The window of the export's bytes that entries' data is taken from.
#[derive(Default)]
struct DataWindows {
    start: Option<u64>,
    bytes: Vec<u8>,
    reads: usize,
}

impl DataWindows {
    fn slice(&self, offset: u64, length: u64) -> Option<&[u8]> {
        let from = offset.checked_sub(self.start?)?;
        let to = from.checked_add(length)?;
        self.bytes
            .get(usize::try_from(from).ok()?..usize::try_from(to).ok()?)
    }
}

#[derive(Deserialize)]
struct Withdrawn {
    #[serde(default)]
    withdrawn: Option<IgnoredAny>,
}

/// An advisory as the index keeps it, with the names it is found under.
struct Indexed {
    names: Vec<String>,
    advisory: Advisory,
}

impl Indexed {
    fn add_to(&self, lines: &mut BTreeMap<u32, Vec<u8>>, buckets: u32) {
        let names = serde_json::to_vec(&self.names).expect("names serialise");
        let advisory = serde_json::to_vec(&self.advisory).expect("advisories serialise");
        let mut seen = Vec::new();
        for name in &self.names {
            let bucket = bucket_of(name, buckets);
            if seen.contains(&bucket) {
                continue;
            }
            seen.push(bucket);
            let line = lines.entry(bucket).or_default();
            line.extend_from_slice(&names);
            line.push(b'\t');
            line.extend_from_slice(&advisory);
            line.push(b'\n');
        }
    }
}

/// What matching needs of one advisory: its affected entries of `family`'s ecosystem (any
/// release) and a bounded summary, without details, references or commit ranges. `None` if
/// the JSON is no advisory, `Some(None)` if it is withdrawn or about other ecosystems.
fn trimmed(family: Ecosystem, json: &[u8]) -> Option<Option<Indexed>> {
    let mut advisory = Advisory::from_json(json).ok()?;
    if serde_json::from_slice::<Withdrawn>(json)
        .ok()?
        .withdrawn
        .is_some()
    {
        return Some(None);
    }
    advisory.affected.retain(|affected| {
        affected.package.as_ref().is_some_and(|package| {
            Ecosystem::parse_osv(&package.ecosystem).is_some_and(|(e, _)| e == family)
        })
    });
    if advisory.affected.is_empty() {
        return Some(None);
    }
    let mut names = Vec::new();
    for affected in &mut advisory.affected {
        affected
            .ranges
            .retain(|range| matches!(range.kind, RangeKind::Ecosystem | RangeKind::Semver));
        affected.database_specific = None;
        affected.ecosystem_specific = None;
        if let Some(package) = &mut affected.package {
            package.purl = None;
            let name = family.normalize_name(&package.name);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    advisory.details = None;
    advisory.summary = advisory
        .summary
        .map(|summary| summary.chars().take(SUMMARY_MAX_CHARS).collect());
    advisory.database_specific = advisory
        .database_severity()
        .map(|severity| serde_json::json!({ "severity": severity }));
    Some(Some(Indexed { names, advisory }))
}
