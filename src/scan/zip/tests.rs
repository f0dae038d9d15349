use super::build::{archive, deflate, Member};
use super::*;

const LIMITS: Limits = Limits {
    max_size: 1024 * 1024,
    max_ratio: 1000,
};

/// Each entry's name and what reading it gave.
type Read = Vec<(String, Result<Vec<u8>, EntryError>)>;

/// Reads `zip` as range reads would: its tail, then the directory, then each entry's data.
fn read_all(zip: &[u8]) -> Result<Read, ZipError> {
    let len = zip.len() as u64;
    let tail = &zip[len.saturating_sub(TAIL_MAX) as usize..];
    let directory = match find_end(tail, len)? {
        End::Directory(directory) => directory,
        End::Zip64At(at) => {
            let at = at as usize;
            let record = &zip[at..(at + ZIP64_EOCD_LEN as usize).min(zip.len())];
            zip64_end(record, at as u64)?
        }
    };
    let mut bytes = &zip[directory.offset as usize..(directory.offset + directory.size) as usize];
    let mut entries = Vec::new();
    for _ in 0..directory.entries {
        let (entry, used) = directory_entry(bytes)?.ok_or(ZipError("cut short".into()))?;
        bytes = &bytes[used..];
        entries.push(entry);
    }
    Ok(entries
        .into_iter()
        .map(|entry| {
            let start = entry.local_offset as usize;
            let content = data_start(&zip[start..]).and_then(|data| {
                let data = start + data as usize;
                extract(&entry, &zip[data..data + entry.compressed as usize], LIMITS)
            });
            (entry.name, content)
        })
        .collect())
}

fn members() -> Vec<Member> {
    vec![
        Member::deflated("DSA-1.json", br#"{"id":"DSA-1"}"#),
        Member::stored("dir/DSA-2.json", br#"{"id":"DSA-2"}"#),
        Member::deflated("empty.json", b""),
    ]
}

#[test]
fn stored_and_deflated_entries_read_back_with_and_without_zip64() {
    for zip64 in [false, true] {
        let read = read_all(&archive(&members(), zip64)).unwrap();
        let names: Vec<_> = read.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["DSA-1.json", "dir/DSA-2.json", "empty.json"]);
        assert_eq!(read[0].1.as_deref(), Ok(&br#"{"id":"DSA-1"}"#[..]));
        assert_eq!(read[1].1.as_deref(), Ok(&br#"{"id":"DSA-2"}"#[..]));
        assert_eq!(read[2].1.as_deref(), Ok(&b""[..]));
    }
}

#[test]
fn a_directory_entry_cut_short_asks_for_more() {
    let zip = archive(&members(), false);
    let len = zip.len() as u64;
    let End::Directory(directory) = find_end(&zip, len).unwrap() else {
        panic!("not zip64")
    };
    let start = directory.offset as usize;
    assert_eq!(directory_entry(&zip[start..start + 50]), Ok(None));
    let (entry, used) = directory_entry(&zip[start..]).unwrap().unwrap();
    assert_eq!(entry.name, "DSA-1.json");
    assert_eq!(used, 46 + "DSA-1.json".len());
}

#[test]
fn archives_that_do_not_hold_together_are_refused() {
    let zip = archive(&members(), false);
    // Cut anywhere before the end: no end record.
    for cut in [0, 10, zip.len() / 2, zip.len() - 1] {
        assert!(read_all(&zip[..cut]).is_err(), "cut at {cut}");
    }
    assert!(read_all(b"PK\x05\x06 not really").is_err());
    // A directory that claims more entries than it can hold.
    let mut more = zip.clone();
    let end = more.len() - 22 - "made by the tests".len();
    more[end + 10..end + 12].copy_from_slice(&900u16.to_le_bytes());
    assert!(read_all(&more).unwrap_err().0.contains("too small"));
    // A directory offset beyond the archive.
    let mut outside = zip.clone();
    outside[end + 16..end + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    outside[end + 10..end + 12].copy_from_slice(&3u16.to_le_bytes());
    assert!(read_all(&outside).is_err());
    // A directory entry's signature broken.
    let End::Directory(directory) = find_end(&zip, zip.len() as u64).unwrap() else {
        panic!("not zip64")
    };
    let mut broken = zip.clone();
    broken[directory.offset as usize] = b'X';
    assert!(read_all(&broken).unwrap_err().0.contains("signature"));
    // A zip64 end record pointing at nothing.
    let mut zip64 = archive(&members(), true);
    let locator = zip64.len() - 22 - "made by the tests".len() - 20;
    zip64[locator + 8..locator + 16].copy_from_slice(&3u64.to_le_bytes());
    assert!(read_all(&zip64).is_err());
}

#[test]
fn a_broken_entry_is_an_entry_error() {
    let zip = archive(&members(), false);
    // The last entry's local header signature, and the first entry's content (its CRC).
    let mut broken = zip.clone();
    let last = zip.windows(4).rposition(|w| w == b"PK\x03\x04").unwrap();
    broken[last + 1] = b'X';
    let data = 30 + "DSA-1.json".len() + 4;
    broken[data] ^= 0xff;
    let read = read_all(&broken).unwrap();
    assert!(read[0].1.is_err());
    assert!(read[1].1.is_ok());
    assert!(matches!(read[2].1, Err(EntryError::Malformed(_))));
}

fn entry_for(content: &[u8], data: &[u8], method: u16) -> Entry {
    Entry {
        name: "x.json".into(),
        flags: 0,
        method,
        crc32: super::build::crc32(content),
        compressed: data.len() as u64,
        uncompressed: content.len() as u64,
        local_offset: 0,
    }
}

#[test]
fn zip_bombs_stop_at_the_limits() {
    let huge = vec![b'a'; 8 * 1024 * 1024];
    let data = deflate(&huge);
    // Announced as it is: refused before inflating (size, then ratio).
    let honest = entry_for(&huge, &data, 8);
    assert_eq!(
        extract(&honest, &data, LIMITS),
        Err(EntryError::TooLarge {
            limit: LIMITS.max_size
        })
    );
    let dense = vec![b'a'; 1024 * 1024];
    let dense_data = deflate(&dense);
    let limits = Limits {
        max_size: 4 * 1024 * 1024,
        max_ratio: 100,
    };
    assert_eq!(
        extract(&entry_for(&dense, &dense_data, 8), &dense_data, limits),
        Err(EntryError::Ratio(100))
    );
    // Announced small: inflating stops one byte past the announced size.
    let mut lying = entry_for(b"small", &data, 8);
    lying.uncompressed = 5;
    assert!(matches!(
        extract(&lying, &data, LIMITS),
        Err(EntryError::Malformed(_))
    ));
}

#[test]
fn unsupported_encrypted_and_corrupt_entries_are_refused() {
    let content = br#"{"id":"X"}"#;
    let mut bzip2 = entry_for(content, content, 12);
    assert_eq!(
        extract(&bzip2, content, LIMITS),
        Err(EntryError::Unsupported(12))
    );
    bzip2.method = 0;
    bzip2.flags = 1;
    assert!(extract(&bzip2, content, LIMITS).is_err());
    let mut wrong_crc = entry_for(content, content, 0);
    wrong_crc.crc32 ^= 1;
    assert_eq!(extract(&wrong_crc, content, LIMITS), Err(EntryError::Crc));
    let garbage = b"\xff\xff\xff\xff";
    assert!(matches!(
        extract(&entry_for(content, garbage, 8), garbage, LIMITS),
        Err(EntryError::Malformed(_))
    ));
    assert!(extract(&entry_for(content, content, 0), &content[..3], LIMITS).is_err());
}
