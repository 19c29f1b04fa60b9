//! Negotiating permessage-deflate in `Sec-WebSocket-Extensions` (RFC 7692 section 7.1).

use super::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};

const NAME: &str = "permessage-deflate";

/// The parameters of one `permessage-deflate` element, each at most once.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// The elements of one or more header values (`a; x=1, b` is two elements).
fn elements<'a>(values: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// Split an element into its extension name and its parameters.
fn name_of(element: &str) -> (&str, std::str::Split<'_, char>) {
    let mut parts = element.split(';');
    let name = parts.next().unwrap_or("").trim();
    (name, parts)
}

/// A window-bits value: 8-15, decimal without leading zeros, optionally quoted.
fn window_bits(value: &str) -> Result<u8, String> {
    let v = value.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    match v.parse::<u8>() {
        Ok(n) if (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&n) && !v.starts_with('0') => Ok(n),
        _ => Err(format!("invalid window bits {value:?}")),
    }
}

/// Parse the parameters of a `permessage-deflate` element. `offer` allows
/// `client_max_window_bits` without a value. Unknown, repeated or
/// malformed parameters are errors (RFC 7692 section 7.1: such an offer is
/// declined, such an answer fails the handshake).
fn parse_params<'a>(params: impl Iterator<Item = &'a str>, offer: bool) -> Result<Params, String> {
    let mut p = Params::default();
    for param in params {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (param.trim(), None),
        };
        let dup = || Err(format!("{key} given twice"));
        match (key.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) => {
                if p.server_no_context_takeover {
                    return dup();
                }
                p.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) => {
                if p.client_no_context_takeover {
                    return dup();
                }
                p.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) => {
                if p.server_max_window_bits.is_some() {
                    return dup();
                }
                p.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) => {
                if p.client_max_window_bits.is_some() {
                    return dup();
                }
                let bits = match v {
                    Some(v) => Some(window_bits(v)?),
                    None if offer => None,
                    None => return Err("client_max_window_bits without a value".into()),
                };
                p.client_max_window_bits = Some(bits);
            }
            _ => return Err(format!("unexpected parameter {param:?}")),
        }
    }
    Ok(p)
}

/// Server: choose the first acceptable `permessage-deflate` offer in the
/// request's `Sec-WebSocket-Extensions` values and answer it.
///
/// Returns the agreement and the header value to send back, or `None`
/// (answer without the extension) when compression is disabled or no
/// offer is acceptable. Offers with unknown, repeated or invalid parameters
/// are declined, as RFC 7692 requires. The server honours what the client
/// asks of it (no context takeover, a smaller window), asks of the client
/// what `config` wants where the offer allows it, and compresses with at
/// most `config`'s window whether or not the client asked.
pub fn negotiate_server<'a>(
    config: &DeflateConfig,
    values: impl IntoIterator<Item = &'a str>,
) -> Option<(DeflateParams, String)> {
    if !config.enabled {
        return None;
    }
    elements(values).find_map(|element| {
        let (name, params) = name_of(element);
        if !name.eq_ignore_ascii_case(NAME) {
            return None;
        }
        let offer = parse_params(params, true).ok()?;
        let server_bits = offer
            .server_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(config.server_max_window_bits);
        // Without `client_max_window_bits` in the offer the client may not
        // be asked for a smaller window; we then inflate with a full one.
        let client_bits = match offer.client_max_window_bits {
            None => MAX_WINDOW_BITS,
            Some(v) => v
                .unwrap_or(MAX_WINDOW_BITS)
                .min(config.client_max_window_bits),
        };
        let agreed = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let mut answer = String::from(NAME);
        if agreed.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if agreed.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        // Only an offer with server_max_window_bits may get it back: some
        // clients refuse it otherwise. A smaller window than announced needs
        // no announcement (a full-size inflater reads it).
        if offer.server_max_window_bits.is_some() {
            answer.push_str(&format!("; server_max_window_bits={server_bits}"));
        }
        if client_bits < MAX_WINDOW_BITS {
            answer.push_str(&format!("; client_max_window_bits={client_bits}"));
        }
        Some((agreed, answer))
    })
}

/// Client: the `Sec-WebSocket-Extensions` value to offer, or `None` when
/// compression is disabled.
///
/// The offer always allows the server to limit our window
/// (`client_max_window_bits`, with our own limit when it is below 15), and
/// asks for what `config` wants of the server.
pub fn client_offer(config: &DeflateConfig) -> Option<String> {
    if !config.enabled {
        return None;
    }
    let mut offer = String::from(NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if config.server_max_window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!(
            "; server_max_window_bits={}",
            config.server_max_window_bits
        ));
    }
    if config.client_max_window_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!(
            "; client_max_window_bits={}",
            config.client_max_window_bits
        ));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    Some(offer)
}

/// Client: check the server's `Sec-WebSocket-Extensions` answer to our
/// offer from `config`.
///
/// `Ok(None)`: the server declined (no extension). An extension we did not
/// offer, a second element, an unknown or repeated parameter, or a window
/// larger than we asked for is an error: the handshake fails.
pub fn parse_server_answer<'a>(
    config: &DeflateConfig,
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, String> {
    let mut found = None;
    for element in elements(values) {
        let (name, params) = name_of(element);
        if !config.enabled || !name.eq_ignore_ascii_case(NAME) {
            return Err(format!(
                "server chose extension {name:?}, which was not offered"
            ));
        }
        if found.is_some() {
            return Err("server chose permessage-deflate twice".into());
        }
        found = Some(parse_params(params, false)?);
    }
    let Some(answer) = found else {
        return Ok(None);
    };
    let server_bits = answer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    if config.server_max_window_bits < MAX_WINDOW_BITS
        && server_bits > config.server_max_window_bits
    {
        return Err(format!(
            "server_max_window_bits={server_bits} exceeds the {} we asked for",
            config.server_max_window_bits
        ));
    }
    // The server may only lower our window; we never use more than our own limit.
    let client_bits = answer
        .client_max_window_bits
        .flatten()
        .unwrap_or(MAX_WINDOW_BITS)
        .min(config.client_max_window_bits);
    Ok(Some(DeflateParams {
        server_no_context_takeover: answer.server_no_context_takeover,
        client_no_context_takeover: answer.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> DeflateConfig {
        DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            ..DeflateConfig::default()
        }
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    /// (offer header, server config, expected answer header or None).
    #[test]
    fn server_negotiation_table() {
        let small = DeflateConfig::default(); // 12 / 12
        let nct = DeflateConfig {
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..full()
        };
        let cases: &[(&str, &DeflateConfig, Option<&str>)] = &[
            ("permessage-deflate", &full(), Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                &full(),
                Some("permessage-deflate"),
            ),
            // What browsers send, to a server with the default small windows:
            // the client is limited; our own smaller window goes unannounced.
            (
                "permessage-deflate; client_max_window_bits",
                &small,
                Some("permessage-deflate; client_max_window_bits=12"),
            ),
            // The client cannot be limited unless it offers client_max_window_bits.
            ("permessage-deflate", &small, Some("permessage-deflate")),
            (
                "permessage-deflate; server_max_window_bits=14",
                &small,
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                &full(),
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"9\"",
                &full(),
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                &full(),
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                &nct,
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            // Declined: unknown, repeated or invalid parameters; other extensions.
            ("permessage-deflate; foo", &full(), None),
            ("permessage-deflate; server_max_window_bits", &full(), None),
            (
                "permessage-deflate; server_max_window_bits=16",
                &full(),
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                &full(),
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                &full(),
                None,
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                &full(),
                None,
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                &full(),
                None,
            ),
            ("x-webkit-deflate-frame", &full(), None),
            // The first acceptable offer wins.
            (
                "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=11, permessage-deflate",
                &full(),
                Some("permessage-deflate; server_max_window_bits=11"),
            ),
            (
                "foo, permessage-deflate; client_no_context_takeover",
                &full(),
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            ("permessage-deflate", &DeflateConfig::disabled(), None),
        ];
        for (offer, config, expected) in cases {
            let got = negotiate_server(config, [*offer]).map(|(_, answer)| answer);
            assert_eq!(got.as_deref(), *expected, "offer {offer:?}");
        }
    }

    #[test]
    fn offers_may_span_several_header_lines() {
        let got = negotiate_server(
            &full(),
            ["foo; a=1", "permessage-deflate; client_max_window_bits=10"],
        );
        let (agreed, answer) = got.expect("accepted");
        assert_eq!(agreed, params(false, false, 15, 10));
        assert_eq!(answer, "permessage-deflate; client_max_window_bits=10");
    }

    #[test]
    fn an_eight_bit_window_is_agreed_and_then_never_compressed_with() {
        let (agreed, answer) =
            negotiate_server(&full(), ["permessage-deflate; server_max_window_bits=8"]).unwrap();
        assert_eq!(answer, "permessage-deflate; server_max_window_bits=8");
        assert!(
            agreed
                .compressor(super::super::Role::Server, &full())
                .is_none()
        );
        assert!(
            agreed
                .compressor(super::super::Role::Client, &full())
                .is_some()
        );
    }

    #[test]
    fn client_offers() {
        assert_eq!(
            client_offer(&full()).as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
        assert_eq!(
            client_offer(&DeflateConfig::default()).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
        );
        let nct = DeflateConfig {
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..full()
        };
        assert_eq!(
            client_offer(&nct).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
            )
        );
        assert_eq!(client_offer(&DeflateConfig::disabled()), None);
    }

    #[test]
    fn client_checks_the_answer() {
        let ok = |cfg: &DeflateConfig, answer: &str| parse_server_answer(cfg, [answer]);
        assert_eq!(ok(&full(), ""), Ok(None));
        assert_eq!(
            ok(&full(), "permessage-deflate"),
            Ok(Some(params(false, false, 15, 15)))
        );
        assert_eq!(
            ok(
                &full(),
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
            ),
            Ok(Some(params(true, false, 15, 9)))
        );
        // A server may announce a smaller window than we asked for, never a larger one.
        assert_eq!(
            ok(
                &DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=10"
            ),
            Ok(Some(params(false, false, 10, 12)))
        );
        assert!(
            ok(
                &DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=13"
            )
            .is_err()
        );
        assert!(ok(&full(), "permessage-deflate; client_max_window_bits").is_err());
        assert!(ok(&full(), "permessage-deflate; what").is_err());
        assert!(ok(&full(), "permessage-deflate, permessage-deflate").is_err());
        assert!(ok(&full(), "x-other").is_err());
        assert!(ok(&DeflateConfig::disabled(), "permessage-deflate").is_err());
    }

    #[test]
    fn agreed_windows_size_both_codecs() {
        let agreed = params(false, true, 10, 11);
        let server_in = agreed.decompressor(super::super::Role::Server);
        assert_eq!(server_in.window_bits(), 11);
        let client_in = agreed.decompressor(super::super::Role::Client);
        assert_eq!(client_in.window_bits(), 10);
    }
}
