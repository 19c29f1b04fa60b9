//! The writer half of the protocol: messages and control frames to bytes.
//!
//! The free functions keep no state: the caller supplies the masking key.
//! [`Encoder`] is one connection's stateful encoder: a client's masking
//! keys (fresh from the OS random source, as RFC 6455 requires), the
//! compression context, and whether a payload is copied next to its header
//! or written from its own buffer. It shares nothing with the
//! [`Decoder`](super::Decoder) and does no I/O: the engine's writer only
//! moves the bytes it produces.

use super::decoder::RSV1;
use super::deflate::Compressor;
use super::frame::FrameHeader;
use super::mask::apply_mask;
use super::{CloseFrame, Message, OpCode, Role};

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

/// Where a payload went when [`Encoder`] encoded a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload {
    /// Copied (and masked) after its header in the output buffer.
    Inline,
    /// Too large to copy: written after the header from this buffer (masked
    /// in place if the frame is masked).
    Separate(Vec<u8>),
    /// Nothing was appended: the shared frame is written as it is.
    AsIs,
}

/// The stateful half of encoding for one connection: masking keys (a
/// client's), the compression context, and header building.
///
/// Messages must be encoded in the order they are sent: with context
/// takeover each compressed message depends on the ones before it. The
/// caller owns the output buffer and does the writing; the encoder only
/// appends bytes or hands back a payload to write after them.
pub struct Encoder {
    /// Clients only: a server never masks, and 512 bytes per connection
    /// add up over many idle ones.
    keys: Option<Box<MaskKeys>>,
    compressor: Option<Compressor>,
    /// Payloads up to this size are copied next to their header.
    inline_max: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("masks", &self.keys.is_some())
            .field("compresses", &self.compressor.is_some())
            .field("inline_max", &self.inline_max)
            .finish()
    }
}

impl Encoder {
    /// An encoder for the `role` side: a client masks every frame with a
    /// fresh key from the OS random source. Payloads up to `inline_max`
    /// bytes are copied next to their header; larger ones are handed back
    /// to be written from their own buffer.
    pub fn new(role: Role, inline_max: usize) -> Self {
        Encoder {
            keys: (role == Role::Client).then(|| Box::new(MaskKeys::new())),
            compressor: None,
            inline_max,
        }
    }

    /// Compress data messages with `compressor` from now on (set before
    /// the first message, when permessage-deflate was agreed).
    pub fn set_compressor(&mut self, compressor: Option<Compressor>) {
        self.compressor = compressor;
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        self.keys.as_mut().map(|k| k.next())
    }

    /// Append a control frame (ping, pong: at most 125 bytes) to `out`.
    pub fn control(&mut self, out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
        let mask = self.mask();
        write_frame(out, opcode, true, payload, mask);
    }

    /// Append a close frame to `out` (`None`: without a status code).
    pub fn close(&mut self, out: &mut Vec<u8>, frame: Option<&CloseFrame>) {
        let mask = self.mask();
        write_close(out, frame, mask);
    }

    /// Encode `message` as one frame, compressed if compression is on and
    /// the message is worth it: the header goes to `out`, the payload too
    /// unless it is returned as [`Payload::Separate`].
    pub fn message(&mut self, out: &mut Vec<u8>, message: Message) -> Payload {
        let mask = self.mask();
        let mut header = message_header(&message, mask);
        let body = match self.compress(message.as_bytes()) {
            Some(compressed) => {
                header.rsv = RSV1;
                header.payload_len = compressed.len() as u64;
                compressed
            }
            None => message.into_bytes(),
        };
        self.push(out, header, body)
    }

    /// Encode a frame shared with other connections (a broadcast, server
    /// side only): [`Payload::AsIs`] unless this connection compresses it;
    /// then the payload is ours to encode, in order with our other
    /// messages, as context takeover requires.
    pub fn shared_frame(&mut self, out: &mut Vec<u8>, frame: &EncodedFrame) -> Payload {
        debug_assert!(self.keys.is_none(), "only servers share frames");
        let Some(compressed) = self.compress(frame.payload()) else {
            return Payload::AsIs;
        };
        let header = FrameHeader {
            fin: true,
            rsv: RSV1,
            opcode: frame.opcode(),
            mask: None,
            payload_len: compressed.len() as u64,
        };
        self.push(out, header, compressed)
    }

    /// The payload compressed, if compression is on and the payload is worth it.
    fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let z = self.compressor.as_mut()?;
        if !z.wants(payload.len()) {
            return None;
        }
        // `compress` sizes the buffer from the input itself.
        let mut compressed = Vec::new();
        z.compress(payload, &mut compressed);
        Some(compressed)
    }

    /// The header, then the payload copied and masked after it or (large)
    /// masked in place and handed back.
    fn push(&mut self, out: &mut Vec<u8>, header: FrameHeader, mut body: Vec<u8>) -> Payload {
        header.write_to(out);
        if body.len() <= self.inline_max {
            let start = out.len();
            out.extend_from_slice(&body);
            if let Some(key) = header.mask {
                apply_mask(&mut out[start..], key, 0);
            }
            return Payload::Inline;
        }
        if let Some(key) = header.mask {
            apply_mask(&mut body, key, 0);
        }
        Payload::Separate(body)
    }
}

/// Masking keys from the OS CSPRNG, fetched 128 at a time.
struct MaskKeys {
    buf: [u8; 512],
    pos: usize,
}

impl MaskKeys {
    fn new() -> Self {
        MaskKeys {
            buf: [0; 512],
            pos: 512,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.pos == self.buf.len() {
            getrandom::fill(&mut self.buf).expect("the OS random source failed");
            self.pos = 0;
        }
        let k = [
            self.buf[self.pos],
            self.buf[self.pos + 1],
            self.buf[self.pos + 2],
            self.buf[self.pos + 3],
        ];
        self.pos += 4;
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decoder, DecoderLimits, Event};

    fn decode_all(role: Role, bytes: &[u8]) -> Vec<Event> {
        let mut d = Decoder::new(role, DecoderLimits::default());
        let mut events = Vec::new();
        let mut data = bytes;
        while !data.is_empty() {
            let (used, e) = d.decode(data).unwrap();
            data = &data[used..];
            events.extend(e);
        }
        events
    }

    #[test]
    fn a_client_masks_every_frame_with_a_fresh_key() {
        let mut enc = Encoder::new(Role::Client, 16);
        let mut out = Vec::new();
        assert_eq!(
            enc.message(&mut out, Message::Text("hi".into())),
            Payload::Inline
        );
        enc.control(&mut out, OpCode::Ping, b"p");
        let big = vec![7u8; 100];
        let Payload::Separate(body) = enc.message(&mut out, Message::Binary(big.clone())) else {
            panic!("a payload over inline_max is handed back");
        };
        assert_ne!(body, big, "masked in place");
        out.extend_from_slice(&body);
        // A server decodes (and unmasks) what the client encoded.
        let events = decode_all(Role::Server, &out);
        assert_eq!(
            events,
            vec![
                Event::Message(Message::Text("hi".into())),
                Event::Ping(b"p".to_vec()),
                Event::Message(Message::Binary(big)),
            ]
        );
    }

    #[test]
    fn a_server_writes_shared_frames_as_they_are_and_closes_unmasked() {
        let mut enc = Encoder::new(Role::Server, 4096);
        let mut out = Vec::new();
        let frame = EncodedFrame::new(&Message::Binary(vec![1, 2, 3]));
        assert_eq!(enc.shared_frame(&mut out, &frame), Payload::AsIs);
        assert!(out.is_empty());
        enc.close(
            &mut out,
            Some(&CloseFrame {
                code: super::super::CloseCode::NORMAL,
                reason: "bye".into(),
            }),
        );
        assert_eq!(&out[..2], &[0x88, 5], "unmasked close with code and reason");
    }
}
