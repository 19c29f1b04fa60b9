//! Known answers from RFC 6455 and one test per decoder rule.

use wsengine::protocol::{
    CloseCode, CloseFrame, Decoder, DecoderLimits, Event, Message, ProtocolError, Role,
    encoder::write_message,
};

/// Decode all of `bytes` as `role`, collecting events until the first error.
fn decode_all(
    role: Role,
    limits: DecoderLimits,
    mut bytes: &[u8],
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut d = Decoder::new(role, limits);
    let mut events = Vec::new();
    while !bytes.is_empty() {
        match d.decode(bytes) {
            Ok((used, ev)) => {
                bytes = &bytes[used..];
                events.extend(ev);
            }
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn decode_ok(role: Role, bytes: &[u8]) -> Vec<Event> {
    let (events, err) = decode_all(role, DecoderLimits::default(), bytes);
    assert_eq!(err, None);
    events
}

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.into()))
}

#[test]
fn rfc6455_5_7_single_frame_unmasked_text() {
    assert_eq!(
        decode_ok(Role::Client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
        vec![text("Hello")]
    );
}

#[test]
fn rfc6455_5_7_single_frame_masked_text() {
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode_ok(Role::Server, &frame), vec![text("Hello")]);
}

#[test]
fn rfc6455_5_7_fragmented_unmasked_text() {
    let frames = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(decode_ok(Role::Client, &frames), vec![text("Hello")]);
}

#[test]
fn rfc6455_5_7_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_ok(Role::Client, &ping),
        vec![Event::Ping(b"Hello".to_vec())]
    );
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_ok(Role::Server, &pong),
        vec![Event::Pong(b"Hello".to_vec())]
    );
}

#[test]
fn rfc6455_5_7_256_bytes_and_64_kib_binary() {
    let mut frame = vec![0x82, 0x7e, 0x01, 0x00];
    frame.extend(std::iter::repeat_n(0xab, 256));
    assert_eq!(
        decode_ok(Role::Client, &frame),
        vec![Event::Message(Message::Binary(vec![0xab; 256]))]
    );
    let mut frame = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    frame.extend(std::iter::repeat_n(0xcd, 65536));
    assert_eq!(
        decode_ok(Role::Client, &frame),
        vec![Event::Message(Message::Binary(vec![0xcd; 65536]))]
    );
}

#[test]
fn our_encoder_produces_the_rfc_bytes() {
    let mut out = Vec::new();
    write_message(&mut out, &Message::Text("Hello".into()), None);
    assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    out.clear();
    write_message(
        &mut out,
        &Message::Text("Hello".into()),
        Some([0x37, 0xfa, 0x21, 0x3d]),
    );
    assert_eq!(
        out,
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
}

#[test]
fn control_frames_may_interleave_with_fragments() {
    // "Hel" ... ping ... "lo"
    let frames = [
        0x01, 0x03, b'H', b'e', b'l', 0x89, 0x01, b'!', 0x80, 0x02, b'l', b'o',
    ];
    assert_eq!(
        decode_ok(Role::Client, &frames),
        vec![Event::Ping(b"!".to_vec()), text("Hello")]
    );
}

#[test]
fn close_frames_and_codes() {
    assert_eq!(
        decode_ok(Role::Client, &[0x88, 0x00]),
        vec![Event::Close(None)]
    );
    let close = [0x88, 0x04, 0x03, 0xe8, b'o', b'k'];
    assert_eq!(
        decode_ok(Role::Client, &close),
        vec![Event::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "ok".into()
        }))]
    );
    // Everything after the close frame is ignored.
    let mut after = close.to_vec();
    after.extend_from_slice(&[0x81, 0x01, b'x']);
    assert_eq!(decode_ok(Role::Client, &after).len(), 1);
}

fn expect_error(role: Role, bytes: &[u8], want: ProtocolError, code: u16) {
    let (_, err) = decode_all(role, DecoderLimits::default(), bytes);
    assert_eq!(err.as_ref(), Some(&want));
    assert_eq!(want.close_code(), CloseCode(code));
}

#[test]
fn each_rule_fails_with_its_close_code() {
    use ProtocolError as E;
    expect_error(Role::Server, &[0x81, 0x01, b'x'], E::UnmaskedFrame, 1002);
    expect_error(
        Role::Client,
        &[0x81, 0x81, 0, 0, 0, 0, b'x'],
        E::MaskedFrame,
        1002,
    );
    expect_error(Role::Client, &[0xc1, 0x00], E::ReservedBits(0b100), 1002);
    expect_error(Role::Client, &[0x83, 0x00], E::ReservedOpcode(3), 1002);
    expect_error(Role::Client, &[0x09, 0x00], E::FragmentedControlFrame, 1002);
    let mut long_ping = vec![0x89, 0x7e, 0x00, 0x7e];
    long_ping.extend([0; 126]);
    expect_error(Role::Client, &long_ping, E::ControlFrameTooLong(126), 1002);
    expect_error(Role::Client, &[0x80, 0x00], E::UnexpectedContinuation, 1002);
    expect_error(
        Role::Client,
        &[0x01, 0x01, b'a', 0x81, 0x00],
        E::ExpectedContinuation,
        1002,
    );
    expect_error(
        Role::Client,
        &[0x88, 0x01, 0x03],
        E::InvalidClosePayload,
        1002,
    );
    expect_error(
        Role::Client,
        &[0x88, 0x02, 0x03, 0xed],
        E::InvalidCloseCode(1005),
        1002,
    );
    expect_error(
        Role::Client,
        &[0x88, 0x03, 0x03, 0xe8, 0xff],
        E::InvalidUtf8,
        1007,
    );
    expect_error(
        Role::Client,
        &[0x81, 0x02, 0xc3, 0x28],
        E::InvalidUtf8,
        1007,
    );
}

#[test]
fn invalid_utf8_fails_in_the_frame_it_arrives_in() {
    // First fragment already holds an invalid sequence: the error comes
    // before the message (or even that frame) is complete.
    let partial = [0x01, 0x7e, 0x10, 0x00, b'a', 0xed, 0xa0];
    let (_, err) = decode_all(Role::Client, DecoderLimits::default(), &partial);
    assert_eq!(err, Some(ProtocolError::InvalidUtf8));
    // A character split across fragments is fine.
    let split = [0x01, 0x01, 0xc3, 0x80, 0x01, 0xa9];
    assert_eq!(decode_ok(Role::Client, &split), vec![text("é")]);
}

#[test]
fn limits_are_enforced_from_the_header_before_any_payload() {
    let limits = DecoderLimits {
        max_message_size: 1000,
        max_frame_size: 500,
        accept_unmasked_frames: false,
    };
    // A header announcing 600 bytes: too big, with no payload sent at all.
    let (_, err) = decode_all(Role::Client, limits, &[0x82, 0x7e, 0x02, 0x58]);
    assert_eq!(
        err,
        Some(ProtocolError::FrameTooBig {
            size: 600,
            max: 500
        })
    );
    // Three fragments of 400: the third takes the message past 1000.
    let mut frames = Vec::new();
    for (i, op) in [0x02u8, 0x00, 0x00].into_iter().enumerate() {
        frames.extend_from_slice(&[op, 0x7e, 0x01, 0x90]);
        if i < 2 {
            frames.extend([0u8; 400]);
        }
    }
    let (_, err) = decode_all(Role::Client, limits, &frames);
    assert_eq!(
        err,
        Some(ProtocolError::MessageTooBig {
            size: 1200,
            max: 1000
        })
    );
    assert_eq!(err.unwrap().close_code(), CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn unmasked_frames_can_be_allowed_explicitly() {
    let limits = DecoderLimits {
        accept_unmasked_frames: true,
        ..DecoderLimits::default()
    };
    let (events, err) = decode_all(Role::Server, limits, &[0x81, 0x01, b'x']);
    assert_eq!((events, err), (vec![text("x")], None));
}

/// Finding 8 of issue 14: `payload_sink` handed out the message's whole
/// buffer, so safe code could change bytes already validated as UTF-8 and
/// get a `Message::Text` holding invalid UTF-8. Now it hands out only fresh
/// room after them; what goes there is validated like anything decoded.
#[test]
fn the_payload_sink_gives_only_fresh_room_and_validates_it() {
    // An unmasked 16-byte text frame, as a client receives it.
    let header = [0x81, 16];
    let mut d = Decoder::new(Role::Client, DecoderLimits::default());
    assert_eq!(d.decode(&header).unwrap(), (2, None));
    assert_eq!(d.decode(b"valid ").unwrap(), (6, None));
    assert_eq!(d.payload_remaining(), Some(10));
    let room = d.payload_sink(1 << 20).unwrap();
    assert_eq!(room.len(), 10, "room for the rest of the frame only");
    assert!(room.iter().all(|&b| b == 0), "the room is fresh, zeroed");
    room[..4].copy_from_slice(b"text");
    assert_eq!(d.payload_appended(4).unwrap(), None);
    // Room given and not reported is dropped by the next decode.
    d.payload_sink(6).unwrap().fill(b'!');
    assert_eq!(d.decode(b", and").unwrap(), (5, None));
    let room = d.payload_sink(64).unwrap();
    assert_eq!(room.len(), 1);
    room[0] = b'.';
    assert_eq!(
        d.payload_appended(1).unwrap(),
        Some(text("valid text, and."))
    );

    // Room is kept between direct reads (zeroed once): what was written
    // there and not reported never becomes payload.
    let mut d = Decoder::new(Role::Client, DecoderLimits::default());
    d.decode(&[0x82, 6]).unwrap();
    d.payload_sink(6).unwrap().fill(b'x');
    assert_eq!(d.payload_appended(2).unwrap(), None);
    let room = d.payload_sink(6).unwrap();
    assert_eq!(room.len(), 4, "the rest of the frame");
    room.copy_from_slice(b"yyyy");
    assert_eq!(
        d.payload_appended(4).unwrap(),
        Some(Event::Message(Message::Binary(b"xxyyyy".to_vec())))
    );

    // Invalid UTF-8 written into the room is caught as if decoded.
    let mut d = Decoder::new(Role::Client, DecoderLimits::default());
    d.decode(&[0x81, 4]).unwrap();
    d.payload_sink(4)
        .unwrap()
        .copy_from_slice(&[b'o', b'k', 0xff, 0xfe]);
    assert_eq!(d.payload_appended(4), Err(ProtocolError::InvalidUtf8));
}
