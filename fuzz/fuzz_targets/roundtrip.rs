//! Encoder to decoder: messages of any content and size, from a server or
//! a client, with or without permessage-deflate agreed on any windows,
//! come out of the peer's decoder as they went in, whatever the pieces the
//! bytes arrive in.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsengine::protocol::deflate::{DeflateConfig, DeflateParams};
use wsengine::protocol::encoder::{Encoder, Payload};
use wsengine::protocol::{Decoder, DecoderLimits, Event, Message, Role};
use wsengine_fuzz::decode_all;

#[derive(Debug, Arbitrary)]
struct Input {
    from_client: bool,
    deflate: Option<(bool, bool, u8, u8)>,
    messages: Vec<(bool, Vec<u8>)>,
    seed: u32,
}

fuzz_target!(|input: Input| {
    let (sender, receiver) = if input.from_client {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let limits = DecoderLimits {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        accept_unmasked_frames: false,
    };
    let mut encoder = Encoder::new(sender, 64);
    let mut decoder = Decoder::new(receiver, limits);
    if let Some((snct, cnct, sbits, cbits)) = input.deflate {
        let params = DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: 9 + sbits % 7,
            client_max_window_bits: 9 + cbits % 7,
        };
        let config = DeflateConfig::default().with_threshold(0);
        encoder.set_compressor(params.compressor(sender, &config));
        decoder.set_decompressor(params.decompressor(receiver));
    }
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for (text, bytes) in input.messages {
        let message = if text {
            Message::Text(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Message::Binary(bytes)
        };
        sent.push(Event::Message(message.clone()));
        let mut head = Vec::new();
        match encoder.message(&mut head, message) {
            Payload::Separate(body) => {
                wire.extend_from_slice(&head);
                wire.extend_from_slice(&body);
            }
            Payload::Inline | Payload::AsIs => wire.extend_from_slice(&head),
        }
    }
    let decoded = decode_all(&mut decoder, &wire, &limits, Some(input.seed));
    assert_eq!(decoded.error, None);
    assert_eq!(decoded.events, sent);
});
