//! The position kept between runs: a run stops within its budget, and the next goes on where
//! it stopped, so that a cycle covers everything once whatever its size.

use super::*;
use crate::maintenance::{Phase, MIN_STEP_OPERATIONS};
use crate::records::walk;
use crate::upload::UploadState;

/// `count` uploads that never went past their first request, expired.
fn expired_uploads(fixture: &Fixture, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|_| fixture.records.env.new_id()).collect();
    for id in &ids {
        let mut state = UploadState::new(Algorithm::Sha256);
        state.step = 1;
        fixture.put(
            &layout::upload_step(id, 1),
            state.encode(),
            PutOptions::default(),
        );
    }
    fixture.later(UPLOAD_TTL_SECONDS + 1);
    ids
}

fn uploads_left(fixture: &Fixture) -> usize {
    let keys = fixture.store().keys();
    keys.iter().filter(|k| k.starts_with("uploads/")).count()
}

#[test]
fn a_run_saves_its_position_and_the_next_goes_on_from_it() {
    let fixture = Fixture::new().with_step_operations(MIN_STEP_OPERATIONS);
    let ids = expired_uploads(&fixture, 12);

    let first = fixture.run(false);
    assert!(!first.cycle_complete);
    assert_eq!(first.phase, Phase::Uploads);
    let done = first.deleted.uploads as usize;
    assert!(0 < done && done < ids.len(), "{done} uploads in one run");
    let state = fixture.json(layout::gc_state(false)).unwrap();
    assert_eq!(state["phase"], "uploads");
    assert_eq!(state["after"], walk::past_upload(&ids[done - 1]));
    assert_eq!(uploads_left(&fixture), ids.len() - done);

    let mut reports = vec![first];
    reports.extend(fixture.cycle(false));
    // Each upload examined once: every run went on from where the one before stopped.
    let examined: u64 = reports.iter().map(|r| r.examined.uploads).sum();
    assert_eq!(examined, ids.len() as u64);
    assert_eq!(uploads_left(&fixture), 0);
    for report in &reports {
        assert!(
            report.operations <= MIN_STEP_OPERATIONS + 5,
            "{} operations",
            report.operations
        );
    }
    // The next cycle starts over, counted.
    let next = fixture.run(false);
    assert_eq!(next.cycle, 1);
    assert_eq!(next.examined.uploads, 0);
}

#[test]
fn a_dry_run_keeps_a_position_of_its_own_and_deletes_nothing() {
    let fixture = Fixture::new().with_step_operations(MIN_STEP_OPERATIONS);
    // More than a dry run, which reads one object per upload, gets through in one run.
    let ids = expired_uploads(&fixture, 30);
    let keys = fixture.store().keys();

    let dry = fixture.run(true);
    assert!(dry.dry_run && !dry.cycle_complete);
    assert!(
        dry.deleted.uploads > 0,
        "a dry run reports what it would delete"
    );
    assert!(fixture.has(layout::gc_state(true)));
    assert!(!fixture.has(layout::gc_state(false)));
    let after_dry_run: Vec<String> = fixture
        .store()
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("gc/"))
        .collect();
    assert_eq!(after_dry_run, keys);

    // The real run starts from the beginning all the same.
    let reports = fixture.cycle(false);
    let examined: u64 = reports.iter().map(|r| r.examined.uploads).sum();
    assert_eq!(examined, ids.len() as u64);
    assert_eq!(uploads_left(&fixture), 0);
}
