//! Per-message compression (RFC 7692 section 7.2) on zlib-rs.
//!
//! A message is compressed with a sync flush and sent without the
//! `00 00 ff ff` the flush ends with; the receiver appends those four bytes
//! back before the last inflate. With context takeover the LZ77 window
//! carries over from one message to the next; without it the state is
//! reset after every message.

use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use super::DeflateConfig;

/// What a sync flush ends with, and what the receiver appends (section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced into zero-filled space at most this much at a time,
/// so the cost of preparing space stays proportional to the work done.
const STEP: usize = 64 << 10;

/// Make room for up to `want` more bytes at the end of `out` (zero-filled,
/// at least 1), returning where the new space starts.
fn grow(out: &mut Vec<u8>, want: usize) -> usize {
    let start = out.len();
    out.resize(start + want.max(1), 0);
    start
}

/// The sending side's compressor. Created lazily: a connection that never
/// sends a message over the threshold never allocates zlib state.
pub struct Compressor {
    deflate: Option<Deflate>,
    window_bits: u8,
    level: u8,
    mem_level: u8,
    reset_after_message: bool,
    threshold: usize,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("window_bits", &self.window_bits)
            .field("level", &self.level)
            .field("mem_level", &self.mem_level)
            .field("reset_after_message", &self.reset_after_message)
            .field("allocated", &self.deflate.is_some())
            .finish()
    }
}

impl Compressor {
    /// A compressor using an LZ77 window of `window_bits` (9-15) and
    /// `config`'s level, memory level and threshold; `reset_after_message`
    /// when no context takeover was agreed for our side.
    pub fn new(window_bits: u8, reset_after_message: bool, config: &DeflateConfig) -> Self {
        assert!(
            (9..=15).contains(&window_bits),
            "zlib compresses raw deflate with 9-15 window bits"
        );
        Compressor {
            deflate: None,
            window_bits,
            level: config.level.min(9),
            mem_level: config.mem_level.clamp(1, 9),
            reset_after_message,
            threshold: config.threshold,
        }
    }

    /// Whether a message of `len` bytes should be compressed (it is at
    /// least the configured threshold).
    pub fn wants(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compress one whole message, appending its payload (without the
    /// trailing `00 00 ff ff`) to `out`. The frame carrying it must have
    /// RSV1 set.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let (bits, level, mem_level) = (self.window_bits, self.level, self.mem_level);
        let z = self.deflate.get_or_insert_with(|| {
            Deflate::new_with_config(zlib_rs::DeflateConfig {
                level: i32::from(level),
                window_bits: -i32::from(bits),
                mem_level: i32::from(mem_level),
                ..zlib_rs::DeflateConfig::default()
            })
        });
        let begin = out.len();
        let mut input = data;
        loop {
            // Deflate's worst case is a little over the input size.
            let want = (input.len() + input.len() / 1000 + 64).min(STEP);
            let start = grow(out, want);
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z.compress(input, &mut out[start..], DeflateFlush::SyncFlush);
            let produced = (z.total_out() - out0) as usize;
            let consumed = (z.total_in() - in0) as usize;
            out.truncate(start + produced);
            input = &input[consumed..];
            match status {
                Ok(_) => {}
                // Only a corrupted stream state returns an error; our
                // parameters were checked when the state was made.
                Err(e) => unreachable!("deflate failed: {e:?}"),
            }
            if input.is_empty() && produced < want {
                break;
            }
        }
        if out[begin..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            // Nothing to flush (an empty message right after another with
            // the context kept): zlib wrote nothing at all. The payload must
            // still be a deflate block once the receiver appends the tail:
            // an empty stored block's header, one 0x00 byte (RFC 7692,
            // section 7.2.3.6). Found by the roundtrip fuzz target.
            debug_assert!(
                out.len() == begin,
                "deflate output without its flush marker"
            );
            out.push(0x00);
        }
        if self.reset_after_message {
            z.reset();
        }
    }
}

/// Why inflating a message failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message would inflate past the size limit (close with 1009).
    TooBig,
    /// The compressed data is not a valid deflate stream.
    Corrupt,
}

/// The receiving side's decompressor. Created lazily like [`Compressor`].
pub struct Decompressor {
    inflate: Option<Inflate>,
    window_bits: u8,
    reset_after_message: bool,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("window_bits", &self.window_bits)
            .field("reset_after_message", &self.reset_after_message)
            .field("allocated", &self.inflate.is_some())
            .finish()
    }
}

impl Decompressor {
    /// A decompressor for a peer whose window is at most `window_bits`
    /// (8-15); `reset_after_message` when the peer does not take over context.
    pub fn new(window_bits: u8, reset_after_message: bool) -> Self {
        Decompressor {
            inflate: None,
            window_bits: window_bits.clamp(8, 15),
            reset_after_message,
        }
    }

    /// The window this decompressor inflates with, in bits.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Inflate a piece of a compressed message's payload, appending the
    /// output to `out`, which must not grow past `limit` bytes. The output
    /// space is bounded by the limit, so a small input that would inflate
    /// past it fails with [`InflateError::TooBig`] without allocating more.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.run(input, out, limit, InflateFlush::NoFlush)
    }

    /// The message's last frame has been inflated: inflate the implied
    /// `00 00 ff ff` tail, then reset if the peer does not take over context.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.run(&TAIL, out, limit, InflateFlush::SyncFlush);
        if self.reset_after_message {
            if let Some(z) = &mut self.inflate {
                z.reset(false);
            }
        }
        result
    }

    fn run(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        flush: InflateFlush,
    ) -> Result<(), InflateError> {
        let bits = self.window_bits;
        let z = self
            .inflate
            .get_or_insert_with(|| Inflate::new(false, bits));
        // Start with room for a typical ratio and double while the output
        // keeps filling it: zero-filling far more than the message needs
        // would cost more than inflating a small message.
        let mut step = input.len().saturating_mul(4).clamp(256, STEP);
        loop {
            // One byte past the limit is room enough to see it exceeded.
            let room = limit.saturating_sub(out.len()).saturating_add(1);
            let want = room.min(step);
            let start = grow(out, want);
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z.decompress(input, &mut out[start..], flush);
            let produced = (z.total_out() - out0) as usize;
            let consumed = (z.total_in() - in0) as usize;
            out.truncate(start + produced);
            input = &input[consumed..];
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt),
                // A block with BFINAL set ends the deflate stream (section
                // 7.2.3.4); what follows, if anything, starts a new one.
                Ok(Status::StreamEnd) => {
                    z.reset(false);
                    if input.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                Ok(_) => {}
            }
            if input.is_empty() && produced < want {
                return Ok(());
            }
            if produced == want {
                step = (step * 2).min(STEP);
            }
            if consumed == 0 && produced == 0 {
                // Neither input taken nor output made with room for both.
                return Err(InflateError::Corrupt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(level: u8) -> DeflateConfig {
        DeflateConfig {
            level,
            threshold: 0,
            ..DeflateConfig::default()
        }
    }

    fn roundtrip(c: &mut Compressor, d: &mut Decompressor, msg: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        c.compress(msg, &mut wire);
        let mut out = Vec::new();
        d.inflate(&wire, &mut out, usize::MAX).unwrap();
        d.finish_message(&mut out, usize::MAX).unwrap();
        out
    }

    #[test]
    fn hello_compresses_to_the_rfc_bytes() {
        // RFC 7692 section 7.2.3.1 (level 6 reproduces the example exactly).
        let mut c = Compressor::new(15, false, &config(6));
        let mut wire = Vec::new();
        c.compress(b"Hello", &mut wire);
        assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // Section 7.2.3.2: the second "Hello" refers back into the shared window.
        wire.clear();
        c.compress(b"Hello", &mut wire);
        assert_eq!(wire, [0xf2, 0x00, 0x11, 0x00, 0x00]);
    }

    #[test]
    fn without_context_takeover_each_message_stands_alone() {
        let mut c = Compressor::new(15, true, &config(6));
        for _ in 0..3 {
            let mut wire = Vec::new();
            c.compress(b"Hello", &mut wire);
            assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
    }

    #[test]
    fn round_trips_with_and_without_context_takeover() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"name\":\"item {}\"}},", i % 97).into_bytes())
            .collect();
        for reset in [false, true] {
            for bits in [9, 12, 15] {
                let mut c = Compressor::new(bits, reset, &config(6));
                let mut d = Decompressor::new(bits, reset);
                for piece in [&text[..0], &text[..1], &text[..5000], &text[..]] {
                    assert_eq!(roundtrip(&mut c, &mut d, piece), piece);
                }
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_without_allocating_it() {
        let mut c = Compressor::new(15, false, &config(9));
        let zeros = vec![0u8; 8 << 20];
        let mut wire = Vec::new();
        c.compress(&zeros, &mut wire);
        assert!(
            wire.len() < 16 << 10,
            "8 MiB of zeros is {} bytes",
            wire.len()
        );
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            d.inflate(&wire, &mut out, 1 << 20),
            Err(InflateError::TooBig)
        );
        assert!(out.capacity() <= 2 << 20, "capacity {}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let r = d
            .inflate(&[0xff; 64], &mut out, 1 << 20)
            .and_then(|()| d.finish_message(&mut out, 1 << 20));
        assert_eq!(r, Err(InflateError::Corrupt));
    }
}
