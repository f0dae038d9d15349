//! Zip archives written by the tests, byte by byte, so that each field can be made wrong.

use std::io::Write;

/// One entry to write.
pub struct Member {
    pub name: String,
    pub content: Vec<u8>,
    pub deflate: bool,
}

impl Member {
    pub fn deflated(name: &str, content: &[u8]) -> Self {
        Member {
            name: name.into(),
            content: content.to_vec(),
            deflate: true,
        }
    }

    pub fn stored(name: &str, content: &[u8]) -> Self {
        Member {
            name: name.into(),
            content: content.to_vec(),
            deflate: false,
        }
    }
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An archive of `members`; with `zip64`, the sizes and offsets are in zip64 extra fields and
/// the end records are zip64's, as writers do for archives beyond 4 GiB.
pub fn archive(members: &[Member], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for member in members {
        let data = if member.deflate {
            deflate(&member.content)
        } else {
            member.content.clone()
        };
        let offset = out.len() as u64;
        let method: u16 = if member.deflate { 8 } else { 0 };
        let crc = crc32(&member.content);
        let name = member.name.as_bytes();
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend([20, 0, 0, 0]);
        out.extend(method.to_le_bytes());
        out.extend([0; 4]);
        out.extend(crc.to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((member.content.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        // A local extra field the directory does not have: readers must skip it.
        out.extend(4u16.to_le_bytes());
        out.extend(name);
        out.extend([0xfe, 0xca, 0, 0]);
        out.extend(&data);

        let mut extra = Vec::new();
        let (compressed, uncompressed, local) = if zip64 {
            extra.extend(1u16.to_le_bytes());
            extra.extend(24u16.to_le_bytes());
            extra.extend((member.content.len() as u64).to_le_bytes());
            extra.extend((data.len() as u64).to_le_bytes());
            extra.extend(offset.to_le_bytes());
            (u32::MAX, u32::MAX, u32::MAX)
        } else {
            (
                data.len() as u32,
                member.content.len() as u32,
                offset as u32,
            )
        };
        directory.extend(0x0201_4b50u32.to_le_bytes());
        directory.extend([45, 3, 45, 0, 0, 0]);
        directory.extend(method.to_le_bytes());
        directory.extend([0; 4]);
        directory.extend(crc.to_le_bytes());
        directory.extend(compressed.to_le_bytes());
        directory.extend(uncompressed.to_le_bytes());
        directory.extend((name.len() as u16).to_le_bytes());
        directory.extend((extra.len() as u16).to_le_bytes());
        directory.extend([0; 6]);
        directory.extend([0; 4]);
        directory.extend(local.to_le_bytes());
        directory.extend(name);
        directory.extend(extra);
    }
    let directory_offset = out.len() as u64;
    out.extend(&directory);
    let count = members.len() as u64;
    if zip64 {
        let end_at = out.len() as u64;
        out.extend(0x0606_4b50u32.to_le_bytes());
        out.extend(44u64.to_le_bytes());
        out.extend([45, 3, 45, 0]);
        out.extend([0; 8]);
        out.extend(count.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend((directory.len() as u64).to_le_bytes());
        out.extend(directory_offset.to_le_bytes());
        out.extend(0x0706_4b50u32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(end_at.to_le_bytes());
        out.extend(1u32.to_le_bytes());
    }
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0; 4]);
    let (entries, size, offset) = if zip64 {
        (u16::MAX, u32::MAX, u32::MAX)
    } else {
        (
            count as u16,
            directory.len() as u32,
            directory_offset as u32,
        )
    };
    out.extend(entries.to_le_bytes());
    out.extend(entries.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(offset.to_le_bytes());
    let comment = b"made by the tests";
    out.extend((comment.len() as u16).to_le_bytes());
    out.extend(comment);
    out
}
