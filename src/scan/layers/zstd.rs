//! Push-based zstd decompression over ruzstd's frame decoder.
//!
//! ruzstd decodes whatever it is handed at once, so this module frames the stream itself and
//! hands it one block at a time (at most 128 KiB of output each): memory stays at the frame's
//! window plus a block, however well the input compresses.

use ruzstd::decoding::FrameDecoder;

use super::LayerError;

const FRAME_MAGIC: u32 = 0xFD2F_B528;
const MAX_BLOCK: usize = 128 << 10;
const OUTPUT_CHUNK: usize = 64 << 10;

pub(super) struct ZstdStream {
    max_window: u64,
    pending: Vec<u8>,
    state: State,
    output: Vec<u8>,
}

enum State {
    FrameStart,
    /// Inside a skippable frame: bytes still to skip.
    Skipping(u64),
    Blocks {
        decoder: Box<FrameDecoder>,
        checksum: bool,
    },
    Checksum {
        decoder: Box<FrameDecoder>,
    },
}

impl ZstdStream {
    pub(super) fn new(max_window: u64) -> ZstdStream {
        ZstdStream {
            max_window,
            pending: Vec::new(),
            state: State::FrameStart,
            output: Vec::new(),
        }
    }

    /// Decodes every whole block `input` completes, passing the output to `out`.
    pub(super) fn push(
        &mut self,
        input: &[u8],
        out: &mut dyn FnMut(&[u8]) -> Result<(), LayerError>,
    ) -> Result<(), LayerError> {
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        let result = loop {
            match self.step(consumed, out) {
                Ok(Some(used)) => consumed += used,
                Ok(None) => break Ok(()),
                Err(error) => break Err(error),
            }
        };
        self.pending.drain(..consumed);
        result
    }

    /// The stream ended: it must end between frames.
    pub(super) fn finish(&self) -> Result<(), LayerError> {
        match self.state {
            State::FrameStart if self.pending.is_empty() => Ok(()),
            _ => Err(LayerError::Truncated("a zstd frame")),
        }
    }

    /// One step over the pending input from `at`: the bytes it used, `None` when it needs more.
    fn step(
        &mut self,
        at: usize,
        out: &mut dyn FnMut(&[u8]) -> Result<(), LayerError>,
    ) -> Result<Option<usize>, LayerError> {
        let input = &self.pending[at..];
        match &mut self.state {
            State::FrameStart => {
                let Some(magic) = input.get(..4) else {
                    return Ok(None);
                };
                let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
                if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                    let Some(size) = input.get(4..8) else {
                        return Ok(None);
                    };
                    let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
                    self.state = State::Skipping(u64::from(size));
                    return Ok(Some(8));
                }
                if magic != FRAME_MAGIC {
                    return Err(LayerError::Zstd("not a zstd frame".into()));
                }
                let Some(header) = frame_header(input, self.max_window)? else {
                    return Ok(None);
                };
                let mut decoder = Box::new(FrameDecoder::new());
                let (read, _) = decoder
                    .decode_from_to(&input[..header.length], &mut [])
                    .map_err(zstd_error)?;
                if read != header.length {
                    return Err(LayerError::Zstd("unreadable frame header".into()));
                }
                self.state = State::Blocks {
                    decoder,
                    checksum: header.checksum,
                };
                Ok(Some(read))
            }
            State::Skipping(remaining) => {
                if input.is_empty() && *remaining > 0 {
                    return Ok(None);
                }
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.state = State::FrameStart;
                }
                Ok(Some(take))
            }
            State::Blocks { decoder, checksum } => {
                let Some(header) = input.get(..3) else {
                    return Ok(None);
                };
                let header = u32::from_le_bytes([header[0], header[1], header[2], 0]);
                let last = header & 1 == 1;
                let size = (header >> 3) as usize;
                if size > MAX_BLOCK {
                    return Err(LayerError::Zstd("block larger than 128 KiB".into()));
                }
                let body = match (header >> 1) & 3 {
                    0 | 2 => size,
                    1 => 1,
                    _ => return Err(LayerError::Zstd("reserved block type".into())),
                };
                let Some(block) = input.get(..3 + body) else {
                    return Ok(None);
                };
                decode_and_drain(decoder, block, &mut self.output, out)?;
                if last {
                    let decoder = std::mem::replace(decoder, Box::new(FrameDecoder::new()));
                    if *checksum {
                        self.state = State::Checksum { decoder };
                    } else {
                        self.state = State::FrameStart;
                    }
                }
                Ok(Some(block.len()))
            }
            State::Checksum { decoder } => {
                let Some(stored) = input.get(..4) else {
                    return Ok(None);
                };
                decode_and_drain(decoder, stored, &mut self.output, out)?;
                if decoder.get_checksum_from_data() != decoder.get_calculated_checksum() {
                    return Err(LayerError::Zstd("content checksum mismatch".into()));
                }
                self.state = State::FrameStart;
                Ok(Some(4))
            }
        }
    }
}

/// Decodes one block (or takes the checksum) and passes on everything the decoder can give.
fn decode_and_drain(
    decoder: &mut FrameDecoder,
    input: &[u8],
    output: &mut Vec<u8>,
    out: &mut dyn FnMut(&[u8]) -> Result<(), LayerError>,
) -> Result<(), LayerError> {
    output.resize(OUTPUT_CHUNK, 0);
    let (read, mut written) = decoder.decode_from_to(input, output).map_err(zstd_error)?;
    if read != input.len() {
        return Err(LayerError::Zstd("block not decoded whole".into()));
    }
    while written > 0 {
        out(&output[..written])?;
        written = decoder.decode_from_to(&[], output).map_err(zstd_error)?.1;
    }
    Ok(())
}

fn zstd_error(error: impl std::fmt::Display) -> LayerError {
    LayerError::Zstd(error.to_string())
}

struct FrameHeader {
    length: usize,
    checksum: bool,
}

/// Reads a frame header (RFC 8878, 3.1.1.1), refusing windows over `max_window`; `None`
/// when `input` does not hold all of it yet.
fn frame_header(input: &[u8], max_window: u64) -> Result<Option<FrameHeader>, LayerError> {
    let Some(&descriptor) = input.get(4) else {
        return Ok(None);
    };
    if descriptor & 0x08 != 0 {
        return Err(LayerError::Zstd(
            "reserved bit set in the frame header".into(),
        ));
    }
    let single_segment = descriptor & 0x20 != 0;
    let window_length = usize::from(!single_segment);
    let dictionary_length = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let content_size_length = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let length = 5 + window_length + dictionary_length + content_size_length;
    let Some(header) = input.get(..length) else {
        return Ok(None);
    };
    let window = if single_segment {
        let field = &header[length - content_size_length..];
        let mut size = [0u8; 8];
        size[..field.len()].copy_from_slice(field);
        let size = u64::from_le_bytes(size);
        if content_size_length == 2 {
            size + 256
        } else {
            size
        }
    } else {
        let exponent = u32::from(header[5] >> 3);
        let base = 1u64 << (10 + exponent);
        base + base / 8 * u64::from(header[5] & 7)
    };
    if window > max_window {
        return Err(LayerError::TooLarge(format!(
            "a zstd window of {window} bytes (limit {max_window})"
        )));
    }
    Ok(Some(FrameHeader {
        length,
        checksum: descriptor & 0x04 != 0,
    }))
}
