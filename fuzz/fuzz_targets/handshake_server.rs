//! The server's side of the opening handshake: request parsing, plain
//! HTTP routing, origin and host rules, subprotocol and permessage-deflate
//! agreement.
//!
//! Two kinds of input. Raw bytes: parsing and every decision on what it
//! parsed must not panic, and every answer must be one well-formed HTTP
//! response. A request our own client would send (built from fuzzer-chosen
//! parts): when the server accepts it, our client must accept the server's
//! 101 and agree with it on the subprotocol and on compression, so the two
//! sides can never disagree about what a connection speaks.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsengine::protocol::handshake::server::{accept, host_allowed, parse_request};
use wsengine::protocol::handshake::{ClientHandshake, ClientRequest, OriginPolicy, ServerOptions};
use wsengine::protocol::http::Routes;
use wsengine_fuzz::DeflateBits;

#[derive(Debug, Arbitrary)]
enum Input {
    Raw {
        bytes: Vec<u8>,
        server: Server,
    },
    Ours {
        host: String,
        resource: String,
        subprotocols: Vec<String>,
        headers: Vec<(String, String)>,
        deflate: DeflateBits,
        key: [u8; 16],
        server: Server,
    },
}

#[derive(Debug, Arbitrary)]
struct Server {
    subprotocols: Vec<String>,
    origins: Option<Vec<String>>,
    deflate: DeflateBits,
    allowed_hosts: Vec<String>,
    max_bytes: u16,
}

/// An HTTP response: a status line, header lines, one blank line.
fn well_formed(response: &[u8]) {
    let text = std::str::from_utf8(response).expect("responses are text");
    assert!(text.starts_with("HTTP/1.1 "), "{text:?}");
    let end = text.find("\r\n\r\n").expect("a blank line ends the head");
    let head = &text[..end];
    assert!(
        !head
            .split("\r\n")
            .any(|line| line.contains('\r') || line.contains('\n')),
        "a bare CR or LF in the head: {head:?}"
    );
}

fuzz_target!(|input: Input| {
    let (bytes, server, ours) = match input {
        Input::Raw { bytes, server } => (bytes, server, None),
        Input::Ours {
            host,
            resource,
            subprotocols,
            headers,
            deflate,
            key,
            server,
        } => {
            let Some(deflate) = deflate.config() else {
                return;
            };
            let request = ClientRequest {
                host,
                resource,
                subprotocols,
                headers,
                deflate,
            };
            let Ok((client, bytes)) = ClientHandshake::new(&request, key) else {
                return;
            };
            (bytes, server, Some(client))
        }
    };
    let Some(deflate) = server.deflate.config() else {
        return;
    };
    let origins = match server.origins {
        None => OriginPolicy::SameHost,
        Some(list) => OriginPolicy::Allow(list),
    };
    let options = ServerOptions {
        subprotocols: &server.subprotocols,
        origins: &origins,
        deflate: &deflate,
    };
    let max = usize::from(server.max_bytes).max(1);
    let (request, used) = match parse_request(&bytes, max) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            assert!(bytes.len() < max, "incomplete past the limit");
            return;
        }
        Err(e) => {
            assert!((400..600).contains(&e.status()));
            well_formed(&e.response());
            return;
        }
    };
    assert!(used <= bytes.len() && used <= max);
    if let Some(host) = request.header("host") {
        let _ = host_allowed(host, &server.allowed_hosts);
    }
    let mut routes = Routes::default();
    routes.add("/health.txt", "text/plain", &b"ok"[..]);
    let _ = routes.decide(&request);
    match accept(request, &options) {
        Ok(accepted) => {
            well_formed(&accepted.response);
            if let Some(client) = ours {
                let (response, _) = client
                    .parse_response(&accepted.response, 1 << 16)
                    .expect("our client refused our server's 101")
                    .expect("a complete response");
                assert_eq!(response.subprotocol, accepted.subprotocol);
                // Compression: both or neither, and each inflates with at
                // least the window the other compresses with (a compressor
                // may use less than it announced), relying on no context
                // the other resets.
                assert_eq!(response.deflate.is_some(), accepted.deflate.is_some());
                if let (Some(server), Some(client)) = (&accepted.deflate, &response.deflate) {
                    assert!(client.server_max_window_bits >= server.server_max_window_bits);
                    assert!(server.client_max_window_bits >= client.client_max_window_bits);
                    assert!(
                        !client.server_no_context_takeover || server.server_no_context_takeover
                    );
                    assert!(
                        !server.client_no_context_takeover || client.client_no_context_takeover
                    );
                }
            }
        }
        Err(e) => {
            assert!((400..600).contains(&e.status()));
            well_formed(&e.response());
        }
    }
});
