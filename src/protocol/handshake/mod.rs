//! The HTTP/1.1 upgrade handshake (RFC 6455 section 4), both sides.
//!
//! [`server`] parses an upgrade request from a bounded buffer and answers
//! 101 or an HTTP error; [`client`] builds a request and checks the answer.
//! Both are push parsers: they return `Ok(None)` until the head is complete.

use base64::Engine;
use sha1::Digest;

pub mod client;
pub mod server;

pub use client::{ClientHandshake, ClientRequest, Response, WsUrl};
pub use server::{Accepted, OriginPolicy, Request, ServerOptions};

/// The GUID RFC 6455 appends to Sec-WebSocket-Key.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Most header lines a handshake head may carry.
pub const MAX_HEADERS: usize = 64;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Why a handshake failed. On the server each variant has the HTTP status
/// it is answered with ([`HandshakeError::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.1, or a required header is wrong (400).
    BadRequest(String),
    /// Sec-WebSocket-Version is missing or not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// The head exceeded the configured size or header count (431).
    HeadersTooLarge {
        /// The configured limit in bytes.
        max: usize,
    },
    /// The Origin header is not accepted by the server's
    /// [`OriginPolicy`] (403). Holds the origin.
    OriginRejected(String),
    /// The Host header is not one of the server's allowed hosts (403).
    /// Holds the host.
    HostRejected(String),
    /// The server answered with a status other than 101 (client side):
    /// its status, headers and body.
    Refused(Box<RefusedUpgrade>),
    /// The server's answer was not a valid upgrade (client side).
    InvalidResponse(String),
}

/// A server's answer to an upgrade other than `101 Switching Protocols`,
/// as the client received it (the body as far as it arrived within
/// `Config::max_handshake_bytes` and the handshake timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusedUpgrade {
    /// The HTTP status (401, 403, 429, 503, ...).
    pub status: u16,
    /// The response's header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

impl RefusedUpgrade {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HandshakeError {
    /// The HTTP status this error is answered with (server side), or the
    /// status the server sent (client side; 0 for a malformed response).
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::BadRequest(_) => 400,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::HeadersTooLarge { .. } => 431,
            HandshakeError::OriginRejected(_) | HandshakeError::HostRejected(_) => 403,
            HandshakeError::Refused(r) => r.status,
            HandshakeError::InvalidResponse(_) => 0,
        }
    }

    /// The complete HTTP response a server sends for this error. The
    /// response says `Connection: close`; the server closes TCP after it.
    /// Its body never repeats what the client sent (the origin or host).
    pub fn response(&self) -> Vec<u8> {
        let extra = match self {
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version: 13\r\n",
            _ => "",
        };
        let body = match self {
            HandshakeError::OriginRejected(_) => "origin not allowed".to_owned(),
            HandshakeError::HostRejected(_) => "host not allowed".to_owned(),
            other => other.to_string(),
        };
        http_error_response(self.status(), extra, &body)
    }
}

/// A complete HTTP/1.1 error response with a plain-text body (marked
/// `nosniff`, so no browser renders it as anything but text).
pub fn http_error_response(status: u16, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n{extra_headers}\r\n{body}",
        reason_phrase(status),
        body.len()
    )
    .into_bytes()
}

/// The response to an upgrade the application refused: its status,
/// headers (checked by the caller: tokens for names, no control characters
/// in values) and body, with `Content-Length`, `Connection: close`,
/// `nosniff`, and a plain-text `Content-Type` unless the headers name one.
pub fn refusal_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n",
        reason_phrase(status),
        body.len()
    );
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(body);
    response
}

/// The reason phrase for the statuses a WebSocket server answers with.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::BadRequest(why) => write!(f, "bad upgrade request: {why}"),
            HandshakeError::UnsupportedVersion => {
                f.write_str("unsupported Sec-WebSocket-Version (13 is required)")
            }
            HandshakeError::HeadersTooLarge { max } => {
                write!(
                    f,
                    "handshake headers exceed {max} bytes or {MAX_HEADERS} lines"
                )
            }
            HandshakeError::OriginRejected(origin) => write!(f, "origin not allowed: {origin}"),
            HandshakeError::HostRejected(host) => write!(f, "host not allowed: {host}"),
            HandshakeError::Refused(r) => {
                write!(f, "server answered HTTP {} instead of 101", r.status)?;
                // The body says why, often ("token required"): a short,
                // printable excerpt helps whoever reads the message.
                let text = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]);
                let text = text.trim();
                if !text.is_empty() && text.chars().all(|c| !c.is_control() || c == ' ') {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            HandshakeError::InvalidResponse(why) => write!(f, "invalid upgrade response: {why}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Turn httparse's verdict on the first `max` bytes of a `len`-byte buffer
/// into ours: `Some(head length)` when complete, `None` to wait for more,
/// 431 when the head cannot fit in `max` bytes or [`MAX_HEADERS`] lines, and
/// `malformed` for anything httparse rejects.
pub(crate) fn head_status(
    parsed: httparse::Result<usize>,
    len: usize,
    max: usize,
    malformed: impl FnOnce(httparse::Error) -> HandshakeError,
) -> Result<Option<usize>, HandshakeError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if len >= max => Err(HandshakeError::HeadersTooLarge { max }),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::HeadersTooLarge { max }),
        Err(e) => Err(malformed(e)),
    }
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
pub(crate) fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Headers as owned (name, value) pairs; values that are not UTF-8 are kept lossily.
pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// The values of every header named `name` (case-insensitive).
pub(crate) fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_1_3_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
