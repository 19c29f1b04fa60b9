//! The frame decoder as a client reads a server's frames (unmasked), with
//! limits from the first byte and piece sizes from the second; the same
//! bytes decoded whole and in pieces must give the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::{Decoder, Role};
use wsengine_fuzz::{decode_both_ways, limits};

fuzz_target!(|data: &[u8]| {
    let [l, seed, stream @ ..] = data else { return };
    let limits = limits(*l);
    decode_both_ways(
        || Decoder::new(Role::Client, limits),
        stream,
        &limits,
        u32::from(*seed),
    );
});
