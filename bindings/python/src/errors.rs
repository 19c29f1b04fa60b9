//! Engine errors as Python exceptions: the one place they are mapped.
//!
//! The exception classes are defined in Python (`wsengine/exceptions.py`,
//! where they carry `code`, `reason`, `clean` and `status` attributes and
//! docstrings) and declared here with pyo3's `import_exception!`, so each is
//! a Rust type, looked up once and cached, instead of a name in a string.

use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wsengine::protocol::handshake::HandshakeError;
use wsengine::{CloseInfo, CloseInitiator, Error, ProxyErrorKind, TlsError, TlsErrorKind};

pyo3::import_exception!(wsengine.exceptions, ConnectionClosedOK);
pyo3::import_exception!(wsengine.exceptions, ConnectionClosedError);
pyo3::import_exception!(wsengine.exceptions, ProtocolError);
pyo3::import_exception!(wsengine.exceptions, MessageTooBig);
pyo3::import_exception!(wsengine.exceptions, InvalidHandshake);
pyo3::import_exception!(wsengine.exceptions, InvalidURI);
pyo3::import_exception!(wsengine.exceptions, ProxyError);
pyo3::import_exception!(wsengine.exceptions, NotConnected);
pyo3::import_exception!(wsengine.exceptions, QueueFull);
pyo3::import_exception!(wsengine.exceptions, ServerShutdown);
pyo3::import_exception!(wsengine.exceptions, TLSError);
pyo3::import_exception!(wsengine.exceptions, CertificateVerifyError);

/// The `ConnectionClosed` subclass for how the connection ended.
pub(crate) fn closed_error(info: &CloseInfo) -> PyErr {
    let code = info.code.0;
    let local = info.initiator == CloseInitiator::Local;
    let args = (code, info.reason.clone(), info.clean);
    if info.clean && matches!(code, 1000 | 1001 | 1005) {
        ConnectionClosedOK::new_err(args)
    } else if local && code == 1009 {
        MessageTooBig::new_err(args)
    } else if local && matches!(code, 1002 | 1007) {
        ProtocolError::new_err(args)
    } else {
        ConnectionClosedError::new_err(args)
    }
}

/// A TLS failure: `CertificateVerifyError` (an `ssl.SSLCertVerificationError`)
/// for the peer's certificate, `TLSError` (an `ssl.SSLError`) otherwise;
/// `kind` names the check.
fn tls_to_py(e: &TlsError) -> PyErr {
    let kind = match e.kind {
        TlsErrorKind::UnknownIssuer => "unknown_issuer",
        TlsErrorKind::Expired => "expired",
        TlsErrorKind::NotYetValid => "not_yet_valid",
        TlsErrorKind::NameMismatch => "name_mismatch",
        TlsErrorKind::BadCertificate => "bad_certificate",
        TlsErrorKind::ClientCertificateRejected => "client_certificate_rejected",
        TlsErrorKind::NotTls => "not_tls",
        TlsErrorKind::Config => "config",
        _ => "handshake",
    };
    let args = (e.to_string(), kind);
    match e.kind {
        TlsErrorKind::UnknownIssuer
        | TlsErrorKind::Expired
        | TlsErrorKind::NotYetValid
        | TlsErrorKind::NameMismatch
        | TlsErrorKind::BadCertificate => CertificateVerifyError::new_err(args),
        _ => TLSError::new_err(args),
    }
}

/// Engine errors to Python exceptions.
pub(crate) fn to_py(error: Error) -> PyErr {
    match error {
        Error::ConnectionClosed(info) => closed_error(&info),
        Error::ServerShutdown => ServerShutdown::new_err(("the server was shut down",)),
        Error::Timeout => PyTimeoutError::new_err("timed out"),
        Error::SendTimeout(_) => PyTimeoutError::new_err("timed out waiting for room to send"),
        Error::QueueFull(_) => QueueFull::new_err(("the send queue is full",)),
        Error::InvalidArgument(why) => PyValueError::new_err(why),
        Error::Handshake(h) => {
            let (headers, body) = match &h {
                HandshakeError::Refused(r) => (r.headers.clone(), r.body.clone()),
                _ => (Vec::new(), Vec::new()),
            };
            Python::attach(|py| {
                InvalidHandshake::new_err((
                    h.to_string(),
                    h.status(),
                    headers,
                    PyBytes::new(py, &body).unbind(),
                ))
            })
        }
        Error::Tls(e) => tls_to_py(&e),
        Error::Url(why) => InvalidURI::new_err((why,)),
        Error::NotConnected(m) => Python::attach(|py| {
            let text = format!(
                "not connected, reconnecting ({} byte message not sent)",
                m.len()
            );
            NotConnected::new_err((text, crate::connection::message_to_py(py, m).unbind()))
        }),
        Error::Io(e) => PyErr::from(e),
        Error::Proxy(e) => {
            let (kind, socks_reply) = match e.kind {
                ProxyErrorKind::Refused(_) => ("refused", 0),
                ProxyErrorKind::AuthFailed => ("auth_failed", 0),
                ProxyErrorKind::SocksReply(code) => ("socks_reply", code),
                ProxyErrorKind::BadUrl => ("bad_url", 0),
                _ => ("protocol", 0),
            };
            ProxyError::new_err((e.to_string(), e.status().unwrap_or(0), kind, socks_reply))
        }
        // `Error` is #[non_exhaustive] outside its crate; a variant added
        // there lands here until it gets an exception of its own.
        other => PyValueError::new_err(other.to_string()),
    }
}
