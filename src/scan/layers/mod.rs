//! Reading image layers as streams, with flat memory, and merging them with whiteouts.
//!
//! A [`LayerReader`] takes a layer as chunks of bytes ([`LayerReader::push`], then
//! [`LayerReader::finish`]), decompresses them incrementally (gzip, multi-member too; zstd;
//! or plain tar) and parses the tar stream as it arrives. It keeps only the content of the
//! files its [`EntryVisitor`] wants, each up to that file's cap, so memory stays flat whatever
//! the layer's size. [`Merged`] is the visitor that applies layers in order, with whiteouts,
//! into a map from path to what the caller parsed of each wanted file.
//!
//! Every bound against hostile layers is in [`Limits`]; crossing one ends the layer with a
//! [`LayerError`], never with unbounded work.

mod decode;
mod merge;
mod path;
mod tar;
mod zstd;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;

pub use decode::LayerReader;
pub use merge::{LayerChanges, Merged};
pub use path::normalise;

/// Why a layer could not be read. Every variant ends the layer: nothing it held is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    #[error("corrupt gzip stream: {0}")]
    Gzip(String),
    #[error("corrupt zstd stream: {0}")]
    Zstd(String),
    #[error("corrupt tar stream: {0}")]
    Tar(String),
    #[error("the layer ends in the middle of {0}")]
    Truncated(&'static str),
    #[error("the layer exceeds a limit: {0}")]
    TooLarge(String),
}

/// The layer's compression, from its media type or from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Zstd,
    /// Unknown media type: decided by the magic bytes (gzip, zstd, else plain tar).
    Detect,
}

impl Compression {
    /// OCI's `...tar`, `...tar+gzip`, `...tar+zstd` (the non-distributable ones too) and
    /// Docker's `...rootfs.diff.tar.gzip`; anything else is detected from the bytes.
    pub fn from_media_type(media_type: &str) -> Compression {
        if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
            Compression::Gzip
        } else if media_type.ends_with("+zstd") {
            Compression::Zstd
        } else if media_type.ends_with(".tar") {
            Compression::Plain
        } else {
            Compression::Detect
        }
    }
}

/// Bounds on the work one layer may cost; crossing any of them is [`LayerError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes per layer. Default 16 GiB: larger than real layers, and a bound on
    /// the CPU a layer can take.
    pub max_decompressed: u64,
    /// Decompressed bytes per compressed byte, past the first [`Limits::ratio_allowance`]
    /// bytes. Default 250: real layers stay far below it, while a gzip bomb reaches 1000 and
    /// a zstd one far more, so a bomb ends after a few megabytes rather than hours of CPU.
    pub max_ratio: u64,
    /// Decompressed bytes allowed before the ratio applies. Default 16 MiB.
    pub ratio_allowance: u64,
    /// Tar entries per layer, metadata entries (long names, pax headers) included. Default
    /// 1,000,000.
    pub max_entries: u64,
    /// Size of one pax header or GNU long name or link. Default 64 KiB.
    pub max_header: u64,
    /// A zstd frame's window, which the decoder must hold in memory. Default 32 MiB (zstd's
    /// own levels use at most 8 MiB; `--long` uses 128 MiB and is refused).
    pub max_zstd_window: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 16 << 30,
            max_ratio: 250,
            ratio_allowance: 16 << 20,
            max_entries: 1_000_000,
            max_header: 64 << 10,
            max_zstd_window: 32 << 20,
        }
    }
}

/// One tar entry, its path normalised by [`normalise`] (absolute, e.g. `/etc/os-release`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A regular file; its content when the visitor wanted it and it fit its cap.
    File(Option<&'a [u8]>),
    Directory,
    /// Its target as written, not normalised (a relative target is relative to the link).
    Symlink(&'a str),
    /// The normalised path of the earlier entry of the same layer it links to.
    HardLink(&'a str),
    /// Devices, FIFOs, hard links to refused paths and other kinds: they occupy their path
    /// and nothing more.
    Other,
}

/// What a [`LayerReader`] tells about the entries of a layer.
pub trait EntryVisitor {
    /// The byte cap of a file worth reading, `None` to skip its content.
    fn wanted(&mut self, path: &str) -> Option<usize>;
    /// One entry, in the layer's order; entries whose path is refused are not reported.
    fn entry(&mut self, path: &str, kind: EntryKind<'_>);
}

impl<V: EntryVisitor + ?Sized> EntryVisitor for &mut V {
    fn wanted(&mut self, path: &str) -> Option<usize> {
        (**self).wanted(path)
    }

    fn entry(&mut self, path: &str, kind: EntryKind<'_>) {
        (**self).entry(path, kind)
    }
}
