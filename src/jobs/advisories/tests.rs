use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::json;

use super::*;
use crate::records::advisories::{LoadStatus, STALLED_MS};
use crate::records::ClockedEnvironment;
use crate::scan::version::Ecosystem;
use crate::scan::zip::build::{archive, Member};
use crate::scan::Job;
use crate::storage::memory::{Clock, MemoryBody, MemoryStore};

type TestRecords = Records<MemoryStore, MemoryStore, ClockedEnvironment>;

fn records() -> (TestRecords, Clock) {
    let clock: Clock = Rc::new(Cell::new(5_000_000));
    let store = MemoryStore::new().with_clock(clock.clone());
    let env = ClockedEnvironment::new(clock.clone());
    (Records::new(store, None, MemoryStore::new(), env), clock)
}

fn export() -> Vec<u8> {
    let advisory = json!({
        "id": "GHSA-1",
        "affected": [{"package": {"ecosystem": "npm", "name": "lodash"}, "versions": ["4.0.0"]}]
    });
    archive(
        &[Member::deflated(
            "GHSA-1.json",
            &serde_json::to_vec(&advisory).unwrap(),
        )],
        false,
    )
}

fn run_jobs(records: &TestRecords) -> usize {
    let mut steps = 0;
    loop {
        let jobs = records.take_jobs();
        if jobs.is_empty() {
            return steps;
        }
        for job in jobs {
            if let Job::IndexAdvisories { ecosystem, load } = job {
                steps += 1;
                block_on(index_step(records, &ecosystem, &load)).unwrap();
            }
        }
    }
}

#[test]
fn an_unchanged_export_costs_one_conditional_request() {
    let (records, _) = records();
    let url = "http://127.0.0.1:9/npm/all.zip";
    let sources = crate::config::Settings::parse(|name| {
        (name == "ADVISORY_SOURCES").then(|| url.to_string())
    })
    .unwrap()
    .config
    .advisory_sources;
    let sent = RefCell::new(Vec::new());
    let answer = RefCell::new(Some(Fetched::Export {
        body: MemoryBody::new(&export(), 100),
        length: Some(export().len() as u64),
        etag: Some("\"v1\"".into()),
        last_modified: None,
    }));
    let fetch = |url: String, headers: Vec<(&'static str, String)>| {
        sent.borrow_mut().push((url, headers));
        let next = answer.borrow_mut().take().unwrap_or(Fetched::NotModified);
        async move { next }
    };
    let report = block_on(refresh(&records, &sources, 5 << 20, fetch)).unwrap();
    assert_eq!(report[0].outcome, "loading npm");
    run_jobs(&records);
    let state = &block_on(records.advisory_states()).unwrap()[0];
    assert_eq!(
        (state.status, state.source.as_str()),
        (LoadStatus::Ready, url)
    );
    // The new advisories' sweep was queued with the switch: the Cron Trigger starts no other.
    block_on(
        crate::jobs::Jobs {
            records: &records,
            webhooks: &crate::webhooks::Webhooks::default(),
        }
        .start_sweep_if_due(),
    )
    .unwrap();
    assert!(records.take_jobs().is_empty());

    let report = block_on(refresh(&records, &sources, 5 << 20, fetch)).unwrap();
    assert_eq!(report[0].outcome, "unchanged");
    assert!(records.take_jobs().is_empty());
    assert_eq!(
        sent.borrow().as_slice(),
        [
            (url.to_string(), vec![]),
            (
                url.to_string(),
                vec![("If-None-Match", "\"v1\"".to_string())]
            )
        ]
    );
    let failing = |_: String, _: Vec<(&'static str, String)>| async {
        Fetched::<MemoryBody>::Failed("HTTP 503".into())
    };
    let report = block_on(refresh(&records, &sources, 5 << 20, failing)).unwrap();
    assert_eq!(report[0].outcome, "HTTP 503");
    assert_eq!(
        block_on(records.advisory_states()).unwrap()[0].advisories,
        1
    );
}

#[test]
fn a_load_whose_steps_stopped_is_resumed_by_the_cron() {
    let (records, clock) = records();
    block_on(records.load_advisories(
        Ecosystem::Npm,
        "upload",
        None,
        MemoryBody::new(&export(), 100),
        Some(export().len() as u64),
        5 << 20,
    ))
    .unwrap();
    // The queued step is lost.
    assert_eq!(records.take_jobs().len(), 1);
    let never =
        |_: String, _: Vec<(&'static str, String)>| async { Fetched::<MemoryBody>::NotModified };
    clock.set(clock.get() + STALLED_MS - 1);
    block_on(refresh(&records, &[], 5 << 20, never)).unwrap();
    assert!(records.take_jobs().is_empty(), "not stalled yet");
    clock.set(clock.get() + 1);
    block_on(refresh(&records, &[], 5 << 20, never)).unwrap();
    assert!(run_jobs(&records) > 1);
    let state = &block_on(records.advisory_states()).unwrap()[0];
    assert_eq!((state.status, state.advisories), (LoadStatus::Ready, 1));
    // A ready ecosystem with nothing left to delete is left alone.
    clock.set(clock.get() + 2 * STALLED_MS);
    block_on(refresh(&records, &[], 5 << 20, never)).unwrap();
    assert!(records.take_jobs().is_empty());
}
