//! The `edge-registry` CLI's other sources against the real worker under `wrangler dev`:
//! `docker save` archives (the legacy format, chunked under the body limit, and docker 25's
//! OCI layout in a tar), `docker-daemon:` without a daemon, and `copy --with-referrers` from
//! Debian's docker-registry (distribution 2.8, no referrers API) of a cosign-signed index,
//! verified by cosign against the worker. scripts/test starts the worker (users of
//! tests/access.env) and sets REGISTRY_URL; tests/clients/setup installs docker-registry and
//! cosign.

mod cli {
    pub mod archive;
    pub mod harness;
    pub mod layout;
}

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cli::archive::{write_legacy, write_oci, LegacyImage};
use cli::harness::{
    assert_fails_in_one_line, edge_registry, edge_registry_env, get, login, random_bytes, registry,
    sha256, unique, Scratch, MIB,
};
use cli::layout::{write_blob, write_image, write_index, write_layout, OCI_INDEX, OCI_MANIFEST};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Pushes with `--json` and returns the summary.
fn push_json(config: &Path, source: &str, destination: &str) -> Value {
    let push = edge_registry(config, &["push", source, destination, "--json"], "");
    assert!(push.success, "{}", push.stderr);
    serde_json::from_str(push.stdout.trim()).unwrap()
}

/// The manifest pulled from the worker, checked against `digest`.
fn pull_manifest(repository: &str, reference: &str, accept: &str, digest: &str) -> Value {
    let bytes = get(&format!("{repository}/manifests/{reference}"), accept);
    assert_eq!(sha256(&bytes), digest);
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_legacy_docker_archive_pushes_in_chunks_and_pulls_back_byte_equal() {
    let config = Scratch::new("config");
    let work = Scratch::new("archive");
    let seed = unique("docker-archive");
    let big = random_bytes(12 * MIB, &seed);
    let small = random_bytes(1000, &format!("{seed}+small"));
    let image_config =
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let file = work.0.join("saved.tar");
    write_legacy(
        &file,
        &[LegacyImage {
            config: image_config.as_bytes(),
            layers: &[&big, &small],
            repo_tags: &["app:v1"],
        }],
    );
    assert!(login(&config.0, "pusher", "pusher-password").success);

    let repository = unique("team/archive");
    let summary = push_json(
        &config.0,
        &format!("docker-archive:{}", file.display()),
        &format!("{}/{repository}:v1", registry()),
    );
    assert_eq!(
        (summary["pushed"].as_u64(), summary["skipped"].as_u64()),
        (Some(4), Some(0)),
        "{summary}"
    );
    let item = |digest: &str| -> Value {
        summary["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["digest"] == digest)
            .cloned()
            .unwrap()
    };
    // 12 MiB does not fit the worker's 8 MiB body limit.
    assert!(
        item(&sha256(&big))["requests"].as_u64().unwrap() >= 2,
        "{summary}"
    );

    let manifest = pull_manifest(
        &repository,
        "v1",
        DOCKER_MANIFEST,
        summary["digest"].as_str().unwrap(),
    );
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let expected: [&[u8]; 3] = [image_config.as_bytes(), &big, &small];
    let descriptors: Vec<&Value> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .collect();
    assert_eq!(descriptors.len(), 3);
    for (descriptor, bytes) in descriptors.into_iter().zip(expected) {
        let digest = descriptor["digest"].as_str().unwrap();
        assert_eq!(digest, sha256(bytes));
        assert!(get(&format!("{repository}/blobs/{digest}"), "*/*") == bytes);
    }
}

#[test]
fn several_images_in_one_archive_are_picked_by_repo_tag() {
    let config = Scratch::new("config");
    let work = Scratch::new("archive");
    let shared = random_bytes(2000, &unique("shared"));
    let seed = unique("two");
    let (one, two) = (
        format!("{{\"one\":\"{seed}\"}}"),
        format!("{{\"two\":\"{seed}\"}}"),
    );
    let file = work.0.join("two.tar");
    write_legacy(
        &file,
        &[
            LegacyImage {
                config: one.as_bytes(),
                layers: &[&shared, b"one"],
                repo_tags: &["one:v1"],
            },
            LegacyImage {
                config: two.as_bytes(),
                layers: &[&shared, b"two"],
                repo_tags: &["two:v1", "two:latest"],
            },
        ],
    );
    assert!(login(&config.0, "pusher", "pusher-password").success);
    let repository = unique("team/archive-two");
    let destination = format!("{}/{repository}:v1", registry());

    let unnamed = edge_registry(
        &config.0,
        &[
            "push",
            &format!("docker-archive:{}", file.display()),
            &destination,
        ],
        "",
    );
    assert_fails_in_one_line(&unnamed, "several images");
    assert!(
        unnamed.stderr.contains("one:v1, two:v1, two:latest"),
        "{}",
        unnamed.stderr
    );

    let summary = push_json(
        &config.0,
        &format!("docker-archive:{}:two:v1", file.display()),
        &destination,
    );
    let manifest = pull_manifest(
        &repository,
        "v1",
        DOCKER_MANIFEST,
        summary["digest"].as_str().unwrap(),
    );
    assert_eq!(
        manifest["config"]["digest"],
        sha256(two.as_bytes()).as_str()
    );
    assert_eq!(manifest["layers"][0]["digest"], sha256(&shared).as_str());
}

#[test]
fn an_oci_archive_keeps_docker_s_digests() {
    let config = Scratch::new("config");
    let work = Scratch::new("oci-archive");
    let layout = work.0.join("layout");
    let seed = unique("oci-archive");
    let amd64 = write_image(
        &layout,
        format!("{{\"architecture\":\"amd64\",\"seed\":\"{seed}\"}}").as_bytes(),
        &[&random_bytes(3 * MIB, &seed)],
    );
    let arm64 = write_image(
        &layout,
        format!("{{\"architecture\":\"arm64\",\"seed\":\"{seed}\"}}").as_bytes(),
        &[&random_bytes(MIB, &format!("{seed}+arm64"))],
    );
    let index = write_index(&layout, &[amd64.clone(), arm64.clone()]);
    let file = work.0.join("oci.tar");
    write_oci(
        &file,
        &layout,
        &[("app:multi", index.clone()), ("app:amd64", amd64.clone())],
    );
    assert!(login(&config.0, "pusher", "pusher-password").success);

    let repository = unique("team/oci-archive");
    let summary = push_json(
        &config.0,
        &format!("docker-archive:{}:app:multi", file.display()),
        &format!("{}/{repository}:multi", registry()),
    );
    assert_eq!(summary["digest"], index["digest"]);
    pull_manifest(
        &repository,
        "multi",
        OCI_INDEX,
        index["digest"].as_str().unwrap(),
    );
    for child in [&amd64, &arm64] {
        let digest = child["digest"].as_str().unwrap();
        pull_manifest(&repository, digest, OCI_MANIFEST, digest);
    }
}

#[test]
fn docker_daemon_without_a_daemon_fails_in_one_line() {
    let config = Scratch::new("config");
    let destination = format!("{}/team/daemon:v1", registry());
    let args = ["push", "docker-daemon:alpine:3.20", destination.as_str()];
    let no_daemon = edge_registry_env(
        &config.0,
        &args,
        "",
        &[("DOCKER_HOST", "unix:///nonexistent")],
    );
    assert_fails_in_one_line(&no_daemon, "docker-daemon: ");
    assert_fails_in_one_line(&no_daemon, "is the Docker daemon running?");
    let no_docker = edge_registry_env(&config.0, &args, "", &[("PATH", "/nonexistent")]);
    assert_fails_in_one_line(&no_docker, "docker-daemon: cannot run docker");
}

/// Debian's docker-registry (distribution 2.8) on a free loopback port, with its storage in a
/// scratch directory; stopped by its process id when dropped.
struct Distribution {
    child: Child,
    address: String,
    _root: Scratch,
}

impl Distribution {
    fn start() -> Distribution {
        let root = Scratch::new("distribution");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = root.0.join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  \
                 delete: {{enabled: true}}\nhttp: {{addr: {address}}}\n",
                root.0.join("data").display()
            ),
        )
        .unwrap();
        let log = fs::File::create(root.0.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry: run tests/clients/setup");
        let registry = Distribution {
            child,
            address,
            _root: root,
        };
        let started = Instant::now();
        while ureq::get(&format!("http://{}/v2/", registry.address))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cosign(config: &Path, dir: &Path, args: &[&str]) -> Output {
    let cosign = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.tools/bin/cosign");
    Command::new(cosign)
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::null())
        .output()
        .expect("cosign: run tests/clients/setup")
}

fn assert_ran(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_signed_index_copies_from_distribution_with_its_signature() {
    let source = Distribution::start();
    let config = Scratch::new("config");
    let work = Scratch::new("copy");
    let layout = work.0.join("layout");
    let seed = unique("copy");
    let amd64 = write_image(
        &layout,
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}").as_bytes(),
        &[&random_bytes(9 * MIB, &seed)],
    );
    let arm64 = write_image(
        &layout,
        format!("{{\"architecture\":\"arm64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}").as_bytes(),
        &[&random_bytes(MIB, &format!("{seed}+arm64"))],
    );
    let index = write_index(&layout, &[amd64.clone(), arm64.clone()]);
    write_layout(&layout, &[(Some("multi"), index.clone())]);
    let index_digest = index["digest"].as_str().unwrap();

    // To docker-registry over plain HTTP (loopback), anonymously.
    let name = "signed/app";
    let pushed = edge_registry(
        &config.0,
        &[
            "push",
            &format!("oci:{}:multi", layout.display()),
            &format!("{}/{name}:multi", source.address),
            "-q",
        ],
        "",
    );
    assert!(pushed.success, "{}", pushed.stderr);
    assert_ran(
        &cosign(&config.0, &work.0, &["generate-key-pair"]),
        "cosign generate-key-pair",
    );
    assert_ran(
        &cosign(
            &config.0,
            &work.0,
            &[
                "sign",
                "--key",
                "cosign.key",
                "--tlog-upload=false",
                "--allow-insecure-registry",
                "-y",
                &format!("{}/{name}@{index_digest}", source.address),
            ],
        ),
        "cosign sign",
    );
    let signature_tag = format!("sha256-{}.sig", index_digest.trim_start_matches("sha256:"));
    let signature = ureq::get(&format!(
        "http://{}/v2/{name}/manifests/{signature_tag}",
        source.address
    ))
    .set("Accept", OCI_MANIFEST)
    .call()
    .unwrap();
    let signature_digest = signature
        .header("docker-content-digest")
        .unwrap()
        .to_string();

    assert!(login(&config.0, "pusher", "pusher-password").success);
    let repository = unique("team/copied");
    let copy = edge_registry(
        &config.0,
        &[
            "copy",
            "--with-referrers",
            &format!("{}/{name}:multi", source.address),
            &format!("{}/{repository}:multi", registry()),
        ],
        "",
    );
    assert!(copy.success, "{}", copy.stderr);

    pull_manifest(&repository, "multi", OCI_INDEX, index_digest);
    for child in [&amd64, &arm64] {
        let digest = child["digest"].as_str().unwrap();
        pull_manifest(&repository, digest, OCI_MANIFEST, digest);
    }
    pull_manifest(&repository, &signature_tag, OCI_MANIFEST, &signature_digest);
    let verified = cosign(
        &config.0,
        &work.0,
        &[
            "verify",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog=true",
            "--allow-insecure-registry",
            &format!("{}/{repository}@{index_digest}", registry()),
        ],
    );
    assert_ran(&verified, "cosign verify against the worker");
}

#[test]
fn copying_a_missing_tag_fails_in_one_line() {
    let source = Distribution::start();
    let config = Scratch::new("config");
    assert!(login(&config.0, "pusher", "pusher-password").success);
    let missing = edge_registry(
        &config.0,
        &[
            "copy",
            &format!("{}/nothing/here:v1", source.address),
            &format!("{}/team/copied:v1", registry()),
        ],
        "",
    );
    assert_fails_in_one_line(
        &missing,
        &format!("copy: {}/nothing/here:v1 not found", source.address),
    );
}

#[test]
fn referrers_the_source_lists_are_copied_by_digest() {
    let config = Scratch::new("config");
    let layout = Scratch::new("referrers");
    let seed = unique("referrers");
    let image = write_image(
        &layout.0,
        format!("{{\"seed\":\"{seed}\"}}").as_bytes(),
        &[seed.as_bytes()],
    );
    let empty = write_blob(&layout.0, "application/vnd.oci.empty.v1+json", b"{}");
    let sbom = write_blob(
        &layout.0,
        "application/spdx+json",
        format!("{{\"sbom\":\"{seed}\"}}").as_bytes(),
    );
    let artifact = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": empty,
        "layers": [sbom],
        "subject": image,
    });
    let artifact = write_blob(
        &layout.0,
        OCI_MANIFEST,
        &serde_json::to_vec(&artifact).unwrap(),
    );
    write_layout(
        &layout.0,
        &[
            (Some("v1"), image.clone()),
            (Some("sbom"), artifact.clone()),
        ],
    );
    assert!(login(&config.0, "pusher", "pusher-password").success);
    let source = unique("team/referred");
    for tag in ["v1", "sbom"] {
        let push = edge_registry(
            &config.0,
            &[
                "push",
                &format!("oci:{}:{tag}", layout.0.display()),
                &format!("{}/{source}:{tag}", registry()),
                "-q",
            ],
            "",
        );
        assert!(push.success, "{}", push.stderr);
    }

    let destination = unique("team/referred-copy");
    let copy = edge_registry(
        &config.0,
        &[
            "copy",
            "--with-referrers",
            &format!("{}/{source}:v1", registry()),
            &format!("{}/{destination}:v1", registry()),
            "--json",
        ],
        "",
    );
    assert!(copy.success, "{}", copy.stderr);
    let image_digest = image["digest"].as_str().unwrap();
    let artifact_digest = artifact["digest"].as_str().unwrap();
    let listed: Value = serde_json::from_slice(&get(
        &format!("{destination}/referrers/{image_digest}"),
        OCI_INDEX,
    ))
    .unwrap();
    let listed: Vec<&str> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["digest"].as_str())
        .collect();
    assert_eq!(listed, [artifact_digest]);
    pull_manifest(&destination, artifact_digest, OCI_MANIFEST, artifact_digest);
    pull_manifest(&destination, "v1", OCI_MANIFEST, image_digest);
}
