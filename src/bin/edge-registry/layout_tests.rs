use std::fs;
use std::io::Read;

use serde_json::Value;

use super::*;

// The archive tests write layouts too; a file may be loaded as a module only once.
#[path = "../../../tests/cli/layout.rs"]
pub(crate) mod builder;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edge-registry-layout-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn digest(descriptor: &Value) -> Digest {
    descriptor["digest"].as_str().unwrap().parse().unwrap()
}

#[test]
fn an_index_pushes_blobs_then_children_then_itself() {
    let dir = scratch("index");
    let amd64 = builder::write_image(
        &dir,
        b"{\"architecture\":\"amd64\"}",
        &[b"shared", b"amd64 layer"],
    );
    let arm64 = builder::write_image(&dir, b"{\"architecture\":\"arm64\"}", &[b"shared"]);
    let index = builder::write_index(&dir, &[amd64.clone(), arm64.clone()]);
    builder::write_layout(
        &dir,
        &[(Some("v1"), index.clone()), (Some("v2"), amd64.clone())],
    );

    let layout = Layout::open(&dir).unwrap();
    let image = layout.image(Some("v1")).unwrap();
    let manifests: Vec<&Digest> = image.manifests.iter().map(|m| &m.digest).collect();
    assert_eq!(
        manifests,
        [&digest(&amd64), &digest(&arm64), &digest(&index)]
    );
    assert_eq!(image.manifests[2].media_type, builder::OCI_INDEX);
    // The shared layer once: four distinct blobs.
    assert_eq!(image.blobs.len(), 4);
    assert!(image.blobs.iter().any(|b| b.size == 6));

    let single = layout.image(Some("v2")).unwrap();
    assert_eq!(single.manifests.len(), 1);
    assert_eq!(single.blobs.len(), 3);
    let err = layout.image(None).unwrap_err().to_string();
    assert!(
        err.contains("several images") && err.contains("v1, v2"),
        "{err}"
    );
    let err = layout.image(Some("v3")).unwrap_err().to_string();
    assert!(err.contains("no image tagged \"v3\""), "{err}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_directory_without_oci_layout_is_not_a_layout() {
    let dir = scratch("empty");
    fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        Layout::open(&dir),
        Err(CliError::NotLayout { .. })
    ));
    assert!(matches!(
        Layout::open(&dir.join("missing")),
        Err(CliError::NotLayout { .. })
    ));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn blobs_are_checked_against_their_digest_and_size_while_read() {
    let dir = scratch("verify");
    let manifest = builder::write_image(&dir, b"{}", &[b"layer bytes"]);
    builder::write_layout(&dir, &[(None, manifest)]);
    let layout = Layout::open(&dir).unwrap();
    let image = layout.image(None).unwrap();
    let layer = image.blobs.iter().find(|b| b.size == 11).unwrap().clone();

    let mut bytes = Vec::new();
    layout
        .open_blob(&layer, 0)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, b"layer bytes");

    let path = dir.join(blob_path(&layer.digest));
    for (content, why) in [
        (&b"layer bytez"[..], "has digest sha256:"),
        (b"layer byte", "has 10 bytes, not 11"),
        (b"layer bytes!", "is longer than its 11 bytes"),
    ] {
        fs::write(&path, content).unwrap();
        let mut reader = layout.open_blob(&layer, 0).unwrap();
        // Read in small pieces, as a request body is: the error comes before the last bytes.
        let mut delivered = 0;
        let err = loop {
            match reader.read(&mut [0u8; 4]) {
                Ok(0) => panic!("{why}: a corrupt blob read to the end"),
                Ok(n) => delivered += n,
                Err(e) => break e,
            }
        };
        assert!(delivered < 11, "{why}: {delivered} bytes delivered");
        assert!(err.to_string().contains(why), "{err}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_blob_opened_at_an_offset_yields_the_rest_and_still_checks_the_whole() {
    let dir = scratch("offset");
    let manifest = builder::write_image(&dir, b"{}", &[b"layer bytes"]);
    builder::write_layout(&dir, &[(None, manifest)]);
    let layout = Layout::open(&dir).unwrap();
    let image = layout.image(None).unwrap();
    let layer = image.blobs.iter().find(|b| b.size == 11).unwrap().clone();

    let mut rest = Vec::new();
    let mut reader = layout.open_blob(&layer, 6).unwrap();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bytes");
    let mut nothing = Vec::new();
    let mut reader = layout.open_blob(&layer, 11).unwrap();
    reader.read_to_end(&mut nothing).unwrap();
    assert!(nothing.is_empty());

    // A corrupt byte before the offset is never sent, yet the blob is refused.
    fs::write(dir.join(blob_path(&layer.digest)), b"layez bytes").unwrap();
    let mut reader = layout.open_blob(&layer, 6).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("has digest sha256:"), "{err}");
    fs::write(dir.join(blob_path(&layer.digest)), b"layer").unwrap();
    let Err(err) = layout.open_blob(&layer, 6) else {
        panic!("a blob shorter than the offset opened");
    };
    assert!(err.to_string().contains("has 5 bytes"), "{err}");
    fs::remove_dir_all(dir).unwrap();
}
