//! Layers built in memory, read in chunks of every size, merged with whiteouts.

use std::collections::BTreeMap;
use std::io::Write;

use ::tar::{Builder, EntryType, Header};

use super::*;

/// One entry of a test layer.
pub(super) enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A pax header giving the next entry this path.
    PaxPath(&'a str),
    /// A header whose name field holds these bytes verbatim, with this content.
    RawName(&'a [u8], &'a [u8]),
}

pub(super) fn layer(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = Builder::new(Vec::new());
    for item in items {
        let mut header = Header::new_gnu();
        header.set_mode(0o644);
        match *item {
            Item::File(path, content) => {
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, path, content).unwrap();
            }
            Item::Dir(path) => {
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Item::Symlink(path, target) | Item::HardLink(path, target) => {
                let kind = match item {
                    Item::Symlink(..) => EntryType::Symlink,
                    _ => EntryType::Link,
                };
                header.set_entry_type(kind);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Item::PaxPath(path) => {
                let record = format!("path={path}\n");
                let mut length = record.len() + 3;
                if format!("{length} {record}").len() != length {
                    length += 1;
                }
                let body = format!("{length} {record}");
                let mut header = Header::new_ustar();
                header.set_entry_type(EntryType::XHeader);
                header.set_path("PaxHeaders/entry").unwrap();
                header.set_size(body.len() as u64);
                header.set_cksum();
                builder.append(&header, body.as_bytes()).unwrap();
            }
            Item::RawName(name, content) => {
                header.as_old_mut().name[..name.len()].copy_from_slice(name);
                header.set_size(content.len() as u64);
                header.set_cksum();
                builder.append(&header, content).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub(super) fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Every entry a layer reports, as text.
#[derive(Default)]
pub(super) struct Listing(pub(super) Vec<String>);

impl EntryVisitor for Listing {
    fn wanted(&mut self, path: &str) -> Option<usize> {
        path.ends_with(".txt").then_some(64)
    }

    fn entry(&mut self, path: &str, kind: EntryKind<'_>) {
        let described = match kind {
            EntryKind::File(Some(content)) => {
                format!("{path} = {}", String::from_utf8_lossy(content))
            }
            other => format!("{path} {other:?}"),
        };
        self.0.push(described);
    }
}

pub(super) fn list(
    compression: Compression,
    bytes: &[u8],
    chunk: usize,
) -> Result<Vec<String>, LayerError> {
    let mut reader = LayerReader::new(compression, Limits::default(), Listing::default());
    for piece in bytes.chunks(chunk.max(1)) {
        reader.push(piece)?;
    }
    Ok(reader.finish()?.0)
}

fn text_files() -> Merged<String> {
    Merged::new(
        |path| path.ends_with(".txt").then_some(64),
        |_, content| String::from_utf8(content.to_vec()).ok(),
    )
}

fn apply(merged: &mut Merged<String>, bytes: &[u8]) {
    let mut reader = merged.layer(Compression::Detect, Limits::default());
    reader.push(bytes).unwrap();
    reader.finish().unwrap().commit();
}

fn contents(merged: &Merged<String>) -> BTreeMap<&str, &str> {
    merged
        .files()
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect()
}

fn sample() -> Vec<u8> {
    let long = format!("usr/{}/long.txt", "d".repeat(150));
    layer(&[
        Item::Dir("etc/"),
        Item::File("./etc/a.txt", b"alpha"),
        Item::File("etc/skipped.bin", b"binary"),
        Item::File(&long, b"long"),
        Item::PaxPath("opt/from-pax.txt"),
        Item::File("opt/short-name", b"pax"),
        Item::Symlink("etc/link.txt", "a.txt"),
        Item::HardLink("etc/hard.txt", "etc/a.txt"),
        Item::File("etc/big.txt", &[b'x'; 100]),
    ])
}

#[test]
fn entries_are_reported_with_normalised_paths_and_wanted_content() {
    let listing = list(Compression::Plain, &sample(), usize::MAX).unwrap();
    let long = format!("/usr/{}/long.txt = long", "d".repeat(150));
    assert_eq!(
        listing,
        [
            "/etc Directory",
            "/etc/a.txt = alpha",
            "/etc/skipped.bin File(None)",
            &long,
            "/opt/from-pax.txt = pax",
            "/etc/link.txt Symlink(\"a.txt\")",
            "/etc/hard.txt HardLink(\"/etc/a.txt\")",
            "/etc/big.txt File(None)",
        ]
    );
}

#[test]
fn every_chunk_size_and_compression_gives_the_same_entries() {
    let tar = sample();
    let expected = list(Compression::Plain, &tar, usize::MAX).unwrap();
    let encodings = [
        (Compression::Plain, tar.clone()),
        (Compression::Gzip, gzip(&tar)),
        (Compression::Zstd, zstd(&tar)),
        (Compression::Detect, gzip(&tar)),
        (Compression::Detect, zstd(&tar)),
        (Compression::Detect, tar.clone()),
    ];
    for (compression, bytes) in encodings {
        for chunk in [1, 2, 3, 7, 511, 512, 513, 4093, usize::MAX] {
            assert_eq!(
                list(compression, &bytes, chunk).unwrap(),
                expected,
                "{compression:?} in chunks of {chunk}"
            );
        }
    }
}

#[test]
fn gzip_members_are_read_one_after_another() {
    let first = layer(&[Item::File("one.txt", b"1")]);
    let second = layer(&[Item::File("two.txt", b"2")]);
    // A tar ends with zero blocks: strip them from the first so the members join into one.
    let mut bytes = gzip(&first[..1024]);
    bytes.extend(gzip(&second));
    assert_eq!(
        list(Compression::Gzip, &bytes, 5).unwrap(),
        ["/one.txt = 1", "/two.txt = 2"]
    );
}

#[test]
fn compression_follows_the_media_type() {
    for (media_type, compression) in [
        ("application/vnd.oci.image.layer.v1.tar", Compression::Plain),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Gzip,
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            Compression::Gzip,
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Gzip,
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::Zstd,
        ),
        ("application/octet-stream", Compression::Detect),
    ] {
        assert_eq!(
            Compression::from_media_type(media_type),
            compression,
            "{media_type}"
        );
    }
}

#[test]
fn later_layers_replace_and_whiteouts_delete() {
    let mut merged = text_files();
    apply(
        &mut merged,
        &layer(&[
            Item::File("keep.txt", b"kept"),
            Item::File("replaced.txt", b"old"),
            Item::File("deleted.txt", b"gone"),
            Item::File("dir/a.txt", b"a"),
            Item::File("dir/sub/b.txt", b"b"),
            Item::File("dirish.txt", b"not below dir"),
            Item::File("dir-x.txt", b"sorts between dir and dir/"),
            Item::File("dir.txt", b"sorts between dir and dir/"),
            Item::File("opaque/old.txt", b"old"),
            Item::File("linked.txt", b"target"),
        ]),
    );
    apply(
        &mut merged,
        &gzip(&layer(&[
            Item::File("replaced.txt", b"new"),
            Item::File(".wh.deleted.txt", b""),
            Item::File(".wh.dir", b""),
            Item::File("opaque/.wh..wh..opq", b""),
            Item::File("opaque/new.txt", b"new"),
            Item::HardLink("copy.txt", "linked.txt"),
        ])),
    );
    assert_eq!(
        contents(&merged),
        BTreeMap::from([
            ("/copy.txt", "target"),
            ("/dir-x.txt", "sorts between dir and dir/"),
            ("/dir.txt", "sorts between dir and dir/"),
            ("/dirish.txt", "not below dir"),
            ("/keep.txt", "kept"),
            ("/linked.txt", "target"),
            ("/opaque/new.txt", "new"),
            ("/replaced.txt", "new"),
        ])
    );
}

#[test]
fn whiteouts_spare_their_own_layer_and_later_ones() {
    let mut merged = text_files();
    apply(&mut merged, &layer(&[Item::File("d/old.txt", b"old")]));
    apply(
        &mut merged,
        &layer(&[
            Item::File("d/same.txt", b"same layer"),
            Item::File("d/.wh..wh..opq", b""),
        ]),
    );
    apply(&mut merged, &layer(&[Item::File("d/later.txt", b"later")]));
    assert_eq!(
        contents(&merged),
        BTreeMap::from([("/d/later.txt", "later"), ("/d/same.txt", "same layer")])
    );
}

#[test]
fn symlinks_oversized_files_and_files_over_directories_hide_what_was_there() {
    let mut merged = text_files();
    apply(
        &mut merged,
        &layer(&[
            Item::File("a.txt", b"a"),
            Item::File("b.txt", b"b"),
            Item::File("c/inner.txt", b"c"),
            Item::File("d.txt", b"d"),
        ]),
    );
    apply(
        &mut merged,
        &layer(&[
            Item::Symlink("a.txt", "d.txt"),
            Item::File("b.txt", &[b'x'; 65]),
            Item::File("c", b"a file now"),
            Item::Dir("d.txt"),
        ]),
    );
    assert!(contents(&merged).is_empty(), "{:?}", contents(&merged));
}

#[test]
fn a_failed_layer_changes_nothing() {
    let mut merged = text_files();
    apply(&mut merged, &layer(&[Item::File("a.txt", b"a")]));
    let bytes = layer(&[Item::File(".wh.a.txt", b""), Item::File("b.txt", b"b")]);
    let mut reader = merged.layer(Compression::Plain, Limits::default());
    reader.push(&bytes[..1500]).unwrap();
    assert_eq!(
        reader.finish().err(),
        Some(LayerError::Truncated("a tar entry"))
    );
    assert_eq!(contents(&merged), BTreeMap::from([("/a.txt", "a")]));
}

#[test]
fn paths_are_normalised() {
    for (raw, normal) in [
        ("a/b", Some("/a/b")),
        ("./a/b", Some("/a/b")),
        ("/a//b/", Some("/a/b")),
        ("a/./b", Some("/a/b")),
        ("./", Some("/")),
        ("", Some("/")),
        ("../etc/passwd", None),
        ("a/../../b", None),
        ("a/..", None),
        ("a\0b", None),
        ("é/ü.txt", Some("/é/ü.txt")),
    ] {
        assert_eq!(normalise(raw).as_deref(), normal, "{raw:?}");
    }
}

#[test]
fn zstd_frames_and_skippable_frames_are_read_in_turn() {
    let first = layer(&[Item::File("one.txt", b"1")]);
    let second = layer(&[Item::File("two.txt", b"2")]);
    let mut bytes = zstd(&first[..1024]);
    bytes.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    bytes.extend(zstd(&second));
    for chunk in [1, 4, 9, usize::MAX] {
        assert_eq!(
            list(Compression::Zstd, &bytes, chunk).unwrap(),
            ["/one.txt = 1", "/two.txt = 2"]
        );
    }
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    assert_eq!(
        list(Compression::Zstd, &bytes, 9),
        Err(LayerError::Zstd("content checksum mismatch".into()))
    );
}
