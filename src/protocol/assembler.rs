//! Message assembly: data frames (possibly fragmented) into whole messages.

use super::deflate::{Decompressor, InflateError};
use super::mask::apply_mask;
use super::utf8::{Utf8Progress, into_string};
use super::{Message, ProtocolError};

/// Bytes reserved up front for a frame, at most: a peer announcing a huge
/// frame and then trickling it in must not make us commit the whole size.
const MAX_UPFRONT_RESERVE: u64 = 256 * 1024;

/// Reassembles the data frames of one message at a time.
#[derive(Debug)]
pub(crate) struct Assembler {
    /// `Some(is_text)` while a message is in progress.
    in_progress: Option<bool>,
    buf: Vec<u8>,
    utf8: Utf8Progress,
    max_message_size: usize,
    /// Present when permessage-deflate was agreed.
    inflater: Option<Decompressor>,
    /// The message in progress is compressed (its first frame had RSV1).
    compressed: bool,
    /// Compressed bytes of the message in progress.
    compressed_len: u64,
    /// Unmasked compressed bytes on their way to the inflater.
    scratch: Vec<u8>,
    /// While `buf` ends in room for direct reads (see `direct_room`): where
    /// the message's bytes end and that room begins. The room is kept from
    /// one direct read to the next, so it is zeroed once, not per read.
    room_at: Option<usize>,
    /// Where a large message's buffer may come from (see
    /// [`BufferSource`]); without one, from the allocator.
    source: Option<BufferSource>,
}

/// Hands out a buffer with capacity for at least the given number of
/// bytes, or `None`. Its length is how much of it is initialised: those
/// bytes are written over (they are never part of a message, nor shown to
/// anyone but the one filling the room).
pub type BufferSource = fn(usize) -> Option<Vec<u8>>;

impl Assembler {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Assembler {
            in_progress: None,
            buf: Vec::new(),
            utf8: Utf8Progress::default(),
            max_message_size,
            inflater: None,
            compressed: false,
            compressed_len: 0,
            scratch: Vec::new(),
            room_at: None,
            source: None,
        }
    }

    /// Take the buffers of large messages from `source`.
    pub(crate) fn set_buffer_source(&mut self, source: BufferSource) {
        self.source = Some(source);
    }

    /// Inflate messages whose first frame has RSV1 set with `inflater`.
    pub(crate) fn set_inflater(&mut self, inflater: Decompressor) {
        self.inflater = Some(inflater);
    }

    /// Whether compressed messages are accepted.
    pub(crate) fn inflates(&self) -> bool {
        self.inflater.is_some()
    }

    /// The most compressed bytes one message may have: a little over the
    /// message limit (see [`deflated_bound`]).
    fn max_compressed(&self) -> u64 {
        deflated_bound(self.max_message_size)
    }

    /// Whether a frame with RSV1 `rsv1` (and this opcode class) carries
    /// compressed payload: the first frame of a compressed message, or a
    /// continuation of one.
    pub(crate) fn frame_is_compressed(&self, first: bool, rsv1: bool) -> bool {
        if first {
            rsv1
        } else {
            self.compressed && self.in_progress.is_some()
        }
    }

    /// Account for a data frame header before any of its payload arrives:
    /// checks fragmentation order and the message size limit, and reserves
    /// (a bounded amount of) space.
    ///
    /// `compressed` is the frame's RSV1 bit; the decoder allows it only on
    /// the first frame of a message, and only when an inflater is set. For a
    /// compressed message the limit applies to the inflated size, checked
    /// while inflating; the compressed size is bounded separately.
    pub(crate) fn begin_frame(
        &mut self,
        first: Option<bool>,
        payload_len: u64,
        compressed: bool,
    ) -> Result<(), ProtocolError> {
        match (first, self.in_progress) {
            (Some(_), Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (None, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Some(is_text), None) => {
                self.in_progress = Some(is_text);
                self.utf8 = Utf8Progress::default();
                self.compressed = compressed;
                self.compressed_len = 0;
            }
            (None, Some(_)) => {}
        }
        if self.compressed {
            self.compressed_len += payload_len;
            if self.compressed_len > self.max_compressed() {
                return Err(ProtocolError::MessageTooBig {
                    size: self.compressed_len,
                    max: self.max_message_size,
                });
            }
            return Ok(());
        }
        self.drop_direct_room();
        let size = self.buf.len() as u64 + payload_len;
        if size > self.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                size,
                max: self.max_message_size,
            });
        }
        if self.buf.capacity() == 0 {
            // A new message: a buffer that already holds the whole frame
            // (memory the process holds anyway) beats growing a new one.
            // Its initialised bytes are room for the payload.
            if let Some(reused) = self.source.and_then(|take| take(payload_len as usize)) {
                self.buf = reused;
                self.room_at = Some(0);
                return Ok(());
            }
        }
        self.buf
            .reserve(payload_len.min(MAX_UPFRONT_RESERVE) as usize);
        Ok(())
    }

    /// Append payload bytes (unmasking them with `mask` from payload position
    /// `offset`) and validate new text at once.
    pub(crate) fn push(
        &mut self,
        data: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Result<(), ProtocolError> {
        if self.compressed {
            // (No room is handed out while a compressed message is in progress.)
            self.drop_direct_room();
        }
        if let (true, Some(inflater)) = (self.compressed, &mut self.inflater) {
            self.scratch.clear();
            self.scratch.extend_from_slice(data);
            if let Some(key) = mask {
                apply_mask(&mut self.scratch, key, offset);
            }
            inflater
                .inflate(&self.scratch, &mut self.buf, self.max_message_size)
                .map_err(|e| inflate_error(e, self.buf.len(), self.max_message_size))?;
        } else {
            let start = self.end();
            let end = start + data.len();
            if self.room_at.is_some() && end <= self.buf.len() {
                // Into the room (a reused buffer's): no growing, no zeroing.
                self.buf[start..end].copy_from_slice(data);
                self.room_at = Some(end);
            } else {
                self.drop_direct_room();
                self.buf.extend_from_slice(data);
            }
            if let Some(key) = mask {
                apply_mask(&mut self.buf[start..end], key, offset);
            }
        }
        self.check_text()
    }

    /// Whether a caller may append raw payload itself (`direct_room`): not
    /// while a compressed message is in progress.
    pub(crate) fn takes_direct(&self) -> bool {
        !self.compressed
    }

    /// Room for `n` bytes at the end of the message for a caller to fill
    /// with raw payload (see [`Decoder::payload_sink`]); what it does not
    /// report with [`appended`](Self::appended) is not payload. Only this
    /// room is handed out: the bytes before it were unmasked and validated
    /// and stay out of the caller's reach. The room holds zeros, or what the
    /// caller wrote there before and did not report (it is kept from one
    /// call to the next, so each byte is zeroed once, not once per read).
    ///
    /// [`Decoder::payload_sink`]: super::Decoder::payload_sink
    pub(crate) fn direct_room(&mut self, n: usize) -> &mut [u8] {
        let start = self.end();
        self.room_at = Some(start);
        if self.buf.len() < start + n {
            self.buf.resize(start + n, 0);
        }
        &mut self.buf[start..start + n]
    }

    /// Where the message's bytes end (room for direct reads may follow).
    fn end(&self) -> usize {
        self.room_at.unwrap_or(self.buf.len())
    }

    /// Drop the room for direct reads, if any: `buf` is the message again.
    pub(crate) fn drop_direct_room(&mut self) {
        if let Some(end) = self.room_at.take() {
            self.buf.truncate(end);
        }
    }

    /// Account for the first `n` bytes of the room from
    /// [`direct_room`](Self::direct_room): unmask them in place (they start
    /// at payload position `offset`) and validate new text. The rest of the
    /// room stays for the next direct read.
    pub(crate) fn appended(
        &mut self,
        n: usize,
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Result<(), ProtocolError> {
        let start = self.room_at.expect("payload_appended without payload_sink");
        assert!(
            start + n <= self.buf.len(),
            "more bytes than the room given"
        );
        self.room_at = Some(start + n);
        if let Some(key) = mask {
            apply_mask(&mut self.buf[start..start + n], key, offset);
        }
        self.check_text()
    }

    /// Validate text appended since the last check.
    fn check_text(&mut self) -> Result<(), ProtocolError> {
        if self.in_progress == Some(true) {
            let end = self.end();
            self.utf8
                .advance(&self.buf[..end])
                .map_err(|()| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Finish the message after its FIN frame.
    pub(crate) fn finish(&mut self) -> Result<Message, ProtocolError> {
        self.drop_direct_room();
        if let (true, Some(inflater)) = (self.compressed, &mut self.inflater) {
            // An empty payload is no deflate data: the tail appended to it
            // alone is not a whole block (RFC 7692's empty message is one
            // 0x00 byte), and fed to the inflater it would leave its stream
            // inside a block, turning the next messages into garbage. A
            // compressor with nothing to flush may send it for an empty
            // message (zlib does): it is an empty message, and the inflater
            // does not see it.
            if self.compressed_len > 0 {
                inflater
                    .finish_message(&mut self.buf, self.max_message_size)
                    .map_err(|e| inflate_error(e, self.buf.len(), self.max_message_size))?;
            }
            self.check_text()?;
            self.compressed = false;
            // Keep the scratch buffer small between messages.
            if self.scratch.capacity() > 64 << 10 {
                self.scratch = Vec::new();
            }
        }
        let is_text = self.in_progress.take().unwrap_or(false);
        let bytes = std::mem::take(&mut self.buf);
        if is_text {
            if !self.utf8.is_complete(&bytes) {
                return Err(ProtocolError::InvalidUtf8);
            }
            Ok(Message::Text(into_string(bytes, &self.utf8)))
        } else {
            Ok(Message::Binary(bytes))
        }
    }
}

/// The most bytes deflate may turn `len` bytes into: incompressible data
/// grows slightly (stored blocks add 5 bytes per 64 KiB), so a compressed
/// frame or message may be a little larger on the wire than its limit.
/// This bound is generous (1/16 plus 1 KiB).
pub(crate) fn deflated_bound(len: usize) -> u64 {
    let len = len as u64;
    len + len / 16 + 1024
}

fn inflate_error(e: InflateError, size: usize, max: usize) -> ProtocolError {
    match e {
        InflateError::TooBig => ProtocolError::MessageTooBig {
            size: size as u64,
            max,
        },
        InflateError::Corrupt => ProtocolError::InvalidCompressedData,
    }
}
