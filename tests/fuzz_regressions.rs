//! Inputs the fuzz targets (`fuzz/`) found failing, kept as ordinary tests.

use wsengine::protocol::deflate::{DeflateConfig, DeflateParams};
use wsengine::protocol::encoder::{Encoder, Payload};
use wsengine::protocol::handshake::WsUrl;
use wsengine::protocol::{Decoder, DecoderLimits, Event, Message, Role};

fn wire_of(encoder: &mut Encoder, messages: &[Message]) -> Vec<u8> {
    let mut wire = Vec::new();
    for m in messages {
        let mut head = Vec::new();
        match encoder.message(&mut head, m.clone()) {
            Payload::Separate(body) => {
                wire.extend_from_slice(&head);
                wire.extend_from_slice(&body);
            }
            Payload::Inline | Payload::AsIs => wire.extend_from_slice(&head),
        }
    }
    wire
}

/// Found by the roundtrip target: with the compression context kept, an
/// empty message right after another made zlib write nothing at all, and
/// the empty payload sent for it is no deflate block once the tail is
/// appended: the peer's inflater was left inside a block and the messages
/// after it came out as garbage (or the text ones as invalid UTF-8).
#[test]
fn empty_compressed_messages_round_trip() {
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 9,
        client_max_window_bits: 9,
    };
    let config = DeflateConfig::default().with_threshold(0);
    let mut encoder = Encoder::new(Role::Server, 64);
    encoder.set_compressor(params.compressor(Role::Server, &config));
    let messages = [
        Message::Binary(vec![]),
        Message::Binary(vec![]),
        Message::Text(String::new()),
    ];
    let wire = wire_of(&mut encoder, &messages);
    let mut decoder = Decoder::new(Role::Client, DecoderLimits::default());
    decoder.set_decompressor(params.decompressor(Role::Client));
    let mut rest = &wire[..];
    let mut got = Vec::new();
    while !rest.is_empty() {
        let (used, event) = decoder.decode(rest).expect("valid frames");
        rest = &rest[used..];
        got.extend(event);
    }
    let sent: Vec<Event> = messages.into_iter().map(Event::Message).collect();
    assert_eq!(got, sent);
}

/// The other side of the same finding: a peer's compressor that sends an
/// empty payload for an empty message (no deflate data at all) must not
/// leave our inflater inside a block, or every later message is garbage.
#[test]
fn an_empty_compressed_payload_is_an_empty_message() {
    let mut decoder = Decoder::new(Role::Client, DecoderLimits::default());
    decoder.set_decompressor(wsengine::protocol::deflate::Decompressor::new(15, false));
    // Binary, RSV1, no payload; then "Hello" compressed (RFC 7692 7.2.3.1).
    let wire = [
        0xc2, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let mut rest = &wire[..];
    let mut got = Vec::new();
    while !rest.is_empty() {
        let (used, event) = decoder.decode(rest).expect("valid frames");
        rest = &rest[used..];
        got.extend(event);
    }
    assert_eq!(
        got,
        [
            Event::Message(Message::Binary(vec![])),
            Event::Message(Message::Text("Hello".into()))
        ]
    );
}

/// Found by the url target: a host with a control character (here 0x16)
/// was accepted, and went into the Host header and to the resolver.
#[test]
fn urls_with_characters_a_host_cannot_have_are_refused() {
    for bad in [
        "ws://\u{16}27.0.0.1/",
        "ws://exa mple.com/",
        "ws://example.com\u{7f}/",
        "ws://[not-v6]/",
        "ws://example.com:0/",
    ] {
        assert!(WsUrl::parse(bad).is_err(), "{bad:?} was accepted");
    }
    for good in [
        "ws://example.com/",
        "wss://[::1]:9001/",
        "ws://a-b.c_d~e:8080/x",
    ] {
        assert!(WsUrl::parse(good).is_ok(), "{good:?} was refused");
    }
}
