//! OSV exports as the advisory tests send them: a zip of advisories, with, if asked, one
//! large stored entry that is generated as it is read (so that a 100 MB export needs no
//! 100 MB buffer).

use std::io::{Cursor, Read, Write};

/// One directory entry's fields, and its local header's offset.
struct Written {
    name: String,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

fn local_header(out: &mut Vec<u8>, entry: &Written) {
    out.extend(0x0403_4b50u32.to_le_bytes());
    out.extend(20u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(entry.method.to_le_bytes());
    out.extend([0; 4]);
    out.extend(entry.crc.to_le_bytes());
    out.extend(entry.compressed.to_le_bytes());
    out.extend(entry.size.to_le_bytes());
    out.extend((entry.name.len() as u16).to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(entry.name.as_bytes());
}

/// The archive's length and its bytes: `files` deflated, then `padding` (a generated reader of
/// `padding_len` bytes whose CRC-32 is `padding_crc`) stored as `padding.bin`.
pub fn export(
    files: &[(&str, Vec<u8>)],
    padding: Option<(u64, u32, Box<dyn Read>)>,
) -> (u64, Box<dyn Read>) {
    let mut head = Vec::new();
    let mut entries = Vec::new();
    for (name, content) in files {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(content).unwrap();
        let data = encoder.finish().unwrap();
        let entry = Written {
            name: name.to_string(),
            method: 8,
            crc: crc32(content),
            compressed: data.len() as u32,
            size: content.len() as u32,
            offset: head.len() as u32,
        };
        local_header(&mut head, &entry);
        head.extend(data);
        entries.push(entry);
    }
    let mut padding_len = 0;
    let mut padding_reader: Box<dyn Read> = Box::new(std::io::empty());
    if let Some((len, crc, reader)) = padding {
        let entry = Written {
            name: "padding.bin".into(),
            method: 0,
            crc,
            compressed: len as u32,
            size: len as u32,
            offset: head.len() as u32,
        };
        local_header(&mut head, &entry);
        entries.push(entry);
        (padding_len, padding_reader) = (len, reader);
    }
    let directory_offset = head.len() as u64 + padding_len;
    let mut tail = Vec::new();
    for entry in &entries {
        tail.extend(0x0201_4b50u32.to_le_bytes());
        tail.extend([20, 0, 20, 0, 0, 0]);
        tail.extend(entry.method.to_le_bytes());
        tail.extend([0; 4]);
        tail.extend(entry.crc.to_le_bytes());
        tail.extend(entry.compressed.to_le_bytes());
        tail.extend(entry.size.to_le_bytes());
        tail.extend((entry.name.len() as u16).to_le_bytes());
        tail.extend([0; 12]);
        tail.extend(entry.offset.to_le_bytes());
        tail.extend(entry.name.as_bytes());
    }
    let directory_len = tail.len() as u32;
    tail.extend(0x0605_4b50u32.to_le_bytes());
    tail.extend([0; 4]);
    tail.extend((entries.len() as u16).to_le_bytes());
    tail.extend((entries.len() as u16).to_le_bytes());
    tail.extend(directory_len.to_le_bytes());
    tail.extend((directory_offset as u32).to_le_bytes());
    tail.extend(0u16.to_le_bytes());
    let len = head.len() as u64 + padding_len + tail.len() as u64;
    let reader = Cursor::new(head)
        .chain(padding_reader)
        .chain(Cursor::new(tail));
    (len, Box::new(reader))
}

/// An OSV advisory of `ecosystem` (with its release) for `package`, fixed in `fixed`.
pub fn advisory(id: &str, ecosystem: &str, package: &str, fixed: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": id,
        "modified": "2026-12-01T00:00:00Z",
        "summary": format!("{package} is vulnerable"),
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }]
    }))
    .unwrap()
}
