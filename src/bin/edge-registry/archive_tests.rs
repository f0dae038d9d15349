use std::fs;

use edge_registry::oci::manifest;
use serde_json::Value;

use super::*;

#[path = "../../../tests/cli/archive.rs"]
mod writer;
use crate::layout::tests::builder as layout_writer;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edge-registry-archive-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(source: &dyn ImageSource, blob: &Blob, offset: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    source
        .open_blob(blob, offset)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn blob_of(bytes: &[u8]) -> Blob {
    Blob {
        digest: Digest::of(Algorithm::Sha256, bytes),
        size: bytes.len() as u64,
    }
}

#[test]
fn a_legacy_archive_becomes_a_docker_schema_2_image() {
    let dir = scratch("legacy");
    let file = dir.join("image.tar");
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let (base, top) = (vec![7u8; 100_000], b"top layer".to_vec());
    writer::write_legacy(
        &file,
        &[writer::LegacyImage {
            config,
            layers: &[&base, &top],
            repo_tags: &["app:v1"],
        }],
    );

    let (source, image) = open(&file, None).unwrap();
    assert_eq!(
        image.blobs,
        [blob_of(config), blob_of(&base), blob_of(&top)]
    );
    let [root] = image.manifests.as_slice() else {
        panic!("one manifest: {:?}", image.manifests);
    };
    assert_eq!(root.media_type, DOCKER_MANIFEST);
    assert_eq!(root.digest, Digest::of(Algorithm::Sha256, &root.bytes));
    let parsed = manifest::parse(&root.bytes, None).unwrap();
    assert_eq!(
        parsed.blobs,
        image
            .blobs
            .iter()
            .map(|b| b.digest.clone())
            .collect::<Vec<_>>()
    );
    let body: Value = serde_json::from_slice(&root.bytes).unwrap();
    assert_eq!(body["config"]["mediaType"], DOCKER_CONFIG);
    assert_eq!(body["layers"][0]["mediaType"], DOCKER_LAYER);
    assert_eq!(body["layers"][1]["size"], 9);

    assert_eq!(read(source.as_ref(), &image.blobs[1], 0), base);
    assert_eq!(read(source.as_ref(), &image.blobs[2], 4), b"layer");
    // The name as docker.io spells it picks the same image.
    let (_, named) = open(&file, Some("docker.io/library/app:v1")).unwrap();
    assert_eq!(named.manifests[0].digest, root.digest);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn several_images_are_picked_by_repo_tag_and_share_linked_layers() {
    let dir = scratch("several");
    let file = dir.join("images.tar");
    let shared = b"shared base layer".to_vec();
    writer::write_legacy(
        &file,
        &[
            writer::LegacyImage {
                config: b"{\"one\":1}",
                layers: &[&shared, b"one"],
                repo_tags: &["one:v1", "registry.example:5000/one:v1"],
            },
            writer::LegacyImage {
                config: b"{\"two\":2}",
                layers: &[&shared, b"two"],
                repo_tags: &["two:v1"],
            },
        ],
    );

    let Err(err) = open(&file, None) else {
        panic!("several images opened without a name");
    };
    let err = err.to_string();
    assert!(
        err.contains("several images")
            && err.contains("docker-archive:")
            && err.contains("one:v1, registry.example:5000/one:v1, two:v1"),
        "{err}"
    );
    let Err(err) = open(&file, Some("three:v1")) else {
        panic!("a missing name opened");
    };
    assert!(
        err.to_string().contains("no image named \"three:v1\""),
        "{err}"
    );

    // The second image's shared layer is a symbolic link to the first's.
    let (source, two) = open(&file, Some("two:v1")).unwrap();
    assert_eq!(two.blobs[1], blob_of(&shared));
    assert_eq!(read(source.as_ref(), &two.blobs[1], 0), shared);
    assert_eq!(read(source.as_ref(), &two.blobs[2], 0), b"two");
    let (_, one) = open(&file, Some("registry.example:5000/one:v1")).unwrap();
    assert_eq!(one.blobs[0], blob_of(b"{\"one\":1}"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_oci_archive_pushes_docker_s_own_manifests() {
    let dir = scratch("oci");
    let layout = dir.join("layout");
    let amd64 = layout_writer::write_image(&layout, b"{\"a\":1}", &[b"layer a"]);
    let arm64 = layout_writer::write_image(&layout, b"{\"b\":1}", &[b"layer b"]);
    let index = layout_writer::write_index(&layout, &[amd64.clone(), arm64]);
    let file = dir.join("oci.tar");
    writer::write_oci(
        &file,
        &layout,
        &[("app:multi", index.clone()), ("app:amd64", amd64.clone())],
    );

    let (source, image) = open(&file, Some("app:multi")).unwrap();
    assert_eq!(image.manifests.len(), 3);
    assert_eq!(
        image.manifests[2].digest.to_string(),
        index["digest"].as_str().unwrap()
    );
    assert_eq!(read(source.as_ref(), &blob_of(b"layer b"), 0), b"layer b");
    let (_, single) = open(&file, Some("docker.io/library/app:amd64")).unwrap();
    assert_eq!(
        single.manifests[0].digest.to_string(),
        amd64["digest"].as_str().unwrap()
    );
    let Err(err) = open(&file, None) else {
        panic!("two images opened without a name");
    };
    assert!(err.to_string().contains("app:multi, app:amd64"), "{err}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_that_are_not_docker_archives_say_so() {
    let dir = scratch("bad");
    let file = dir.join("empty.tar");
    let mut builder = tar::Builder::new(File::create(&file).unwrap());
    builder.finish().unwrap();
    drop(builder);
    let Err(err) = open(&file, None) else {
        panic!("an empty tar opened");
    };
    assert!(err.to_string().contains("no manifest.json"), "{err}");
    let Err(err) = open(&dir.join("missing.tar"), None) else {
        panic!("a missing file opened");
    };
    assert!(err.to_string().contains("(docker archive)"), "{err}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn links_resolve_within_the_archive() {
    assert_eq!(
        resolve("a", "../b/layer.tar").as_deref(),
        Some("b/layer.tar")
    );
    assert_eq!(resolve("a/b", "./c").as_deref(), Some("a/b/c"));
    assert_eq!(resolve("a", "/x/y").as_deref(), Some("x/y"));
    assert_eq!(resolve("a", "../../etc/passwd"), None);
    assert_eq!(normalise("./a//b/"), "a/b");
}
