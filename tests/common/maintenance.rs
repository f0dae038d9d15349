//! Maintenance: upload expiry, retention and garbage collection, driven through the
//! administrator's `POST /_maintenance`. Run in process and against a worker of their own
//! (scripts/test), one at a time: collection is registry-wide.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

/// The maintenance settings of both test registries (scripts/test passes the same to the worker).
pub const GRACE_SECONDS: u64 = 2;
pub const UPLOAD_TTL_SECONDS: u64 = 3;
pub const STEP_OPERATIONS: u32 = 40;
pub const RETENTION: &str = "gc/retained-* keep=2 protect=latest,semver untagged-max-age=0; \
                             gc/untagged-* untagged-max-age=0";

#[macro_export]
macro_rules! maintenance_tests {
    ($client:expr) => {
        $crate::maintenance_tests!($client =>
            maintenance_discards_expired_uploads, maintenance_collects_unreferenced_layers,
            maintenance_spares_blobs_pushed_before_their_manifest, maintenance_applies_retention,
            maintenance_keeps_immutable_tags,
            maintenance_spans_several_runs, maintenance_dry_run_deletes_nothing,
            maintenance_is_for_the_administrator);
    };
    ($client:expr => $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { common::maintenance::$name(&$client); } )*
    };
}

/// What the runs of a collection reported.
pub struct Collection {
    pub runs: usize,
    pub deletions: BTreeSet<String>,
}

impl Collection {
    fn deleted(&self, entry: &str) -> bool {
        self.deletions.contains(entry)
    }
}

/// Runs maintenance until `cycles` whole cycles have run after this call (the first cycle
/// to complete may have begun before it).
pub fn collect(c: &dyn Client, cycles: usize, dry_run: bool) -> Collection {
    let path = if dry_run {
        "/_maintenance?dry-run=true"
    } else {
        "/_maintenance"
    };
    let mut collection = Collection {
        runs: 0,
        deletions: BTreeSet::new(),
    };
    let mut completed = 0;
    while completed <= cycles {
        assert!(
            collection.runs < 1000,
            "maintenance never completes a cycle"
        );
        let reply = c.send("POST", path, &[], b"");
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let report = reply.json();
        assert_eq!(report["dry_run"], Value::Bool(dry_run));
        collection.runs += 1;
        for entry in report["deletions"].as_array().expect("deletions") {
            collection
                .deletions
                .insert(entry.as_str().expect("text").to_string());
        }
        if report["cycle_complete"] == Value::Bool(true) {
            completed += 1;
        }
    }
    collection
}

fn past_grace(c: &dyn Client) {
    c.let_time_pass((GRACE_SECONDS + 1) * 1000);
}

fn blob_status(c: &dyn Client, name: &str, digest: &str) -> u16 {
    c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
        .status
}

fn tags(c: &dyn Client, name: &str) -> Vec<String> {
    let reply = c.send("GET", &format!("/v2/{name}/tags/list"), &[], b"");
    assert_eq!(reply.status, 200);
    reply.json()["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// An image of a config and the given layers (pushed first), tagged; its manifest digest.
fn image(c: &dyn Client, name: &str, tag: &str, layers: &[&[u8]], extra: &str) -> String {
    let config = data(40, tag.len() as u64 * 7919 + layers.len() as u64);
    let config = [config.as_slice(), tag.as_bytes()].concat();
    let config_digest = push_blob(c, name, &config);
    let layers: Vec<(String, usize)> = layers
        .iter()
        .map(|layer| (push_blob(c, name, layer), layer.len()))
        .collect();
    let refs: Vec<(&str, usize)> = layers.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    let manifest = image_manifest((&config_digest, config.len()), &refs, extra);
    put_manifest(c, name, tag, &manifest, OCI_MANIFEST)
}

/// Pulls an image the way clients do, every blob checked against its digest: by raw HTTP,
/// and against a server with a real client too (see `Client::pull_with_client`).
fn assert_pullable(c: &dyn Client, name: &str, tag: &str, manifest_digest: &str) {
    let reply = c.send(
        "GET",
        &format!("/v2/{name}/manifests/{tag}"),
        &[("Accept", OCI_MANIFEST)],
        b"",
    );
    assert_eq!(reply.status, 200, "{name}:{tag}");
    assert_eq!(sha256(&reply.body), manifest_digest, "{name}:{tag}");
    let manifest = reply.json();
    let blobs = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|d| d["digest"].as_str().unwrap().to_string());
    for digest in blobs {
        let blob = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!(blob.status, 200, "{name}@{digest}");
        assert_eq!(sha256(&blob.body), digest);
    }
    c.pull_with_client(name, tag, manifest_digest);
}

pub fn maintenance_discards_expired_uploads(c: &dyn Client) {
    let name = "gc/uploads";
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202);
    let location = start.header("Location").unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    // More than a part, so that a multipart upload is open and a part stored.
    let chunk = data(c.part_size() + 10, 1);
    let patch = c.send("PATCH", &location, &[], &chunk);
    assert_eq!(patch.status, 202);

    let early = collect(c, 1, false);
    assert!(!early.deleted(&format!("upload {id}")));
    assert_eq!(
        c.send("GET", &location, &[], b"").status,
        204,
        "still alive"
    );

    c.let_time_pass((UPLOAD_TTL_SECONDS + 1) * 1000);
    let status = c.send("GET", &location, &[], b"");
    assert_eq!(
        (status.status, status.error_code()),
        (404, "BLOB_UPLOAD_UNKNOWN".into()),
        "a session ends at its TTL"
    );
    let late = collect(c, 1, false);
    assert!(
        late.deleted(&format!("upload {id}")),
        "{:?}",
        late.deletions
    );
    // Nothing of it is left to find: a second collection has nothing more to do for it.
    assert!(!collect(c, 1, false).deleted(&format!("upload {id}")));
}

pub fn maintenance_collects_unreferenced_layers(c: &dyn Client) {
    let name = "gc/untagged-app";
    let other = "gc/other";
    let shared = data(300, 11);
    let own = data(301, 12);
    let elsewhere = data(302, 13);
    let old = image(c, name, "old", &[&shared, &own, &elsewhere], "");
    let new = image(c, name, "new", &[&shared], "");
    let kept_elsewhere = image(c, other, "v1", &[&elsewhere], "");
    let (shared, own, elsewhere) = (sha256(&shared), sha256(&own), sha256(&elsewhere));

    // Deleting the tag leaves an untagged manifest, which this repository's rule drops.
    let deleted = c.send("DELETE", &format!("/v2/{name}/manifests/old"), &[], b"");
    assert_eq!(deleted.status, 202);
    past_grace(c);
    let collection = collect(c, 2, false);
    assert!(
        collection.deleted(&format!("manifest {name}@{old}")),
        "{:?}",
        collection.deletions
    );
    assert!(collection.deleted(&format!("link {name}@{own}")));
    assert!(collection.deleted(&format!("blob {own}")));
    assert!(collection.deleted(&format!("link {name}@{elsewhere}")));
    assert!(!collection.deleted(&format!("blob {elsewhere}")));
    assert!(!collection.deleted(&format!("link {name}@{shared}")));

    assert_eq!(blob_status(c, name, &own), 404);
    assert_eq!(blob_status(c, name, &elsewhere), 404);
    assert_eq!(blob_status(c, name, &shared), 200);
    let by_digest = c.send("GET", &format!("/v2/{name}/manifests/{old}"), &[], b"");
    assert_eq!(by_digest.status, 404);
    assert_pullable(c, name, "new", &new);
    assert_pullable(c, other, "v1", &kept_elsewhere);
}

pub fn maintenance_spares_blobs_pushed_before_their_manifest(c: &dyn Client) {
    let name = "gc/young";
    let layer = data(303, 21);
    let config = data(40, 22);
    let (layer_digest, config_digest) = (push_blob(c, name, &layer), push_blob(c, name, &config));
    // A collection runs between the blobs and the manifest of a push.
    let during = collect(c, 1, false);
    assert!(!during.deleted(&format!("link {name}@{layer_digest}")));
    let manifest = image_manifest(
        (&config_digest, config.len()),
        &[(&layer_digest, layer.len())],
        "",
    );
    let digest = put_manifest(c, name, "v1", &manifest, OCI_MANIFEST);
    past_grace(c);
    let after = collect(c, 2, false);
    assert!(!after.deleted(&format!("link {name}@{layer_digest}")));
    assert_pullable(c, name, "v1", &digest);

    // A blob left without a manifest for longer than the grace period is collected, and a
    // manifest that names it afterwards is refused rather than stored broken.
    let stray = data(304, 23);
    let stray_digest = push_blob(c, name, &stray);
    past_grace(c);
    let swept = collect(c, 1, false);
    assert!(swept.deleted(&format!("link {name}@{stray_digest}")));
    let late = image_manifest(
        (&config_digest, config.len()),
        &[(&stray_digest, stray.len())],
        "",
    );
    let reply = c.send(
        "PUT",
        &format!("/v2/{name}/manifests/late"),
        &[("Content-Type", OCI_MANIFEST)],
        &late,
    );
    assert_oci_error(&reply, 400, "MANIFEST_BLOB_UNKNOWN");
}

pub fn maintenance_applies_retention(c: &dyn Client) {
    let name = "gc/retained-app";
    let mut digests = Vec::new();
    for build in 1..=4 {
        let tag = format!("build-{build}");
        let layer = data(200, 100 + build);
        digests.push((tag.clone(), image(c, name, &tag, &[&layer], "")));
        // Distinct push times: retention orders tags by them.
        c.let_time_pass(20);
    }
    let latest = image(c, name, "latest", &[&data(200, 200)], "");
    let release = image(c, name, "v1.0.0", &[&data(200, 201)], "");
    // Attachments of build-1 (which retention drops) and build-4 (which it keeps): a
    // referrer by subject, and a cosign-style signature tag.
    let mut attachments = Vec::new();
    for (index, (_, subject)) in [&digests[0], &digests[3]].into_iter().enumerate() {
        let subject_field =
            format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}}"#);
        let sbom = data(100, 300 + index as u64);
        let sbom_digest = push_blob(c, name, &sbom);
        let config = push_blob(c, name, b"{}");
        let referrer = image_manifest((&config, 2), &[(&sbom_digest, sbom.len())], &subject_field);
        let referrer_digest = sha256(&referrer);
        put_manifest(c, name, &referrer_digest, &referrer, OCI_MANIFEST);
        let signature_tag = format!("{}.sig", subject.replace(':', "-"));
        let signature = image(
            c,
            name,
            &signature_tag,
            &[&data(90, 310 + index as u64)],
            "",
        );
        attachments.push((referrer_digest, signature_tag, signature));
    }
    past_grace(c);
    let collection = collect(c, 2, false);

    let expected = [
        "build-3".to_string(),
        "build-4".to_string(),
        "latest".to_string(),
        attachments[1].1.clone(),
        "v1.0.0".to_string(),
    ];
    let mut kept = tags(c, name);
    kept.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(kept, expected, "{:?}", collection.deletions);
    for (tag, digest) in &digests[..2] {
        assert!(collection.deleted(&format!("tag {name}:{tag}")));
        assert!(collection.deleted(&format!("manifest {name}@{digest}")));
    }
    assert!(collection.deleted(&format!("manifest {name}@{}", attachments[0].0)));
    assert!(collection.deleted(&format!("tag {name}:{}", attachments[0].1)));
    assert!(collection.deleted(&format!("manifest {name}@{}", attachments[0].2)));
    let referrers = c.send(
        "GET",
        &format!("/v2/{name}/referrers/{}", digests[3].1),
        &[],
        b"",
    );
    assert_eq!(referrers.status, 200);
    assert_eq!(
        referrers.json()["manifests"][0]["digest"],
        attachments[1].0.as_str()
    );
    for (tag, digest) in &digests[2..] {
        assert_pullable(c, name, tag, digest);
    }
    assert_pullable(c, name, "latest", &latest);
    assert_pullable(c, name, "v1.0.0", &release);
    assert_pullable(c, name, &attachments[1].1, &attachments[1].2);
}

/// Immutable tags (tests/access.env: `release-*` in gc/retained-*) under `keep=2`: never
/// deleted and not counted, so the two newest other tags stay besides them, however new the
/// releases are; their images stay whole through collection, and deleting them is refused.
pub fn maintenance_keeps_immutable_tags(c: &dyn Client) {
    let name = "gc/retained-immutable";
    let mut pushed = Vec::new();
    for (index, tag) in ["release-1", "build-1", "build-2", "build-3", "release-2"]
        .into_iter()
        .enumerate()
    {
        let layer = data(200, 400 + index as u64);
        pushed.push((tag, image(c, name, tag, &[&layer], "")));
        // Distinct push times: retention orders tags by them.
        c.let_time_pass(20);
    }
    past_grace(c);
    let collection = collect(c, 2, false);

    let mut kept = tags(c, name);
    kept.sort();
    assert_eq!(
        kept,
        ["build-2", "build-3", "release-1", "release-2"],
        "{:?}",
        collection.deletions
    );
    assert!(collection.deleted(&format!("tag {name}:build-1")));
    assert!(collection.deleted(&format!("manifest {name}@{}", pushed[1].1)));
    for (tag, digest) in pushed.iter().filter(|(tag, _)| *tag != "build-1") {
        assert_pullable(c, name, tag, digest);
    }
    let delete = c.send(
        "DELETE",
        &format!("/v2/{name}/manifests/{}", pushed[0].1),
        &[],
        b"",
    );
    assert_oci_error(&delete, 403, "DENIED");
}

pub fn maintenance_spans_several_runs(c: &dyn Client) {
    let name = "gc/many";
    // Each stray blob costs a run a few operations: far more than one run may spend.
    let blobs: Vec<String> = (0..(STEP_OPERATIONS as u64))
        .map(|i| push_blob(c, name, &data(64, 1000 + i)))
        .collect();
    past_grace(c);
    let collection = collect(c, 2, false);
    assert!(collection.runs >= 4, "only {} runs", collection.runs);
    for digest in &blobs {
        assert!(collection.deleted(&format!("blob {digest}")), "{digest}");
        assert_eq!(blob_status(c, name, digest), 404);
    }
}

pub fn maintenance_dry_run_deletes_nothing(c: &dyn Client) {
    let name = "gc/untagged-dry";
    let layer = data(305, 31);
    let digest = image(c, name, "v1", &[&layer], "");
    let deleted = c.send("DELETE", &format!("/v2/{name}/manifests/v1"), &[], b"");
    assert_eq!(deleted.status, 202);
    let stray = push_blob(c, name, &data(306, 32));
    past_grace(c);
    let dry = collect(c, 2, true);
    assert!(
        dry.deleted(&format!("manifest {name}@{digest}")),
        "{:?}",
        dry.deletions
    );
    assert!(dry.deleted(&format!("link {name}@{stray}")));
    let by_digest = c.send("GET", &format!("/v2/{name}/manifests/{digest}"), &[], b"");
    assert_eq!(by_digest.status, 200);
    assert_eq!(blob_status(c, name, &stray), 200);
    assert_eq!(blob_status(c, name, &sha256(&layer)), 200);
    // The real collection deletes what the dry run named.
    let real = collect(c, 1, false);
    assert!(real.deleted(&format!("manifest {name}@{digest}")));
    assert_eq!(blob_status(c, name, &stray), 404);
}

pub fn maintenance_is_for_the_administrator(c: &dyn Client) {
    let anonymous = c.send_as(None, "POST", "/_maintenance", &[], b"");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous
        .header("WWW-Authenticate")
        .is_some_and(|h| h.starts_with("Basic ")));
    let pusher = c.send_as(Some(&basic("pusher")), "POST", "/_maintenance", &[], b"");
    assert_oci_error(&pusher, 403, "DENIED");
    let get = c.send("GET", "/_maintenance", &[], b"");
    assert_eq!(get.status, 405);
}
