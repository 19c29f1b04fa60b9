//! The sans-IO protocol core: bytes in, events out; messages in, bytes out.
//!
//! Nothing in this module touches a socket, a thread or a clock. The caller
//! owns I/O and time, which keeps every rule of RFC 6455 that can be checked
//! on bytes testable on bytes:
//!
//! - [`frame`]: frame header parsing and encoding (all three length forms);
//! - [`mask`]: payload masking, word at a time;
//! - [`decoder`]: the reader half — frames from arbitrary chunks of input,
//!   reassembled into [`Message`]s with interleaved control frames, size
//!   limits enforced before allocating, fail-fast UTF-8 validation;
//! - [`encoder`]: the writer half — frames for messages and control frames;
//! - [`close`]: close codes and close payloads;
//! - [`deflate`]: permessage-deflate (RFC 7692), negotiation and codec;
//! - [`handshake`]: the HTTP/1.1 upgrade, server and client side.
//!
//! The decoder and the encoder share no state, so one thread may read while
//! another writes (the split tungstenite's single `WebSocket` cannot make).

#![deny(unsafe_code)]

mod assembler;
pub mod close;
pub mod decoder;
pub mod deflate;
pub mod encoder;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod mask;
mod message;
mod opcode;
pub mod proxy;
pub mod utf8;

pub use close::{CloseCode, CloseFrame, CloseInfo, CloseInitiator};
pub use decoder::{Decoder, DecoderLimits, Event};
pub use frame::FrameHeader;
pub use message::Message;
pub use opcode::OpCode;

/// Which end of the connection this endpoint is.
///
/// The role decides masking: a client masks every frame it sends and a server
/// requires that; a server never masks and a client rejects masked frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that accepted the TCP connection and answered the upgrade.
    Server,
    /// The endpoint that opened the TCP connection and sent the upgrade request.
    Client,
}

/// A violation of RFC 6455 by the peer, detected while decoding.
///
/// Each variant maps to the close code the connection must be failed with
/// ([`ProtocolError::close_code`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit (RSV1-3) was set without an extension that defines it.
    ReservedBits(u8),
    /// The opcode is one of the reserved values 3-7 or 11-15.
    ReservedOpcode(u8),
    /// A control frame had FIN clear.
    FragmentedControlFrame,
    /// A control frame's payload was longer than 125 bytes.
    ControlFrameTooLong(u64),
    /// A client sent an unmasked frame to a server.
    UnmaskedFrame,
    /// A server sent a masked frame to a client.
    MaskedFrame,
    /// The 64-bit payload length had its most significant bit set.
    InvalidLength,
    /// A continuation frame arrived with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was in progress.
    ExpectedContinuation,
    /// A text message or a close reason was not valid UTF-8.
    InvalidUtf8,
    /// A close frame carried a code that may not appear on the wire.
    InvalidCloseCode(u16),
    /// A close frame had a one-byte payload.
    InvalidClosePayload,
    /// A single frame's payload exceeded the frame size limit.
    FrameTooBig {
        /// The payload length the header announced.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A compressed message was not a valid deflate stream.
    InvalidCompressedData,
    /// A message's payload (all fragments so far) exceeded the message size limit.
    MessageTooBig {
        /// The size the message would reach.
        size: u64,
        /// The configured limit.
        max: usize,
    },
}

impl ProtocolError {
    /// The close code a connection failed by this error is closed with:
    /// 1007 for invalid UTF-8 or compressed data that does not inflate
    /// (the frames were well formed, their payload was not), 1009 for size
    /// limits, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooBig { .. } | ProtocolError::MessageTooBig { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::ReservedBits(b) => write!(f, "reserved bits set: {b:#05b}"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong(n) => {
                write!(f, "control frame payload of {n} bytes (max 125)")
            }
            ProtocolError::UnmaskedFrame => f.write_str("unmasked frame from client"),
            ProtocolError::MaskedFrame => f.write_str("masked frame from server"),
            ProtocolError::InvalidLength => f.write_str("payload length has the high bit set"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::InvalidCompressedData => {
                f.write_str("compressed message is not valid deflate data")
            }
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::InvalidClosePayload => f.write_str("close payload of one byte"),
            ProtocolError::FrameTooBig { size, max } => {
                write!(f, "frame of {size} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooBig { size, max } => {
                write!(f, "message of {size} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}
