//! Hostile layers: truncated, corrupt, bombs, huge headers, escaping paths, random bytes.

use std::io::Write;

use proptest::prelude::*;

use super::tests::{gzip, layer, list, zstd, Item, Listing};
use super::*;

fn read_with(
    limits: Limits,
    compression: Compression,
    bytes: &[u8],
) -> Result<Vec<String>, LayerError> {
    let mut reader = LayerReader::new(compression, limits, Listing::default());
    reader.push(bytes)?;
    Ok(reader.finish()?.0)
}

#[test]
fn truncated_layers_are_errors() {
    let tar = layer(&[
        Item::File("a.txt", &[b'a'; 2000]),
        Item::File("b.txt", b"b"),
    ]);
    assert_eq!(
        list(Compression::Plain, &tar[..1000], 7),
        Err(LayerError::Truncated("a tar entry"))
    );
    assert_eq!(
        list(Compression::Plain, &tar[..600], 7),
        Err(LayerError::Truncated("a tar entry"))
    );
    let gzipped = gzip(&tar);
    assert_eq!(
        list(Compression::Gzip, &gzipped[..gzipped.len() / 2], 7),
        Err(LayerError::Truncated("a gzip member"))
    );
    // Cut inside the trailer, flate2 compares the partial checksum and reports a mismatch.
    assert!(matches!(
        list(Compression::Gzip, &gzipped[..gzipped.len() - 6], 7),
        Err(LayerError::Gzip(_))
    ));
    let compressed = zstd(&tar);
    assert_eq!(
        list(Compression::Zstd, &compressed[..compressed.len() - 2], 7),
        Err(LayerError::Truncated("a zstd frame"))
    );
}

#[test]
fn corrupt_layers_are_errors() {
    let mut tar = layer(&[Item::File("a.txt", b"a")]);
    tar[0] = b'b';
    assert!(matches!(
        list(Compression::Plain, &tar, 100),
        Err(LayerError::Tar(_))
    ));

    let mut gzipped = gzip(&layer(&[Item::File("a.txt", &[b'a'; 3000])]));
    let middle = gzipped.len() / 2;
    gzipped[middle] ^= 0xff;
    gzipped[middle + 1] ^= 0xff;
    assert!(list(Compression::Gzip, &gzipped, 100).is_err());
    assert!(matches!(
        list(Compression::Gzip, b"not gzip at all", 100),
        Err(LayerError::Gzip(_))
    ));

    assert_eq!(
        list(Compression::Zstd, b"not zstd at all", 100),
        Err(LayerError::Zstd("not a zstd frame".into()))
    );
}

#[test]
fn a_reader_stays_failed_after_an_error() {
    let mut reader = LayerReader::new(Compression::Zstd, Limits::default(), Listing::default());
    assert!(reader.push(b"garbage!").is_err());
    assert!(reader.push(&zstd(&layer(&[]))).is_err());
    assert!(reader.finish().is_err());
}

#[test]
fn a_gzip_bomb_fed_lazily_ends_at_the_ratio_limit() {
    let zeros = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut reader = LayerReader::new(Compression::Gzip, Limits::default(), Listing::default());
    let mut pushed = 0;
    let mut outcome = Ok(());
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
        let compressed = std::mem::take(encoder.get_mut());
        pushed += compressed.len();
        outcome = reader.push(&compressed);
        if outcome.is_err() {
            break;
        }
    }
    let Err(LayerError::TooLarge(reason)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("250 times"), "{reason}");
    assert!(
        pushed < 1 << 20,
        "stopped only after {pushed} compressed bytes"
    );
}

#[test]
fn the_absolute_limit_ends_any_layer() {
    let limits = Limits {
        max_decompressed: 4096,
        ..Limits::default()
    };
    let tar = layer(&[Item::File("a.txt", &[b'a'; 5000])]);
    for (compression, bytes) in [
        (Compression::Plain, tar.clone()),
        (Compression::Gzip, gzip(&tar)),
        (Compression::Zstd, zstd(&tar)),
    ] {
        assert!(
            matches!(
                read_with(limits, compression, &bytes),
                Err(LayerError::TooLarge(_))
            ),
            "{compression:?}"
        );
    }
}

#[test]
fn a_zstd_bomb_ends_at_the_ratio_limit() {
    let limits = Limits {
        ratio_allowance: 1 << 16,
        ..Limits::default()
    };
    let bomb = zstd(&vec![0u8; 8 << 20]);
    assert!(matches!(
        read_with(limits, Compression::Zstd, &bomb),
        Err(LayerError::TooLarge(_))
    ));
}

#[test]
fn zstd_windows_over_the_limit_are_refused() {
    // Frame header: magic, descriptor with a window byte, window 2^(10+17) = 128 MiB.
    let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3, 0, 0, 0];
    let Err(LayerError::TooLarge(reason)) = list(Compression::Zstd, &frame, 100) else {
        panic!()
    };
    assert!(reason.contains("zstd window"), "{reason}");
}

#[test]
fn entry_count_and_header_sizes_are_bounded() {
    let many = layer(&[
        Item::File("a", b""),
        Item::File("b", b""),
        Item::File("c", b""),
    ]);
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    assert!(matches!(
        read_with(limits, Compression::Plain, &many),
        Err(LayerError::TooLarge(_))
    ));

    let limits = Limits {
        max_header: 100,
        ..Limits::default()
    };
    let long_name = format!("{}.txt", "n".repeat(200));
    let long = layer(&[Item::File(&long_name, b"")]);
    assert!(matches!(
        read_with(limits, Compression::Plain, &long),
        Err(LayerError::TooLarge(_))
    ));
    let pax = layer(&[Item::PaxPath(&long_name), Item::File("short", b"")]);
    assert!(matches!(
        read_with(limits, Compression::Plain, &pax),
        Err(LayerError::TooLarge(_))
    ));
    assert!(read_with(Limits::default(), Compression::Plain, &pax).is_ok());
}

#[test]
fn hostile_paths_are_skipped_and_strange_ones_neutralised() {
    let tar = layer(&[
        Item::RawName(b"../../etc/escape.txt", b"escaped"),
        Item::RawName(b"a/../../b.txt", b"escaped"),
        Item::RawName(b"/abs/./x.txt", b"absolute"),
        Item::RawName(b"bad\xff\xfe.txt", b"not utf-8"),
        Item::RawName(b"ok.txt", b"fine"),
    ]);
    assert_eq!(
        list(Compression::Plain, &tar, 3).unwrap(),
        [
            "/abs/x.txt = absolute",
            "/bad\u{fffd}\u{fffd}.txt = not utf-8",
            "/ok.txt = fine"
        ]
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), chunk in 1usize..700) {
        for compression in [Compression::Plain, Compression::Gzip, Compression::Zstd, Compression::Detect] {
            let _ = list(compression, &bytes, chunk);
        }
    }

    #[test]
    fn damaged_layers_never_panic(position in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let tar = layer(&[Item::PaxPath("p/x.txt"), Item::File("f", b"pax"), Item::File("a.txt", &[7; 900])]);
        for (compression, mut bytes) in [(Compression::Plain, tar.clone()), (Compression::Gzip, gzip(&tar)), (Compression::Zstd, zstd(&tar))] {
            let at = position.index(bytes.len());
            bytes[at] = byte;
            bytes.truncate(cut.index(bytes.len() + 1));
            let _ = list(compression, &bytes, 13);
        }
    }
}
