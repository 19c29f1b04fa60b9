//! The crate's error type.

use std::fmt;

use crate::protocol::CloseInfo;
use crate::protocol::Message;
use crate::protocol::handshake::HandshakeError;
use crate::proxy::ProxyError;
use crate::tls::TlsError;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, kept apart by what the caller should do.
///
/// The normal end of a connection is [`Error::ConnectionClosed`]: it is not
/// a bug and carries how the connection ended. Misuse by the caller (a
/// reason too long, a ping payload over 125 bytes) is
/// [`Error::InvalidArgument`]. Errors the peer causes on an open connection
/// (protocol violations, invalid UTF-8, oversized messages) close it with
/// the right code and surface as `ConnectionClosed` with that code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection is closed, or closing: nothing more can be sent, and
    /// every message received before the close has been delivered. The
    /// [`CloseInfo`] says who closed it, with which code and reason, and
    /// whether the close handshake completed.
    ConnectionClosed(Box<CloseInfo>),
    /// The server was shut down; no more connections will be accepted.
    ServerShutdown,
    /// The operation did not complete within its timeout.
    Timeout,
    /// The send queue is full and the policy is to fail; the message is
    /// handed back untouched.
    QueueFull(Message),
    /// The send queue stayed full for the whole timeout (policy `Block`,
    /// or `Conn::send_timeout`); the message is handed back untouched, to
    /// retry or drop (crossbeam's `SendTimeoutError::Timeout(T)` shape).
    SendTimeout(Message),
    /// A reconnecting [`Client`](crate::Client) is between connections and
    /// keeps no replay buffer (or it is full): the message is handed back,
    /// nothing was sent.
    NotConnected(Message),
    /// The caller passed something invalid (the text says what).
    InvalidArgument(String),
    /// The opening handshake failed (status and reason inside).
    Handshake(HandshakeError),
    /// The URL given to [`connect`](crate::connect) is not a usable
    /// `ws://` or `wss://` URL.
    Url(String),
    /// TLS failed: a certificate that is not trusted, expired or for
    /// another name, a client certificate refused, a peer that does not
    /// speak TLS, or unusable TLS settings ([`TlsError::kind`] says which).
    Tls(TlsError),
    /// An operating-system I/O error (connect refused, bind failed, ...).
    /// A client that could not connect to any of a host's addresses gets
    /// one naming each address and why it failed.
    Io(std::io::Error),
    /// A proxy refused the tunnel or broke its protocol ([`ProxyError`]:
    /// an HTTP proxy's status, a SOCKS5 reply, bad credentials, a bad
    /// proxy URL).
    Proxy(ProxyError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConnectionClosed(info) => write!(f, "connection closed: {info}"),
            Error::ServerShutdown => f.write_str("server shut down"),
            Error::Timeout => f.write_str("timed out"),
            Error::QueueFull(m) => {
                write!(f, "send queue full ({} byte message not queued)", m.len())
            }
            Error::SendTimeout(m) => {
                write!(
                    f,
                    "timed out waiting for room ({} byte message not queued)",
                    m.len()
                )
            }
            Error::NotConnected(m) => {
                write!(
                    f,
                    "not connected, reconnecting ({} byte message not sent)",
                    m.len()
                )
            }
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Url(why) => write!(f, "invalid URL: {why}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Proxy(e) => write!(f, "proxy: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Handshake(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Proxy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    /// Timeouts become [`Error::Timeout`]; a TLS failure met while reading
    /// or writing becomes [`Error::Tls`]; the rest [`Error::Io`].
    fn from(e: std::io::Error) -> Self {
        if let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
            return Error::Tls(tls.clone());
        }
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            Error::Timeout
        } else {
            Error::Io(e)
        }
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Proxy(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}
