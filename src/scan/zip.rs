//! Reading a zip archive piece by piece, as range reads of an object give it: the end of the
//! central directory from the archive's tail, then directory entries from any position, then
//! each entry's local header and data. Nothing here needs the whole archive in memory, which
//! is why the `zip` crate (it wants `Read + Seek` over the whole file) is not used.
//!
//! Archives are untrusted: every length is checked against what was read, a directory that
//! does not hold together is a [`ZipError`] (the archive is refused), and one entry that cannot
//! be read is an [`EntryError`] (that entry is skipped). Inflating is bounded twice: by a
//! largest size and by a largest compression ratio, so a zip bomb costs at most that much.

use std::io::Read;

/// The archive cannot be read at all: no end of central directory, or a directory that
/// points outside the archive or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readable zip archive: {0}")]
pub struct ZipError(pub String);

/// One entry cannot be read; the others may still be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("{0}")]
    Malformed(String),
    #[error("compression method {0} is not supported")]
    Unsupported(u16),
    #[error("inflates beyond {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("compression ratio above {0}")]
    Ratio(u64),
    #[error("CRC-32 mismatch")]
    Crc,
}

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
/// The zip64 end of central directory record without its extensible data.
pub const ZIP64_EOCD_LEN: u64 = 56;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
pub const LOCAL_HEADER_LEN: u64 = 30;
/// The most a directory entry can take: its fixed part and three 16-bit lengths.
pub const CENTRAL_ENTRY_MAX: u64 = CENTRAL_LEN as u64 + 3 * 0xFFFF;
/// The most of an archive's tail that can hold its end records: the end of central directory
/// with the longest comment, and the zip64 locator before it.
pub const TAIL_MAX: u64 = (ZIP64_LOCATOR_LEN + EOCD_LEN + 0xFFFF) as u64;

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// What the tail of an archive says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Directory(Directory),
    /// A zip64 archive: its end record ([`ZIP64_EOCD_LEN`] bytes) is at this offset.
    Zip64At(u64),
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Finds the end of central directory in `tail`, the last bytes of an archive of `archive_len`
/// bytes (at most [`TAIL_MAX`] of them).
pub fn find_end(tail: &[u8], archive_len: u64) -> Result<End, ZipError> {
    let tail_offset = archive_len
        .checked_sub(tail.len() as u64)
        .ok_or_else(|| ZipError("the tail is longer than the archive".into()))?;
    // The last signature whose comment length reaches exactly the end is the record.
    let at = (0..=tail.len().saturating_sub(EOCD_LEN))
        .rev()
        .filter(|&at| tail.len() >= EOCD_LEN && u32_at(tail, at) == EOCD_SIGNATURE)
        .find(|&at| at + EOCD_LEN + usize::from(u16_at(tail, at + 20)) == tail.len())
        .ok_or_else(|| ZipError("no end of central directory record".into()))?;
    let record = &tail[at..];
    if u16_at(record, 4) != 0 || u16_at(record, 6) != 0 {
        return Err(ZipError("multi-disk archives are not supported".into()));
    }
    let entries = u16_at(record, 10);
    let size = u32_at(record, 12);
    let offset = u32_at(record, 16);
    if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        let locator = at
            .checked_sub(ZIP64_LOCATOR_LEN)
            .map(|start| &tail[start..at])
            .filter(|locator| u32_at(locator, 0) == ZIP64_LOCATOR_SIGNATURE)
            .ok_or_else(|| ZipError("a zip64 archive without its zip64 locator".into()))?;
        let end_at = u64_at(locator, 8);
        if end_at.saturating_add(ZIP64_EOCD_LEN) > tail_offset + at as u64 {
            return Err(ZipError(
                "the zip64 end record is outside the archive".into(),
            ));
        }
        return Ok(End::Zip64At(end_at));
    }
    let directory = Directory {
        offset: offset.into(),
        size: size.into(),
        entries: entries.into(),
    };
    check_directory(directory, tail_offset + at as u64)
}

/// Reads a zip64 end of central directory record; `end_at` is where it starts.
pub fn zip64_end(record: &[u8], end_at: u64) -> Result<Directory, ZipError> {
    if record.len() < ZIP64_EOCD_LEN as usize || u32_at(record, 0) != ZIP64_EOCD_SIGNATURE {
        return Err(ZipError("no zip64 end of central directory record".into()));
    }
    if u32_at(record, 16) != 0 || u32_at(record, 20) != 0 {
        return Err(ZipError("multi-disk archives are not supported".into()));
    }
    let directory = Directory {
        entries: u64_at(record, 32),
        size: u64_at(record, 40),
        offset: u64_at(record, 48),
    };
    match check_directory(directory, end_at)? {
        End::Directory(directory) => Ok(directory),
        End::Zip64At(_) => unreachable!("check_directory answers a directory"),
    }
}

/// The directory must lie before its end record, and each entry takes at least 46 bytes.
fn check_directory(directory: Directory, end_at: u64) -> Result<End, ZipError> {
    let fits = directory
        .offset
        .checked_add(directory.size)
        .is_some_and(|end| end <= end_at);
    if !fits {
        return Err(ZipError(
            "the central directory is outside the archive".into(),
        ));
    }
    if directory.entries.saturating_mul(CENTRAL_LEN as u64) > directory.size {
        return Err(ZipError(
            "the central directory is too small for its entries".into(),
        ));
    }
    Ok(End::Directory(directory))
}

/// One central directory entry: what is needed to find and check the entry's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored; a name that is not UTF-8 is shown with replacement characters.
    pub name: String,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    /// Where the entry's local header starts.
    pub local_offset: u64,
}

impl Entry {
    pub fn is_directory(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// Parses the directory entry at the start of `bytes`, and how many bytes it takes; `Ok(None)`
/// when `bytes` end before the entry does (read more).
pub fn directory_entry(bytes: &[u8]) -> Result<Option<(Entry, usize)>, ZipError> {
    if bytes.len() < CENTRAL_LEN {
        return Ok(None);
    }
    if u32_at(bytes, 0) != CENTRAL_SIGNATURE {
        return Err(ZipError(
            "a central directory entry has a wrong signature".into(),
        ));
    }
    let name_len = usize::from(u16_at(bytes, 28));
    let extra_len = usize::from(u16_at(bytes, 30));
    let comment_len = usize::from(u16_at(bytes, 32));
    let len = CENTRAL_LEN + name_len + extra_len + comment_len;
    if bytes.len() < len {
        return Ok(None);
    }
    let name = String::from_utf8_lossy(&bytes[CENTRAL_LEN..CENTRAL_LEN + name_len]).into_owned();
    let mut entry = Entry {
        name,
        flags: u16_at(bytes, 8),
        method: u16_at(bytes, 10),
        crc32: u32_at(bytes, 16),
        compressed: u32_at(bytes, 20).into(),
        uncompressed: u32_at(bytes, 24).into(),
        local_offset: u32_at(bytes, 42).into(),
    };
    let extra = &bytes[CENTRAL_LEN + name_len..CENTRAL_LEN + name_len + extra_len];
    apply_zip64_extra(&mut entry, extra)?;
    Ok(Some((entry, len)))
}

/// The zip64 extra field (0x0001) holds, in this order, each of the sizes and the offset whose
/// 32-bit field is saturated.
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8]) -> Result<(), ZipError> {
    let saturated = |value: u64| value == 0xFFFF_FFFF;
    if ![entry.uncompressed, entry.compressed, entry.local_offset]
        .into_iter()
        .any(saturated)
    {
        return Ok(());
    }
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
        let data = extra
            .get(4..4 + len)
            .ok_or_else(|| ZipError("an extra field runs past its entry".into()))?;
        if id == 1 {
            let mut values = data.chunks_exact(8).map(|b| u64_at(b, 0));
            for field in [
                &mut entry.uncompressed,
                &mut entry.compressed,
                &mut entry.local_offset,
            ] {
                if saturated(*field) {
                    *field = values
                        .next()
                        .ok_or_else(|| ZipError("a zip64 extra field is too short".into()))?;
                }
            }
            return Ok(());
        }
        extra = &extra[4 + len..];
    }
    Err(ZipError(
        "an entry needs a zip64 extra field it lacks".into(),
    ))
}

/// Where an entry's data starts, counted from its local header, given that header's first
/// [`LOCAL_HEADER_LEN`] bytes: the local name and extra field may differ from the directory's.
pub fn data_start(local_header: &[u8]) -> Result<u64, EntryError> {
    if local_header.len() < LOCAL_HEADER_LEN as usize || u32_at(local_header, 0) != LOCAL_SIGNATURE
    {
        return Err(EntryError::Malformed(
            "no local header where the directory says".into(),
        ));
    }
    Ok(
        LOCAL_HEADER_LEN
            + u64::from(u16_at(local_header, 26))
            + u64::from(u16_at(local_header, 28)),
    )
}

/// Limits on what one entry may inflate to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size: u64,
    /// Uncompressed bytes per compressed byte; real text stays far below it.
    pub max_ratio: u64,
}

/// Checks an entry before its data is read: whether it could be extracted within `limits`.
pub fn check_entry(entry: &Entry, limits: Limits) -> Result<(), EntryError> {
    if entry.flags & 1 != 0 {
        return Err(EntryError::Malformed("the entry is encrypted".into()));
    }
    if entry.method != 0 && entry.method != 8 {
        return Err(EntryError::Unsupported(entry.method));
    }
    if entry.uncompressed > limits.max_size || entry.compressed > limits.max_size {
        return Err(EntryError::TooLarge {
            limit: limits.max_size,
        });
    }
    if entry.uncompressed > entry.compressed.max(1).saturating_mul(limits.max_ratio) {
        return Err(EntryError::Ratio(limits.max_ratio));
    }
    Ok(())
}

/// The entry's content from its `data` (exactly `entry.compressed` bytes), checked against
/// the directory's size and CRC-32. Inflating stops one byte past what the directory
/// announces, whatever the data says.
pub fn extract(entry: &Entry, data: &[u8], limits: Limits) -> Result<Vec<u8>, EntryError> {
    check_entry(entry, limits)?;
    if data.len() as u64 != entry.compressed {
        return Err(EntryError::Malformed(
            "the entry's data is cut short".into(),
        ));
    }
    let content = match entry.method {
        0 => data.to_vec(),
        _ => {
            let mut content = Vec::with_capacity(entry.uncompressed as usize);
            flate2::read::DeflateDecoder::new(data)
                .take(entry.uncompressed + 1)
                .read_to_end(&mut content)
                .map_err(|e| EntryError::Malformed(format!("inflating failed: {e}")))?;
            content
        }
    };
    if content.len() as u64 != entry.uncompressed {
        return Err(EntryError::Malformed(
            "the entry's size differs from the directory's".into(),
        ));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&content);
    if crc.sum() != entry.crc32 {
        return Err(EntryError::Crc);
    }
    Ok(content)
}

#[cfg(test)]
pub(crate) mod build;
#[cfg(test)]
mod tests;
