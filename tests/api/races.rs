//! Maintenance racing pushes, deletes and other runs, and upload requests racing each other,
//! interleaved deterministically: the
//! in-memory store holds one operation at a chosen storage call (`MemoryStore::pause`), the
//! competing one runs to its end, and then the held one goes on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use edge_registry::maintenance::{LEASE_SECONDS, MIN_STEP_OPERATIONS};
use edge_registry::storage::memory::{Call, Gate, When};
use edge_registry::storage::ObjectStore;
use serde_json::Value;

use super::*;
use common::maintenance::{collect, GRACE_SECONDS, UPLOAD_TTL_SECONDS};
use common::{data, image_manifest, push_blob, put_manifest, sha256, OCI_INDEX, OCI_MANIFEST};

type Handling<'a> = Pin<Box<dyn Future<Output = Reply> + 'a>>;

/// A request being handled, which the test polls by hand.
fn start<'a>(c: &'a InProcess, method: &str, path: &str, body: &[u8]) -> Handling<'a> {
    let request = c.request(Some(&common::basic("admin")), method, path, &[], body);
    Box::pin(async move { Reply::from(c.registry.handle(request).await.0) })
}

/// Polls once: the in-memory store is never pending except at a gate, so `Pending` means
/// held at one.
fn poll(handling: &mut Handling) -> Poll<Reply> {
    let waker = futures::task::noop_waker_ref();
    handling.as_mut().poll(&mut Context::from_waker(waker))
}

fn held_at(handling: &mut Handling, gate: &Gate) {
    assert!(
        poll(handling).is_pending(),
        "finished without reaching the gate"
    );
    assert!(gate.reached());
}

fn finish(mut handling: Handling) -> Reply {
    match poll(&mut handling) {
        Poll::Ready(reply) => reply,
        Poll::Pending => panic!("held at another gate"),
    }
}

/// Maintenance runs until one is held at `gate`.
fn maintenance_until<'a>(c: &'a InProcess, gate: &Gate) -> Handling<'a> {
    for _ in 0..1000 {
        let mut run = start(c, "POST", "/_maintenance", b"");
        match poll(&mut run) {
            Poll::Pending if gate.reached() => return run,
            Poll::Pending => panic!("held at another gate"),
            Poll::Ready(reply) => assert_eq!(reply.status, 200),
        }
    }
    panic!("no maintenance run reached the gate");
}

fn past_grace(c: &InProcess) {
    c.let_time_pass((GRACE_SECONDS + 1) * 1000);
}

fn manifest_key(name: &str, digest: &str) -> String {
    format!("repos/{name}/_manifests/{}", digest.replacen(':', "/", 1))
}

fn blob_key(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn status(c: &InProcess, path: &str) -> u16 {
    c.send("GET", path, &[], b"").status
}

/// Every blob the image manifest stored as `name@digest` names can be pulled.
fn assert_image_pullable(c: &InProcess, name: &str, reference: &str) {
    let reply = c.send(
        "GET",
        &format!("/v2/{name}/manifests/{reference}"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 200, "{name}:{reference}");
    let manifest = reply.json();
    let blobs = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|d| d["digest"].as_str().unwrap().to_string());
    for digest in blobs {
        let blob = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!(blob.status, 200, "{name}@{digest}");
        assert_eq!(sha256(&blob.body), digest);
    }
}

/// An image of a fresh config and layer, pushed by digest; its manifest and digest.
fn untagged_image(c: &InProcess, name: &str, seed: u64) -> (Vec<u8>, String) {
    let (config, layer) = (data(30, seed), data(200, seed + 1));
    let manifest = image_manifest(
        (&push_blob(c, name, &config), config.len()),
        &[(&push_blob(c, name, &layer), layer.len())],
        "",
    );
    let digest = put_manifest(c, name, &sha256(&manifest), &manifest, OCI_MANIFEST);
    (manifest, digest)
}

/// Pushes `count` stray blobs to `name` (data seeds from `seed`), lets them age past grace,
/// holds a maintenance run just after it decided to delete the link of the first in digest
/// order, and then pushes a manifest tagged `v1` that names that blob: the push checks its
/// links while the link is still there, and the held run, once released, deletes it. Returns
/// the strays in digest order, the gate holding the run, and the run.
fn push_under_a_link_deletion<'a>(
    c: &'a InProcess,
    name: &str,
    count: u64,
    seed: u64,
) -> (Vec<String>, Gate, Handling<'a>) {
    let mut strays: Vec<String> = (0..count)
        .map(|i| push_blob(c, name, &data(100, seed + i)))
        .collect();
    strays.sort();
    past_grace(c);
    let link = format!("{}/repos/{name}", blob_key(&strays[0]));
    let decided = c
        .registry
        .store()
        .pause(When::After, Call::Head, move |k| k == link, 1);
    let run = maintenance_until(c, &decided);
    let config_blob = data(30, seed + count);
    let manifest = image_manifest(
        (&push_blob(c, name, &config_blob), config_blob.len()),
        &[(&strays[0], 100)],
        "",
    );
    put_manifest(c, name, "v1", &manifest, OCI_MANIFEST);
    (strays, decided, run)
}

/// Issue 12, item 2: a manifest pushed between the collector's decision to delete a link it
/// names and the deletion, in a run whose operations are spent right after, gets the link back.
#[test]
fn a_link_deleted_under_a_push_is_restored_when_the_run_is_out_of_operations() {
    let mut config = config();
    config.maintenance.step_operations = MIN_STEP_OPERATIONS;
    let c = InProcess {
        registry: registry(config),
    };
    let name = "race/relink";
    // Stray blobs enough to spend a run's operations; the manifest names the first.
    let (_, decided, run) = push_under_a_link_deletion(&c, name, 15, 500);
    decided.release();
    assert_eq!(finish(run).status, 200);

    past_grace(&c);
    collect(&c, 2, false);
    assert_image_pullable(&c, name, "v1");
}

/// Issue 12, item 2 (review): the run that deleted a link under a push fails afterwards, in
/// the public-blobs bucket (its listing) or in the registry's own (judging the next blob):
/// the link is restored all the same.
#[test]
fn a_link_deleted_under_a_push_is_restored_when_the_run_then_fails() {
    for fail_in_public_bucket in [true, false] {
        let c = InProcess {
            registry: registry(config()).with_public_blobs(MemoryStore::new()),
        };
        let name = "race/relink-failed";
        let (strays, decided, run) = push_under_a_link_deletion(&c, name, 2, 1300);
        let next = strays[1].clone();
        if fail_in_public_bucket {
            let public = c.registry.public_blobs().unwrap();
            public.fail(When::Before, Call::List, |_| true, 1);
        } else {
            let next_link = format!("{}/repos/{name}", blob_key(&next));
            c.registry
                .store()
                .fail(When::Before, Call::Head, move |k| k == next_link, 1);
        }
        decided.release();
        assert_eq!(finish(run).status, 429);

        past_grace(&c);
        collect(&c, 2, false);
        assert_image_pullable(&c, name, "v1");
    }
}

/// Issue 12, item 3: a second run while one is under way does nothing, so that two runs
/// never judge the same blob. Without the lease, the second restored a record the first had
/// deleted, over the record of a push made meanwhile, and the first deleted the bytes it
/// names: every later push of those bytes linked to missing data.
#[test]
fn a_second_maintenance_run_waits_for_the_first() {
    let c = client();
    let bytes = data(200, 600);
    let digest = push_blob(&c, "race/first", &bytes);
    let deleted = c.send(
        "DELETE",
        &format!("/v2/race/first/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(deleted.status, 202);
    past_grace(&c);

    let store = c.registry.store();
    let record = blob_key(&digest);
    let read_record = |store: &MemoryStore| {
        let record = record.clone();
        store.pause(When::After, Call::Get, move |k| k == record, 1)
    };
    let first_read = read_record(store);
    let first = maintenance_until(&c, &first_read);
    let second_read = read_record(store);
    let mut second = start(&c, "POST", "/_maintenance", b"");
    let second_held = match poll(&mut second) {
        Poll::Ready(reply) => {
            let report = reply.json();
            assert!(report["lease_held_until_ms"].is_u64(), "{report}");
            assert_eq!(report["deletions"], Value::Array(Vec::new()));
            store.clear_pauses();
            None
        }
        Poll::Pending => Some(second),
    };
    let prefix = format!("{record}/repos/");
    let listed = store.pause(When::After, Call::List, move |k| k == prefix, 1);
    first_read.release();
    let mut first = first;
    held_at(&mut first, &listed);
    // The record is gone and the first run found no link: a push stores the bytes anew.
    push_blob(&c, "race/second", &bytes);
    if let Some(second) = second_held {
        second_read.release();
        assert_eq!(finish(second).status, 200);
    }
    listed.release();
    assert_eq!(finish(first).status, 200);

    push_blob(&c, "race/third", &bytes);
    for name in ["race/second", "race/third"] {
        let blob = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!(blob.status, 200, "{name}");
        assert_eq!(blob.body, bytes);
    }
}

/// Issue 12, item 3: bytes gone from under their record (what two runs at once could leave)
/// do not poison the digest: a pull answers BLOB_UNKNOWN, and the next push of the same bytes
/// stores them again instead of linking the missing ones.
#[test]
fn a_record_whose_bytes_are_gone_is_replaced_by_the_next_push() {
    let c = client();
    let bytes = data(200, 1100);
    let digest = push_blob(&c, "race/poisoned", &bytes);
    let store = c.registry.store();
    let data_objects: Vec<String> = store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("data/"))
        .collect();
    block_on(ObjectStore::delete(store, &data_objects)).unwrap();
    let pull = c.send(
        "GET",
        &format!("/v2/race/poisoned/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(
        (pull.status, pull.error_code()),
        (404, "BLOB_UNKNOWN".to_string())
    );
    for name in ["race/poisoned-elsewhere", "race/poisoned"] {
        push_blob(&c, name, &bytes);
        let blob = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!(blob.status, 200, "{name}");
        assert!(blob.body == bytes, "{name}");
    }
}

/// Issue 12, item 3: a run that died holding the lease stops others only until it expires.
#[test]
fn an_expired_lease_is_taken_over() {
    let c = client();
    let digest = push_blob(&c, "race/lease", &data(50, 700));
    past_grace(&c);
    let state = c
        .registry
        .store()
        .pause(When::After, Call::Get, |k| k == "gc/state", 1);
    let crashed = maintenance_until(&c, &state);
    drop(crashed);
    let held = c.send("POST", "/_maintenance", &[], b"").json();
    assert!(held["lease_held_until_ms"].is_u64(), "{held}");
    c.let_time_pass(LEASE_SECONDS * 1000);
    let collection = collect(&c, 1, false);
    assert!(collection
        .deletions
        .contains(&format!("link race/lease@{digest}")));
}

/// Issue 12, item 4: a repository with more manifests than a run may list does not stop
/// maintenance: its listing is read page by page over several runs, each within its budget,
/// and the cycles go on (uploads expire).
#[test]
fn a_repository_larger_than_a_run_is_maintained_over_several_runs() {
    let mut config = config();
    config.maintenance.step_operations = MIN_STEP_OPERATIONS;
    let page = 10;
    let c = InProcess {
        registry: registry_on(
            MemoryStore::with_min_part(config.part_size as usize).with_page_max(page),
            config,
        ),
    };
    let name = "race/large";
    let (config_blob, layer) = (data(30, 800), data(200, 801));
    let refs = (
        push_blob(&c, name, &config_blob),
        push_blob(&c, name, &layer),
    );
    // Thirty pages of manifests: a run may make twenty storage calls.
    for i in 0..30 * page {
        let manifest = image_manifest(
            (&refs.0, config_blob.len()),
            &[(&refs.1, layer.len())],
            &format!(r#","annotations":{{"n":"{i}"}}"#),
        );
        put_manifest(&c, name, &sha256(&manifest), &manifest, OCI_MANIFEST);
    }
    let upload = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    let location = upload.header("Location").unwrap().to_string();
    c.let_time_pass((UPLOAD_TTL_SECONDS + 1) * 1000);

    let store = c.registry.store();
    let mut completed = 0;
    for _ in 0..200 {
        let before = store.calls();
        let report = c.send("POST", "/_maintenance", &[], b"").json();
        let calls = store.calls() - before;
        // A run stops after the unit of work at hand: a manifest read, a page listed.
        assert!(
            calls <= u64::from(MIN_STEP_OPERATIONS) + 5,
            "{calls} storage calls: {report}"
        );
        if report["cycle_complete"] == Value::Bool(true) {
            completed += 1;
            if completed == 2 {
                break;
            }
        }
    }
    assert_eq!(completed, 2, "maintenance never completed two cycles");
    assert_eq!(status(&c, &location), 404, "the upload did not expire");
    let reply = c.send("GET", &format!("/v2/{name}/blobs/{}", refs.1), &[], b"");
    assert_eq!(reply.status, 200);
}

/// An index over two children, pushed by digest, whose digest sorts before theirs (the order
/// in which the collector used to delete).
fn index_before_its_children(c: &InProcess, name: &str) -> (Vec<u8>, String, Vec<String>) {
    let children: Vec<(Vec<u8>, String)> = (0..2)
        .map(|i| untagged_image(c, name, 900 + 10 * i))
        .collect();
    let descriptors: Vec<String> = children
        .iter()
        .map(|(bytes, digest)| {
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{}}}"#,
                bytes.len()
            )
        })
        .collect();
    let digests: Vec<String> = children.into_iter().map(|(_, d)| d).collect();
    for attempt in 0.. {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}],"annotations":{{"n":"{attempt}"}}}}"#,
            descriptors.join(",")
        )
        .into_bytes();
        let digest = sha256(&index);
        if digests.iter().all(|child| &digest < child) {
            put_manifest(c, name, &digest, &index, OCI_INDEX);
            return (index, digest, digests);
        }
    }
    unreachable!()
}

/// Issue 12, item 5: retention judged an untagged index and its children dead; a tag pushed
/// onto the index before its children are deleted keeps them (the index comes back with
/// everything it needs).
#[test]
fn an_index_tagged_during_retention_keeps_its_children() {
    let c = client();
    // This repository's rule drops untagged manifests.
    let name = "gc/untagged-retagged";
    let (index, index_digest, children) = index_before_its_children(&c, name);
    past_grace(&c);

    let child_keys: Vec<String> = children.iter().map(|d| manifest_key(name, d)).collect();
    let deleting_child = c.registry.store().pause(
        When::Before,
        Call::Delete,
        move |k| child_keys.iter().any(|c| c == k),
        1,
    );
    let run = maintenance_until(&c, &deleting_child);
    put_manifest(&c, name, "latest", &index, OCI_INDEX);
    deleting_child.release();
    assert_eq!(finish(run).status, 200);

    past_grace(&c);
    collect(&c, 2, false);
    let tagged = c.send("GET", &format!("/v2/{name}/manifests/latest"), &[], b"");
    assert_eq!(tagged.status, 200);
    assert_eq!(sha256(&tagged.body), index_digest);
    for child in &children {
        assert_image_pullable(&c, name, child);
    }
}

/// Issue 12, item 6: a DELETE by digest racing a push of a tag onto the same manifest, held
/// just before and just after it deletes the manifest: no tag is left serving a manifest
/// whose object is gone (and whose layers collection would then take).
#[test]
fn a_delete_by_digest_racing_a_tag_push_leaves_no_dangling_tag() {
    for when in [When::Before, When::After] {
        let c = client();
        let name = "race/delete";
        let (manifest, digest) = untagged_image(&c, name, 1000);
        put_manifest(&c, name, "v1", &manifest, OCI_MANIFEST);
        let key = manifest_key(name, &digest);
        let deleting = c
            .registry
            .store()
            .pause(when, Call::Delete, move |k| k == key, 1);
        let mut delete = start(&c, "DELETE", &format!("/v2/{name}/manifests/{digest}"), b"");
        held_at(&mut delete, &deleting);
        put_manifest(&c, name, "v2", &manifest, OCI_MANIFEST);
        deleting.release();
        assert_eq!(finish(delete).status, 202);

        past_grace(&c);
        collect(&c, 2, false);
        for tag in ["v1", "v2"] {
            if status(&c, &format!("/v2/{name}/manifests/{tag}")) == 200 {
                assert_image_pullable(&c, name, tag);
                assert_image_pullable(&c, name, &digest);
            }
        }
    }
}

/// Issue 12, item 6 (review): a DELETE by digest that fails once the manifest is gone, while
/// untagging, is answered with an error; its retry finds no manifest but still untags, so no
/// tag goes on serving the manifest while its layers are collected.
#[test]
fn a_delete_by_digest_that_failed_while_untagging_is_completed_by_its_retry() {
    let c = client();
    let name = "race/delete-retried";
    let (manifest, digest) = untagged_image(&c, name, 1200);
    put_manifest(&c, name, "v1", &manifest, OCI_MANIFEST);
    let tag = format!("repos/{name}/_tags/v1");
    c.registry
        .store()
        .fail(When::Before, Call::Put, move |k| k == tag, 1);
    let path = format!("/v2/{name}/manifests/{digest}");
    let failed = c.send("DELETE", &path, &[], b"");
    assert_eq!(
        failed.status,
        429,
        "{}",
        String::from_utf8_lossy(&failed.body)
    );
    assert_eq!(c.send("DELETE", &path, &[], b"").status, 202);
    assert_eq!(status(&c, &format!("/v2/{name}/manifests/v1")), 404);
    // Nothing names it any more.
    let again = c.send("DELETE", &path, &[], b"");
    assert_eq!(
        (again.status, again.error_code()),
        (404, "MANIFEST_UNKNOWN".to_string())
    );
}

// --- immutable tags ----------------------------------------------------------------------

/// Two first pushes of `v1.0.0` (immutable in test/immutable-*, tests/access.env): the first
/// is held once it has found the tag absent, just before it writes it; the second runs to its
/// end meanwhile. With other content the held push loses (403 DENIED) and the tag keeps the
/// winner's digest; with the same content both succeed.
#[test]
fn racing_first_pushes_of_an_immutable_tag_cannot_both_win() {
    for same_content in [false, true] {
        let c = client();
        let name = "test/immutable-race";
        let (winner, winner_digest) = untagged_image(&c, name, 1400);
        let (loser, _) = if same_content {
            (winner.clone(), winner_digest.clone())
        } else {
            untagged_image(&c, name, 1410)
        };
        let tag_key = format!("repos/{name}/_tags/v1.0.0");
        let writing = c
            .registry
            .store()
            .pause(When::Before, Call::Put, move |k| k == tag_key, 1);
        let path = format!("/v2/{name}/manifests/v1.0.0");
        let mut held = start(&c, "PUT", &path, &loser);
        held_at(&mut held, &writing);
        put_manifest(&c, name, "v1.0.0", &winner, OCI_MANIFEST);
        writing.release();
        let reply = finish(held);
        if same_content {
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
        } else {
            assert_eq!(
                (reply.status, reply.error_code()),
                (403, "DENIED".to_string())
            );
        }
        let tagged = c.send("GET", &path, &[], b"");
        assert_eq!(tagged.status, 200);
        assert_eq!(sha256(&tagged.body), winner_digest);
    }
}

/// A push by digest with `?tag=` for two immutable tags, held before its second tag's write
/// while another push takes that tag: refused, and the first tag it had created is undone,
/// so that the refused push leaves no tag behind.
#[test]
fn a_push_that_loses_one_immutable_tag_leaves_none() {
    let c = client();
    let name = "test/immutable-race-many";
    let (winner, _) = untagged_image(&c, name, 1420);
    let (loser, loser_digest) = untagged_image(&c, name, 1430);
    let second_key = format!("repos/{name}/_tags/v2.0.0");
    let writing = c
        .registry
        .store()
        .pause(When::Before, Call::Put, move |k| k == second_key, 1);
    let path = format!("/v2/{name}/manifests/{loser_digest}?tag=v1.0.0&tag=v2.0.0");
    let mut held = start(&c, "PUT", &path, &loser);
    held_at(&mut held, &writing);
    put_manifest(&c, name, "v2.0.0", &winner, OCI_MANIFEST);
    writing.release();
    assert_eq!(finish(held).status, 403);
    assert_eq!(status(&c, &format!("/v2/{name}/manifests/v1.0.0")), 404);
    // Untagged, it may be created again, by anyone.
    put_manifest(&c, name, "v1.0.0", &winner, OCI_MANIFEST);
}

/// A DELETE by digest held just after it found no immutable tag naming the manifest, while
/// a push points the immutable `v1.0.0` at it and finishes: the DELETE deletes the manifest,
/// then finds the tag, puts the manifest back and is refused. Nothing is lost: the tag's
/// manifest is there, and collection keeps it and its blobs.
#[test]
fn a_delete_by_digest_racing_an_immutable_tag_push_is_refused() {
    let c = client();
    let name = "test/immutable-race-delete";
    let (manifest, digest) = untagged_image(&c, name, 1440);
    let tags = format!("repos/{name}/_tags/");
    let checked = c
        .registry
        .store()
        .pause(When::After, Call::List, move |k| k == tags, 1);
    let mut delete = start(&c, "DELETE", &format!("/v2/{name}/manifests/{digest}"), b"");
    held_at(&mut delete, &checked);
    put_manifest(&c, name, "v1.0.0", &manifest, OCI_MANIFEST);
    checked.release();
    let reply = finish(delete);
    assert_eq!(
        (reply.status, reply.error_code()),
        (403, "DENIED".to_string())
    );
    assert_image_pullable(&c, name, "v1.0.0");
    assert_image_pullable(&c, name, &digest);

    past_grace(&c);
    collect(&c, 2, false);
    assert_image_pullable(&c, name, &digest);
}

// --- uploads ---------------------------------------------------------------------------

/// Starts an upload; its Location.
fn upload_location(c: &InProcess, name: &str) -> String {
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202);
    start.header("Location").unwrap().to_string()
}

fn is_progress(key: &str) -> bool {
    key.starts_with("uploads/")
}

/// Issue 12, item 7: a status request lists the newest step, then a PATCH supersedes and
/// deletes it before the read: the status request looks again and finds the newer step.
#[test]
fn a_status_read_finds_the_step_that_superseded_the_one_it_listed() {
    let c = client();
    let location = upload_location(&c, "race/status");
    assert_eq!(c.send("PATCH", &location, &[], b"a").status, 202);
    let listed = c
        .registry
        .store()
        .pause(When::Before, Call::Get, is_progress, 1);
    let mut status = start(&c, "GET", &location, b"");
    held_at(&mut status, &listed);
    assert_eq!(c.send("PATCH", &location, &[], b"b").status, 202);
    listed.release();
    let status = finish(status);
    assert_eq!((status.status, status.header("Range")), (204, Some("0-1")));
}

/// A status request held the same way while the upload is finished: it finds the end mark
/// that replaced the step it listed, and the upload is unknown, not a fresh one at offset 0.
#[test]
fn a_status_read_under_a_finishing_put_finds_the_upload_gone() {
    let c = client();
    let location = upload_location(&c, "race/finished");
    assert_eq!(c.send("PATCH", &location, &[], b"ab").status, 202);
    let listed = c
        .registry
        .store()
        .pause(When::Before, Call::Get, is_progress, 1);
    let mut status = start(&c, "GET", &location, b"");
    held_at(&mut status, &listed);
    let put = c.send(
        "PUT",
        &format!("{location}?digest={}", sha256(b"ab")),
        &[],
        b"",
    );
    assert_eq!(put.status, 201);
    listed.release();
    let status = finish(status);
    assert_eq!(
        (status.status, status.error_code()),
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
}

/// A PATCH holds before it records its step while two others are accepted; the second
/// deletes the step number the held one is about to create. Its create succeeds, yet it
/// must lose (416), and the progress of the other two stands.
#[test]
fn a_patch_from_a_superseded_step_loses_though_its_step_number_is_free() {
    let c = client();
    let location = upload_location(&c, "race/reused-step");
    assert_eq!(c.send("PATCH", &location, &[], b"a").status, 202);
    let recording = c
        .registry
        .store()
        .pause(When::Before, Call::Put, is_progress, 1);
    let mut stale = start(&c, "PATCH", &location, b"x");
    held_at(&mut stale, &recording);
    assert_eq!(c.send("PATCH", &location, &[], b"b").status, 202);
    assert_eq!(c.send("PATCH", &location, &[], b"c").status, 202);
    recording.release();
    assert_eq!(finish(stale).status, 416);
    let status = c.send("GET", &location, &[], b"");
    assert_eq!((status.status, status.header("Range")), (204, Some("0-2")));
    let progress = c.registry.store().keys();
    assert_eq!(progress.iter().filter(|k| is_progress(k)).count(), 1);
    let put = c.send(
        "PUT",
        &format!("{location}?digest={}", sha256(b"abc")),
        &[],
        b"",
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
}
