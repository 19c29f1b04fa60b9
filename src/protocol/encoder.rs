//! The writer half of the protocol: messages and control frames to bytes.
//!
//! The encoder keeps no state between frames, so it needs no lock and
//! shares nothing with the [`Decoder`](super::Decoder). A client must mask
//! every frame with a fresh key from a strong random source; the caller
//! supplies the key (`mask`), keeping this module free of I/O.

use super::frame::FrameHeader;
use super::mask::apply_mask;
use super::{CloseFrame, Message, OpCode};

/// The header for a whole message sent as one frame.
pub fn message_header(message: &Message, mask: Option<[u8; 4]>) -> FrameHeader {
    let opcode = if message.is_text() {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask,
        payload_len: message.len() as u64,
    }
}

/// Append one frame (header and payload) to `out`, masking the copied
/// payload if `mask` is given.
///
/// For a fragmented message `opcode` is `Text` or `Binary` on the first
/// fragment and `Continuation` after it, and `fin` marks the last one.
/// Control frames must have `fin` set and at most 125 bytes of payload.
pub fn write_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    debug_assert!(!opcode.is_control() || (fin && payload.len() <= 125));
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    header.write_to(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// Append a whole message as a single frame to `out`.
pub fn write_message(out: &mut Vec<u8>, message: &Message, mask: Option<[u8; 4]>) {
    let opcode = if message.is_text() {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    write_frame(out, opcode, true, message.as_bytes(), mask);
}

/// Append a close frame to `out`; `None` sends a close without a status code.
pub fn write_close(out: &mut Vec<u8>, frame: Option<&CloseFrame>, mask: Option<[u8; 4]>) {
    let payload = frame.map(CloseFrame::payload).unwrap_or_default();
    write_frame(out, OpCode::Close, true, &payload, mask);
}

/// A whole message encoded once as an unmasked frame (header and payload in
/// one buffer), so that a server can write the same bytes to many
/// connections: the encode-once half of broadcasting.
///
/// Only a server may send it as is; a client must mask every frame with its
/// own key. A receiver that agreed on compression re-encodes the payload
/// ([`payload`](Self::payload)) itself when it chooses to compress.
#[derive(Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    bytes: Box<[u8]>,
    header_len: usize,
    opcode: OpCode,
}

impl EncodedFrame {
    /// Encode `message` as one final, unmasked frame.
    pub fn new(message: &Message) -> Self {
        let header = message_header(message, None);
        let mut bytes = Vec::with_capacity(header.encoded_len() + message.len());
        header.write_to(&mut bytes);
        let header_len = bytes.len();
        bytes.extend_from_slice(message.as_bytes());
        EncodedFrame {
            bytes: bytes.into_boxed_slice(),
            header_len,
            opcode: header.opcode,
        }
    }

    /// The whole frame, ready to write.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message payload (after the header).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    /// `Text` or `Binary`.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The message again, as an owned copy.
    pub fn to_message(&self) -> Message {
        match self.opcode {
            // Built from a `Message::Text`, so the payload is UTF-8.
            OpCode::Text => Message::Text(String::from_utf8_lossy(self.payload()).into_owned()),
            _ => Message::Binary(self.payload().to_vec()),
        }
    }
}
