//! `ws://` and `wss://` URL parsing: no panic on any text, and a URL it
//! accepts is one it reads back the same from its parts (host header and
//! resource), with nothing in them that could break the request line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::handshake::WsUrl;

fuzz_target!(|text: &str| {
    let Ok(url) = WsUrl::parse(text) else { return };
    assert!(!url.host.is_empty());
    assert!(url.resource.starts_with('/'), "{:?}", url.resource);
    let unsafe_char = |c: char| c.is_ascii_control() || c == ' ';
    assert!(!url.host.chars().any(unsafe_char), "{:?}", url.host);
    assert!(!url.resource.chars().any(unsafe_char), "{:?}", url.resource);
    let host = url.host_header();
    let scheme = if url.secure { "wss" } else { "ws" };
    let again = WsUrl::parse(&format!("{scheme}://{host}{}", url.resource))
        .unwrap_or_else(|e| panic!("{text:?} parsed, its parts did not: {e}"));
    assert_eq!(again, url);
});
