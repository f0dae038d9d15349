//! The public-blobs bucket in the blobs phase (see `api::public_blobs`): after a page of
//! `blobs/` has been judged, the copies of the digests it covered that no public repository
//! links any more are deleted. Its keys are the blob records' keys without `blobs/`, so they
//! sort alike, and one listing of the same range of the public bucket finds them all: copies
//! of blobs whose last public link went, of repositories made private by configuration, and
//! of digests with no record at all (a copy made by a pull racing the blob's deletion).

use std::collections::{BTreeMap, BTreeSet};

use super::blobs::BlobGroup;
use super::run::Run;
use crate::error::Result;
use crate::oci::{Digest, RepositoryName};
use crate::records::walk;
use crate::records::Environment;
use crate::storage::{ListOptions, MultipartStore, ObjectStore, SessionStore, LIST_PAGE_MAX};

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Sweeps the public bucket over the range of `blobs/` this run judged: after `from`
    /// (exclusive) up to `to`, or to the end once the walk is `finished`. `groups` are the
    /// blobs of the range and `unlinked` the links the run deleted from them. Stops once
    /// the run is out of operations, after a page of the bucket: returns the last key swept
    /// then, for the walk to go on from.
    pub(super) async fn sweep_public_blobs(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        finished: bool,
        groups: &[BlobGroup],
        unlinked: &BTreeMap<RepositoryName, BTreeSet<Digest>>,
    ) -> Result<Option<String>> {
        let Some(public) = &self.maintenance.records.public_blobs else {
            return Ok(None);
        };
        let end = match (finished, to) {
            (true, _) => None,
            (false, Some(to)) if Some(to) != from => walk::public_position(to),
            (false, _) => return Ok(None),
        };
        let policy = self.maintenance.policy;
        let linked_publicly: BTreeSet<&Digest> = groups
            .iter()
            .filter(|group| {
                group.links.iter().any(|(name, _)| {
                    let gone = unlinked
                        .get(name)
                        .is_some_and(|d| d.contains(&group.digest));
                    !gone && !policy.is_private(name.as_str())
                })
            })
            .map(|group| &group.digest)
            .collect();
        let mut options = ListOptions {
            start_after: from.and_then(walk::public_position),
            limit: LIST_PAGE_MAX,
            ..ListOptions::default()
        };
        loop {
            self.spend(1);
            let page = public.list(&options).await?;
            let in_range = page
                .objects
                .iter()
                .take_while(|object| end.as_ref().is_none_or(|end| &object.key <= end));
            let mut stale = Vec::new();
            for object in in_range {
                let Some(digest) = walk::public_blob_digest(&object.key) else {
                    continue;
                };
                if !linked_publicly.contains(&digest) {
                    self.deleted(format!("public blob {digest}"), |_| {}, object.size);
                    stale.push(object.key.clone());
                }
            }
            if !self.dry_run && !stale.is_empty() {
                self.spend(1);
                public.delete(&stale).await?;
            }
            let last = page.objects.last().map(|object| object.key.clone());
            let past_end = match (&end, &last) {
                (Some(end), Some(last)) => last > end,
                _ => false,
            };
            if !page.truncated || past_end {
                return Ok(None);
            }
            if self.exhausted() {
                return Ok(last);
            }
            options.start_after = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use crate::app::{test_registry, Registry};
    use crate::auth::Policy;
    use crate::maintenance::MIN_STEP_OPERATIONS;
    use crate::oci::{Algorithm, Digest, RepositoryName};
    use crate::records::layout;
    use crate::records::{BlobRecord, FixedEnvironment};
    use crate::storage::memory::MemoryStore;
    use crate::storage::{ObjectStore, PutOptions};

    type TestRegistry = Registry<MemoryStore, MemoryStore, FixedEnvironment>;

    fn registry(private: &str) -> TestRegistry {
        test_registry(private).with_public_blobs(MemoryStore::new())
    }

    /// A blob linked by `repositories`, and its copy in the public bucket. The links are
    /// younger than the grace period, so collection keeps them: only the sweep decides.
    fn blob(registry: &TestRegistry, seed: u32, repositories: &[&str]) -> Digest {
        let bytes = seed.to_be_bytes().repeat(25);
        let digest = Digest::of(Algorithm::Sha256, &bytes);
        let record = BlobRecord {
            size: 100,
            key: layout::data(&format!("blob-{seed}")),
            segments: Vec::new(),
        };
        let json = serde_json::to_vec(&record).unwrap();
        let put = |store: &MemoryStore, key: &str, bytes: Vec<u8>| {
            block_on(store.put(key, bytes, PutOptions::default())).unwrap();
        };
        put(&registry.records.store, &record.key, bytes.clone());
        if !repositories.is_empty() {
            put(
                &registry.records.store,
                &layout::blob(&digest),
                json.clone(),
            );
        }
        for name in repositories {
            let name = RepositoryName::parse(name, "").unwrap();
            put(
                &registry.records.store,
                &layout::layer_link(&name, &digest),
                json.clone(),
            );
        }
        put(public(registry), &layout::public_blob(&digest), bytes);
        digest
    }

    fn public(registry: &TestRegistry) -> &MemoryStore {
        registry.public_blobs().unwrap()
    }

    fn cycle(registry: &TestRegistry, dry_run: bool) -> Vec<String> {
        let mut deletions = Vec::new();
        loop {
            let report = block_on(registry.maintain(dry_run)).unwrap();
            deletions.extend(report.deletions);
            if report.cycle_complete {
                return deletions;
            }
        }
    }

    fn copies(registry: &TestRegistry) -> Vec<String> {
        public(registry).keys()
    }

    #[test]
    fn maintenance_keeps_only_blobs_that_a_public_repository_links() {
        let registry = registry("private/*");
        let public_only = blob(&registry, 1, &["team/app"]);
        let shared = blob(&registry, 2, &["private/app", "team/app"]);
        let private_only = blob(&registry, 3, &["private/app", "private/other"]);
        // A copy made by a pull that raced the blob's deletion: no record, no link.
        let orphan = blob(&registry, 4, &[]);
        let key = layout::public_blob;

        // A dry run reports and deletes nothing.
        let reported = cycle(&registry, true);
        for gone in [&private_only, &orphan] {
            assert!(
                reported.contains(&format!("public blob {gone}")),
                "{reported:?}"
            );
        }
        assert_eq!(copies(&registry).len(), 4);

        let deleted = cycle(&registry, false);
        let mut kept = vec![key(&public_only), key(&shared)];
        kept.sort();
        assert_eq!(copies(&registry), kept, "{deleted:?}");

        // Made private by configuration: the next cycle removes the copies it alone linked.
        let mut registry = registry;
        std::rc::Rc::get_mut(&mut registry.auth)
            .expect("the registry alone holds its auth")
            .policy = Policy::parse("", None, "private/* team/*").unwrap();
        cycle(&registry, false);
        assert_eq!(copies(&registry), Vec::<String>::new());
    }

    /// Each page of `blobs/` sweeps the same range of the public bucket, and the last one
    /// the rest of it: 1,400 keys under `blobs/` take two pages.
    #[test]
    fn the_sweep_follows_the_walk_across_pages() {
        let registry = registry("private/*");
        let mut kept = Vec::new();
        for seed in 0..1000 {
            match seed % 10 {
                0..=3 => kept.push(layout::public_blob(&blob(&registry, seed, &["team/app"]))),
                4..=6 => drop(blob(&registry, seed, &["private/app"])),
                _ => drop(blob(&registry, seed, &[])),
            }
        }
        let under_blobs = registry
            .store()
            .keys()
            .iter()
            .filter(|k| k.starts_with("blobs/"))
            .count();
        assert!(under_blobs > 1000, "{under_blobs} keys fit one page");
        cycle(&registry, false);
        kept.sort();
        assert_eq!(copies(&registry), kept);
    }

    /// Copies with no record at all, more pages of them than a run may list: each run stops
    /// within its budget, the next goes on where it stopped, and the cycle sweeps them all
    /// though `blobs/` holds nothing to judge.
    #[test]
    fn the_sweep_stops_with_the_budget_and_goes_on_in_the_next_run() {
        let mut registry =
            test_registry("private/*").with_public_blobs(MemoryStore::new().with_page_max(10));
        std::rc::Rc::get_mut(&mut registry.config)
            .expect("the registry alone holds its config")
            .maintenance
            .step_operations = MIN_STEP_OPERATIONS;
        for seed in 0..400 {
            blob(&registry, seed, &[]);
        }
        let mut runs = 0;
        loop {
            runs += 1;
            let report = block_on(registry.maintain(false)).unwrap();
            assert!(
                report.operations <= MIN_STEP_OPERATIONS + 5,
                "{} operations",
                report.operations
            );
            if report.cycle_complete {
                break;
            }
        }
        assert!(runs > 1, "one run swept 40 pages");
        assert_eq!(copies(&registry), Vec::<String>::new());
    }
}
