//! permessage-deflate (RFC 7692) through the decoder: the section 7.2.3
//! examples, RSV1 rules, context takeover, and the size limit while inflating.

use wsengine::DeflateConfig;
use wsengine::protocol::deflate::{Compressor, Decompressor};
use wsengine::protocol::{CloseCode, Decoder, DecoderLimits, Event, Message, ProtocolError, Role};

/// A client-side decoder (server frames are unmasked) that inflates with a
/// 15-bit window, resetting after each message if `reset`.
fn decoder(reset: bool, max_message_size: usize) -> Decoder {
    let limits = DecoderLimits {
        max_message_size,
        max_frame_size: max_message_size,
        ..DecoderLimits::default()
    };
    let mut d = Decoder::new(Role::Client, limits);
    d.set_decompressor(Decompressor::new(15, reset));
    d
}

/// Feed `bytes` in chunks of `chunk`, collecting events until an error.
fn run(d: &mut Decoder, bytes: &[u8], chunk: usize) -> Result<Vec<Event>, ProtocolError> {
    let mut events = Vec::new();
    for mut piece in bytes.chunks(chunk) {
        while !piece.is_empty() {
            let (used, ev) = d.decode(piece)?;
            piece = &piece[used..];
            events.extend(ev);
        }
    }
    Ok(events)
}

fn hello() -> Event {
    Event::Message(Message::Text("Hello".into()))
}

/// Every example of RFC 7692 section 7.2.3, fed whole and a byte at a time.
#[test]
fn rfc7692_7_2_3_examples() {
    let cases: &[(&str, &[u8])] = &[
        // 7.2.3.1: one compressed frame, and the same compressed payload fragmented.
        (
            "7.2.3.1",
            &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ),
        (
            "7.2.3.1 fragmented",
            &[
                0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
            ],
        ),
        // 7.2.3.3: a DEFLATE block with no compression.
        (
            "7.2.3.3",
            &[
                0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        ),
        // 7.2.3.4: a block with BFINAL set.
        (
            "7.2.3.4",
            &[0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        ),
        // 7.2.3.5: two DEFLATE blocks in one message.
        (
            "7.2.3.5",
            &[
                0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                0x00,
            ],
        ),
    ];
    for (name, bytes) in cases {
        for chunk in [bytes.len(), 1] {
            let got = run(&mut decoder(false, 1 << 20), bytes, chunk);
            assert_eq!(got, Ok(vec![hello()]), "{name}, chunks of {chunk}");
        }
    }
}

/// 7.2.3.2: the second message refers back into the first one's window.
#[test]
fn rfc7692_7_2_3_2_context_takeover() {
    let first = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let second = [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
    let both = [&first[..], &second[..]].concat();
    assert_eq!(
        run(&mut decoder(false, 1 << 20), &both, 3),
        Ok(vec![hello(), hello()])
    );
    // A peer that agreed to reset its context may not send this: the back
    // reference points before the start of the (reset) window.
    let err = run(&mut decoder(true, 1 << 20), &both, both.len()).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidCompressedData);
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn rsv1_is_only_for_the_first_frame_of_a_data_message() {
    let cases: &[(&str, &[u8])] = &[
        (
            "on a continuation",
            &[
                0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00,
            ],
        ),
        ("on a ping", &[0xc9, 0x00]),
        ("on a close", &[0xc8, 0x00]),
    ];
    for (name, bytes) in cases {
        let err = run(&mut decoder(false, 1 << 20), bytes, bytes.len()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::ReservedBits(_)),
            "{name}: {err:?}"
        );
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }
    // Without an agreement, RSV1 is reserved like RSV2 and RSV3.
    let mut plain = Decoder::new(Role::Client, DecoderLimits::default());
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(
        run(&mut plain, &frame, frame.len()),
        Err(ProtocolError::ReservedBits(0b100))
    );
    // RSV2/RSV3 stay reserved with the agreement too.
    let rsv2 = [0xa1, 0x00];
    assert!(matches!(
        run(&mut decoder(false, 1 << 20), &rsv2, 2),
        Err(ProtocolError::ReservedBits(_))
    ));
}

/// Uncompressed messages (RSV1 clear) stay valid after the agreement, and
/// interleave with compressed ones.
#[test]
fn uncompressed_messages_are_still_accepted() {
    let mut bytes = vec![0x81, 0x02, b'h', b'i'];
    bytes.extend_from_slice(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(
        run(&mut decoder(false, 1 << 20), &bytes, 5),
        Ok(vec![Event::Message(Message::Text("hi".into())), hello()])
    );
}

/// A frame of a few KiB that inflates to 16 MiB closes with 1009 once the
/// output passes the limit, without allocating the rest.
#[test]
fn a_decompression_bomb_closes_with_1009() {
    let config = DeflateConfig::default().with_level(9).with_threshold(0);
    let mut c = Compressor::new(15, false, &config);
    let mut payload = Vec::new();
    c.compress(&vec![b'a'; 16 << 20], &mut payload);
    assert!(payload.len() < 128 << 10, "compressed to {}", payload.len());
    let mut frame = vec![0xc2, 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&payload);
    let err = run(&mut decoder(false, 1 << 20), &frame, 16 << 10).unwrap_err();
    assert!(
        matches!(err, ProtocolError::MessageTooBig { max: 1048576, .. }),
        "{err:?}"
    );
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

/// Compressed text is validated after inflating: invalid UTF-8 is 1007.
#[test]
fn compressed_text_is_utf8_checked() {
    let config = DeflateConfig::default().with_threshold(0);
    let mut c = Compressor::new(15, false, &config);
    let mut payload = Vec::new();
    c.compress(b"ok \xff\xfe not utf-8", &mut payload);
    let mut frame = vec![0xc1, payload.len() as u8];
    frame.extend_from_slice(&payload);
    let err = run(&mut decoder(false, 1 << 20), &frame, frame.len()).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidUtf8);
}

/// Compressed bytes are bounded per message even when they inflate to
/// nothing (empty stored blocks), so a peer cannot keep one message going
/// forever: a little over the message limit, then 1009.
#[test]
fn compressed_bytes_are_bounded_even_when_they_inflate_to_nothing() {
    let empty_blocks: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(200); // 1000 bytes
    let mut d = decoder(false, 1024); // compressed bound: 1024 + 64 + 1024
    let mut first = vec![0x42, 126, 0x03, 0xe8]; // binary with RSV1, FIN clear, 1000 bytes
    first.extend_from_slice(&empty_blocks);
    let mut next = vec![0x00, 126, 0x03, 0xe8]; // continuation, 1000 bytes
    next.extend_from_slice(&empty_blocks);
    assert_eq!(run(&mut d, &first, 4096), Ok(vec![]));
    assert_eq!(run(&mut d, &next, 4096), Ok(vec![]));
    let err = run(&mut d, &next, 4096).unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::MessageTooBig {
                size: 3000,
                max: 1024
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
}
