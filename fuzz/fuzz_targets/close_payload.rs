//! Close frame payloads: a payload accepted carries a code allowed on the
//! wire and a UTF-8 reason, and encodes back to a payload that parses to
//! the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::CloseFrame;

fuzz_target!(|data: &[u8]| {
    // A control frame's payload is at most 125 bytes (the decoder refuses
    // longer ones before this parser sees them; `payload` truncates the
    // reason to fit).
    if data.len() > 125 {
        return;
    }
    match CloseFrame::parse(data) {
        Ok(None) => assert!(data.is_empty()),
        Ok(Some(frame)) => {
            assert!(frame.code.is_valid_on_wire());
            let again = CloseFrame::parse(&frame.payload()).expect("our own payload");
            assert_eq!(again, Some(frame));
        }
        Err(_) => assert!(!data.is_empty()),
    }
});
