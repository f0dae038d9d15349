//! The `edge-registry` CLI against the real worker under `wrangler dev`: login, a chunked
//! push of an OCI layout pulled back digest-equal, a second push that uploads nothing, and the
//! one-line errors of a wrong password, a missing grant, an unreachable registry and a source
//! that is not a layout. scripts/test starts the worker (users of tests/access.env) and sets
//! REGISTRY_URL; cargo builds the binary (`--features integration,cli`).

mod cli {
    pub mod harness;
    pub mod layout;
}

use std::fs;

use serde_json::Value;

use cli::harness::{
    assert_fails_in_one_line, edge_registry, get, login, random_bytes, registry, sha256, unique,
    Scratch, MIB,
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
        last.starts_with("pushed 0, skipped 4 (0 B sent"),
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
