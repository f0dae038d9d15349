//! Maintenance in process, over the in-memory store: the lease, the position kept between
//! runs, the expiry of uploads, retention and collection. The records the API would have
//! written are laid down directly, with the API's keys and conventions.

mod collection;
mod lease;
mod position;
mod uploads;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use futures::executor::block_on;

use super::retention::Retention;
use super::{Maintenance, MaintenanceConfig, Report};
use crate::auth::Policy;
use crate::immutable_tags::ImmutableTags;
use crate::oci::manifest::OCI_MANIFEST;
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::records::{layout, BlobRecord, ClockedEnvironment, Environment, Records, DIGEST_META};
use crate::storage::memory::{Clock, MemoryStore};
use crate::storage::{ObjectInfo, ObjectStore, PutOptions};

const START_MS: u64 = 1_700_000_000_000;
const GRACE_SECONDS: u64 = 60;
const UPLOAD_TTL_SECONDS: u64 = 600;
/// Small parts keep uploads' data small while still crossing part boundaries.
const PART_SIZE: usize = 16;

struct Fixture {
    records: Records<MemoryStore, MemoryStore, ClockedEnvironment>,
    config: MaintenanceConfig,
    policy: Policy,
    immutable_tags: ImmutableTags,
}

impl Fixture {
    fn new() -> Self {
        let clock: Clock = Rc::new(Cell::new(START_MS));
        let store = MemoryStore::with_min_part(PART_SIZE).with_clock(clock.clone());
        let env = ClockedEnvironment::new(clock);
        Fixture {
            records: Records::new(store, None, MemoryStore::new(), env),
            config: MaintenanceConfig {
                grace_seconds: GRACE_SECONDS,
                ..MaintenanceConfig::default()
            },
            policy: Policy::default(),
            immutable_tags: ImmutableTags::default(),
        }
    }

    fn with_immutable_tags(mut self, rules: &str) -> Self {
        self.immutable_tags = ImmutableTags::parse(rules).unwrap();
        self
    }

    fn with_retention(mut self, rules: &str) -> Self {
        self.config.retention = Retention::parse(rules).unwrap();
        self
    }

    fn with_step_operations(mut self, step_operations: u32) -> Self {
        self.config.step_operations = step_operations;
        self
    }

    fn maintenance(&self) -> Maintenance<'_, MemoryStore, MemoryStore, ClockedEnvironment> {
        Maintenance {
            records: &self.records,
            config: &self.config,
            upload_ttl_seconds: UPLOAD_TTL_SECONDS,
            policy: &self.policy,
            immutable_tags: &self.immutable_tags,
        }
    }

    fn run(&self, dry_run: bool) -> Report {
        block_on(self.maintenance().run(dry_run)).unwrap()
    }

    /// Runs until a cycle is complete: the reports of its runs.
    fn cycle(&self, dry_run: bool) -> Vec<Report> {
        let mut reports = Vec::new();
        loop {
            assert!(reports.len() < 100, "no cycle completes");
            let report = self.run(dry_run);
            assert_eq!(report.lease_held_until_ms, None);
            let complete = report.cycle_complete;
            reports.push(report);
            if complete {
                return reports;
            }
        }
    }

    fn later(&self, seconds: u64) {
        let clock = &self.records.env.clock;
        clock.set(clock.get() + seconds * 1000);
    }

    fn now_ms(&self) -> u64 {
        self.records.env.clock.get()
    }

    fn store(&self) -> &MemoryStore {
        &self.records.store
    }

    fn put(&self, key: &str, bytes: Vec<u8>, options: PutOptions) {
        block_on(self.store().put(key, bytes, options)).unwrap();
    }

    fn head(&self, key: &str) -> Option<ObjectInfo> {
        block_on(self.store().head(key)).unwrap()
    }

    fn has(&self, key: &str) -> bool {
        self.head(key).is_some()
    }

    fn json(&self, key: &str) -> Option<serde_json::Value> {
        let (_, bytes) = block_on(self.store().get_bytes(key)).unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    /// A blob stored in `name`: its bytes, its record and the repository's link.
    fn blob(&self, name: &RepositoryName, bytes: &[u8]) -> Digest {
        let digest = Digest::of(Algorithm::Sha256, bytes);
        let record = BlobRecord {
            size: bytes.len() as u64,
            key: layout::data(&self.records.env.new_id()),
            segments: Vec::new(),
        };
        let json = serde_json::to_vec(&record).unwrap();
        self.put(&record.key, bytes.to_vec(), PutOptions::default());
        self.put(&layout::blob(&digest), json.clone(), PutOptions::default());
        self.put(
            &layout::layer_link(name, &digest),
            json,
            PutOptions::default(),
        );
        digest
    }

    /// An image of a config and one layer pushed to `name` and tagged `tag`, as the API
    /// stores it.
    fn image(&self, name: &RepositoryName, tag: &str, seed: u8) -> Image {
        let config = self.blob(name, &[seed; 10]);
        let layer = self.blob(name, &[seed; 30]);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":30}}]}}"#
        )
        .into_bytes();
        let digest = Digest::of(Algorithm::Sha256, &manifest);
        let typed = PutOptions {
            content_type: Some(OCI_MANIFEST.to_string()),
            ..PutOptions::default()
        };
        self.put(
            &layout::manifest(name, &digest),
            manifest.clone(),
            typed.clone(),
        );
        let tagged = PutOptions {
            metadata: BTreeMap::from([(DIGEST_META.to_string(), digest.to_string())]),
            ..typed
        };
        let tag = crate::oci::Tag::parse(tag).unwrap();
        self.put(&layout::tag(name, &tag), manifest, tagged);
        self.put(
            &layout::catalog_entry(name),
            Vec::new(),
            PutOptions::default(),
        );
        Image {
            manifest: digest,
            config,
            layer,
        }
    }
}

struct Image {
    manifest: Digest,
    config: Digest,
    layer: Digest,
}

fn repository(name: &str) -> RepositoryName {
    RepositoryName::parse(name, "").unwrap()
}

/// Every deletion the reports name.
fn deletions(reports: &[Report]) -> Vec<String> {
    reports.iter().flat_map(|r| r.deletions.clone()).collect()
}
