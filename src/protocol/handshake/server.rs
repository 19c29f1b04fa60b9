//! Server side of the upgrade: parse the request, answer 101 or an error.

use base64::Engine;

use super::{
    HandshakeError, MAX_HEADERS, accept_key, has_token, head_status, header_values, owned_headers,
};
use crate::protocol::deflate::{self, DeflateConfig, DeflateParams};

/// What the client asked for in its upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request method (`GET` for an upgrade).
    pub method: String,
    /// The request path, without the query (e.g. `/chat`).
    pub path: String,
    /// The query string without the `?`, if there was one.
    pub query: Option<String>,
    /// Every header line in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this asks for a WebSocket upgrade (`Upgrade: websocket`),
    /// rather than being a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        header_values(&self.headers, "upgrade").any(|v| has_token(v, "websocket"))
    }
}

/// Which browser pages may open a WebSocket to a server: the check of the
/// `Origin` header that browsers send with every upgrade (non-browser
/// clients usually send none, and a request without `Origin` is always
/// accepted). A refused upgrade is answered 403.
///
/// Without it, any web page the user visits could open a socket to a
/// server on their machine or intranet with their cookies (cross-site
/// WebSocket hijacking), so the default only lets a page talk to the host
/// that served it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Accept an `Origin` whose host and port are those of the request's
    /// `Host` header (the page came from this server; a missing port is
    /// the default one of the origin's scheme). The default.
    #[default]
    SameHost,
    /// Accept exactly these origins (`https://game.example`,
    /// case-insensitive), and no other.
    Allow(Vec<String>),
    /// Accept every origin. Only for servers that authenticate every
    /// connection by other means than cookies.
    AnyOrigin,
}

impl OriginPolicy {
    /// Whether a request with `origin` (the `Origin` header) and `host`
    /// (the `Host` header) is accepted.
    pub fn accepts(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim();
        match self {
            OriginPolicy::AnyOrigin => true,
            OriginPolicy::Allow(list) => list.iter().any(|a| a.trim().eq_ignore_ascii_case(origin)),
            OriginPolicy::SameHost => same_host(origin, host),
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port
/// as a `Host` header. `null` and unknown schemes never match.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return false,
    };
    match (
        host_and_port(authority, default_port),
        host_and_port(host.trim(), default_port),
    ) {
        (Some((a, p)), Some((b, q))) => a.eq_ignore_ascii_case(b) && p == q,
        _ => false,
    }
}

/// `host[:port]` or `[v6]:port` split, with `default` for a missing port;
/// `None` if malformed.
fn host_and_port(authority: &str, default: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || (host.contains(['/', '@', ':']) && !authority.starts_with('[')) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((host, port))
}

/// Whether the `Host` header `host` is one of `allowed` (each compared
/// with the whole header and with its host part, case-insensitive).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim();
    let name = host_and_port(host, 0).map_or(host, |(name, _)| name);
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

/// Server-side handshake policy.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions<'a> {
    /// Subprotocols the server supports, most preferred first.
    pub subprotocols: &'a [String],
    /// Which `Origin`s are accepted.
    pub origins: &'a OriginPolicy,
    /// What the server accepts of permessage-deflate.
    pub deflate: &'a DeflateConfig,
}

/// A validated upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The request, for the application.
    pub request: Request,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate agreement, if an offer was accepted.
    pub deflate: Option<DeflateParams>,
    /// The complete `101 Switching Protocols` response to send.
    pub response: Vec<u8>,
    /// `Sec-WebSocket-Accept`'s value, to build the response again.
    accept: String,
    /// `Sec-WebSocket-Extensions`' answer, if compression was agreed.
    extensions: Option<String>,
}

impl Accepted {
    /// Answer with `subprotocol` instead of the server's own choice (`None`
    /// keeps that), and these extra header lines (the caller checked them:
    /// tokens for names, no control characters in values). Rebuilds
    /// [`response`](Self::response).
    pub fn respond(&mut self, subprotocol: Option<String>, extra: &[(String, String)]) {
        if subprotocol.is_some() {
            self.subprotocol = subprotocol;
        }
        self.response = switching_protocols(
            &self.accept,
            self.subprotocol.as_deref(),
            self.extensions.as_deref(),
            extra,
        );
    }
}

/// The `101 Switching Protocols` response.
fn switching_protocols(
    accept: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    extra: &[(String, String)],
) -> Vec<u8> {
    let mut response = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let lines = std::iter::once(("Sec-WebSocket-Accept", accept))
        .chain(subprotocol.map(|p| ("Sec-WebSocket-Protocol", p)))
        .chain(extensions.map(|e| ("Sec-WebSocket-Extensions", e)))
        .chain(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    for (name, value) in lines {
        response.push_str(name);
        response.push_str(": ");
        response.push_str(value);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    response.into_bytes()
}

/// Parse the request head at the start of `buf` (any method: a server may
/// answer plain HTTP requests too, see [`crate::protocol::http`]).
///
/// Returns `Ok(None)` while the head is incomplete and smaller than
/// `max_bytes`, and `Ok(Some((request, n)))` once it is complete; bytes after
/// `n` already belong to the WebSocket stream. A head larger than
/// `max_bytes`, or with more than [`MAX_HEADERS`] lines, is
/// [`HandshakeError::HeadersTooLarge`] (431).
pub fn parse_request(
    buf: &[u8],
    max_bytes: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let window = &buf[..buf.len().min(max_bytes)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(window);
    let Some(n) = head_status(parsed, buf.len(), max_bytes, |e| {
        HandshakeError::BadRequest(e.to_string())
    })?
    else {
        return Ok(None);
    };
    if req.version != Some(1) {
        return Err(HandshakeError::BadRequest("HTTP/1.1 is required".into()));
    }
    // httparse accepts lines ending in a bare LF; HTTP/1.1 servers behind
    // or in front of other parsers must not (request smuggling).
    let head = &buf[..n];
    if head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
    {
        return Err(HandshakeError::BadRequest(
            "line endings must be CRLF".into(),
        ));
    }
    // RFC 9112 section 3.2: exactly one Host, else 400.
    match req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count()
    {
        1 => {}
        0 => return Err(HandshakeError::BadRequest("missing Host".into())),
        _ => return Err(HandshakeError::BadRequest("more than one Host".into())),
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    Ok(Some((
        Request {
            method: req.method.unwrap_or_default().to_owned(),
            path,
            query,
            headers: owned_headers(req.headers),
        },
        n,
    )))
}

/// Validate an upgrade request and build the 101 response.
///
/// Checks, in order: Host present; `Upgrade: websocket`; `Connection:
/// upgrade`; `Sec-WebSocket-Version: 13` (else 426); a Sec-WebSocket-Key
/// that is 16 bytes in base64; the Origin against the allowed list (403).
/// Chooses the first subprotocol of the server's list that the client
/// offered, and the first permessage-deflate offer the server accepts.
pub fn accept(request: Request, options: &ServerOptions<'_>) -> Result<Accepted, HandshakeError> {
    let bad = |why: &str| HandshakeError::BadRequest(why.to_owned());
    let headers = &request.headers;
    if request.method != "GET" {
        return Err(bad("an upgrade must be a GET"));
    }
    let Some(host) = request.header("host") else {
        return Err(bad("missing Host"));
    };
    if !header_values(headers, "upgrade").any(|v| has_token(v, "websocket")) {
        return Err(bad("missing Upgrade: websocket"));
    }
    if !header_values(headers, "connection").any(|v| has_token(v, "upgrade")) {
        return Err(bad("missing Connection: upgrade"));
    }
    // (Each iterator lives in its own block: an opaque iterator type
    // keeps its borrow of `request` alive to the end of its scope.)
    {
        let mut versions = header_values(headers, "sec-websocket-version");
        match (versions.next(), versions.next()) {
            (Some(v), None) if v.trim() == "13" => {}
            _ => return Err(HandshakeError::UnsupportedVersion),
        }
    }
    let key = {
        let mut keys = header_values(headers, "sec-websocket-key");
        match (keys.next(), keys.next()) {
            (Some(k), None) => k.trim().to_owned(),
            (None, _) => return Err(bad("missing Sec-WebSocket-Key")),
            (Some(_), Some(_)) => return Err(bad("more than one Sec-WebSocket-Key")),
        }
    };
    match base64::engine::general_purpose::STANDARD.decode(&key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key is not 16 bytes in base64")),
    }
    if let Some(origin) = request.header("origin") {
        if !options.origins.accepts(origin, host) {
            return Err(HandshakeError::OriginRejected(origin.to_owned()));
        }
    }
    let subprotocol = options
        .subprotocols
        .iter()
        .find(|ours| {
            header_values(headers, "sec-websocket-protocol")
                .flat_map(|v| v.split(','))
                .any(|offered| offered.trim() == ours.as_str())
        })
        .cloned();

    let deflate = deflate::negotiate_server(
        options.deflate,
        header_values(headers, "sec-websocket-extensions"),
    );
    let (deflate, extensions) = match deflate {
        Some((params, answer)) => (Some(params), Some(answer)),
        None => (None, None),
    };
    let accept = accept_key(key.as_bytes());
    let response = switching_protocols(&accept, subprotocol.as_deref(), extensions.as_deref(), &[]);
    Ok(Accepted {
        deflate,
        request,
        subprotocol,
        response,
        accept,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &[u8] = b"GET /chat?room=a HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn opts(protocols: &[String], origins: OriginPolicy) -> ServerOptions<'_> {
        ServerOptions {
            subprotocols: protocols,
            origins: Box::leak(Box::new(origins)),
            deflate: Box::leak(Box::new(DeflateConfig::default())),
        }
    }

    fn run(raw: &[u8], o: &ServerOptions<'_>) -> Result<Accepted, HandshakeError> {
        let (req, n) = parse_request(raw, 8192)?.expect("complete");
        assert_eq!(n, raw.len());
        accept(req, o)
    }

    #[test]
    fn rfc_example_is_accepted_with_the_rfc_accept_key() {
        let protocols = vec!["superchat".to_string()];
        let ok = run(RFC_REQUEST, &opts(&protocols, OriginPolicy::AnyOrigin)).unwrap();
        let text = String::from_utf8(ok.response).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: superchat\r\n"));
        assert_eq!(ok.subprotocol.as_deref(), Some("superchat"));
        assert_eq!(ok.request.path, "/chat");
        assert_eq!(ok.request.query.as_deref(), Some("room=a"));
        assert_eq!(ok.request.header("ORIGIN"), Some("http://example.com"));
    }

    #[test]
    fn partial_heads_wait_and_oversized_heads_get_431() {
        for cut in 0..RFC_REQUEST.len() {
            assert_eq!(
                parse_request(&RFC_REQUEST[..cut], 8192),
                Ok(None),
                "cut {cut}"
            );
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(9000, b'a');
        assert_eq!(
            parse_request(&huge, 8192),
            Err(HandshakeError::HeadersTooLarge { max: 8192 })
        );
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&many, 8192).unwrap_err().status(), 431);
    }

    #[test]
    fn each_missing_or_wrong_header_gets_its_status() {
        let text = std::str::from_utf8(RFC_REQUEST).unwrap();
        let cases: &[(&str, &str, u16)] = &[
            ("GET /chat?room=a", "POST /chat", 400),
            ("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost", 400),
            ("Host: server.example.com\r\n", "", 400),
            ("Upgrade: websocket", "Upgrade: h2c", 400),
            ("Connection: Upgrade", "Connection: keep-alive", 400),
            ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 400),
            ("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 400),
            ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 426),
            ("Sec-WebSocket-Version: 13\r\n", "", 426),
        ];
        for (from, to, status) in cases {
            let raw = text.replacen(from, to, 1);
            let err = run(raw.as_bytes(), &opts(&[], OriginPolicy::AnyOrigin)).unwrap_err();
            assert_eq!(err.status(), *status, "{from} -> {to}: {err}");
        }
        let resp = String::from_utf8(HandshakeError::UnsupportedVersion.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(resp.contains("Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn tokens_are_case_insensitive_lists() {
        let text = std::str::from_utf8(RFC_REQUEST).unwrap();
        let raw = text
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE")
            .replace("Upgrade: websocket", "Upgrade: WebSocket");
        assert!(run(raw.as_bytes(), &opts(&[], OriginPolicy::AnyOrigin)).is_ok());
    }

    #[test]
    fn origins_are_checked_when_configured() {
        let allowed = vec!["https://good.example".to_string()];
        let err = run(RFC_REQUEST, &opts(&[], OriginPolicy::Allow(allowed))).unwrap_err();
        assert_eq!(err.status(), 403);
        let allowed = vec!["http://example.com".to_string()];
        assert!(run(RFC_REQUEST, &opts(&[], OriginPolicy::Allow(allowed))).is_ok());
    }

    /// Finding 7 of issue 14: any page could open a socket to a server
    /// that had not configured origins.
    #[test]
    fn cross_origin_upgrades_are_refused_by_default() {
        let text = std::str::from_utf8(RFC_REQUEST).unwrap();
        let same = OriginPolicy::default();
        // The RFC example comes from another host: refused.
        assert_eq!(
            run(RFC_REQUEST, &opts(&[], same.clone()))
                .unwrap_err()
                .status(),
            403
        );
        let with = |origin: &str, host: &str| {
            text.replace("Origin: http://example.com", origin)
                .replace("Host: server.example.com", host)
        };
        let cases = [
            (
                "Origin: http://server.example.com",
                "Host: server.example.com",
                true,
            ),
            (
                "Origin: http://SERVER.example.com:80",
                "Host: server.example.com",
                true,
            ),
            (
                "Origin: https://server.example.com",
                "Host: server.example.com:443",
                true,
            ),
            (
                "Origin: http://127.0.0.1:8080",
                "Host: 127.0.0.1:8080",
                true,
            ),
            ("Origin: http://[::1]:8080", "Host: [::1]:8080", true),
            ("X-No-Origin: 1", "Host: server.example.com", true),
            (
                "Origin: http://127.0.0.1:8081",
                "Host: 127.0.0.1:8080",
                false,
            ),
            (
                "Origin: https://server.example.com",
                "Host: server.example.com",
                true,
            ),
            (
                "Origin: https://server.example.com",
                "Host: server.example.com:80",
                false,
            ),
            (
                "Origin: http://evil.example",
                "Host: server.example.com",
                false,
            ),
            ("Origin: null", "Host: server.example.com", false),
            (
                "Origin: file://server.example.com",
                "Host: server.example.com",
                false,
            ),
        ];
        for (origin, host, ok) in cases {
            let raw = with(origin, host);
            let result = run(raw.as_bytes(), &opts(&[], same.clone()));
            assert_eq!(result.is_ok(), ok, "{origin} / {host}: {result:?}");
        }
        // Allowing any origin is explicit.
        assert!(run(RFC_REQUEST, &opts(&[], OriginPolicy::AnyOrigin)).is_ok());
    }

    #[test]
    fn allowed_hosts_match_the_name_or_the_whole_header() {
        let allowed = vec!["game.example".to_string(), "127.0.0.1:9001".to_string()];
        assert!(host_allowed("GAME.example:8080", &allowed));
        assert!(host_allowed("127.0.0.1:9001", &allowed));
        assert!(!host_allowed("127.0.0.1:9002", &allowed));
        assert!(!host_allowed("rebound.attacker.example", &allowed));
    }

    /// Finding 12 of issue 14: bare-LF line endings and two Host headers
    /// were accepted.
    #[test]
    fn bare_lf_and_duplicate_host_are_bad_requests() {
        let text = std::str::from_utf8(RFC_REQUEST).unwrap();
        let bare = text.replacen("Upgrade: websocket\r\n", "Upgrade: websocket\n", 1);
        assert_eq!(
            parse_request(bare.as_bytes(), 8192).unwrap_err().status(),
            400
        );
        let all_bare = text.replace("\r\n", "\n");
        assert_eq!(
            parse_request(all_bare.as_bytes(), 8192)
                .unwrap_err()
                .status(),
            400
        );
        let twice = text.replacen("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n", 1);
        let err = parse_request(twice.as_bytes(), 8192).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        let none = text.replacen("Host: server.example.com\r\n", "", 1);
        assert_eq!(
            parse_request(none.as_bytes(), 8192).unwrap_err().status(),
            400
        );
    }

    #[test]
    fn no_common_subprotocol_means_none() {
        let protocols = vec!["mqtt".to_string()];
        let ok = run(RFC_REQUEST, &opts(&protocols, OriginPolicy::AnyOrigin)).unwrap();
        assert_eq!(ok.subprotocol, None);
        assert!(
            !String::from_utf8(ok.response)
                .unwrap()
                .contains("Sec-WebSocket-Protocol")
        );
    }
}
