//! An incremental tar parser: ustar, GNU long names and links (`L`, `K`), pax extended
//! headers (`x` with `path`, `linkpath` and `size`; global `g` headers are read and ignored).

use super::path::normalise;
use super::{EntryKind, EntryVisitor, LayerError, Limits};

const BLOCK: usize = 512;

/// Parses a tar stream pushed in pieces of any size, reporting entries to a visitor.
pub(super) struct TarParser {
    limits: Limits,
    state: State,
    header: Vec<u8>,
    pending: Extensions,
    entries: u64,
}

enum State {
    Header,
    Body {
        remaining: u64,
        padding: u64,
        body: Body,
    },
    Padding(u64),
    /// After the end-of-archive block: whatever follows is ignored.
    End,
}

enum Body {
    Skip,
    /// A file's content, kept when wanted and within its cap.
    File {
        path: String,
        kept: Option<Vec<u8>>,
    },
    Extension {
        kind: u8,
        bytes: Vec<u8>,
    },
}

/// What long-name and pax entries say about the entry that follows them.
#[derive(Default)]
struct Extensions {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
}

impl TarParser {
    pub(super) fn new(limits: Limits) -> TarParser {
        TarParser {
            limits,
            state: State::Header,
            header: Vec::with_capacity(BLOCK),
            pending: Extensions::default(),
            entries: 0,
        }
    }

    pub(super) fn feed(
        &mut self,
        mut data: &[u8],
        visitor: &mut dyn EntryVisitor,
    ) -> Result<(), LayerError> {
        while !data.is_empty() {
            match &mut self.state {
                State::End => return Ok(()),
                State::Header => {
                    let take = (BLOCK - self.header.len()).min(data.len());
                    let (head, rest) = data.split_at(take);
                    self.header.extend_from_slice(head);
                    data = rest;
                    if self.header.len() == BLOCK {
                        self.read_header(visitor)?;
                        self.header.clear();
                    }
                }
                State::Body {
                    remaining, body, ..
                } => {
                    let take = data
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let (head, rest) = data.split_at(take);
                    match body {
                        Body::File {
                            kept: Some(kept), ..
                        }
                        | Body::Extension { bytes: kept, .. } => kept.extend_from_slice(head),
                        Body::File { kept: None, .. } | Body::Skip => {}
                    }
                    *remaining -= take as u64;
                    data = rest;
                    if *remaining == 0 {
                        self.end_body(visitor)?;
                    }
                }
                State::Padding(remaining) => {
                    let take = data
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(())
    }

    /// The stream ended: it must end between entries.
    pub(super) fn finish(&self) -> Result<(), LayerError> {
        match self.state {
            State::End => Ok(()),
            State::Header if self.header.is_empty() && self.pending.is_empty() => Ok(()),
            _ => Err(LayerError::Truncated("a tar entry")),
        }
    }

    fn read_header(&mut self, visitor: &mut dyn EntryVisitor) -> Result<(), LayerError> {
        let header = &self.header;
        if header.iter().all(|&byte| byte == 0) {
            self.state = State::End;
            return Ok(());
        }
        verify_checksum(header)?;
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(LayerError::TooLarge(format!(
                "more than {} tar entries",
                self.limits.max_entries
            )));
        }
        let kind = header[156];
        let mut size = parse_number(&header[124..136])?;
        if let b'L' | b'K' | b'x' | b'g' = kind {
            if size > self.limits.max_header {
                return Err(LayerError::TooLarge(format!(
                    "a tar extension header of {size} bytes (limit {})",
                    self.limits.max_header
                )));
            }
            let bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            return self.start_body(size, Body::Extension { kind, bytes }, visitor);
        }
        let extensions = std::mem::take(&mut self.pending);
        let raw_path = extensions.path.unwrap_or_else(|| ustar_path(header));
        let raw_link = extensions
            .link
            .unwrap_or_else(|| field_text(&header[157..257]));
        size = extensions.size.unwrap_or(size);
        let Some(path) = normalise(&raw_path) else {
            return self.start_body(size, Body::Skip, visitor);
        };
        let body = match kind {
            b'0' | 0 | b'7' if raw_path.ends_with('/') => {
                visitor.entry(&path, EntryKind::Directory);
                Body::Skip
            }
            b'0' | 0 | b'7' => {
                let cap = visitor.wanted(&path);
                let kept = cap
                    .filter(|&cap| size <= cap as u64)
                    .map(|_| Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
                Body::File { path, kept }
            }
            b'1' => {
                match normalise(&raw_link) {
                    Some(target) => visitor.entry(&path, EntryKind::HardLink(&target)),
                    None => visitor.entry(&path, EntryKind::Other),
                }
                Body::Skip
            }
            b'2' => {
                visitor.entry(&path, EntryKind::Symlink(&raw_link));
                Body::Skip
            }
            b'5' => {
                visitor.entry(&path, EntryKind::Directory);
                Body::Skip
            }
            _ => {
                visitor.entry(&path, EntryKind::Other);
                Body::Skip
            }
        };
        self.start_body(size, body, visitor)
    }

    fn start_body(
        &mut self,
        size: u64,
        body: Body,
        visitor: &mut dyn EntryVisitor,
    ) -> Result<(), LayerError> {
        let padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.state = State::Body {
            remaining: size,
            padding,
            body,
        };
        if size == 0 {
            self.end_body(visitor)?;
        }
        Ok(())
    }

    fn end_body(&mut self, visitor: &mut dyn EntryVisitor) -> Result<(), LayerError> {
        let state = std::mem::replace(&mut self.state, State::Header);
        let State::Body { padding, body, .. } = state else {
            return Ok(());
        };
        match body {
            Body::Skip => {}
            Body::File { path, kept } => visitor.entry(&path, EntryKind::File(kept.as_deref())),
            Body::Extension { kind: b'L', bytes } => self.pending.path = Some(field_text(&bytes)),
            Body::Extension { kind: b'K', bytes } => self.pending.link = Some(field_text(&bytes)),
            Body::Extension { kind: b'x', bytes } => self.read_pax(&bytes)?,
            Body::Extension { .. } => {}
        }
        if padding > 0 {
            self.state = State::Padding(padding);
        }
        Ok(())
    }

    /// Pax records, `<length> <key>=<value>\n`, the length counting the whole record.
    fn read_pax(&mut self, mut records: &[u8]) -> Result<(), LayerError> {
        let corrupt = || LayerError::Tar("malformed pax header".into());
        while !records.is_empty() {
            let space = records
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(corrupt)?;
            let length: usize = std::str::from_utf8(&records[..space])
                .ok()
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(corrupt)?;
            let record = records.get(space + 1..length).ok_or_else(corrupt)?;
            let record = record.strip_suffix(b"\n").ok_or_else(corrupt)?;
            let equals = record.iter().position(|&b| b == b'=').ok_or_else(corrupt)?;
            let (key, value) = (&record[..equals], &record[equals + 1..]);
            match key {
                b"path" => self.pending.path = Some(String::from_utf8_lossy(value).into_owned()),
                b"linkpath" => {
                    self.pending.link = Some(String::from_utf8_lossy(value).into_owned())
                }
                b"size" => {
                    let size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                    self.pending.size = Some(size.ok_or_else(corrupt)?);
                }
                _ => {}
            }
            records = &records[length..];
        }
        Ok(())
    }
}

impl Extensions {
    fn is_empty(&self) -> bool {
        self.path.is_none() && self.link.is_none() && self.size.is_none()
    }
}

/// The sum of the header's bytes with the checksum field counted as spaces; tar writers
/// have summed them as unsigned and as signed bytes, so both are accepted.
fn verify_checksum(header: &[u8]) -> Result<(), LayerError> {
    let stored = parse_number(&header[148..156])?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (index, &byte) in header.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned += u64::from(byte);
        signed += i64::from(byte as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|stored| stored == signed) {
        Ok(())
    } else {
        Err(LayerError::Tar("header checksum mismatch".into()))
    }
}

/// A numeric field: octal, NUL- or space-terminated, or GNU's base-256 (high bit set).
fn parse_number(field: &[u8]) -> Result<u64, LayerError> {
    let overflow = || LayerError::Tar("numeric field out of range".into());
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            let mut value = u64::from(first & 0x7f);
            for &byte in rest {
                value = value.checked_mul(256).ok_or_else(overflow)? + u64::from(byte);
            }
            return Ok(value);
        }
    }
    let mut value = 0u64;
    for &byte in field.iter().skip_while(|&&b| b == b' ') {
        match byte {
            b'0'..=b'7' => {
                value = value.checked_mul(8).ok_or_else(overflow)? + u64::from(byte - b'0')
            }
            0 | b' ' => break,
            _ => return Err(LayerError::Tar("invalid octal field".into())),
        }
    }
    Ok(value)
}

/// Text up to the first NUL; bytes that are not UTF-8 become U+FFFD.
fn field_text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The entry's name, with the ustar prefix when the header is ustar's.
fn ustar_path(header: &[u8]) -> String {
    let name = field_text(&header[..100]);
    if &header[257..263] != b"ustar\0" {
        return name;
    }
    let prefix = field_text(&header[345..500]);
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}
