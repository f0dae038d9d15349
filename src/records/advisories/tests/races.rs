//! Steps and loads that interleave, and uploads that break off.

use std::collections::BTreeSet;
use std::future::Future;
use std::task::{Context, Poll};

use futures::executor::block_on;

use super::*;
use crate::storage::body::{BodyChunk, BodyReadError, RequestBody};
use crate::storage::memory::{Call, When};

/// Two deliveries of one compacting step interleave: the first is held while reading the
/// segments the second then joins and deletes. The first must not write the part it read.
#[test]
fn a_compacting_step_delivered_twice_at_once_keeps_the_whole_bucket() {
    let (records, _, _) = records();
    let count = ENTRIES_PER_STEP * 2 + 10;
    load(&records, Ecosystem::PyPI, &many(count, "P"), true);
    // Open and read, up to the first compacting step.
    let compacting = loop {
        let Job::IndexAdvisories { ecosystem, load } = records.take_jobs().remove(0) else {
            panic!("an indexing step")
        };
        let (_, record) = block_on(records.ecosystem_record(&ecosystem)).unwrap();
        if matches!(record.load.unwrap().stage, Stage::Compacting { .. }) {
            break (ecosystem, load);
        }
        block_on(records.index_advisories_step(&ecosystem, &load)).unwrap();
    };
    let held =
        records
            .store
            .inner()
            .pause(When::Before, Call::Get, |key| key.contains("/seg/00/"), 2);
    let mut first = Box::pin(records.index_advisories_step(&compacting.0, &compacting.1));
    let mut context = Context::from_waker(futures::task::noop_waker_ref());
    assert!(first.as_mut().poll(&mut context).is_pending());
    assert!(held.reached());
    block_on(records.index_advisories_step(&compacting.0, &compacting.1)).unwrap();
    held.release();
    assert!(matches!(
        first.as_mut().poll(&mut context),
        Poll::Ready(Ok(()))
    ));
    run_jobs(&records);
    let every: BTreeSet<String> = (0..count).map(|i| format!("package-{i}")).collect();
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &every)).unwrap();
    assert_eq!(found.len(), count);
}

/// A reading step of load A is under way when load B replaces A and is indexed to the end,
/// deleting what A had written: the step's own late segments are deleted too.
#[test]
fn a_step_that_finishes_after_its_load_was_replaced_deletes_what_it_wrote() {
    let (records, _, _) = records();
    load(&records, Ecosystem::PyPI, &many(20, "A"), true);
    let Job::IndexAdvisories { ecosystem, load: a } = records.take_jobs().remove(0) else {
        panic!("an indexing step")
    };
    block_on(records.index_advisories_step(&ecosystem, &a)).unwrap();
    records.take_jobs();
    let held = records
        .store
        .inner()
        .pause(When::Before, Call::Put, |key| key.contains("/seg/"), 1);
    let mut reading = Box::pin(records.index_advisories_step(&ecosystem, &a));
    let mut context = Context::from_waker(futures::task::noop_waker_ref());
    assert!(reading.as_mut().poll(&mut context).is_pending());
    assert!(held.reached());
    load(&records, Ecosystem::PyPI, &many(3, "B"), true);
    run_jobs(&records);
    held.release();
    assert!(matches!(
        reading.as_mut().poll(&mut context),
        Poll::Ready(Ok(()))
    ));
    assert!(records.take_jobs().is_empty());
    let left: Vec<String> = keys(&records)
        .into_iter()
        .filter(|key| key.contains(&a))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let every: BTreeSet<String> = (0..20).map(|i| format!("package-{i}")).collect();
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &every)).unwrap();
    assert_eq!(ids(&found), ["B-0", "B-1", "B-2"]);
}

/// A body that breaks off after `good` bytes, and cannot be handed over whole.
struct BrokenBody(Vec<BodyChunk>);

impl futures::Stream for BrokenBody {
    type Item = BodyChunk;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = (!self.0.is_empty()).then(|| self.0.remove(0));
        std::task::Poll::Ready(next)
    }
}

impl RequestBody for BrokenBody {
    type Whole = Vec<u8>;

    fn take_whole(&mut self) -> Option<Vec<u8>> {
        None
    }
}

#[test]
fn an_upload_that_breaks_off_leaves_nothing() {
    let (records, _, _) = records();
    let body = BrokenBody(vec![
        Ok(vec![0; PART + PART / 2]),
        Err(BodyReadError::Failed("connection reset".into())),
    ]);
    let loaded = block_on(records.load_advisories(
        Ecosystem::Debian,
        UPLOAD_SOURCE,
        None,
        body,
        None,
        PART as u64,
    ));
    assert!(matches!(loaded, Err(UploadError::Read(_))));
    assert_eq!(records.store.inner().open_multiparts(), 0);
    assert!(keys(&records).is_empty());
    assert!(records.take_jobs().is_empty());
}
