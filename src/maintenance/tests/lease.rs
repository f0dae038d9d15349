//! One run at a time: the lease is taken, held, taken over once expired, and given back.

use std::future::Future;
use std::task::{Context, Poll};

use serde_json::json;

use super::*;
use crate::maintenance::LEASE_SECONDS;
use crate::storage::memory::{Call, When};

fn lease(fixture: &Fixture, dry_run: bool) -> Option<serde_json::Value> {
    fixture.json(layout::gc_lease(dry_run))
}

fn hold_lease(fixture: &Fixture, until_ms: u64) {
    let lease = serde_json::to_vec(&json!({ "expires_ms": until_ms })).unwrap();
    fixture.put(layout::gc_lease(false), lease, PutOptions::default());
}

#[test]
fn a_run_takes_the_lease_and_gives_it_back() {
    let fixture = Fixture::new();
    let report = fixture.run(false);
    assert_eq!(report.lease_held_until_ms, None);
    assert!(fixture.has(layout::gc_state(false)));
    // Given back as expired, so that the next run need not wait.
    assert_eq!(lease(&fixture, false), Some(json!({ "expires_ms": 0 })));
    assert_eq!(fixture.run(false).lease_held_until_ms, None);
}

#[test]
fn a_run_that_finds_the_lease_held_does_nothing_until_it_expires() {
    let fixture = Fixture::new();
    let until_ms = fixture.now_ms() + 60_000;
    hold_lease(&fixture, until_ms);
    let calls = fixture.store().calls();

    let report = fixture.run(false);
    // A create that failed and a read of the lease, nothing else.
    assert_eq!(fixture.store().calls() - calls, 2);
    assert_eq!(report.lease_held_until_ms, Some(until_ms));
    assert_eq!(report.operations, 0);
    assert!(!fixture.has(layout::gc_state(false)));
    assert_eq!(
        lease(&fixture, false),
        Some(json!({ "expires_ms": until_ms }))
    );

    // Dry runs hold a lease of their own.
    assert_eq!(fixture.run(true).lease_held_until_ms, None);
    assert!(!fixture.has(layout::gc_state(false)));

    fixture.later(61);
    let report = fixture.run(false);
    assert_eq!(report.lease_held_until_ms, None);
    assert!(fixture.has(layout::gc_state(false)));
    assert_eq!(lease(&fixture, false), Some(json!({ "expires_ms": 0 })));
}

#[test]
fn a_lease_that_does_not_parse_protects_nothing() {
    let fixture = Fixture::new();
    fixture.put(
        layout::gc_lease(false),
        b"{".to_vec(),
        PutOptions::default(),
    );
    assert_eq!(fixture.run(false).lease_held_until_ms, None);
    assert_eq!(lease(&fixture, false), Some(json!({ "expires_ms": 0 })));
}

/// A run outlives its lease: another takes it over while the first is still at work (held
/// here at the write of its position). Giving the lease back must not end the other's.
#[test]
fn a_run_that_outlived_its_lease_leaves_the_new_holder_alone() {
    let fixture = Fixture::new();
    let state_key = layout::gc_state(false);
    let gate = fixture
        .store()
        .pause(When::Before, Call::Put, move |key| key == state_key, 1);
    let maintenance = fixture.maintenance();
    let mut run = Box::pin(maintenance.run(false));
    let waker = futures::task::noop_waker_ref();
    let mut context = Context::from_waker(waker);
    assert!(run.as_mut().poll(&mut context).is_pending());
    assert!(gate.reached());

    fixture.later(LEASE_SECONDS + 1);
    let taken_over_until = fixture.now_ms() + LEASE_SECONDS * 1000;
    hold_lease(&fixture, taken_over_until);
    gate.release();
    let Poll::Ready(report) = run.as_mut().poll(&mut context) else {
        panic!("held at another gate");
    };
    assert_eq!(report.unwrap().lease_held_until_ms, None);
    assert_eq!(
        lease(&fixture, false),
        Some(json!({ "expires_ms": taken_over_until }))
    );
    assert_eq!(
        fixture.run(false).lease_held_until_ms,
        Some(taken_over_until)
    );
}
