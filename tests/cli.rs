//! The `edge-registry` CLI against the real worker under `wrangler dev`, started with an 8 MiB
//! body limit: login, a chunked push of an OCI layout pulled back digest-equal, an image
//! skopeo cannot push (413) pushed and pulled back by skopeo, a push killed half-way that
//! resumes, a second push that uploads nothing, mounts into another repository, and the
//! one-line errors of a wrong password, a missing grant, an unreachable registry and a source
//! that is not a layout. scripts/test starts the worker (users of tests/access.env) and sets
//! REGISTRY_URL; cargo builds the binary (`--features integration,cli`).

mod cli {
    pub mod harness;
    pub mod layout;
}

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use cli::harness::{
    assert_fails_in_one_line, command, edge_registry, get, login, random_bytes, registry, sha256,
    unique, Scratch, MIB,
};
use cli::layout::{write_image, write_index, write_layout, OCI_INDEX, OCI_MANIFEST};

#[test]
fn a_chunked_push_pulls_back_digest_equal_and_a_second_push_uploads_nothing() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let seed = unique("layers");
    let layers = [
        random_bytes(3 * MIB, &seed),
        random_bytes(5 * MIB / 2, &format!("{seed}+1")),
    ];
    let config_blob =
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let manifest = write_image(&image.0, config_blob.as_bytes(), &[&layers[0], &layers[1]]);
    write_layout(&image.0, &[(Some("v1"), manifest.clone())]);

    let login = login(&config.0, "pusher", "pusher-password\n");
    assert!(login.success, "{}", login.stderr);
    assert!(login.stdout.contains("Login Succeeded"), "{}", login.stdout);
    let stored: Value =
        serde_json::from_slice(&fs::read(config.0.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][registry()]["auth"],
        "cHVzaGVyOnB1c2hlci1wYXNzd29yZA==",
        "base64 of pusher:pusher-password"
    );

    let repository = unique("team/cli");
    let destination = format!("{}/{repository}:v1", registry());
    let source = format!("oci:{}:v1", image.0.display());
    let first = edge_registry(
        &config.0,
        &[
            "push",
            &source,
            &destination,
            "--chunk-size",
            "1048576",
            "--json",
        ],
        "",
    );
    assert!(first.success, "{}", first.stderr);
    let summary: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    assert_eq!(
        (summary["pushed"].as_u64(), summary["skipped"].as_u64()),
        (Some(4), Some(0)),
        "{summary}"
    );
    assert_eq!(summary["digest"], manifest["digest"]);
    // 3 MiB in three PATCHes of 1 MiB, 2.5 MiB in three, the config whole.
    for (digest, requests) in [
        (sha256(&layers[0]), 3),
        (sha256(&layers[1]), 3),
        (sha256(config_blob.as_bytes()), 1),
    ] {
        let item = summary["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["digest"] == digest.as_str())
            .unwrap();
        assert_eq!(
            (item["status"].as_str(), item["requests"].as_u64()),
            (Some("pushed"), Some(requests)),
            "{item}"
        );
    }

    let pulled = get(&format!("{repository}/manifests/v1"), OCI_MANIFEST);
    assert_eq!(sha256(&pulled), manifest["digest"].as_str().unwrap());
    let pulled: Value = serde_json::from_slice(&pulled).unwrap();
    let blobs: Vec<&Value> = std::iter::once(&pulled["config"])
        .chain(pulled["layers"].as_array().unwrap())
        .collect();
    for descriptor in blobs {
        let digest = descriptor["digest"].as_str().unwrap();
        let bytes = get(&format!("{repository}/blobs/{digest}"), "*/*");
        assert_eq!(
            (sha256(&bytes), bytes.len() as u64),
            (digest.to_string(), descriptor["size"].as_u64().unwrap())
        );
    }

    let second = edge_registry(
        &config.0,
        &["push", &source, &destination, "--chunk-size", "1048576"],
        "",
    );
    assert!(second.success, "{}", second.stderr);
    let last = second.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("pushed 0, mounted 0, skipped 4 (0 B sent"),
        "{}",
        second.stdout
    );

    // Logged out, a push that has to write asks for a login.
    let logout = edge_registry(&config.0, &["logout", &registry()], "");
    assert!(logout.success, "{}", logout.stderr);
    let stored: Value =
        serde_json::from_slice(&fs::read(config.0.join("config.json")).unwrap()).unwrap();
    assert!(stored["auths"].get(registry()).is_none(), "{stored}");
    let anonymous = edge_registry(
        &config.0,
        &["push", &source, &format!("{}/{repository}:v2", registry())],
        "",
    );
    assert_fails_in_one_line(&anonymous, "edge-registry login");
}

#[test]
fn an_index_arrives_with_its_images() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let shared = unique("shared layer");
    let amd64 = write_image(&image.0, unique("amd64").as_bytes(), &[shared.as_bytes()]);
    let arm64 = write_image(&image.0, unique("arm64").as_bytes(), &[shared.as_bytes()]);
    let index = write_index(&image.0, &[amd64.clone(), arm64.clone()]);
    write_layout(
        &image.0,
        &[
            (Some("multi"), index.clone()),
            (Some("amd64"), amd64.clone()),
        ],
    );
    assert!(login(&config.0, "pusher", "pusher-password").success);

    let repository = unique("team/cli-index");
    let source = format!("oci:{}:multi", image.0.display());
    let push = edge_registry(
        &config.0,
        &[
            "push",
            &source,
            &format!("{}/{repository}:multi", registry()),
            "--json",
        ],
        "",
    );
    assert!(push.success, "{}", push.stderr);
    let summary: Value = serde_json::from_str(push.stdout.trim()).unwrap();
    // Two configs and the shared layer once; two images and the index.
    assert_eq!(
        (summary["pushed"].as_u64(), summary["skipped"].as_u64()),
        (Some(6), Some(0)),
        "{summary}"
    );
    assert_eq!(summary["digest"], index["digest"]);

    let pulled = get(&format!("{repository}/manifests/multi"), OCI_INDEX);
    assert_eq!(sha256(&pulled), index["digest"].as_str().unwrap());
    for child in [&amd64, &arm64] {
        let digest = child["digest"].as_str().unwrap();
        assert_eq!(
            sha256(&get(
                &format!("{repository}/manifests/{digest}"),
                OCI_MANIFEST
            )),
            digest
        );
    }
}

#[test]
fn refusals_and_mistakes_fail_in_one_clear_line() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let manifest = write_image(
        &image.0,
        unique("config").as_bytes(),
        &[unique("layer").as_bytes()],
    );
    write_layout(&image.0, &[(None, manifest)]);
    let source = format!("oci:{}", image.0.display());

    let refused = login(&config.0, "pusher", "not-the-password");
    assert_fails_in_one_line(&refused, &format!("login to {} refused", registry()));
    assert!(
        !config.0.join("config.json").exists(),
        "a refused login stores nothing"
    );

    // outsider may push outsider/* only.
    assert!(login(&config.0, "outsider", "outsider-password").success);
    let denied = edge_registry(
        &config.0,
        &[
            "push",
            &source,
            &format!("{}/{}:v1", registry(), unique("team/cli")),
        ],
        "",
    );
    assert_fails_in_one_line(&denied, "denied");
    assert!(denied.stdout.is_empty(), "{}", denied.stdout);
    let allowed = edge_registry(
        &config.0,
        &[
            "push",
            &source,
            &format!("{}/{}:v1", registry(), unique("outsider/cli")),
            "-q",
        ],
        "",
    );
    assert!(allowed.success, "{}", allowed.stderr);
    assert!(allowed.stdout.is_empty(), "--quiet: {}", allowed.stdout);

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = edge_registry(
        &config.0,
        &["push", &source, &format!("{closed}/team/app:v1")],
        "",
    );
    assert_fails_in_one_line(&unreachable, &format!("cannot reach the registry {closed}"));

    let empty = Scratch::new("empty");
    let not_layout = edge_registry(
        &config.0,
        &[
            "push",
            &format!("oci:{}", empty.0.display()),
            &format!("{}/team/app:v1", registry()),
        ],
        "",
    );
    assert_fails_in_one_line(
        &not_layout,
        "is not an OCI image layout: no oci-layout file",
    );
}

/// The body limit scripts/test starts this worker with.
const LIMIT: u64 = 8 * MIB as u64;

/// A layout tagged `v1` with one 40 MiB layer that does not compress and a small config.
fn large_image(dir: &Path, seed: &str) -> (Value, Vec<u8>) {
    let layer = random_bytes(40 * MIB, seed);
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let manifest = write_image(dir, config.as_bytes(), &[&layer]);
    write_layout(dir, &[(Some("v1"), manifest.clone())]);
    (manifest, layer)
}

fn json_summary(run: &cli::harness::Run) -> Value {
    assert!(run.success, "{}", run.stderr);
    serde_json::from_str(run.stdout.trim()).unwrap()
}

fn item<'a>(summary: &'a Value, digest: &str) -> &'a Value {
    summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == digest)
        .unwrap_or_else(|| panic!("{digest} not in {summary}"))
}

#[test]
fn what_skopeo_cannot_push_through_the_limit_edge_registry_pushes_and_skopeo_pulls_back() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let (manifest, _) = large_image(&image.0, &unique("skopeo"));
    let repository = unique("team/cli-large");
    let destination = format!("{}/{repository}:v1", registry());
    // Against wrangler dev's plain HTTP, skopeo first waits about 10 s for a TLS handshake.
    let skopeo = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false", "--retry-times=0"])
        .args(["--dest-creds", "pusher:pusher-password"])
        .arg(format!("oci:{}:v1", image.0.display()))
        .arg(format!("docker://{destination}"))
        .output()
        .expect("skopeo (tests/clients/setup)");
    let stderr = String::from_utf8_lossy(&skopeo.stderr);
    assert!(!skopeo.status.success(), "skopeo copy succeeded");
    assert!(
        stderr.contains(&format!("body limit of {LIMIT} bytes")),
        "{stderr}"
    );

    assert!(login(&config.0, "pusher", "pusher-password").success);
    let push = edge_registry(
        &config.0,
        &[
            "push",
            &format!("oci:{}:v1", image.0.display()),
            &destination,
            "--json",
        ],
        "",
    );
    let summary = json_summary(&push);
    assert_eq!(summary["digest"], manifest["digest"]);
    assert_eq!(summary["pushed"], 3, "{summary}");

    let pulled = Scratch::new("pulled");
    let skopeo = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", "--preserve-digests"])
        .arg(format!("docker://{destination}"))
        .arg(format!("oci:{}:v1", pulled.0.display()))
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );
    let index: Value =
        serde_json::from_slice(&fs::read(pulled.0.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], manifest["digest"]);
    // Every blob skopeo wrote is the one pushed: same name (digest), same bytes.
    for entry in fs::read_dir(pulled.0.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let original = fs::read(image.0.join("blobs/sha256").join(&name)).unwrap();
        let copy = fs::read(entry.path()).unwrap();
        assert_eq!(sha256(&copy), format!("sha256:{name}"));
        assert!(copy == original, "{name} differs");
    }
}

/// The offset the cache records for the one upload in progress, if any.
fn cached_offset(cache: &Path) -> Option<u64> {
    let entries = fs::read_dir(cache.join("edge-registry/uploads")).ok()?;
    entries
        .filter_map(|e| fs::read(e.ok()?.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter_map(|state| state["offset"].as_u64())
        .max()
}

#[test]
fn a_push_killed_in_the_middle_of_a_blob_resumes_and_sends_less_than_half_again() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let (manifest, layer) = large_image(&image.0, &unique("resume"));
    let layer_digest = sha256(&layer);
    let size = layer.len() as u64;
    assert!(login(&config.0, "pusher", "pusher-password").success);
    let repository = unique("team/cli-resume");
    let destination = format!("{}/{repository}:v1", registry());
    let source = format!("oci:{}:v1", image.0.display());
    let args = ["push", source.as_str(), destination.as_str(), "--json"];

    let mut first = command(&config.0, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while cached_offset(&config.0.join("cache")).is_none_or(|offset| offset < size / 2) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the push ended before half-way"
        );
        assert!(Instant::now() < deadline, "the push never got half-way");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let held = cached_offset(&config.0.join("cache")).unwrap();
    assert!(
        get_status(&format!("{repository}/blobs/{layer_digest}")) == 404,
        "the layer is not complete yet"
    );

    let second = edge_registry(&config.0, &args, "");
    let summary = json_summary(&second);
    let layer_item = item(&summary, &layer_digest);
    assert_eq!(layer_item["status"], "pushed", "{summary}");
    assert!(
        layer_item["resumed_from"].as_u64().unwrap() >= held,
        "{layer_item}"
    );
    let resent = layer_item["sent"].as_u64().unwrap();
    assert!(
        resent < size / 2,
        "re-sent {resent} of {size} bytes: {layer_item}"
    );
    assert_eq!(summary["digest"], manifest["digest"]);
    let pulled = get(&format!("{repository}/blobs/{layer_digest}"), "*/*");
    assert_eq!(sha256(&pulled), layer_digest);
    assert!(
        cached_offset(&config.0.join("cache")).is_none(),
        "a finished upload is forgotten"
    );
}

fn get_status(path: &str) -> u16 {
    match ureq::head(&format!("http://{}/v2/{path}", registry())).call() {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn pushed_to_a_second_repository_every_blob_is_mounted() {
    let config = Scratch::new("config");
    let image = Scratch::new("layout");
    let seed = unique("mount");
    let manifest = write_image(
        &image.0,
        format!("{{\"seed\":\"{seed}\"}}").as_bytes(),
        &[
            &random_bytes(2 * MIB, &seed),
            &random_bytes(MIB, &format!("{seed}+1")),
        ],
    );
    write_layout(&image.0, &[(Some("v1"), manifest.clone())]);
    assert!(login(&config.0, "pusher", "pusher-password").success);
    let source = format!("oci:{}:v1", image.0.display());
    let first = unique("team/cli-mount-a");
    let push = |repository: &str| {
        json_summary(&edge_registry(
            &config.0,
            &[
                "push",
                &source,
                &format!("{}/{repository}:v1", registry()),
                "--json",
            ],
            "",
        ))
    };
    assert_eq!(push(&first)["pushed"], 4);

    let second = unique("team/cli-mount-b");
    let summary = push(&second);
    assert_eq!(
        (&summary["mounted"], &summary["pushed"], &summary["skipped"]),
        (&Value::from(3), &Value::from(1), &Value::from(0)),
        "three blobs mounted, the manifest pushed: {summary}"
    );
    let blob_bytes: u64 = summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "blob")
        .map(|i| i["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(blob_bytes, 0, "{summary}");
    let pulled = get(&format!("{second}/manifests/v1"), OCI_MANIFEST);
    assert_eq!(sha256(&pulled), manifest["digest"].as_str().unwrap());
}
