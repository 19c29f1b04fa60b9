//! Proxies: proxy URLs, `no_proxy` lists, an HTTP proxy's answer to
//! `CONNECT` and a SOCKS5 proxy's replies, from any bytes. The first byte
//! picks which; the rest is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsengine::protocol::proxy::{self, ConnectReply, ProxyUrl};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(url) = ProxyUrl::parse(text) else {
                return;
            };
            // A usable proxy: a clean host, a port, and a password that
            // never shows.
            assert!(!url.host.is_empty() && url.port != 0);
            assert!(!url.host.bytes().any(|b| b.is_ascii_control() || b == b' '));
            let shown = url.to_string();
            if let Some((user, password)) = &url.credentials {
                assert!(shown.contains(":***@"), "{shown}");
                assert!(user.len() <= 255 && password.len() <= 255);
                // The CONNECT request's only line from the credentials is
                // base64: nothing from them can start a header.
                let request = proxy::connect_request(
                    "h",
                    1,
                    Some((user, password))
                        .map(|(u, p)| (u.clone(), p.clone()))
                        .as_ref(),
                );
                assert_eq!(request.iter().filter(|&&b| b == b'\n').count(), 4);
            }
        }
        1 => {
            // A no_proxy list and a host, split at the first NUL.
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let (list, host) = text.split_once('\0').unwrap_or((text, "example.com"));
            let port = u16::from(which);
            let bypassed = proxy::bypasses_proxy(list, host, port);
            // `*` anywhere in the list bypasses everything.
            if list.split(',').any(|e| e.trim() == "*") {
                assert!(bypassed);
            }
        }
        2 => match proxy::parse_connect_reply(rest) {
            Ok(ConnectReply::Open { len }) => assert!(len <= rest.len()),
            Ok(ConnectReply::Refused { status, .. }) => assert!(!(200..300).contains(&status)),
            Ok(ConnectReply::Partial) | Err(_) => {}
        },
        _ => {
            if rest.len() < 7 {
                return;
            }
            let _ = proxy::socks5_chosen_method([rest[0], rest[1]], rest[2] & 1 == 1);
            let head = [rest[2], rest[3], rest[4], rest[5], rest[6]];
            if let Ok(len) = proxy::socks5_reply_len(head) {
                // The engine reads `len - 5` more bytes: never negative.
                assert!(len >= head.len());
            }
            let _ = proxy::socks5_reply_code(head);
        }
    }
});
