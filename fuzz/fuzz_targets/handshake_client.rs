//! The client's reading of the server's answer to its upgrade request.
//! Raw bytes, or a 101 with the right accept key and fuzzer-chosen
//! subprotocol and extension answers (raw bytes would almost never carry
//! the key). Whatever it accepts must be what it offered: a subprotocol
//! from its list, compression only if offered, within the offered windows.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsengine::protocol::handshake::{ClientHandshake, ClientRequest, accept_key};
use wsengine_fuzz::DeflateBits;

#[derive(Debug, Arbitrary)]
struct Input {
    subprotocols: Vec<String>,
    deflate: DeflateBits,
    key: [u8; 16],
    answer: Answer,
}

#[derive(Debug, Arbitrary)]
enum Answer {
    Raw(Vec<u8>),
    Built {
        status: u16,
        headers: Vec<(String, String)>,
        protocol: Option<String>,
        extensions: Vec<String>,
        tail: Vec<u8>,
    },
}

fuzz_target!(|input: Input| {
    let Some(deflate) = input.deflate.config() else {
        return;
    };
    let request = ClientRequest {
        host: "example.com".into(),
        resource: "/chat".into(),
        subprotocols: input.subprotocols,
        headers: Vec::new(),
        deflate: deflate.clone(),
    };
    let Ok((client, _)) = ClientHandshake::new(&request, input.key) else {
        return;
    };
    let bytes = match input.answer {
        Answer::Raw(bytes) => bytes,
        Answer::Built {
            status,
            headers,
            protocol,
            extensions,
            tail,
        } => {
            use base64::Engine as _;
            let key = base64::engine::general_purpose::STANDARD.encode(input.key);
            let mut out = format!(
                "HTTP/1.1 {status} Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
                accept_key(key.as_bytes())
            );
            if let Some(p) = protocol {
                out.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
            }
            for e in extensions {
                out.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
            }
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&tail);
            bytes
        }
    };
    let Ok(Some((response, used))) = client.parse_response(&bytes, 1 << 14) else {
        return;
    };
    assert!(used <= bytes.len());
    if let Some(p) = &response.subprotocol {
        assert!(request.subprotocols.contains(p), "{p:?} was not offered");
    }
    if let Some(agreed) = &response.deflate {
        assert!(deflate.enabled, "compression agreed without an offer");
        // Never more window than we compress with, nor than we asked of the server.
        assert!((8..=deflate.client_max_window_bits).contains(&agreed.client_max_window_bits));
        assert!((8..=15).contains(&agreed.server_max_window_bits));
        if deflate.server_max_window_bits < 15 {
            assert!(agreed.server_max_window_bits <= deflate.server_max_window_bits);
        }
        if deflate.client_no_context_takeover {
            assert!(agreed.client_no_context_takeover);
        }
    }
});
