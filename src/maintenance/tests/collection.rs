//! Retention and collection: a tag retention drops goes at once, the manifest it kept only
//! once older than the grace period, then the links to its blobs, then the blobs.

use super::*;
use crate::records::is_untagged;

fn manifest_key(name: &RepositoryName, digest: &Digest) -> String {
    layout::manifest(name, digest)
}

fn tag_key(name: &RepositoryName, tag: &str) -> String {
    layout::tag(name, &crate::oci::Tag::parse(tag).unwrap())
}

#[test]
fn retention_drops_a_tag_at_once_and_its_manifest_and_blobs_after_grace() {
    let fixture = Fixture::new().with_retention("app keep=1 untagged-max-age=0");
    let app = repository("app");
    let old = fixture.image(&app, "v1", 1);
    fixture.later(1);
    let new = fixture.image(&app, "v2", 2);

    // Within the grace period: the older tag goes, its manifest stays.
    let reports = fixture.cycle(false);
    assert_eq!(deletions(&reports), ["tag app:v1"]);
    assert!(is_untagged(&fixture.head(&tag_key(&app, "v1")).unwrap()));
    assert!(!is_untagged(&fixture.head(&tag_key(&app, "v2")).unwrap()));
    assert!(fixture.has(&manifest_key(&app, &old.manifest)));

    // Past it, a dry run names the manifest, and deletes nothing.
    fixture.later(GRACE_SECONDS);
    let before = fixture.store().keys();
    let dry = deletions(&fixture.cycle(true));
    let manifest = format!("manifest app@{}", old.manifest);
    assert!(dry.contains(&manifest), "{dry:?}");
    let unchanged: Vec<String> = fixture
        .store()
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("gc/dry-run-"))
        .collect();
    assert_eq!(unchanged, before);

    // The manifest goes, and in the same cycle the links to what it alone named.
    let deleted = deletions(&fixture.cycle(false));
    let mut expected = vec![
        manifest,
        format!("link app@{}", old.config),
        format!("link app@{}", old.layer),
    ];
    expected.sort();
    let mut sorted = deleted.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert!(!fixture.has(&manifest_key(&app, &old.manifest)));
    assert!(!fixture.has(&layout::layer_link(&app, &old.layer)));
    // A blob keeps its record and bytes for a cycle after its last link.
    assert!(fixture.has(&layout::blob(&old.layer)));

    let deleted = deletions(&fixture.cycle(false));
    let mut expected = vec![
        format!("blob {}", old.config),
        format!("blob {}", old.layer),
    ];
    expected.sort();
    let mut sorted = deleted;
    sorted.sort();
    assert_eq!(sorted, expected);
    assert!(!fixture.has(&layout::blob(&old.layer)));
    let data_left = fixture
        .store()
        .keys()
        .iter()
        .filter(|k| k.starts_with("data/"))
        .count();
    assert_eq!(data_left, 2, "the new image's config and layer");

    // The newest tag, its manifest and its blobs are untouched throughout.
    assert!(fixture.has(&manifest_key(&app, &new.manifest)));
    for blob in [&new.config, &new.layer] {
        assert!(fixture.has(&layout::blob(blob)));
        assert!(fixture.has(&layout::layer_link(&app, blob)));
    }
}

/// Immutable tags are not retention's: with `keep=1` the newest other tag is kept besides
/// them (they are not counted), they stay however old, and collection keeps their manifests
/// and blobs; the mutable tag beyond `keep` goes, and its image after grace.
#[test]
fn retention_never_deletes_immutable_tags_nor_counts_them() {
    let fixture = Fixture::new()
        .with_retention("app keep=1 untagged-max-age=0")
        .with_immutable_tags("app=semver");
    let app = repository("app");
    let released = fixture.image(&app, "1.0.0", 1);
    fixture.later(1);
    let dropped = fixture.image(&app, "build-1", 2);
    fixture.later(1);
    let newest = fixture.image(&app, "build-2", 3);
    // Newer than every mutable tag, so that counting it would have dropped build-2.
    fixture.later(1);
    let latest_release = fixture.image(&app, "1.1.0", 4);

    let reports = fixture.cycle(false);
    assert_eq!(deletions(&reports), ["tag app:build-1"]);
    fixture.later(GRACE_SECONDS + 1);
    fixture.cycle(false);
    fixture.cycle(false);
    assert!(!fixture.has(&manifest_key(&app, &dropped.manifest)));
    assert!(!fixture.has(&layout::blob(&dropped.layer)));
    for (tag, image) in [
        ("1.0.0", &released),
        ("build-2", &newest),
        ("1.1.0", &latest_release),
    ] {
        assert!(!is_untagged(&fixture.head(&tag_key(&app, tag)).unwrap()));
        assert!(fixture.has(&manifest_key(&app, &image.manifest)), "{tag}");
        for blob in [&image.config, &image.layer] {
            assert!(fixture.has(&layout::blob(blob)), "{tag}");
            assert!(fixture.has(&layout::layer_link(&app, blob)), "{tag}");
        }
    }
}

/// Without a retention rule nothing tagged goes, however old; a blob no manifest names goes
/// once past the grace period.
#[test]
fn without_retention_only_unreferenced_blobs_go() {
    let fixture = Fixture::new();
    let app = repository("app");
    let image = fixture.image(&app, "v1", 1);
    let stray = fixture.blob(&app, b"pushed, never referenced");

    assert_eq!(deletions(&fixture.cycle(false)), Vec::<String>::new());
    fixture.later(GRACE_SECONDS);
    assert_eq!(
        deletions(&fixture.cycle(false)),
        [format!("link app@{stray}")]
    );
    assert_eq!(deletions(&fixture.cycle(false)), [format!("blob {stray}")]);
    assert!(fixture.has(&manifest_key(&app, &image.manifest)));
    assert!(fixture.has(&layout::layer_link(&app, &image.layer)));
}
