//! permessage-deflate (RFC 7692): negotiation, and per-message compression
//! and decompression with or without context takeover.
//!
//! - [`DeflateConfig`] is what an endpoint is willing to do; it is the same
//!   type on both sides and read from each side's point of view.
//! - Negotiation: the server picks the first acceptable offer from the
//!   client's `Sec-WebSocket-Extensions` header and answers it
//!   ([`negotiate_server`]); the client builds its offer ([`client_offer`])
//!   and checks the server's answer ([`parse_server_answer`]). Both end
//!   with a [`DeflateParams`], the agreement.
//! - The codec: [`Compressor`] (the writer's side) and [`Decompressor`] (the
//!   reader's side, which enforces the message size limit while inflating).
//!
//! Compression is done by zlib-rs, a memory-safe Rust implementation of
//! zlib: raw deflate with window bits 9-15 and a configurable memory level.

mod codec;
mod negotiate;

pub use codec::{Compressor, Decompressor, InflateError};
pub use negotiate::{client_offer, negotiate_server, parse_server_answer};

use super::Role;

/// Smallest LZ77 window an endpoint may be asked to use, as a power of two.
pub const MIN_WINDOW_BITS: u8 = 8;
/// Largest (and default) LZ77 window, as a power of two: 32 KiB.
pub const MAX_WINDOW_BITS: u8 = 15;

/// What an endpoint is willing to do with permessage-deflate.
///
/// The same type configures servers and clients. Window bits are powers of
/// two of the LZ77 window (9 = 512 bytes … 15 = 32 KiB); "server" and
/// "client" name the sending side they limit.
///
/// Memory per connection, only once a message is compressed or inflated
/// (idle connections and connections that never negotiate pay nothing),
/// as measured with zlib-rs (`bench/src/bin/deflate_cost.rs`): the
/// compressor holds a fixed 128 KiB hash table plus `4 * 2^w + 7 * 2^(m+6)`
/// bytes (window bits `w` of our sending side, memory level `m`): 161 KiB
/// with the defaults, 371 KiB with zlib's usual 15 and 8. The decompressor
/// holds 46 KiB whatever the window. Switch compression off, or raise the
/// threshold, where many connections and little bandwidth make that too much.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Negotiate permessage-deflate at all. Default `true`: a server
    /// accepts offers, a client makes one.
    pub enabled: bool,
    /// Most window bits the server compresses with. A server uses at most
    /// this (and less if the client asks); a client below 15 asks the server
    /// for it with `server_max_window_bits`. Default 12.
    pub server_max_window_bits: u8,
    /// Most window bits the client compresses with. A server below 15 asks
    /// the client for it (when the client allows it by offering
    /// `client_max_window_bits`); a client uses at most this. Default 12.
    pub client_max_window_bits: u8,
    /// The server resets its compressor after every message. A server sets
    /// it in its answer; a client asks for it. Default `false`.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message. A server asks
    /// it of the client; a client offers it. Default `false`.
    pub client_no_context_takeover: bool,
    /// zlib compression level, 0 (store) to 9 (smallest). Default 6.
    pub level: u8,
    /// zlib memory level, 1 to 9: sizes the compressor's literal buffers
    /// (`7 * 2^(m+6)` bytes; 14 KiB at 5, 112 KiB at 8). Default 5.
    pub mem_level: u8,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1
    /// clear), which is always allowed. Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 6,
            mem_level: 5,
            threshold: 64,
        }
    }
}

impl DeflateConfig {
    setters! {
        /// Set [`enabled`](Self::enabled).
        with_enabled: enabled: bool;
        /// Set [`server_max_window_bits`](Self::server_max_window_bits).
        with_server_max_window_bits: server_max_window_bits: u8;
        /// Set [`client_max_window_bits`](Self::client_max_window_bits).
        with_client_max_window_bits: client_max_window_bits: u8;
        /// Set [`server_no_context_takeover`](Self::server_no_context_takeover).
        with_server_no_context_takeover: server_no_context_takeover: bool;
        /// Set [`client_no_context_takeover`](Self::client_no_context_takeover).
        with_client_no_context_takeover: client_no_context_takeover: bool;
        /// Set [`level`](Self::level).
        with_level: level: u8;
        /// Set [`mem_level`](Self::mem_level).
        with_mem_level: mem_level: u8;
        /// Set [`threshold`](Self::threshold).
        with_threshold: threshold: usize;
    }

    /// Compression switched off: nothing is offered or accepted.
    pub fn disabled() -> Self {
        DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        }
    }

    /// Check the ranges: window bits 9-15, level 0-9, memory level 1-9.
    pub fn validate(&self) -> Result<(), String> {
        let bits = 9..=MAX_WINDOW_BITS;
        if !bits.contains(&self.server_max_window_bits)
            || !bits.contains(&self.client_max_window_bits)
        {
            return Err("deflate window bits must be 9 to 15".into());
        }
        if self.level > 9 {
            return Err("deflate level must be 0 to 9".into());
        }
        if !(1..=9).contains(&self.mem_level) {
            return Err("deflate memory level must be 1 to 9".into());
        }
        Ok(())
    }
}

/// The agreement both endpoints reached in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window may use at most this many bits.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window may use at most this many bits.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The compressor for an endpoint playing `role`: its own side's window
    /// and context rule (negotiation keeps both within `config`), with
    /// `config`'s level, memory level and threshold.
    ///
    /// `None` when our side's window is 8 bits: zlib cannot compress raw
    /// deflate with a 256-byte window, so such an endpoint sends every
    /// message uncompressed (RSV1 clear), which RFC 7692 always allows.
    pub fn compressor(&self, role: Role, config: &DeflateConfig) -> Option<Compressor> {
        let (bits, reset) = match role {
            Role::Server => (self.server_max_window_bits, self.server_no_context_takeover),
            Role::Client => (self.client_max_window_bits, self.client_no_context_takeover),
        };
        (bits >= 9).then(|| Compressor::new(bits, reset, config))
    }

    /// The decompressor for an endpoint playing `role`: sized for the
    /// peer's window, reset after each message if the peer resets.
    pub fn decompressor(&self, role: Role) -> Decompressor {
        let (bits, reset) = match role {
            Role::Server => (self.client_max_window_bits, self.client_no_context_takeover),
            Role::Client => (self.server_max_window_bits, self.server_no_context_takeover),
        };
        Decompressor::new(bits, reset)
    }
}

impl std::fmt::Display for DeflateParams {
    /// The agreement in `Sec-WebSocket-Extensions` form, every parameter
    /// spelled out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("permessage-deflate")?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        write!(
            f,
            "; server_max_window_bits={}; client_max_window_bits={}",
            self.server_max_window_bits, self.client_max_window_bits
        )
    }
}
