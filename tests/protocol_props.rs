//! Property tests for the protocol core: round trips for every length form,
//! decoding independent of chunking, limits however a message is cut, and
//! arbitrary input never panicking.

use proptest::prelude::*;
use wsengine::protocol::decoder::BufferSource;
use wsengine::protocol::encoder::write_frame;
use wsengine::protocol::handshake::{ClientHandshake, ClientRequest, server::parse_request};
use wsengine::protocol::mask::apply_mask;
use wsengine::protocol::{
    Decoder, DecoderLimits, Event, FrameHeader, Message, OpCode, ProtocolError, Role,
};

/// A payload length from one of the three length forms.
fn any_len() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=125, 126usize..=65535, 65536usize..=70000]
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any_len().prop_map(|n| Message::Binary((0..n).map(|i| (i * 7 + 3) as u8).collect())),
        (any_len(), any::<char>())
            .prop_map(|(n, c)| Message::Text(c.to_string().repeat(n / c.len_utf8()))),
    ]
}

/// Something to put on the wire: a message cut into fragments, or a ping.
#[derive(Clone, Debug)]
enum Item {
    Message(Message, Vec<usize>),
    Ping(Vec<u8>),
}

fn any_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (any_message(), prop::collection::vec(1usize..5000, 0..4))
            .prop_map(|(m, cuts)| Item::Message(m, cuts)),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

/// Encode `items` as `sender` would (masked for a client), with each
/// message split at byte offsets (on character boundaries for text) and a
/// ping slipped between fragments, and return the wire bytes and the events
/// a receiver must see.
fn encode(items: &[Item], sender: Role, seed: u8) -> (Vec<u8>, Vec<Event>) {
    let mut key = [seed, seed.wrapping_add(1), 7, 99];
    let mut next_mask = || {
        key[0] = key[0].wrapping_add(13);
        (sender == Role::Client).then_some(key)
    };
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    for item in items {
        match item {
            Item::Ping(p) => {
                write_frame(&mut wire, OpCode::Ping, true, p, next_mask());
                events.push(Event::Ping(p.clone()));
            }
            Item::Message(m, cuts) => {
                let bytes = m.as_bytes();
                let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                if let Message::Text(s) = m {
                    bounds.retain(|&b| s.is_char_boundary(b));
                }
                bounds.sort_unstable();
                bounds.dedup();
                bounds.push(bytes.len());
                let mut start = 0;
                let last = bounds.len() - 1;
                for (i, &end) in bounds.iter().enumerate() {
                    let end = end.max(start);
                    let op = match (i, m) {
                        (0, Message::Text(_)) => OpCode::Text,
                        (0, Message::Binary(_)) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    write_frame(&mut wire, op, i == last, &bytes[start..end], next_mask());
                    if i == 0 && i != last {
                        write_frame(&mut wire, OpCode::Pong, true, b"mid", next_mask());
                        events.push(Event::Pong(b"mid".to_vec()));
                    }
                    start = end;
                }
                events.push(Event::Message(m.clone()));
            }
        }
    }
    (wire, events)
}

/// Decode `wire` fed in chunks of the given sizes (cycled).
fn decode_chunked(
    receiver: Role,
    limits: DecoderLimits,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Event>, ProtocolError> {
    decode_chunked_from(receiver, limits, wire, chunks, None)
}

/// As [`decode_chunked`], with the decoder's buffers from `source`.
fn decode_chunked_from(
    receiver: Role,
    limits: DecoderLimits,
    wire: &[u8],
    chunks: &[usize],
    source: Option<BufferSource>,
) -> Result<Vec<Event>, ProtocolError> {
    let mut d = Decoder::new(receiver, limits);
    if let Some(source) = source {
        d.set_buffer_source(source);
    }
    let mut events = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let size = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(wire.len())
            .max(1);
        i += 1;
        let mut chunk = &wire[pos..(pos + size).min(wire.len())];
        pos += chunk.len();
        while !chunk.is_empty() {
            let (used, ev) = d.decode(chunk)?;
            chunk = &chunk[used..];
            events.extend(ev);
        }
    }
    Ok(events)
}

/// Decode `wire` as the engine's reader does: whenever the decoder is in
/// a data frame's payload, append raw bytes straight to its message
/// (`payload_sink`, at most a chunk at a time); otherwise `decode` a chunk.
fn decode_direct(
    receiver: Role,
    limits: DecoderLimits,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Event>, ProtocolError> {
    decode_direct_from(receiver, limits, wire, chunks, None)
}

/// A buffer as a pool hands one out: room for `len` and more, its first
/// half holding an earlier message's bytes (0xAA), the rest not yet
/// initialised.
fn stale_buffer(len: usize) -> Option<Vec<u8>> {
    let mut buffer = vec![0xAA; len + 100];
    buffer.truncate(len / 2);
    Some(buffer)
}

/// As [`decode_direct`], with the decoder's buffers from `source`.
fn decode_direct_from(
    receiver: Role,
    limits: DecoderLimits,
    wire: &[u8],
    chunks: &[usize],
    source: Option<BufferSource>,
) -> Result<Vec<Event>, ProtocolError> {
    let mut d = Decoder::new(receiver, limits);
    if let Some(source) = source {
        d.set_buffer_source(source);
    }
    let mut events = Vec::new();
    let (mut pos, mut i) = (0, 0);
    while pos < wire.len() {
        let size = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(4096)
            .max(1);
        i += 1;
        if let Some(room) = d.payload_sink(size) {
            let n = room.len().min(wire.len() - pos);
            room[..n].copy_from_slice(&wire[pos..pos + n]);
            pos += n;
            events.extend(d.payload_appended(n)?);
            continue;
        }
        let mut chunk = &wire[pos..(pos + size).min(wire.len())];
        pos += chunk.len();
        while !chunk.is_empty() {
            let (used, ev) = d.decode(chunk)?;
            chunk = &chunk[used..];
            events.extend(ev);
        }
    }
    Ok(events)
}

#[test]
fn invalid_utf8_is_caught_in_bytes_appended_directly() {
    let mut wire = Vec::new();
    let mut text = "ok ".repeat(3000).into_bytes();
    text[5000] = 0xff;
    write_frame(&mut wire, OpCode::Text, true, &text, Some([1, 2, 3, 4]));
    let got = decode_direct(Role::Server, DecoderLimits::default(), &wire, &[100, 4096]);
    assert_eq!(got, Err(ProtocolError::InvalidUtf8));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn appending_payload_directly_decodes_the_same(
        items in prop::collection::vec(any_item(), 1..4),
        chunks in prop::collection::vec(1usize..9000, 1..8),
    ) {
        for (sender, receiver) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let (wire, expected) = encode(&items, sender, 3);
            let got = decode_direct(receiver, DecoderLimits::default(), &wire, &chunks).unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    /// Buffers reused from earlier messages (as the engine's pool hands
    /// them out) change nothing: their old bytes never show.
    #[test]
    fn reused_buffers_decode_the_same(
        items in prop::collection::vec(any_item(), 1..4),
        chunks in prop::collection::vec(1usize..9000, 1..8),
    ) {
        for (sender, receiver) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let (wire, expected) = encode(&items, sender, 5);
            let limits = DecoderLimits::default();
            let got = decode_direct_from(receiver, limits, &wire, &chunks, Some(stale_buffer)).unwrap();
            prop_assert_eq!(&got, &expected);
            let got = decode_chunked_from(receiver, limits, &wire, &chunks, Some(stale_buffer)).unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn frames_round_trip_in_both_directions(items in prop::collection::vec(any_item(), 1..5), seed: u8) {
        for (sender, receiver) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let (wire, expected) = encode(&items, sender, seed);
            let got = decode_chunked(receiver, DecoderLimits::default(), &wire, &[]).unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn decoding_does_not_depend_on_chunking(
        items in prop::collection::vec(any_item(), 1..4),
        chunks in prop::collection::vec(1usize..300, 1..8),
    ) {
        let (wire, expected) = encode(&items, Role::Client, 1);
        let got = decode_chunked(Role::Server, DecoderLimits::default(), &wire, &chunks).unwrap();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn the_message_limit_holds_however_a_message_is_fragmented(
        len in 1001usize..5000,
        cuts in prop::collection::vec(1usize..5000, 0..6),
        chunks in prop::collection::vec(1usize..700, 1..4),
    ) {
        let limits = DecoderLimits { max_message_size: 1000, max_frame_size: 1000, accept_unmasked_frames: false };
        let item = Item::Message(Message::Binary(vec![1; len]), cuts);
        let (wire, _) = encode(&[item], Role::Client, 2);
        let err = decode_chunked(Role::Server, limits, &wire, &chunks).unwrap_err();
        let is_size_error = matches!(err, ProtocolError::MessageTooBig { .. } | ProtocolError::FrameTooBig { .. });
        prop_assert!(is_size_error, "{:?}", err);
    }

    #[test]
    fn header_encode_parse_round_trip(fin: bool, op in prop::sample::select(vec![OpCode::Text, OpCode::Binary, OpCode::Continuation, OpCode::Ping]), len in prop_oneof![0u64..=125, 126u64..=65535, 65536u64..(1u64 << 63)], mask: Option<[u8; 4]>) {
        let h = FrameHeader { fin, rsv: 0, opcode: op, mask, payload_len: len };
        let mut buf = [0u8; 14];
        let n = h.encode(&mut buf);
        prop_assert_eq!(FrameHeader::parse(&buf[..n]).unwrap(), Some((h, n)));
    }

    #[test]
    fn masking_twice_is_the_identity(data: Vec<u8>, key: [u8; 4], offset in 0usize..16) {
        let mut buf = data.clone();
        apply_mask(&mut buf, key, offset);
        apply_mask(&mut buf, key, offset);
        prop_assert_eq!(buf, data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data: Vec<u8>, chunks in prop::collection::vec(1usize..64, 1..4)) {
        for role in [Role::Server, Role::Client] {
            let small = DecoderLimits { max_message_size: 4096, max_frame_size: 1024, accept_unmasked_frames: false };
            let _ = decode_chunked(role, small, &data, &chunks);
            let _ = decode_chunked(role, DecoderLimits::default(), &data, &chunks);
        }
        let _ = parse_request(&data, 8192);
        let (hs, _) = ClientHandshake::new(&ClientRequest { host: "h".into(), resource: "/".into(), ..Default::default() }, [0; 16]).unwrap();
        let _ = hs.parse_response(&data, 8192);
    }

    #[test]
    fn arbitrary_http_like_heads_never_panic(lines in prop::collection::vec("[ -~]{0,40}", 0..12)) {
        let mut head = lines.join("\r\n");
        head.push_str("\r\n\r\n");
        if let Ok(Some((req, _))) = parse_request(head.as_bytes(), 8192) {
            let _ = wsengine::protocol::handshake::server::accept(req, &wsengine::protocol::handshake::ServerOptions { subprotocols: &[], origins: &wsengine::OriginPolicy::AnyOrigin, deflate: &Default::default() });
        }
    }
}
