//! What the fuzz targets share: feeding a decoder the way the engine's
//! reader does, in pieces of varying size and through both of its input
//! paths, while checking what the decoder promises.

use wsengine::protocol::{Decoder, DecoderLimits, Event, ProtocolError};

/// What a decoder made of a byte stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub events: Vec<Event>,
    /// The error that stopped it, if one did.
    pub error: Option<ProtocolError>,
}

/// A small deterministic generator (xorshift32) for piece sizes.
pub struct Pieces(u32);

impl Pieces {
    pub fn new(seed: u32) -> Self {
        Pieces(seed | 1)
    }

    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Decoder limits from one byte: small enough that the fuzzer reaches
/// them, each from 16 bytes to 64 KiB.
pub fn limits(b: u8) -> DecoderLimits {
    DecoderLimits {
        max_message_size: 16 << (b & 0x0f).min(12),
        max_frame_size: 16 << ((b >> 4) & 0x07).min(12),
        accept_unmasked_frames: b & 0x80 != 0,
    }
}

/// Feed `data` to `decoder` as the reader does: `None` hands it all over at
/// once; `Some(seed)` in pieces of 1 to 64 bytes, and, while a frame's
/// payload is being read, sometimes through `payload_sink` (the reader's
/// path for large payloads) instead of `decode`. Checks on the way that
/// every call makes progress and that every event is within `limits`.
pub fn decode_all(
    decoder: &mut Decoder,
    data: &[u8],
    limits: &DecoderLimits,
    seed: Option<u32>,
) -> Decoded {
    let mut events = Vec::new();
    let mut rng = seed.map(Pieces::new);
    let mut rest = data;
    while !rest.is_empty() && !decoder.is_done() {
        let take = match &mut rng {
            None => rest.len(),
            Some(r) => 1 + (r.next() as usize % 64).min(rest.len() - 1),
        };
        let (mut piece, after) = rest.split_at(take);
        rest = after;
        while !piece.is_empty() && !decoder.is_done() {
            let direct = decoder.payload_remaining().is_some_and(|r| r > 0)
                && rng.as_mut().is_some_and(|r| r.next() % 2 == 0);
            let step = if direct {
                let sink = decoder
                    .payload_sink(piece.len())
                    .expect("room while payload remains");
                assert!(!sink.is_empty(), "payload_sink gave no room");
                assert!(
                    sink.iter().all(|&b| b == 0),
                    "payload_sink room is not zeroed"
                );
                let n = sink.len().min(piece.len());
                sink[..n].copy_from_slice(&piece[..n]);
                piece = &piece[n..];
                decoder.payload_appended(n)
            } else {
                decoder.decode(piece).map(|(used, event)| {
                    assert!(used <= piece.len(), "used more than it was given");
                    assert!(used > 0 || event.is_some(), "no progress");
                    piece = &piece[used..];
                    event
                })
            };
            match step {
                Ok(Some(event)) => {
                    check(&event, limits);
                    events.push(event);
                }
                Ok(None) => {}
                Err(error) => {
                    return Decoded {
                        events,
                        error: Some(error),
                    };
                }
            }
        }
    }
    Decoded {
        events,
        error: None,
    }
}

/// What every event must satisfy.
fn check(event: &Event, limits: &DecoderLimits) {
    match event {
        Event::Message(m) => assert!(
            m.len() <= limits.max_message_size,
            "a {} byte message passed a {} byte limit",
            m.len(),
            limits.max_message_size
        ),
        Event::Ping(p) | Event::Pong(p) => {
            assert!(p.len() <= 125, "control payload of {}", p.len())
        }
        Event::Close(Some(frame)) => {
            assert!(frame.code.is_valid_on_wire(), "close code {:?}", frame.code);
            assert!(
                frame.reason.len() <= 123,
                "close reason of {}",
                frame.reason.len()
            );
        }
        Event::Close(None) => {}
    }
}

/// Decode `data` whole and in pieces (from `seed`) with fresh decoders
/// from `make`: both must give the same events, and fail or not alike.
/// (Which error comes first may differ: a compressed message with both bad
/// deflate data and, before it, output that is not UTF-8 fails on the
/// UTF-8 when it arrives in pieces, and on the deflate data when the
/// inflater sees it all at once. Both close the connection.)
pub fn decode_both_ways(
    make: impl Fn() -> Decoder,
    data: &[u8],
    limits: &DecoderLimits,
    seed: u32,
) {
    let whole = decode_all(&mut make(), data, limits, None);
    let pieces = decode_all(&mut make(), data, limits, Some(seed));
    assert_eq!(
        whole.events, pieces.events,
        "the messages depend on how the bytes arrived"
    );
    assert_eq!(
        whole.error.is_some(),
        pieces.error.is_some(),
        "failing depends on how the bytes arrived: {:?} / {:?}",
        whole.error,
        pieces.error
    );
}

/// A permessage-deflate configuration from fuzzer bytes (any values: the
/// targets skip the ones `validate` refuses, as `Config::validate` would).
#[derive(Debug, arbitrary::Arbitrary)]
pub struct DeflateBits {
    pub enabled: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
}

impl DeflateBits {
    /// The configuration, if valid: window bits are taken 8-15 (wrapping),
    /// level 1, memory level 1 (the fuzzers care about agreements, not
    /// compression ratios).
    pub fn config(&self) -> Option<wsengine::DeflateConfig> {
        let config = wsengine::DeflateConfig::default()
            .with_enabled(self.enabled)
            .with_server_max_window_bits(8 + self.server_max_window_bits % 8)
            .with_client_max_window_bits(8 + self.client_max_window_bits % 8)
            .with_server_no_context_takeover(self.server_no_context_takeover)
            .with_client_no_context_takeover(self.client_no_context_takeover)
            .with_level(1)
            .with_mem_level(1)
            .with_threshold(0);
        config.validate().ok().map(|()| config)
    }
}
