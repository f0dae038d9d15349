use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::json;

use super::index::{COMPACT_READS_PER_STEP, ENTRIES_PER_STEP};
use super::*;
use crate::records::ClockedEnvironment;
use crate::scan::zip::build::{archive, deflate, Member};
use crate::storage::memory::{Clock, MemoryBody, MemoryStore};
use crate::storage::metered::{Metered, OpCounter};

type Store = Metered<MemoryStore>;
type TestRecords = Records<Store, MemoryStore, ClockedEnvironment>;

const PART: usize = 5 * 1024 * 1024;

fn records() -> (TestRecords, OpCounter, Clock) {
    let clock: Clock = Rc::new(Cell::new(1_000_000));
    let counter = OpCounter::default();
    let store = Metered::new(
        MemoryStore::with_min_part(PART).with_clock(clock.clone()),
        counter.clone(),
    );
    let env = ClockedEnvironment::new(clock.clone());
    (
        Records::new(store, None, MemoryStore::new(), env),
        counter,
        clock,
    )
}

fn advisory(id: &str, ecosystem: &str, package: &str, fixed: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": [format!("CVE-{id}")],
        "summary": format!("{package} is vulnerable"),
        "details": "a long story ".repeat(100),
        "references": [{"type": "WEB", "url": "https://example.com"}],
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": package, "purl": "pkg:x"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]},
                {"type": "GIT", "repo": "https://example.com", "events": [{"introduced": "abc"}]}
            ],
            "ecosystem_specific": {"urgency": "low"}
        }],
        "database_specific": {"severity": "high", "other": "dropped"}
    }))
    .unwrap()
}

fn load(records: &TestRecords, ecosystem: Ecosystem, zip: &[u8], length: bool) -> AdvisoryState {
    let length = length.then_some(zip.len() as u64);
    block_on(records.load_advisories(
        ecosystem,
        UPLOAD_SOURCE,
        None,
        MemoryBody::new(zip, 1000),
        length,
        PART as u64,
    ))
    .unwrap()
}

/// Runs queued advisory jobs until none is left; answers how many sweeps were queued and how
/// many steps ran.
fn run_jobs(records: &TestRecords) -> (usize, usize) {
    let (mut sweeps, mut steps) = (0, 0);
    loop {
        let jobs = records.take_jobs();
        if jobs.is_empty() {
            return (sweeps, steps);
        }
        for job in jobs {
            match job {
                Job::IndexAdvisories { ecosystem, load } => {
                    steps += 1;
                    assert!(steps < 1000, "indexing does not end");
                    block_on(records.index_advisories_step(&ecosystem, &load)).unwrap();
                }
                Job::Sweep { after: None } => sweeps += 1,
                other => panic!("unexpected job {other:?}"),
            }
        }
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn ids(advisories: &[Advisory]) -> Vec<&str> {
    advisories.iter().map(|a| a.id.as_str()).collect()
}

/// The advisories' keys in the bucket.
fn keys(records: &TestRecords) -> Vec<String> {
    let mut keys = records.store.inner().keys();
    keys.retain(|key| key.starts_with("advisories/"));
    keys
}

fn debian_export() -> Vec<u8> {
    let bomb = deflate(&vec![b' '; 6 * 1024 * 1024]);
    let mut members = vec![
        Member::deflated(
            "DSA-1.json",
            &advisory("DSA-1", "Debian:12", "openssl", "3.0.1"),
        ),
        Member::stored("DSA-2.json", &advisory("DSA-2", "Debian", "bash", "5.2")),
        Member::deflated(
            "USN-1.json",
            &advisory("USN-1", "Ubuntu:22.04:LTS", "openssl", "1"),
        ),
        Member::deflated("broken.json", b"{not json"),
        Member::stored("dir/", b""),
    ];
    let mut withdrawn: serde_json::Value =
        serde_json::from_slice(&advisory("DSA-3", "Debian:11", "openssl", "1.1")).unwrap();
    withdrawn["withdrawn"] = json!("2024-02-01T00:00:00Z");
    members.push(Member::deflated(
        "DSA-3.json",
        &serde_json::to_vec(&withdrawn).unwrap(),
    ));
    // An entry whose directory says it inflates to 6 MiB: past the per-entry limit, skipped
    // before its data is read.
    members.insert(3, Member::stored("bomb.json", &bomb));
    let mut zip_with_bomb = archive(&members, false);
    let at = zip_with_bomb
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .nth(3)
        .unwrap()
        .0;
    zip_with_bomb[at + 10] = 8;
    zip_with_bomb[at + 24..at + 28].copy_from_slice(&(6u32 * 1024 * 1024).to_le_bytes());
    zip_with_bomb
}

#[test]
fn an_export_is_indexed_in_steps_and_becomes_current() {
    let (records, _, _) = records();
    let state = load(&records, Ecosystem::Debian, &debian_export(), true);
    assert_eq!(state.status, LoadStatus::Indexing);
    assert_eq!(state.source, "upload");
    assert_eq!(block_on(records.advisories_updated_at()).unwrap(), None);
    let (sweeps, _) = run_jobs(&records);
    assert_eq!(sweeps, 1);
    // The sweep is recorded, so that the Cron Trigger does not start another for these.
    assert_eq!(
        block_on(records.sweep_started_at()).unwrap(),
        Some(1_000_000)
    );
    let states = block_on(records.advisory_states()).unwrap();
    assert_eq!(
        states,
        [AdvisoryState {
            ecosystem: Ecosystem::Debian,
            status: LoadStatus::Ready,
            advisories: 2,
            loaded_at: Some(1_000_000),
            source: "upload".into(),
            error: None,
        }]
    );
    assert_eq!(
        block_on(records.advisories_updated_at()).unwrap(),
        Some(1_000_000)
    );
    let found = block_on(records.advisories_for(Ecosystem::Debian, &names(&["openssl"]))).unwrap();
    // Not the Ubuntu one, nor the withdrawn one.
    assert_eq!(ids(&found), ["DSA-1"]);
    let dsa1 = &found[0];
    assert_eq!(dsa1.details, None);
    assert_eq!(dsa1.database_severity(), Some("high"));
    assert_eq!(dsa1.affected[0].ranges.len(), 1, "the GIT range is dropped");
    assert!(dsa1.affected[0].ecosystem_specific.is_none());
    let installed = crate::scan::osv::Installed {
        ecosystem: Ecosystem::Debian,
        release: Some("12"),
        name: "openssl",
        version: "3.0.0",
    };
    assert_eq!(
        dsa1.affects(&installed).and_then(|f| f.fixed).as_deref(),
        Some("3.0.1")
    );
    let both = names(&["openssl", "bash", "zlib"]);
    assert_eq!(
        ids(&block_on(records.advisories_for(Ecosystem::Debian, &both)).unwrap()),
        ["DSA-1", "DSA-2"]
    );
    assert!(block_on(records.advisories_for(Ecosystem::Ubuntu, &both))
        .unwrap()
        .is_empty());
    // The export and the segments are gone; the status and bucket objects remain.
    for key in keys(&records) {
        assert!(
            key == "advisories/Debian/status" || key.contains("/bucket/"),
            "{key} left behind"
        );
    }
}

#[test]
fn a_body_without_a_length_is_stored_in_parts_and_indexed_the_same() {
    let (records, _, _) = records();
    load(&records, Ecosystem::Debian, &debian_export(), false);
    run_jobs(&records);
    let found = block_on(records.advisories_for(Ecosystem::Debian, &names(&["bash"]))).unwrap();
    assert_eq!(ids(&found), ["DSA-2"]);
}

fn many(count: usize, prefix: &str) -> Vec<u8> {
    let members: Vec<Member> = (0..count)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            Member::deflated(
                &format!("{id}.json"),
                &advisory(&id, "PyPI", &format!("Package_{i}"), "1.0"),
            )
        })
        .collect();
    archive(&members, true)
}

#[test]
fn matching_reads_one_object_per_name_whatever_the_number_of_advisories() {
    let (records, counter, _) = records();
    let count = ENTRIES_PER_STEP * 2 + 500;
    load(&records, Ecosystem::PyPI, &many(count, "PYSEC"), true);
    let (_, steps) = run_jobs(&records);
    // Opening, three reading steps, compacting, deleting: more than one of each kind.
    assert!(steps >= 6, "{steps} steps");
    let states = block_on(records.advisory_states()).unwrap();
    assert_eq!(states[0].advisories, count as u64);
    let wanted = names(&["package-7", "PACKAGE.1999", "package_2400", "absent"]);
    let before = counter.counts().class_b;
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &wanted)).unwrap();
    let reads = counter.counts().class_b - before;
    assert_eq!(ids(&found), ["PYSEC-1999", "PYSEC-2400", "PYSEC-7"]);
    assert!(reads <= 1 + wanted.len() as u64, "{reads} reads");
    let every: BTreeSet<String> = (0..count).map(|i| format!("package-{i}")).collect();
    let before = counter.counts().class_b;
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &every)).unwrap();
    assert_eq!(found.len(), count);
    assert!(counter.counts().class_b - before <= 1 + 256);
    let _ = COMPACT_READS_PER_STEP;
}

#[test]
fn a_new_load_replaces_the_generation_and_deletes_the_old_one() {
    let (records, _, clock) = records();
    load(&records, Ecosystem::PyPI, &many(10, "OLD"), true);
    run_jobs(&records);
    clock.set(2_000_000);
    load(&records, Ecosystem::PyPI, &many(5, "NEW"), true);
    // Until the new generation is complete, the old one answers.
    let wanted = names(&["package-1", "package-7"]);
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &wanted)).unwrap();
    assert_eq!(ids(&found), ["OLD-1", "OLD-7"]);
    assert_eq!(
        block_on(records.advisory_states()).unwrap()[0].status,
        LoadStatus::Indexing
    );
    let (sweeps, _) = run_jobs(&records);
    assert_eq!(sweeps, 1);
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &wanted)).unwrap();
    assert_eq!(ids(&found), ["NEW-1"]);
    let state = &block_on(records.advisory_states()).unwrap()[0];
    assert_eq!((state.advisories, state.loaded_at), (5, Some(2_000_000)));
    let generations: BTreeSet<String> = keys(&records)
        .iter()
        .filter_map(|key| key.split("/gen/").nth(1))
        .map(|rest| rest.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(generations.len(), 1, "{generations:?}");
}

#[test]
fn a_load_replaced_while_indexing_stops_and_leaves_nothing() {
    let (records, _, _) = records();
    load(
        &records,
        Ecosystem::PyPI,
        &many(ENTRIES_PER_STEP + 10, "A"),
        true,
    );
    // Opening and the first reading step of load A.
    for _ in 0..2 {
        let Job::IndexAdvisories { ecosystem, load } = records.take_jobs().remove(0) else {
            panic!("an indexing step")
        };
        block_on(records.index_advisories_step(&ecosystem, &load)).unwrap();
    }
    let stale = records.take_jobs();
    load(&records, Ecosystem::PyPI, &many(3, "B"), true);
    // A's next step, delivered after B started, and delivered twice, does nothing.
    for job in stale.iter().chain(&stale) {
        let Job::IndexAdvisories { ecosystem, load } = job else {
            panic!("an indexing step")
        };
        block_on(records.index_advisories_step(ecosystem, load)).unwrap();
    }
    run_jobs(&records);
    let every: BTreeSet<String> = (0..ENTRIES_PER_STEP + 10)
        .map(|i| format!("package-{i}"))
        .collect();
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &every)).unwrap();
    assert_eq!(ids(&found), ["B-0", "B-1", "B-2"]);
    // Load A's export and segments are deleted with B's own export.
    for key in keys(&records) {
        assert!(
            key == "advisories/PyPI/status" || key.contains("/bucket/"),
            "{key} left behind"
        );
    }
}

#[test]
fn every_step_delivered_twice_gives_the_same_index() {
    let (records, _, _) = records();
    load(
        &records,
        Ecosystem::PyPI,
        &many(ENTRIES_PER_STEP + 10, "T"),
        true,
    );
    let mut steps = 0;
    loop {
        let jobs = records.take_jobs();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if let Job::IndexAdvisories { ecosystem, load } = job {
                steps += 1;
                assert!(steps < 100);
                block_on(records.index_advisories_step(&ecosystem, &load)).unwrap();
                block_on(records.index_advisories_step(&ecosystem, &load)).unwrap();
            }
        }
    }
    let every: BTreeSet<String> = (0..ENTRIES_PER_STEP + 10)
        .map(|i| format!("package-{i}"))
        .collect();
    let found = block_on(records.advisories_for(Ecosystem::PyPI, &every)).unwrap();
    assert_eq!(found.len(), ENTRIES_PER_STEP + 10);
}

#[test]
fn a_broken_export_fails_its_load_and_keeps_the_advisories_before_it() {
    let (records, _, _) = records();
    load(&records, Ecosystem::Npm, &archive(&[], false), true);
    run_jobs(&records);
    let state = &block_on(records.advisory_states()).unwrap()[0];
    assert_eq!(state.status, LoadStatus::Failed);
    assert!(state
        .error
        .as_deref()
        .unwrap()
        .contains("no readable npm advisory"));

    let good = archive(
        &[Member::deflated(
            "GHSA-1.json",
            &advisory("GHSA-1", "npm", "lodash", "4.17.21"),
        )],
        false,
    );
    load(&records, Ecosystem::Npm, &good, true);
    run_jobs(&records);
    for broken in [
        b"not a zip at all".to_vec(),
        good[..good.len() - 30].to_vec(),
    ] {
        load(&records, Ecosystem::Npm, &broken, true);
        let (sweeps, _) = run_jobs(&records);
        assert_eq!(sweeps, 0);
        let state = &block_on(records.advisory_states()).unwrap()[0];
        assert_eq!(state.status, LoadStatus::Failed);
        assert!(
            state
                .error
                .as_deref()
                .unwrap()
                .contains("not a readable zip"),
            "{:?}",
            state.error
        );
        assert_eq!(state.advisories, 1);
        let found = block_on(records.advisories_for(Ecosystem::Npm, &names(&["lodash"]))).unwrap();
        assert_eq!(ids(&found), ["GHSA-1"]);
        assert!(!keys(&records).iter().any(|key| key.contains("/loads/")));
    }
}

#[test]
fn a_refresh_is_conditional_on_what_was_fetched_from_the_same_url() {
    let (records, _, _) = records();
    let url = "https://osv.example/Alpine/all.zip";
    assert!(block_on(records.refresh_headers(Ecosystem::Alpine, url))
        .unwrap()
        .is_empty());
    let zip = archive(
        &[Member::deflated(
            "ALPINE-1.json",
            &advisory("ALPINE-1", "Alpine:v3.20", "musl", "1.2.5-r0"),
        )],
        false,
    );
    let fetched = Validators {
        url: url.into(),
        etag: Some("\"abc\"".into()),
        last_modified: Some("Wed, 02 Dec 2026 10:00:00 GMT".into()),
    };
    let state = block_on(records.load_advisories(
        Ecosystem::Alpine,
        url,
        Some(fetched),
        MemoryBody::new(&zip, 100),
        Some(zip.len() as u64),
        PART as u64,
    ))
    .unwrap();
    assert_eq!(state.source, url);
    assert_eq!(
        block_on(records.refresh_headers(Ecosystem::Alpine, url)).unwrap(),
        [
            ("If-None-Match", "\"abc\"".to_string()),
            (
                "If-Modified-Since",
                "Wed, 02 Dec 2026 10:00:00 GMT".to_string()
            )
        ]
    );
    let other = "https://mirror.example/Alpine/all.zip";
    assert!(block_on(records.refresh_headers(Ecosystem::Alpine, other))
        .unwrap()
        .is_empty());
    run_jobs(&records);
    let state = &block_on(records.advisory_states()).unwrap()[0];
    assert_eq!(
        (state.status, state.source.as_str()),
        (LoadStatus::Ready, url)
    );
}

#[test]
fn summaries_are_cut_on_a_character_boundary() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&advisory("X-1", "npm", "left-pad", "2")).unwrap();
    value["summary"] = json!("é".repeat(600));
    let zip = archive(
        &[Member::deflated(
            "X-1.json",
            &serde_json::to_vec(&value).unwrap(),
        )],
        false,
    );
    let (records, _, _) = records();
    load(&records, Ecosystem::Npm, &zip, true);
    run_jobs(&records);
    let found = block_on(records.advisories_for(Ecosystem::Npm, &names(&["left-pad"]))).unwrap();
    assert_eq!(found[0].summary.as_deref(), Some("é".repeat(512).as_str()));
}

/// Archives made by real writers, with their sizes in data descriptors after each entry:
/// Go's archive/zip (which writes OSV's own exports) and Python's zipfile on a stream.
#[test]
fn exports_of_real_zip_writers_are_read() {
    let (records, _, _) = records();
    load(
        &records,
        Ecosystem::Alpine,
        include_bytes!("testdata/go-archive-zip.zip"),
        true,
    );
    load(
        &records,
        Ecosystem::Debian,
        include_bytes!("testdata/python-streamed.zip"),
        true,
    );
    run_jobs(&records);
    let alpine = names(&["openssl", "musl"]);
    let found = block_on(records.advisories_for(Ecosystem::Alpine, &alpine)).unwrap();
    assert_eq!(ids(&found), ["ALPINE-CVE-2024-1", "ALPINE-CVE-2024-2"]);
    let debian = names(&["openssl", "glibc", "zlib"]);
    let found = block_on(records.advisories_for(Ecosystem::Debian, &debian)).unwrap();
    assert_eq!(
        ids(&found),
        [
            "DEBIAN-CVE-2024-1",
            "DEBIAN-CVE-2024-2",
            "DEBIAN-CVE-2024-3"
        ]
    );
    assert_eq!(
        found[2].affected[0].ranges[0].events[1].fixed.as_deref(),
        Some("1:1.2.13.dfsg-1")
    );
}

mod races;
