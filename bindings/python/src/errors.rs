//! Engine errors as Python exceptions: the one place they are mapped.
//!
//! The exception classes are defined in Python (`wsengine/exceptions.py`,
//! where they carry `code`, `reason`, `clean` and `status` attributes and
//! docstrings) and declared here with pyo3's `import_exception!`, so each is
//! a Rust type, looked up once and cached, instead of a name in a string.

use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use wsengine::{CloseInfo, CloseInitiator, Error};

pyo3::import_exception!(wsengine.exceptions, ConnectionClosedOK);
pyo3::import_exception!(wsengine.exceptions, ConnectionClosedError);
pyo3::import_exception!(wsengine.exceptions, ProtocolError);
pyo3::import_exception!(wsengine.exceptions, MessageTooBig);
pyo3::import_exception!(wsengine.exceptions, InvalidHandshake);
pyo3::import_exception!(wsengine.exceptions, InvalidURI);
pyo3::import_exception!(wsengine.exceptions, QueueFull);
pyo3::import_exception!(wsengine.exceptions, ServerShutdown);

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

/// Engine errors to Python exceptions.
pub(crate) fn to_py(error: Error) -> PyErr {
    match error {
        Error::ConnectionClosed(info) => closed_error(&info),
        Error::ServerShutdown => ServerShutdown::new_err(("the server was shut down",)),
        Error::Timeout => PyTimeoutError::new_err("timed out"),
        Error::SendTimeout(_) => PyTimeoutError::new_err("timed out waiting for room to send"),
        Error::QueueFull(_) => QueueFull::new_err(("the send queue is full",)),
        Error::InvalidArgument(why) => PyValueError::new_err(why),
        Error::Handshake(h) => InvalidHandshake::new_err((h.to_string(), h.status())),
        Error::Url(why) => InvalidURI::new_err((why,)),
        Error::Io(e) => PyErr::from(e),
        // `Error` is #[non_exhaustive] outside its crate; a variant added
        // there lands here until it gets an exception of its own.
        other => PyValueError::new_err(other.to_string()),
    }
}
