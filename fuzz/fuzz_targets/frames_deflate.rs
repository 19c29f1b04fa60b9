//! The frame decoder with permessage-deflate agreed: compressed messages
//! inflated under the message limit. First byte: limits; second: piece
//! sizes; third: role (bit 0), the peer's window bits (8-15, bits 1-3) and
//! whether it resets its context after each message (bit 4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::deflate::Decompressor;
use wsengine::protocol::{Decoder, Role};
use wsengine_fuzz::{decode_both_ways, limits};

fuzz_target!(|data: &[u8]| {
    let [l, seed, setup, stream @ ..] = data else {
        return;
    };
    let limits = limits(*l);
    let role = if setup & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let window_bits = 8 + ((setup >> 1) & 7);
    let reset = setup & 0x10 != 0;
    let make = || {
        let mut decoder = Decoder::new(role, limits);
        decoder.set_decompressor(Decompressor::new(window_bits, reset));
        decoder
    };
    decode_both_ways(make, stream, &limits, u32::from(*seed));
});
