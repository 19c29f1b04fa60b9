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
