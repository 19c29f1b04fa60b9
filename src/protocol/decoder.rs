//! The reader half of the protocol: bytes from the peer to [`Event`]s.
//!
//! [`Decoder::decode`] accepts input in chunks of any size; the events it
//! produces do not depend on where the chunks were cut. Each complete frame
//! is checked as soon as its header is known, so limits are enforced before
//! anything is allocated for the payload.

pub use super::assembler::BufferSource;
use super::assembler::{Assembler, deflated_bound};
use super::deflate::Decompressor;
use super::frame::{FrameHeader, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::{CloseFrame, Message, OpCode, ProtocolError, Role};

/// The RSV1 bit in [`FrameHeader::rsv`]: "compressed" under permessage-deflate.
pub const RSV1: u8 = 0b100;

/// Size limits the decoder enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest message payload (sum of all fragments), in bytes.
    pub max_message_size: usize,
    /// Largest single frame payload, in bytes. A compressed frame may be
    /// larger on the wire by deflate's expansion of incompressible data
    /// (1/16 plus 1 KiB at most): the limit is about the data.
    pub max_frame_size: usize,
    /// Accept unmasked frames from a client (violates RFC 6455; off by default).
    pub accept_unmasked_frames: bool,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            accept_unmasked_frames: false,
        }
    }
}

/// Something the peer sent that the application or engine must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// A ping with its payload (at most 125 bytes); answer with a pong.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close frame, with its code and reason if it carried one. The
    /// decoder ignores everything after it.
    Close(Option<CloseFrame>),
}

#[derive(Debug)]
enum State {
    /// Waiting for (the rest of) a frame header.
    Header,
    /// Inside a frame's payload.
    Payload {
        header: FrameHeader,
        remaining: u64,
        offset: u64,
    },
    /// A close frame was received or an error occurred: input is ignored.
    Done,
}

/// Decodes frames from a byte stream and assembles messages.
///
/// Owned by the reading side of a connection; it shares nothing with the
/// encoder. After an error or a close frame it ignores further input.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    limits: DecoderLimits,
    state: State,
    partial_header: [u8; MAX_HEADER_LEN],
    partial_len: usize,
    control: Vec<u8>,
    assembler: Assembler,
}

impl Decoder {
    /// A decoder for an endpoint playing `role` (it decodes what the other
    /// role sends).
    pub fn new(role: Role, limits: DecoderLimits) -> Self {
        Decoder {
            role,
            limits,
            state: State::Header,
            partial_header: [0; MAX_HEADER_LEN],
            partial_len: 0,
            control: Vec::new(),
            assembler: Assembler::new(limits.max_message_size),
        }
    }

    /// Accept permessage-deflate compressed messages (RSV1 on a message's
    /// first frame) and inflate them with `inflater`. Without this, RSV1 is
    /// a protocol error like the other reserved bits.
    pub fn set_decompressor(&mut self, inflater: Decompressor) {
        self.assembler.set_inflater(inflater);
    }

    /// Take the buffer of each new message of at least a frame's worth
    /// from `source` when it has one (a pool of buffers whose pages are
    /// already in memory), instead of growing a new one as the payload
    /// arrives.
    pub fn set_buffer_source(&mut self, source: BufferSource) {
        self.assembler.set_buffer_source(source);
    }

    /// Whether the decoder has stopped (after a close frame or an error).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consume bytes from `input` until one event is complete or the input
    /// runs out.
    ///
    /// Returns how many bytes were consumed and the event, if one completed.
    /// When no event is returned, all of `input` was consumed (a partial
    /// header is kept internally). Call again with the rest of the input
    /// after an event. On error the connection must be failed with
    /// [`ProtocolError::close_code`]; the decoder then ignores further input.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        self.assembler.drop_direct_room();
        let result = self.decode_inner(input);
        if result.is_err() {
            self.state = State::Done;
        }
        result
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        let mut pos = 0;
        loop {
            match &mut self.state {
                State::Done => return Ok((input.len(), None)),
                State::Header => {
                    let Some(used) = self.read_header(&input[pos..])? else {
                        return Ok((input.len(), None));
                    };
                    pos += used;
                    // Empty frames complete without payload bytes.
                    if let State::Payload { remaining: 0, .. } = self.state {
                        if let Some(event) = self.finish_frame()? {
                            return Ok((pos, Some(event)));
                        }
                    }
                }
                State::Payload {
                    header,
                    remaining,
                    offset,
                } => {
                    if pos == input.len() {
                        return Ok((pos, None));
                    }
                    let take = (*remaining).min((input.len() - pos) as u64) as usize;
                    let chunk = &input[pos..pos + take];
                    if header.opcode.is_control() {
                        let start = self.control.len();
                        self.control.extend_from_slice(chunk);
                        if let Some(key) = header.mask {
                            apply_mask(&mut self.control[start..], key, *offset as usize);
                        }
                    } else {
                        self.assembler.push(chunk, header.mask, *offset as usize)?;
                    }
                    pos += take;
                    *remaining -= take as u64;
                    *offset += take as u64;
                    if *remaining == 0 {
                        if let Some(event) = self.finish_frame()? {
                            return Ok((pos, Some(event)));
                        }
                    }
                }
            }
        }
    }

    /// In the middle of an uncompressed data frame's payload: how many
    /// payload bytes the frame still has. `None` between frames, in control
    /// frames, in compressed messages and once done.
    pub fn payload_remaining(&self) -> Option<u64> {
        match &self.state {
            State::Payload {
                header, remaining, ..
            } if !header.opcode.is_control() && *remaining > 0 && self.assembler.takes_direct() => {
                Some(*remaining)
            }
            _ => None,
        }
    }

    /// Room for up to `max` more raw (still masked) payload bytes of the
    /// current frame, at the end of the message they belong to (at most
    /// what the frame still has; `None` where
    /// [`payload_remaining`](Self::payload_remaining) is).
    ///
    /// A caller reading from a socket fills a prefix of it and reports how
    /// much with [`payload_appended`](Self::payload_appended): a large
    /// message then goes from the socket to its own buffer without passing
    /// through a read buffer. Only the bytes reported become payload, and
    /// they are unmasked and validated like decoded ones; the message's
    /// earlier bytes are out of the caller's reach. The room holds zeros, or
    /// bytes the caller wrote there before and did not report: it is kept
    /// from one call to the next (so it is zeroed once, not once per read)
    /// until [`decode`](Self::decode) is called.
    pub fn payload_sink(&mut self, max: usize) -> Option<&mut [u8]> {
        let remaining = self.payload_remaining()?;
        let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(max);
        Some(self.assembler.direct_room(n))
    }

    /// Take the first `n` bytes of the room from
    /// [`payload_sink`](Self::payload_sink) as payload, as if they had been
    /// passed to [`decode`](Self::decode): unmasked, validated, and the
    /// frame (and message) finished when they complete it.
    ///
    /// # Panics
    /// If `n` is more than the room given (a caller bug), or no room was
    /// given since the last call.
    pub fn payload_appended(&mut self, n: usize) -> Result<Option<Event>, ProtocolError> {
        let State::Payload {
            header,
            remaining,
            offset,
        } = &mut self.state
        else {
            panic!("payload_appended outside a payload");
        };
        assert!(n as u64 <= *remaining, "more payload than the frame has");
        let (mask, at) = (header.mask, *offset as usize);
        *remaining -= n as u64;
        *offset += n as u64;
        let done = *remaining == 0;
        let result = match self.assembler.appended(n, mask, at) {
            Ok(()) if done => self.finish_frame(),
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.state = State::Done;
        }
        result
    }

    /// Read (the rest of) a header from `input`. Returns the bytes of
    /// `input` used, or `None` if the header is still incomplete (and all of
    /// `input` was stored).
    fn read_header(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let (header, used) = if self.partial_len == 0 {
            match FrameHeader::parse(input)? {
                Some(parsed) => parsed,
                None => {
                    self.partial_header[..input.len()].copy_from_slice(input);
                    self.partial_len = input.len();
                    return Ok(None);
                }
            }
        } else {
            let had = self.partial_len;
            let add = (MAX_HEADER_LEN - had).min(input.len());
            self.partial_header[had..had + add].copy_from_slice(&input[..add]);
            match FrameHeader::parse(&self.partial_header[..had + add])? {
                Some((header, len)) => {
                    self.partial_len = 0;
                    (header, len - had)
                }
                None => {
                    self.partial_len = had + add;
                    return Ok(None);
                }
            }
        };
        self.check_header(&header)?;
        self.state = State::Payload {
            header,
            remaining: header.payload_len,
            offset: 0,
        };
        Ok(Some(used))
    }

    /// Role, reserved-bit, control-frame and size checks for a complete header.
    fn check_header(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // RSV1 means "compressed" on the first frame of a data message once
        // permessage-deflate is agreed; every other use is reserved.
        let rsv1_allowed =
            self.assembler.inflates() && matches!(h.opcode, OpCode::Text | OpCode::Binary);
        let allowed = if rsv1_allowed { RSV1 } else { 0 };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv));
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) if !self.limits.accept_unmasked_frames => {
                return Err(ProtocolError::UnmaskedFrame);
            }
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if h.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(h.payload_len));
            }
            self.control.clear();
            return Ok(());
        }
        let first = match h.opcode {
            OpCode::Text => Some(true),
            OpCode::Binary => Some(false),
            _ => None,
        };
        // A compressed frame may be a little larger than what it inflates
        // to; the frame limit is about the data, so allow for that.
        let compressed = self
            .assembler
            .frame_is_compressed(first.is_some(), h.rsv & RSV1 != 0);
        let max_wire = if compressed {
            deflated_bound(self.limits.max_frame_size)
        } else {
            self.limits.max_frame_size as u64
        };
        if h.payload_len > max_wire {
            return Err(ProtocolError::FrameTooBig {
                size: h.payload_len,
                max: self.limits.max_frame_size,
            });
        }
        self.assembler
            .begin_frame(first, h.payload_len, h.rsv & RSV1 != 0)
    }

    /// The current frame's payload is complete: produce its event, if any.
    fn finish_frame(&mut self) -> Result<Option<Event>, ProtocolError> {
        let State::Payload { header, .. } = std::mem::replace(&mut self.state, State::Header)
        else {
            unreachable!("finish_frame outside a payload");
        };
        let event = match header.opcode {
            OpCode::Ping => Some(Event::Ping(std::mem::take(&mut self.control))),
            OpCode::Pong => Some(Event::Pong(std::mem::take(&mut self.control))),
            OpCode::Close => {
                let frame = CloseFrame::parse(&self.control)?;
                self.state = State::Done;
                Some(Event::Close(frame))
            }
            _ if header.fin => Some(Event::Message(self.assembler.finish()?)),
            _ => None,
        };
        Ok(event)
    }
}
