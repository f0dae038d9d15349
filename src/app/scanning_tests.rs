//! Scanning through the registry and the queue's jobs (see [`crate::jobs`]) over memory stores, driven as the platform drives them: requests through
//! the registry, then every job they queued, and every job those queued, until none is left.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::executor::block_on;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::api::{Body, Method, Request};
use crate::app::Registry;
use crate::auth::{Auth, Policy};
use crate::config::Config;
use crate::oci::{Algorithm, Digest};
use crate::records::ClockedEnvironment;
use crate::scan::tests::{gzip, tar, OS_RELEASE, STATUS_BEFORE};
use crate::scan::zip::build::{archive, Member};
use crate::scan::Job;
use crate::storage::memory::{Clock, MemoryBody, MemoryStore};

const ADMIN: &str = "admin:admin-password";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Harness {
    registry: Registry<MemoryStore, MemoryStore, ClockedEnvironment>,
    clock: Clock,
}

fn sha256(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, bytes).to_string()
}

impl Harness {
    fn new(private: &str, scanning: bool) -> Harness {
        Harness::with_config(
            private,
            Config {
                scanning,
                ..Config::default()
            },
        )
    }

    fn with_config(private: &str, config: Config) -> Harness {
        let hash = hex::encode(Sha256::digest(b"admin-password"));
        let policy = Policy::parse("", Some(&format!("admin {hash}")), private).unwrap();
        let auth = Auth {
            policy,
            ..Auth::default()
        };
        let clock = Clock::default();
        let registry = Registry::new(
            MemoryStore::new().with_clock(clock.clone()),
            MemoryStore::new(),
            ClockedEnvironment::new(clock.clone()),
            config,
            auth,
        );
        Harness { registry, clock }
    }

    fn send(&self, admin: bool, method: Method, path: &str, body: &[u8]) -> Reply {
        let authorization = format!("Basic {}", STANDARD.encode(ADMIN));
        let mut headers = vec![("content-type", OCI_MANIFEST)];
        if admin {
            headers.push(("authorization", authorization.as_str()));
        }
        let request = Request::local(method, path, &headers, MemoryBody::new(body, body.len()));
        let (response, _) = block_on(self.registry.handle(request));
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) | Body::Object(bytes) => bytes,
        };
        Reply {
            status: response.status.as_u16(),
            body,
        }
    }

    /// Loads `advisories` (OSV JSON) as the ecosystem's export, runs the jobs that follows
    /// (indexing, then the sweep that matches stored SBOMs again), a second later.
    fn load_advisories(&self, ecosystem: &str, advisories: &[Value]) -> Vec<Job> {
        self.clock.set(self.clock.get() + 1000);
        let members: Vec<Member> = advisories
            .iter()
            .map(|a| {
                Member::deflated(
                    &format!("{}.json", a["id"].as_str().unwrap()),
                    a.to_string().as_bytes(),
                )
            })
            .collect();
        let path = format!("/_advisories/{ecosystem}");
        let reply = self.send(true, Method::PUT, &path, &archive(&members, false));
        assert_eq!(
            reply.status,
            202,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let ran = self.run_jobs();
        let states = self.get("/_advisories").json();
        let state = states["ecosystems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ecosystem"] == ecosystem)
            .unwrap()
            .clone();
        assert_eq!(state["status"], "ready", "{states}");
        // Only the entries of this ecosystem are kept.
        let own = advisories
            .iter()
            .filter(|a| {
                a["affected"][0]["package"]["ecosystem"]
                    .as_str()
                    .unwrap()
                    .starts_with(ecosystem)
            })
            .count();
        assert_eq!(state["advisories"], own, "{states}");
        self.clock.set(self.clock.get() + 1000);
        ran
    }

    fn get(&self, path: &str) -> Reply {
        self.send(true, Method::GET, path, b"")
    }

    fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let path = format!("/v2/{name}/blobs/uploads/?digest={digest}");
        assert_eq!(self.send(true, Method::POST, &path, bytes).status, 201);
        digest
    }

    /// Pushes an image of `layers` (gzip tars) as `tag`; returns its digest.
    fn push_image(&self, name: &str, tag: &str, layers: &[Vec<u8>]) -> String {
        let config = self.push_blob(name, br#"{"architecture":"amd64","os":"linux"}"#);
        let descriptors: Vec<String> = layers
            .iter()
            .map(|layer| {
                let digest = self.push_blob(name, layer);
                format!(
                    r#"{{"mediaType":"{GZIP_LAYER}","digest":"{digest}","size":{}}}"#,
                    layer.len()
                )
            })
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":38}},"layers":[{}]}}"#,
            descriptors.join(",")
        );
        let path = format!("/v2/{name}/manifests/{tag}");
        let reply = self.send(true, Method::PUT, &path, manifest.as_bytes());
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        sha256(manifest.as_bytes())
    }

    /// Runs every queued job, and those they queue, as the queue would; returns them in order.
    fn run_jobs(&self) -> Vec<Job> {
        let mut ran = Vec::new();
        let mut queue = self.registry.take_jobs();
        while !queue.is_empty() {
            for job in std::mem::take(&mut queue) {
                block_on(self.registry.jobs().run(job.clone())).unwrap();
                ran.push(job);
                queue.extend(self.registry.take_jobs());
            }
        }
        ran
    }

    fn report(&self, name: &str, digest: &str) -> Value {
        let reply = self.get(&format!("/v2/{name}/_scan/{digest}"));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    /// The image's referrers of `artifact_type`, as the referrers API lists them.
    fn referrers(&self, name: &str, digest: &str, artifact_type: &str) -> Vec<Value> {
        let reply = self.get(&format!("/v2/{name}/referrers/{digest}"));
        assert_eq!(reply.status, 200);
        let index = reply.json();
        let manifests = index["manifests"].as_array().unwrap().clone();
        manifests
            .into_iter()
            .filter(|m| m["artifactType"] == artifact_type)
            .collect()
    }

    /// The document an artifact manifest carries in its one layer.
    fn artifact_document(&self, name: &str, manifest_digest: &str) -> Value {
        let manifest = self
            .get(&format!("/v2/{name}/manifests/{manifest_digest}"))
            .json();
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let blob = self.get(&format!("/v2/{name}/blobs/{layer}"));
        assert_eq!(blob.status, 200);
        serde_json::from_slice(&blob.body).unwrap()
    }
}

fn debian_layer() -> Vec<u8> {
    gzip(&tar(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", STATUS_BEFORE),
    ]))
}

/// The scan a push queues: with the registry's origin as the harness's requests name it.
fn scan_job(name: &str, digest: &str) -> Job {
    Job::Scan {
        repository: name.to_string(),
        digest: digest.to_string(),
        source: Some("http://localhost".to_string()),
    }
}

/// The webhook events among `jobs`: (receiver, event).
fn deliveries(jobs: Vec<Job>) -> Vec<(String, crate::webhooks::Event)> {
    jobs.into_iter()
        .filter_map(|job| match job {
            Job::Deliver { receiver, event } => Some((receiver, *event)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_scan_that_ends_queues_its_scan_completed_event_once() {
    use crate::webhooks::{EventKind, Webhooks};
    let secret = "secret=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let webhooks = Webhooks::parse(&format!(
        "https://scans.example/ {secret} events=scan.completed; https://pushes.example/ {secret} events=push"
    ))
    .unwrap();
    let h = Harness::with_config(
        "",
        Config {
            scanning: true,
            webhooks,
            ..Config::default()
        },
    );
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    let queued = h.registry.take_jobs();
    assert!(queued.contains(&scan_job("a/app", &digest)), "{queued:?}");
    let pushed = deliveries(queued);
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].0, "https://pushes.example/");

    block_on(h.registry.jobs().run(scan_job("a/app", &digest))).unwrap();
    let completed = deliveries(h.registry.take_jobs());
    assert_eq!(completed.len(), 1, "{completed:?}");
    let (receiver, event) = &completed[0];
    assert_eq!(receiver, "https://scans.example/");
    assert_eq!(event.kind, EventKind::ScanCompleted);
    assert_eq!(event.subject(), format!("a/app@{digest}"));
    assert_eq!(event.source, "http://localhost");
    let report = h.report("a/app", &digest);
    let outcome = event.scan.as_ref().unwrap();
    assert_eq!(outcome.status, "complete");
    assert_eq!(
        outcome.report.as_deref(),
        report["report_digest"].as_str(),
        "{report}"
    );
    let body: Value = serde_json::from_slice(&event.cloud_event()).unwrap();
    assert_eq!(body["type"], "dev.edge-registry.scan.completed");
    assert_eq!(body["data"]["scan"]["status"], "complete");

    // A second delivery of the job scans nothing and announces nothing.
    block_on(h.registry.jobs().run(scan_job("a/app", &digest))).unwrap();
    assert!(deliveries(h.registry.take_jobs()).is_empty());

    // A scan that fails ends too, with its reason.
    let mut corrupt = debian_layer();
    corrupt.truncate(corrupt.len() / 2);
    let failed = h.push_image("a/app", "2.0", &[corrupt]);
    h.registry.take_jobs();
    block_on(h.registry.jobs().run(scan_job("a/app", &failed))).unwrap();
    let completed = deliveries(h.registry.take_jobs());
    let outcome = completed[0].1.scan.as_ref().unwrap();
    assert_eq!(outcome.status, "failed");
    assert!(outcome.reason.as_deref().unwrap().starts_with("layer 1"));
}

#[test]
fn a_pushed_image_is_scanned_and_its_sbom_attached() {
    let h = Harness::new("", true);
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    assert_eq!(h.report("a/app", &digest)["status"], "queued");
    assert_eq!(h.run_jobs(), [scan_job("a/app", &digest)]);

    let report = h.report("a/app", &digest);
    assert_eq!(report["status"], "complete", "{report}");
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["os"]["version_id"], "12");
    assert_eq!(report["components"], 2);
    let sboms = h.referrers("a/app", &digest, "application/vnd.cyclonedx+json");
    assert_eq!(sboms.len(), 1);
    assert_eq!(sboms[0]["digest"], report["sbom_digest"]);
    let sbom = h.artifact_document("a/app", sboms[0]["digest"].as_str().unwrap());
    let purls: Vec<&str> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert!(
        purls.contains(&"pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"),
        "{purls:?}"
    );
    // The SBOM and report artifacts are not images: they are not scanned in turn.
    let sbom_digest = report["sbom_digest"].as_str().unwrap();
    assert_eq!(h.report("a/app", sbom_digest)["status"], "unsupported");
}

#[test]
fn a_second_push_or_tag_or_delivery_does_not_scan_again() {
    let h = Harness::new("", true);
    let layer = debian_layer();
    let digest = h.push_image("a/app", "1.0", std::slice::from_ref(&layer));
    h.run_jobs();
    let first = h.report("a/app", &digest);
    assert_eq!(h.push_image("a/app", "latest", &[layer]), digest);
    assert!(h.registry.take_jobs().is_empty());
    // The queue delivers at least once: the same job again changes nothing.
    block_on(h.registry.jobs().run(scan_job("a/app", &digest))).unwrap();
    assert!(h.registry.take_jobs().is_empty());
    assert_eq!(h.report("a/app", &digest), first);
    let sboms = h.referrers("a/app", &digest, "application/vnd.cyclonedx+json");
    assert_eq!(sboms.len(), 1);
}

#[test]
fn a_scan_retried_after_it_attached_its_sbom_attaches_the_same_one() {
    let h = Harness::new("", true);
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    h.run_jobs();
    let report = h.report("a/app", &digest);
    // As if the first attempt stopped after the SBOM, before its record said complete.
    let name = crate::oci::RepositoryName::parse("a/app", "").unwrap();
    let image: Digest = digest.parse().unwrap();
    let records = &h.registry.records;
    let mut record = block_on(records.scan_record(&name, &image))
        .unwrap()
        .unwrap();
    record.status = crate::records::ScanStatus::Scanning;
    block_on(records.write_scan_record(&name, &image, &record)).unwrap();
    block_on(h.registry.jobs().run(scan_job("a/app", &digest))).unwrap();
    let again = h.report("a/app", &digest);
    assert_eq!(again["status"], "complete");
    assert_eq!(again["sbom_digest"], report["sbom_digest"]);
    let sboms = h.referrers("a/app", &digest, "application/vnd.cyclonedx+json");
    assert_eq!(sboms.len(), 1);
}

#[test]
fn a_corrupt_layer_fails_the_scan_with_a_reason() {
    let h = Harness::new("", true);
    let mut corrupt = debian_layer();
    corrupt.truncate(corrupt.len() / 2);
    corrupt.extend_from_slice(b"garbage after half a gzip stream");
    let digest = h.push_image("a/app", "1.0", &[corrupt]);
    h.run_jobs();
    let report = h.report("a/app", &digest);
    assert_eq!(report["status"], "failed", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with("layer 1 (sha256:"), "{reason}");
    assert!(h
        .referrers("a/app", &digest, "application/vnd.cyclonedx+json")
        .is_empty());
    // Nothing else broke: the image is still served.
    assert_eq!(h.get(&format!("/v2/a/app/manifests/{digest}")).status, 200);
}

#[test]
fn an_image_deleted_before_its_scan_leaves_no_scan() {
    let h = Harness::new("", true);
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    let deleted = h.send(
        true,
        Method::DELETE,
        &format!("/v2/a/app/manifests/{digest}"),
        b"",
    );
    assert_eq!(deleted.status, 202);
    assert_eq!(h.run_jobs(), [scan_job("a/app", &digest)]);
    let name = crate::oci::RepositoryName::parse("a/app", "").unwrap();
    let image: Digest = digest.parse().unwrap();
    let record = block_on(h.registry.records.scan_record(&name, &image)).unwrap();
    assert_eq!(record, None);
    assert_eq!(h.get(&format!("/v2/a/app/_scan/{digest}")).status, 404);
}

#[test]
fn the_sweep_scans_images_pushed_while_scanning_was_off() {
    let h = Harness::new("", false);
    let images: Vec<String> = (0..3)
        .map(|n| h.push_image(&format!("r{n}"), "1.0", &[debian_layer()]))
        .collect();
    assert!(h.registry.take_jobs().is_empty());
    let h = Harness {
        registry: Registry {
            config: Config::default().into(),
            ..h.registry
        },
        clock: h.clock,
    };
    block_on(h.registry.jobs().start_sweep_if_due()).unwrap();
    let ran = h.run_jobs();
    for (n, digest) in images.iter().enumerate() {
        let name = format!("r{n}");
        // The sweep's scans name no origin: no request queued them.
        let swept = Job::Scan {
            repository: name.clone(),
            digest: digest.clone(),
            source: None,
        };
        assert!(ran.contains(&swept), "{ran:?}");
        assert_eq!(h.report(&name, digest)["status"], "complete");
    }
    // Started a moment ago: the next cron run starts none.
    block_on(h.registry.jobs().start_sweep_if_due()).unwrap();
    assert!(h.registry.take_jobs().is_empty());
}

#[test]
fn a_private_repository_s_report_is_refused_to_anonymous_callers() {
    let h = Harness::new("secret/*", true);
    let digest = h.push_image("secret/app", "1.0", &[debian_layer()]);
    h.run_jobs();
    let anonymous = h.send(
        false,
        Method::GET,
        &format!("/v2/secret/app/_scan/{digest}"),
        b"",
    );
    assert_eq!(anonymous.status, 401);
    let code = &anonymous.json()["errors"][0]["code"];
    assert_eq!(code, "UNAUTHORIZED");
    assert_eq!(h.report("secret/app", &digest)["status"], "complete");
}

/// An OSV advisory for `package` in `ecosystem` (with its release), fixed in `fixed`.
fn advisory(id: &str, ecosystem: &str, package: &str, fixed: &str) -> Value {
    serde_json::json!({
        "id": id,
        "modified": "2026-11-01T00:00:00Z",
        "aliases": [format!("CVE-{id}")],
        "summary": format!("{id} in {package}"),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    })
}

/// The (advisory, package) pairs of an image's report.
fn findings(report: &Value) -> Vec<(String, String)> {
    report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let field = |name: &str| v[name].as_str().unwrap().to_string();
            (field("id"), field("package"))
        })
        .collect()
}

#[test]
fn reports_follow_the_advisories_without_a_push() {
    let h = Harness::new("", true);
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    h.run_jobs();
    assert!(findings(&h.report("a/app", &digest)).is_empty());

    let first = [
        // The source package of libfoo1, below its fixed version: libfoo1 is affected.
        advisory("DSA-1", "Debian:12", "foo", "1.2-4"),
        // bash at exactly its fixed version: not affected.
        advisory("DSA-2", "Debian:12", "bash", "5.2.15-2+b2"),
        // Another release, and another ecosystem: not this image's.
        advisory("DSA-3", "Debian:11", "foo", "1.2-9"),
        advisory("USN-4", "Ubuntu:22.04:LTS", "foo", "1.2-9"),
    ];
    let ran = h.load_advisories("Debian", &first);
    assert!(
        ran.contains(&Job::Match {
            repository: "a/app".to_string(),
            digest: digest.clone(),
        }),
        "{ran:?}"
    );
    let report = h.report("a/app", &digest);
    assert_eq!(
        findings(&report),
        [("DSA-1".to_string(), "libfoo1".to_string())]
    );
    let finding = &report["vulnerabilities"][0];
    assert_eq!(finding["source_package"], "foo");
    assert_eq!(finding["installed"], "1.2-3+b1");
    assert_eq!(finding["fixed"], "1.2-4");
    assert_eq!(finding["severity"], "critical");
    let loaded = h.get("/_advisories").json();
    assert_eq!(
        report["advisories_updated_at"], loaded["updated_at"],
        "{report}"
    );
    let first_report = report["report_digest"].clone();
    let document = h.artifact_document("a/app", first_report.as_str().unwrap());
    assert_eq!(document["vulnerabilities"][0]["id"], "DSA-1");

    // New advisories: the same image's report changes, and replaces the report artifact.
    let second = [
        advisory("DSA-1", "Debian:12", "foo", "1.2-4"),
        advisory("DSA-5", "Debian:12", "bash", "5.2.16-1"),
    ];
    h.load_advisories("Debian", &second);
    let report = h.report("a/app", &digest);
    assert_eq!(
        findings(&report),
        [
            ("DSA-1".to_string(), "libfoo1".to_string()),
            ("DSA-5".to_string(), "bash".to_string()),
        ]
    );
    assert_ne!(report["report_digest"], first_report);
    let reports = h.referrers("a/app", &digest, crate::jobs::REPORT_ARTIFACT_TYPE);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["digest"], report["report_digest"]);
    // The SBOM was not written again: matching reads no layer.
    assert_eq!(
        h.referrers("a/app", &digest, "application/vnd.cyclonedx+json")
            .len(),
        1
    );
}

#[test]
fn a_scan_that_keeps_failing_ends_failed_with_its_last_error() {
    let h = Harness::new("", true);
    let digest = h.push_image("a/app", "1.0", &[debian_layer()]);
    let job = h.registry.take_jobs().remove(0);
    let jobs = h.registry.jobs();
    let error = crate::error::Error::Internal("R2 said 500".to_string());
    block_on(jobs.attempt_failed(&job, &error)).unwrap();
    let report = h.report("a/app", &digest);
    assert_eq!(report["status"], "queued");
    assert!(
        report["reason"].as_str().unwrap().contains("R2 said 500"),
        "{report}"
    );
    // The dead-letter queue's delivery.
    block_on(jobs.gave_up(&job)).unwrap();
    let report = h.report("a/app", &digest);
    assert_eq!(report["status"], "failed");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with("the scan kept failing"), "{reason}");
    assert!(reason.contains("R2 said 500"), "{reason}");
    // A failed scan is final: the job delivered again changes nothing.
    block_on(jobs.run(job)).unwrap();
    assert_eq!(h.report("a/app", &digest)["status"], "failed");
}

/// A sweep step lists an image's scan records, then its manifests; an image pushed between the
/// two listings has a manifest but no listed record. Its record must survive: only a record
/// whose manifest is gone may be deleted.
#[test]
fn an_image_pushed_while_the_sweep_lists_keeps_its_scan() {
    use std::future::Future;
    use std::task::{Context, Poll};

    use crate::records::ScanStatus;
    use crate::storage::memory::{Call, When};

    let h = Harness::new("", true);
    h.push_image("a/app", "1.0", &[debian_layer()]);
    h.run_jobs();
    // The step's second listing of the repository's keys, whichever it is.
    let held = h.registry.store().pause(
        When::Before,
        Call::List,
        |prefix| prefix.starts_with("repos/a/app/"),
        2,
    );
    let jobs = h.registry.jobs();
    let mut sweep = Box::pin(jobs.run(Job::Sweep { after: None }));
    let mut context = Context::from_waker(futures::task::noop_waker_ref());
    assert!(sweep.as_mut().poll(&mut context).is_pending());
    assert!(held.reached());
    let layer = gzip(&tar(&[(
        "etc/os-release",
        "ID=alpine\nVERSION_ID=3.20.3\n",
    )]));
    let pushed = h.push_image("a/app", "2.0", &[layer]);
    held.release();
    assert!(matches!(
        sweep.as_mut().poll(&mut context),
        Poll::Ready(Ok(()))
    ));
    drop(sweep);
    let name = crate::oci::RepositoryName::parse("a/app", "").unwrap();
    let image: Digest = pushed.parse().unwrap();
    let record = block_on(h.registry.records.scan_record(&name, &image)).unwrap();
    assert_eq!(record.map(|r| r.status), Some(ScanStatus::Queued));
    h.run_jobs();
    assert_eq!(h.report("a/app", &pushed)["status"], "complete");
}
