//! The uploads phase: an upload past its TTL loses what it wrote, a fresh one keeps it, and an
//! ended upload's end mark goes with whatever its end left behind.

use super::*;
use crate::storage::memory::MemoryBody;
use crate::upload::{UploadState, Uploader};

/// An upload that has received `length` bytes in one request: its multipart upload is open.
fn upload(fixture: &Fixture, length: usize) -> (String, UploadState) {
    let id = fixture.records.env.new_id();
    let data_key = layout::data(&fixture.records.env.new_id());
    let mut state = UploadState::new(Algorithm::Sha256);
    let body = MemoryBody::new(&vec![7; length], 5);
    block_on(
        Uploader::new(fixture.store(), &data_key, PART_SIZE as u64, 100).append(&mut state, body),
    )
    .unwrap();
    state.step = 1;
    let key = layout::upload_step(&id, 1);
    fixture.put(&key, state.encode(), PutOptions::default());
    (id, state)
}

fn steps(fixture: &Fixture, id: &str) -> Vec<String> {
    let prefix = format!("uploads/{id}/");
    let keys = fixture.store().keys();
    keys.into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

#[test]
fn an_expired_upload_loses_what_it_wrote_and_a_fresh_one_keeps_it() {
    let fixture = Fixture::new();
    let (expired, _) = upload(&fixture, 40);
    fixture.later(UPLOAD_TTL_SECONDS + 1);
    let (fresh, _) = upload(&fixture, 40);
    assert_eq!(fixture.store().open_multiparts(), 2);

    let reports = fixture.cycle(false);
    assert_eq!(deletions(&reports), [format!("upload {expired}")]);
    let examined: u64 = reports.iter().map(|r| r.examined.uploads).sum();
    assert_eq!(examined, 2);
    let reclaimed: u64 = reports.iter().map(|r| r.bytes_reclaimed).sum();
    assert_eq!(reclaimed, 40);
    assert_eq!(steps(&fixture, &expired), Vec::<String>::new());
    assert_eq!(steps(&fixture, &fresh).len(), 1);
    // The expired upload's multipart upload was aborted, the fresh one's is still open.
    assert_eq!(fixture.store().open_multiparts(), 1);

    // Once it expires too, it goes the same way.
    fixture.later(UPLOAD_TTL_SECONDS);
    let reports = fixture.cycle(false);
    assert_eq!(deletions(&reports), [format!("upload {fresh}")]);
    assert_eq!(fixture.store().open_multiparts(), 0);
}

#[test]
fn an_expired_upload_is_only_reported_by_a_dry_run() {
    let fixture = Fixture::new();
    let (expired, _) = upload(&fixture, 40);
    fixture.later(UPLOAD_TTL_SECONDS + 1);
    let reports = fixture.cycle(true);
    assert_eq!(deletions(&reports), [format!("upload {expired}")]);
    assert_eq!(steps(&fixture, &expired).len(), 1);
    assert_eq!(fixture.store().open_multiparts(), 1);
}

/// A finished upload's end mark, whose data a failed end left at `data_key`, closed with
/// `digest`.
fn ended_upload(fixture: &Fixture, data_key: &str, digest: &Digest) -> String {
    fixture.put(data_key, b"bytes".to_vec(), PutOptions::default());
    let id = fixture.records.env.new_id();
    let mut end = UploadState::new(Algorithm::Sha256).end_mark(data_key, Some(digest));
    end.step = 2;
    fixture.put(
        &layout::upload_step(&id, 2),
        end.encode(),
        PutOptions::default(),
    );
    id
}

/// The blob record of `digest`, naming `data_key`: younger than the grace period, so that
/// collection leaves it alone.
fn blob_record(fixture: &Fixture, digest: &Digest, data_key: &str) {
    let record = BlobRecord {
        size: 5,
        key: data_key.to_string(),
        segments: Vec::new(),
    };
    let json = serde_json::to_vec(&record).unwrap();
    fixture.put(&layout::blob(digest), json, PutOptions::default());
}

#[test]
fn an_ended_upload_leaves_the_blob_it_stored_and_loses_a_surplus_copy() {
    let fixture = Fixture::new();
    let (stored_digest, surplus_digest) = (
        Digest::of(Algorithm::Sha256, b"stored"),
        Digest::of(Algorithm::Sha256, b"surplus"),
    );
    let stored = ended_upload(&fixture, "data/stored", &stored_digest);
    let surplus = ended_upload(&fixture, "data/surplus", &surplus_digest);
    fixture.put("data/first", b"bytes".to_vec(), PutOptions::default());
    fixture.later(UPLOAD_TTL_SECONDS + 1);
    // The first blob was stored from the upload's own data; the second from another upload
    // of the same blob, which came first: this one's copy is surplus.
    blob_record(&fixture, &stored_digest, "data/stored");
    blob_record(&fixture, &surplus_digest, "data/first");

    let reports = fixture.cycle(false);
    // End marks are no uploads to report: the uploads ended.
    assert_eq!(deletions(&reports), Vec::<String>::new());
    assert_eq!(steps(&fixture, &stored), Vec::<String>::new());
    assert_eq!(steps(&fixture, &surplus), Vec::<String>::new());
    assert!(fixture.has("data/stored"));
    assert!(fixture.has("data/first"));
    assert!(!fixture.has("data/surplus"));
}

/// An end mark with no blob record for its digest: the seal did not finish, and what it
/// wrote is discarded as an abandoned upload's, and reported.
#[test]
fn an_ended_upload_whose_blob_was_never_stored_loses_its_data() {
    let fixture = Fixture::new();
    let digest = Digest::of(Algorithm::Sha256, b"never stored");
    let unsealed = ended_upload(&fixture, "data/unsealed", &digest);
    fixture.later(UPLOAD_TTL_SECONDS + 1);

    let reports = fixture.cycle(false);
    assert_eq!(deletions(&reports), [format!("upload {unsealed}")]);
    assert_eq!(steps(&fixture, &unsealed), Vec::<String>::new());
    assert!(!fixture.has("data/unsealed"));
}
