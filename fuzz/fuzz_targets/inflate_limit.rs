//! The inflater alone: whatever the input, the output never passes the
//! limit, and a message that would is refused (never a panic, never more
//! memory than the limit). The first two bytes give the window bits, the
//! reset rule and the limit; messages and their pieces are cut from the
//! rest by a generator seeded with them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::deflate::Decompressor;
use wsengine_fuzz::Pieces;

fuzz_target!(|data: &[u8]| {
    let [setup, limit_bits, rest @ ..] = data else {
        return;
    };
    let window_bits = 8 + (setup & 7);
    let reset = setup & 8 != 0;
    let limit = 1usize << (limit_bits % 20);
    let mut inflater = Decompressor::new(window_bits, reset);
    let mut pieces = Pieces::new(u32::from(*setup) << 8 | u32::from(*limit_bits));
    let mut rest = rest;
    while !rest.is_empty() {
        // One message of up to 256 bytes of input, fed in up to three pieces.
        let len = 1 + (pieces.next() as usize % 256).min(rest.len() - 1);
        let (mut message, after) = rest.split_at(len);
        rest = after;
        let mut out = Vec::new();
        let mut failed = false;
        while !message.is_empty() {
            let n = 1 + (pieces.next() as usize % message.len());
            if inflater.inflate(&message[..n], &mut out, limit).is_err() {
                failed = true;
                break;
            }
            assert!(
                out.len() <= limit,
                "{} bytes out under a {limit} limit",
                out.len()
            );
            message = &message[n..];
        }
        if failed {
            // The engine drops the connection: the inflater is not used again.
            return;
        }
        if inflater.finish_message(&mut out, limit).is_err() {
            return;
        }
        assert!(
            out.len() <= limit,
            "{} bytes out under a {limit} limit",
            out.len()
        );
    }
});
