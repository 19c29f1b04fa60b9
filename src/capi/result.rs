//! Result codes, their descriptions, and the calling thread's last error.

use std::cell::RefCell;
use std::ffi::c_char;

use crate::error::Error;
use crate::tls::TlsErrorKind;

/// The outcome of a fallible call. `WSE_RESULT_OK` is 0, so
/// `if (rc != WSE_RESULT_OK)` checks for failure.
///
/// Values are fixed and only ever appended to. `wse_result_str` describes
/// each; `wse_last_error_message` gives details of the last failure on the
/// calling thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_result {
    /// Success.
    Ok = 0,
    /// Nothing happened within the timeout (or, with `WSE_TIMEOUT_NONE`,
    /// nothing was ready).
    Timeout = 1,
    /// The connection is closed or closing; `wse_conn_close_info` says how.
    Closed = 2,
    /// The send queue (or control lane) is full; nothing was queued.
    QueueFull = 3,
    /// A required pointer argument was NULL.
    NullParameter = 4,
    /// An argument was invalid (see `wse_last_error_message`).
    InvalidArgument = 5,
    /// A bug in wsengine was caught at the API boundary; the call did nothing useful.
    Panic = 6,
    /// The opening handshake failed; `wse_last_error_http_status` gives the
    /// HTTP status when there was one.
    Handshake = 7,
    /// An operating-system I/O error (bind or connect failed, ...).
    Io = 8,
    /// The URL is not a usable `ws://` or `wss://` URL.
    InvalidUrl = 9,
    /// The server has been shut down.
    ServerShutdown = 10,
    /// The caller's buffer is too small; the size needed was stored.
    BufferTooSmall = 11,
    /// Text (or a string argument) is not valid UTF-8.
    InvalidUtf8 = 12,
    /// The connection is still open, so there is no close information yet.
    NotClosed = 13,
    /// The requested item (a header, a subprotocol) is not present.
    NotFound = 14,
    /// TLS: the peer's certificate does not chain to a trusted root.
    TlsUnknownIssuer = 15,
    /// TLS: the peer's certificate (or one in its chain) has expired.
    TlsExpired = 16,
    /// TLS: the peer's certificate is not valid yet.
    TlsNotYetValid = 17,
    /// TLS: the server's certificate is not valid for the host connected to.
    TlsNameMismatch = 18,
    /// TLS: the peer's certificate is unusable for another reason (bad
    /// signature or encoding, revoked, wrong purpose).
    TlsBadCertificate = 19,
    /// TLS: the server refused our client certificate or wanted one.
    TlsClientCertificateRejected = 20,
    /// TLS: the peer does not speak TLS (a plain server on the port).
    TlsNotTls = 21,
    /// TLS: the handshake failed otherwise (no common version or cipher
    /// suite, an alert, a malformed message).
    TlsHandshake = 22,
    /// TLS settings are unusable: a certificate or key that cannot be read
    /// or parsed, a key that does not match its certificate.
    TlsConfig = 23,
    /// A proxy refused the tunnel or broke its protocol: an HTTP proxy's
    /// status other than 2xx (in `wse_last_error_http_status`: 407 for
    /// missing or wrong credentials), a SOCKS5 refusal or failed
    /// authentication, a bad proxy URL (details in
    /// `wse_last_error_message`). An unreachable proxy is `WSE_RESULT_IO`.
    Proxy = 24,
    /// A reconnecting client is between connections and could not keep
    /// the message (no replay buffer, or it is full): nothing was sent.
    NotConnected = 25,
}

thread_local! {
    static LAST_ERROR: RefCell<(String, u16)> = const { RefCell::new((String::new(), 0)) };
}

/// Record the detail of a failure on this thread.
pub(crate) fn set_last_error(message: &str, http_status: u16) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.0.clear();
        e.0.push_str(message);
        e.1 = http_status;
    });
}

/// Record `error` as this thread's last error and return its code.
pub(crate) fn fail(error: &Error) -> wse_result {
    let status = match error {
        Error::Handshake(h) => h.status(),
        Error::Proxy(p) => p.status().unwrap_or(0),
        _ => 0,
    };
    set_last_error(&error.to_string(), status);
    wse_result::from(error)
}

impl From<&Error> for wse_result {
    // Exhaustive on purpose: a new error variant must choose its C code.
    fn from(error: &Error) -> Self {
        match error {
            Error::ConnectionClosed(_) => wse_result::Closed,
            Error::ServerShutdown => wse_result::ServerShutdown,
            Error::Timeout | Error::SendTimeout(_) => wse_result::Timeout,
            Error::QueueFull(_) => wse_result::QueueFull,
            Error::InvalidArgument(_) => wse_result::InvalidArgument,
            Error::Handshake(_) => wse_result::Handshake,
            Error::Url(_) => wse_result::InvalidUrl,
            Error::Io(_) => wse_result::Io,
            Error::Tls(e) => (&e.kind).into(),
            Error::Proxy(_) => wse_result::Proxy,
            Error::NotConnected(_) => wse_result::NotConnected,
        }
    }
}

impl From<&TlsErrorKind> for wse_result {
    fn from(kind: &TlsErrorKind) -> Self {
        match kind {
            TlsErrorKind::UnknownIssuer => wse_result::TlsUnknownIssuer,
            TlsErrorKind::Expired => wse_result::TlsExpired,
            TlsErrorKind::NotYetValid => wse_result::TlsNotYetValid,
            TlsErrorKind::NameMismatch => wse_result::TlsNameMismatch,
            TlsErrorKind::BadCertificate => wse_result::TlsBadCertificate,
            TlsErrorKind::ClientCertificateRejected => wse_result::TlsClientCertificateRejected,
            TlsErrorKind::NotTls => wse_result::TlsNotTls,
            TlsErrorKind::Handshake => wse_result::TlsHandshake,
            TlsErrorKind::Config => wse_result::TlsConfig,
        }
    }
}

/// A static, NUL-terminated description of a result code.
///
/// Ownership: the string is static; never free it.
/// Thread safety: any thread.
/// Errors: none; an unknown code gives "unknown result code".
#[unsafe(no_mangle)]
pub extern "C" fn wse_result_str(code: u32) -> *const c_char {
    let text: &'static [u8] = match code {
        0 => b"ok\0",
        1 => b"timed out\0",
        2 => b"connection closed\0",
        3 => b"queue full\0",
        4 => b"NULL parameter\0",
        5 => b"invalid argument\0",
        6 => b"internal error (panic caught)\0",
        7 => b"handshake failed\0",
        8 => b"I/O error\0",
        9 => b"invalid URL\0",
        10 => b"server shut down\0",
        11 => b"buffer too small\0",
        12 => b"invalid UTF-8\0",
        13 => b"connection not closed\0",
        14 => b"not found\0",
        15 => b"TLS: certificate from an unknown issuer\0",
        16 => b"TLS: certificate expired\0",
        17 => b"TLS: certificate not valid yet\0",
        18 => b"TLS: certificate not valid for this host\0",
        19 => b"TLS: bad certificate\0",
        20 => b"TLS: client certificate rejected or missing\0",
        21 => b"TLS: the peer does not speak TLS\0",
        22 => b"TLS: handshake failed\0",
        23 => b"TLS: unusable certificate, key or CA settings\0",
        24 => b"proxy refused or failed\0",
        25 => b"not connected (reconnecting)\0",
        _ => b"unknown result code\0",
    };
    text.as_ptr().cast()
}

/// Copy the detail of the last failure on the calling thread (e.g.
/// "handshake failed: server answered HTTP 403 instead of 101") into `buf`,
/// NUL-terminated; `*out_n` gets its length without the NUL. An empty
/// string if no call has failed on this thread.
///
/// Only calls that fail on the caller's thread set it (config, bind,
/// connect, send, ...). What happens on engine threads is read from the
/// connection with `wse_conn_close_info`.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread; each thread has its own last error.
/// Errors: `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size
/// needed, NUL included); `WSE_RESULT_NULL_PARAMETER` if `out_n` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    super::boundary::ffi_boundary! {
        let message = LAST_ERROR.with(|e| e.borrow().0.clone());
        super::handles::copy_str(&message, buf, len, out_n)
    }
}

/// The HTTP status of the last failed handshake on the calling thread
/// (e.g. 403, 404, 503), or of the HTTP proxy that refused a tunnel
/// (`WSE_RESULT_PROXY`: 407, ...), or 0 if the last failure had none.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread; each thread has its own last error.
/// Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn wse_last_error_http_status() -> u16 {
    super::boundary::ffi_boundary! { LAST_ERROR.with(|e| e.borrow().1) }
}
