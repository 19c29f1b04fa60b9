//! Client side of the upgrade: `ws://` URLs, the request, and checking the answer.

use base64::Engine;

use super::{
    HandshakeError, MAX_HEADERS, accept_key, has_token, head_status, header_values, owned_headers,
};
use crate::protocol::deflate::{self, DeflateConfig, DeflateParams};

/// A parsed `ws[s]://host[:port][/path][?query]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: the connection runs over TLS.
    pub secure: bool,
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The port (80 for `ws://`, 443 for `wss://` when absent).
    pub port: u16,
    /// Path and query as sent in the request line (at least `/`).
    pub resource: String,
}

/// `host[:port]` or `[v6]:port` into its host (IPv6 without brackets) and
/// port (`default_port` when absent). A name or an IPv4 address may hold
/// only the characters RFC 3986 allows in a host (control characters would
/// reach the Host header and the resolver); an IPv6 address in brackets
/// must be one. Port 0 is refused. Shared with proxy URLs.
pub(crate) fn split_authority(authority: &str, default_port: u16) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unterminated IPv6 address")?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or("junk after IPv6 address")?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    let bracketed = authority.starts_with('[');
    if bracketed && host.parse::<core::net::Ipv6Addr>().is_err() {
        return Err(format!("not an IPv6 address: [{host}]"));
    }
    if !bracketed
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
    {
        return Err(format!("characters not allowed in a host: {host:?}"));
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse() {
            Ok(0) | Err(_) => return Err(format!("bad port {p:?}")),
            Ok(p) => p,
        },
    };
    Ok((host, port))
}

impl WsUrl {
    /// Parse a `ws://` or `wss://` URL. User info, fragments and anything
    /// that is not a URL are refused.
    pub fn parse(url: &str) -> Result<WsUrl, String> {
        let (secure, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("wss") => (true, rest),
            _ => return Err(format!("not a ws:// or wss:// URL: {url:?}")),
        };
        if rest.contains('#') {
            return Err("fragments are not allowed in WebSocket URLs".into());
        }
        let (authority, resource) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err("user info is not supported in WebSocket URLs".into());
        }
        let (host, port) = split_authority(authority, if secure { 443 } else { 80 })?;
        if resource.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("spaces or control characters in the path".into());
        }
        Ok(WsUrl {
            secure,
            host: host.to_owned(),
            port,
            resource,
        })
    }

    /// The `Host` header value: host, with brackets for IPv6, and the port
    /// when it is not the scheme's default (80, or 443 for `wss://`).
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.secure { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What a client asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientRequest {
    /// The `Host` header value.
    pub host: String,
    /// Path and query (the request target).
    pub resource: String,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
    /// Extra header lines (name, value), e.g. `Origin` or `Authorization`.
    pub headers: Vec<(String, String)>,
    /// What to offer of permessage-deflate (nothing when disabled).
    pub deflate: DeflateConfig,
}

/// The server's validated answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The subprotocol the server chose, if any (always one we offered).
    pub subprotocol: Option<String>,
    /// Every header line of the response.
    pub headers: Vec<(String, String)>,
    /// The permessage-deflate agreement, if the server accepted our offer.
    pub deflate: Option<DeflateParams>,
}

/// The state a client keeps between sending the request and reading the answer.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    expected_accept: String,
    offered: Vec<String>,
    deflate: DeflateConfig,
}

impl ClientHandshake {
    /// Build the upgrade request for `request`, with `key` (16 bytes from a
    /// strong random source) as the Sec-WebSocket-Key.
    ///
    /// Header names and values with CR, LF or NUL, and subprotocol names
    /// that are not plain tokens, are refused so they cannot inject lines.
    pub fn new(
        request: &ClientRequest,
        key: [u8; 16],
    ) -> Result<(ClientHandshake, Vec<u8>), String> {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let bad = |s: &str| s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        let mut out = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            request.resource, request.host
        );
        if bad(&request.resource) || bad(&request.host) {
            return Err("CR or LF in the request target or host".into());
        }
        if !request.subprotocols.is_empty() {
            let token = |p: &String| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            };
            if !request.subprotocols.iter().all(token) {
                return Err("subprotocol names must be HTTP tokens".into());
            }
            out.push_str("Sec-WebSocket-Protocol: ");
            out.push_str(&request.subprotocols.join(", "));
            out.push_str("\r\n");
        }
        if let Some(offer) = deflate::client_offer(&request.deflate) {
            out.push_str("Sec-WebSocket-Extensions: ");
            out.push_str(&offer);
            out.push_str("\r\n");
        }
        for (name, value) in &request.headers {
            if name.is_empty() || bad(name) || bad(value) || name.contains(':') {
                return Err(format!("invalid header {name:?}"));
            }
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let hs = ClientHandshake {
            expected_accept: accept_key(key.as_bytes()),
            offered: request.subprotocols.clone(),
            deflate: request.deflate.clone(),
        };
        Ok((hs, out.into_bytes()))
    }

    /// Parse and validate the response head at the start of `buf`.
    ///
    /// `Ok(None)` while incomplete; `Ok(Some((response, n)))` when valid,
    /// where bytes after `n` are already WebSocket frames. A non-101 status is
    /// [`HandshakeError::Refused`]; a bad accept key, a subprotocol we did not
    /// offer, or an extension answer that does not fit our offer is
    /// [`HandshakeError::InvalidResponse`].
    pub fn parse_response(
        &self,
        buf: &[u8],
        max_bytes: usize,
    ) -> Result<Option<(Response, usize)>, HandshakeError> {
        let window = &buf[..buf.len().min(max_bytes)];
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let parsed = resp.parse(window);
        let Some(n) = head_status(parsed, buf.len(), max_bytes, |e| {
            HandshakeError::InvalidResponse(e.to_string())
        })?
        else {
            return Ok(None);
        };
        let invalid = |why: &str| HandshakeError::InvalidResponse(why.to_owned());
        let headers = owned_headers(resp.headers);
        match resp.code {
            Some(101) => {}
            Some(status) => {
                // A refusal: wait for its body as far as Content-Length says
                // and the head limit allows (without one, what came with the head).
                let wanted = header_values(&headers, "content-length")
                    .next()
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let end = match wanted {
                    Some(len) if n.saturating_add(len) <= max_bytes => {
                        if buf.len() < n + len {
                            return Ok(None);
                        }
                        n + len
                    }
                    Some(_) => buf.len().min(max_bytes),
                    None => buf.len(),
                };
                return Err(HandshakeError::Refused(Box::new(super::RefusedUpgrade {
                    status,
                    headers,
                    body: buf[n..end.max(n)].to_vec(),
                })));
            }
            None => return Err(invalid("no status code")),
        }
        if !header_values(&headers, "upgrade").any(|v| has_token(v, "websocket")) {
            return Err(invalid("missing Upgrade: websocket"));
        }
        if !header_values(&headers, "connection").any(|v| has_token(v, "upgrade")) {
            return Err(invalid("missing Connection: upgrade"));
        }
        match header_values(&headers, "sec-websocket-accept").next() {
            Some(a) if a.trim() == self.expected_accept => {}
            Some(_) => return Err(invalid("Sec-WebSocket-Accept does not match the key")),
            None => return Err(invalid("missing Sec-WebSocket-Accept")),
        }
        let deflate = deflate::parse_server_answer(
            &self.deflate,
            header_values(&headers, "sec-websocket-extensions"),
        )
        .map_err(|why| invalid(&why))?;
        let subprotocol = match header_values(&headers, "sec-websocket-protocol").next() {
            None => None,
            Some(p) if self.offered.iter().any(|o| o == p.trim()) => Some(p.trim().to_owned()),
            Some(p) => {
                return Err(invalid(&format!(
                    "server chose subprotocol {p:?}, not offered"
                )));
            }
        };
        Ok(Some((
            Response {
                subprotocol,
                headers,
                deflate,
            },
            n,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::server::{ServerOptions, accept, parse_request};

    #[test]
    fn urls() {
        let u = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.resource.as_str()),
            ("example.com", 80, "/")
        );
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("ws://127.0.0.1:9001/runCase?case=3&agent=x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.resource.as_str()),
            ("127.0.0.1", 9001, "/runCase?case=3&agent=x")
        );
        assert_eq!(u.host_header(), "127.0.0.1:9001");
        let u = WsUrl::parse("WS://[::1]:8080?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.resource.as_str()),
            ("::1", 8080, "/?x=1")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        let u = WsUrl::parse("wss://example.com/chat").unwrap();
        assert!(u.secure);
        assert_eq!((u.port, u.host_header().as_str()), (443, "example.com"));
        let u = WsUrl::parse("wss://example.com:80").unwrap();
        assert_eq!(u.host_header(), "example.com:80");
        assert!(!WsUrl::parse("ws://example.com").unwrap().secure);
        for bad in [
            "http://x",
            "wss:/x",
            "ws://",
            "ws://x:99999",
            "ws://u@x",
            "ws://x/#f",
            "ws://x/a b",
            "x",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_round_trips_through_the_server_side() {
        let req = ClientRequest {
            host: "h:1".into(),
            resource: "/p?q=1".into(),
            subprotocols: vec!["a".into(), "b".into()],
            headers: vec![("Origin".into(), "http://o".into())],
            deflate: DeflateConfig::default(),
        };
        let (hs, bytes) = ClientHandshake::new(&req, [7; 16]).unwrap();
        let (parsed, _) = parse_request(&bytes, 8192).unwrap().unwrap();
        assert_eq!(parsed.path, "/p");
        let ours = vec!["b".to_string()];
        let accepted = accept(
            parsed,
            &ServerOptions {
                subprotocols: &ours,
                origins: &super::super::OriginPolicy::AnyOrigin,
                deflate: &DeflateConfig::default(),
            },
        )
        .unwrap();
        let mut wire = accepted.response.clone();
        wire.extend_from_slice(b"\x81\x00");
        let (resp, n) = hs.parse_response(&wire, 8192).unwrap().unwrap();
        assert_eq!(n, accepted.response.len());
        assert_eq!(resp.subprotocol.as_deref(), Some("b"));
        // Both sides reached the same permessage-deflate agreement.
        assert_eq!(resp.deflate, accepted.deflate);
        assert_eq!(resp.deflate.map(|d| d.server_max_window_bits), Some(12));
    }

    #[test]
    fn bad_responses_are_refused() {
        let req = ClientRequest {
            host: "h".into(),
            resource: "/".into(),
            deflate: DeflateConfig::disabled(),
            ..Default::default()
        };
        let (hs, _) = ClientHandshake::new(&req, [1; 16]).unwrap();
        let good_accept = accept_key(
            base64::engine::general_purpose::STANDARD
                .encode([1u8; 16])
                .as_bytes(),
        );
        let ok = format!(
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {good_accept}\r\n\r\n"
        );
        assert!(hs.parse_response(ok.as_bytes(), 8192).unwrap().is_some());
        assert_eq!(hs.parse_response(&ok.as_bytes()[..20], 8192), Ok(None));
        let cases = [
            ok.replace("101 OK", "403 Forbidden"),
            ok.replace(&good_accept, "AAAA"),
            ok.replace("Upgrade: websocket\r\n", ""),
            ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: x\r\n\r\n"),
            ok.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            ),
        ];
        for c in &cases {
            assert!(hs.parse_response(c.as_bytes(), 8192).is_err(), "{c}");
        }
        assert!(matches!(
            hs.parse_response(cases[0].as_bytes(), 8192),
            Err(HandshakeError::Refused(r)) if r.status == 403
        ));
    }

    #[test]
    fn a_refusal_carries_its_headers_and_body() {
        let hs = ClientHandshake::new(&ClientRequest::default(), [7; 16])
            .unwrap()
            .0;
        let head =
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 14\r\n\r\n";
        // The body is awaited as far as Content-Length says...
        let partial = format!("{head}token re");
        assert_eq!(hs.parse_response(partial.as_bytes(), 8192), Ok(None));
        let full = format!("{head}token required");
        match hs.parse_response(full.as_bytes(), 8192) {
            Err(HandshakeError::Refused(r)) => {
                assert_eq!((r.status, r.body.as_slice()), (401, &b"token required"[..]));
                assert_eq!(r.header("www-authenticate"), Some("Bearer"));
                let e = HandshakeError::Refused(r);
                assert!(
                    e.to_string()
                        .ends_with("401 instead of 101: token required")
                );
            }
            other => panic!("{other:?}"),
        }
        // ...but never past the head limit.
        let huge = "HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\nno";
        match hs.parse_response(huge.as_bytes(), 8192) {
            Err(HandshakeError::Refused(r)) => assert_eq!(r.body, b"no"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_injection_is_refused() {
        let mut req = ClientRequest {
            host: "h".into(),
            resource: "/".into(),
            ..Default::default()
        };
        req.headers.push(("X".into(), "a\r\nEvil: 1".into()));
        assert!(ClientHandshake::new(&req, [0; 16]).is_err());
    }
}
