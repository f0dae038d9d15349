//! The layer reader: decompression (chosen by media type or magic bytes) feeding the tar
//! parser, with the decompressed-size bounds checked as bytes come out.

use std::io::Write;

use flate2::write::MultiGzDecoder;

use super::tar::TarParser;
use super::zstd::ZstdStream;
use super::{Compression, EntryVisitor, LayerError, Limits};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Reads one layer pushed as chunks of any size, reporting its entries to `visitor`.
///
/// After an error the reader is spent: every later call returns an error too.
pub struct LayerReader<V: EntryVisitor> {
    decoder: Decoder<V>,
}

enum Decoder<V: EntryVisitor> {
    /// Compression not yet known: the first bytes, until they tell.
    Detect(Sink<V>, Vec<u8>),
    Plain(Sink<V>),
    Gzip(Box<MultiGzDecoder<Sink<V>>>),
    Zstd(Sink<V>, ZstdStream),
    Failed(LayerError),
}

/// Where decompressed bytes go: counted against the limits, then parsed.
struct Sink<V: EntryVisitor> {
    limits: Limits,
    visitor: V,
    tar: TarParser,
    compressed: u64,
    decompressed: u64,
    /// The error behind the last failed write, which flate2 only sees as an io::Error.
    failure: Option<LayerError>,
}

impl<V: EntryVisitor> LayerReader<V> {
    pub fn new(compression: Compression, limits: Limits, visitor: V) -> LayerReader<V> {
        let sink = Sink {
            limits,
            visitor,
            tar: TarParser::new(limits),
            compressed: 0,
            decompressed: 0,
            failure: None,
        };
        LayerReader {
            decoder: Decoder::start(compression, sink),
        }
    }

    /// The next bytes of the layer.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), LayerError> {
        let result = self.decoder.push(chunk);
        if let Err(error) = &result {
            self.decoder = Decoder::Failed(error.clone());
        }
        result
    }

    /// The layer ended: checks it ended whole and gives the visitor back.
    pub fn finish(self) -> Result<V, LayerError> {
        let mut sink = match self.decoder {
            Decoder::Failed(error) => return Err(error),
            Decoder::Detect(sink, start) => {
                let mut decoder = Decoder::start(detect(&start), sink);
                decoder.push(&start)?;
                return LayerReader { decoder }.finish();
            }
            Decoder::Plain(sink) => sink,
            Decoder::Gzip(mut gzip) => {
                if let Err(error) = gzip.try_finish() {
                    return Err(gzip
                        .get_mut()
                        .failure
                        .take()
                        .unwrap_or_else(|| gzip_error(error)));
                }
                gzip.finish().map_err(gzip_error)?
            }
            Decoder::Zstd(sink, zstd) => {
                zstd.finish()?;
                sink
            }
        };
        sink.tar.finish()?;
        if let Some(error) = sink.failure.take() {
            return Err(error);
        }
        Ok(sink.visitor)
    }
}

impl<V: EntryVisitor> Decoder<V> {
    fn start(compression: Compression, sink: Sink<V>) -> Decoder<V> {
        match compression {
            Compression::Plain => Decoder::Plain(sink),
            Compression::Gzip => Decoder::Gzip(Box::new(MultiGzDecoder::new(sink))),
            Compression::Zstd => {
                let window = sink.limits.max_zstd_window;
                Decoder::Zstd(sink, ZstdStream::new(window))
            }
            Compression::Detect => Decoder::Detect(sink, Vec::new()),
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), LayerError> {
        match self {
            Decoder::Failed(error) => Err(error.clone()),
            Decoder::Detect(_, start) => {
                start.extend_from_slice(chunk);
                if start.len() < ZSTD_MAGIC.len() {
                    return Ok(());
                }
                let compression = detect(start);
                let taken = std::mem::replace(self, Decoder::Failed(LayerError::Truncated("")));
                let Decoder::Detect(sink, start) = taken else {
                    return Ok(());
                };
                *self = Decoder::start(compression, sink);
                self.push(&start)
            }
            Decoder::Plain(sink) => {
                sink.compressed += chunk.len() as u64;
                sink.accept(chunk)
            }
            Decoder::Gzip(gzip) => {
                gzip.get_mut().compressed += chunk.len() as u64;
                match gzip.write_all(chunk) {
                    Ok(()) => Ok(()),
                    Err(error) => Err(gzip
                        .get_mut()
                        .failure
                        .take()
                        .unwrap_or_else(|| gzip_error(error))),
                }
            }
            Decoder::Zstd(sink, zstd) => {
                sink.compressed += chunk.len() as u64;
                zstd.push(chunk, &mut |bytes| sink.accept(bytes))
            }
        }
    }
}

fn detect(start: &[u8]) -> Compression {
    if start.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if start.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::Plain
    }
}

fn gzip_error(error: std::io::Error) -> LayerError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        LayerError::Truncated("a gzip member")
    } else {
        LayerError::Gzip(error.to_string())
    }
}

impl<V: EntryVisitor> Sink<V> {
    fn accept(&mut self, bytes: &[u8]) -> Result<(), LayerError> {
        self.decompressed += bytes.len() as u64;
        let limits = &self.limits;
        if self.decompressed > limits.max_decompressed {
            return Err(LayerError::TooLarge(format!(
                "more than {} decompressed bytes",
                limits.max_decompressed
            )));
        }
        let allowed = self
            .compressed
            .saturating_mul(limits.max_ratio)
            .saturating_add(limits.ratio_allowance);
        if self.decompressed > allowed {
            return Err(LayerError::TooLarge(format!(
                "decompresses more than {} times its size",
                limits.max_ratio
            )));
        }
        self.tar.feed(bytes, &mut self.visitor)
    }
}

impl<V: EntryVisitor> Write for Sink<V> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.accept(bytes) {
            Ok(()) => Ok(bytes.len()),
            Err(error) => {
                self.failure = Some(error);
                Err(std::io::Error::other("the layer's content was refused"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
