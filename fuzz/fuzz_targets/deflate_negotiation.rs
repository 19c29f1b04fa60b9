//! permessage-deflate negotiation (RFC 7692). Any offer: the server's
//! agreement stays within its configuration and its answer is one our
//! client accepts for that same offer when it is the offer our client
//! makes. Any answer: the client never panics, and accepts only what fits
//! its offer.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsengine::protocol::deflate::{
    DeflateParams, client_offer, negotiate_server, parse_server_answer,
};
use wsengine_fuzz::DeflateBits;

#[derive(Debug, Arbitrary)]
struct Input {
    server: DeflateBits,
    client: DeflateBits,
    /// Offers (server side) or answers (client side) of anyone's making.
    values: Vec<String>,
}

/// What each side does with an agreement (`server`'s and `client`'s view
/// of it) must work with what the other does: each inflates with a window
/// at least as large as the other compresses with (a compressor may always
/// use less than it announced), and nobody relies on a context the other
/// resets.
fn compatible(server: &DeflateParams, client: &DeflateParams) {
    assert!(
        client.server_max_window_bits >= server.server_max_window_bits,
        "{server:?} / {client:?}"
    );
    assert!(
        server.client_max_window_bits >= client.client_max_window_bits,
        "{server:?} / {client:?}"
    );
    assert!(!client.server_no_context_takeover || server.server_no_context_takeover);
    assert!(!server.client_no_context_takeover || client.client_no_context_takeover);
}

fuzz_target!(|input: Input| {
    let (Some(server), Some(client)) = (input.server.config(), input.client.config()) else {
        return;
    };
    let values = input.values.iter().map(String::as_str);
    if let Some((agreed, _answer)) = negotiate_server(&server, values.clone()) {
        assert!(server.enabled);
        assert!((8..=15).contains(&agreed.client_max_window_bits));
        assert!(agreed.server_max_window_bits <= server.server_max_window_bits.max(8));
        assert!(agreed.server_max_window_bits >= 8);
    }
    let _ = parse_server_answer(&client, values);

    // Our client's real offer: the server's answer must satisfy it.
    if let Some(offer) = client_offer(&client) {
        if let Some((agreed, answer)) = negotiate_server(&server, [offer.as_str()]) {
            let seen = parse_server_answer(&client, [answer.as_str()])
                .unwrap_or_else(|e| panic!("client refused {answer:?} to {offer:?}: {e}"))
                .expect("an agreement");
            compatible(&agreed, &seen);
        }
    }
});
