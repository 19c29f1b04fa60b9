//! `ClientHandle` and `ClientEvent`: the native half of
//! `wsengine.Client` and of `connect(..., reconnect=True)`.

use std::time::Duration;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use wsengine::{Client, ClientEvent as Event, Error, OverflowPolicy};

use crate::blocking::{blocking, wait};
use crate::connection::{message_from_py, message_to_py};
use crate::errors::{closed_error, to_py};
use crate::options::{Side, config_from};

/// A reconnecting client (see `wsengine.Client`).
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct ClientHandle {
    inner: Client,
}

/// One thing a reconnecting client reports.
#[pyclass(frozen, get_all, module = "wsengine._wsengine")]
pub struct ClientEvent {
    /// "connected", "message", "reconnecting" or "closed".
    kind: &'static str,
    /// The message (str or bytes) of a "message" event, else None.
    message: Option<Py<PyAny>>,
    /// "connected": whether an earlier connection had opened.
    reconnected: bool,
    /// "reconnecting": attempts in a row so far (1 for the first retry).
    attempt: u32,
    /// "reconnecting": seconds until the attempt.
    delay: f64,
    /// "reconnecting" and "closed": why.
    cause: Option<String>,
    /// "reconnecting": messages the dropped connection could not send.
    unsent_count: u64,
    /// "closed": the replay buffer's messages, never sent.
    unsent: Py<PyList>,
    /// "reconnecting" and "closed": how the connection ended, if one was
    /// open: (code, reason, clean).
    close: Option<(u16, String, bool)>,
    /// "reconnecting" and "closed": the exception this drop or end would
    /// raise (`ConnectionClosed...`, `InvalidHandshake`, `OSError`, ...).
    error: Option<Py<PyAny>>,
}

impl ClientEvent {
    fn new(py: Python<'_>, event: Event) -> PyResult<ClientEvent> {
        let mut out = ClientEvent {
            kind: "connected",
            message: None,
            reconnected: false,
            attempt: 0,
            delay: 0.0,
            cause: None,
            unsent_count: 0,
            unsent: PyList::empty(py).unbind(),
            close: None,
            error: None,
        };
        let close_of = |info: &wsengine::CloseInfo| (info.code.0, info.reason.clone(), info.clean);
        match event {
            Event::Connected { reconnected } => out.reconnected = reconnected,
            Event::Message(m) => {
                out.kind = "message";
                out.message = Some(message_to_py(py, m).unbind());
            }
            Event::Reconnecting {
                attempt,
                delay,
                cause,
                unsent,
                close,
            } => {
                out.kind = "reconnecting";
                out.attempt = attempt;
                out.delay = delay.as_secs_f64();
                out.unsent_count = unsent;
                out.error = close
                    .as_ref()
                    .map(|c| closed_error(c).into_value(py).into_any());
                out.close = close.as_ref().map(close_of);
                out.cause = Some(cause);
            }
            Event::Closed {
                cause,
                close,
                unsent,
                error,
            } => {
                out.kind = "closed";
                out.unsent_count = unsent.len() as u64;
                let list = PyList::empty(py);
                for m in unsent {
                    list.append(message_to_py(py, m))?;
                }
                out.unsent = list.unbind();
                out.error = match (&error, &close) {
                    (Some(_), _) => error.map(|e| to_py(e).into_value(py).into_any()),
                    (None, Some(c)) => Some(closed_error(c).into_value(py).into_any()),
                    (None, None) => None,
                };
                out.close = close.as_ref().map(close_of);
                out.cause = Some(cause);
            }
            // `ClientEvent` is non-exhaustive: a new kind shows as closed
            // until it gets a name here.
            _ => out.kind = "closed",
        }
        Ok(out)
    }
}

#[pymethods]
impl ClientHandle {
    /// Send a message on the open connection, or into the replay buffer
    /// between connections. Raises `NotConnected` (with the message) when
    /// it cannot be kept.
    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let message = message_from_py(message)?;
        let client = &self.inner;
        // Room now: no GIL hand-off.
        let message = match client.send_timeout(message, Duration::ZERO) {
            Err(Error::SendTimeout(message)) => message,
            other => return other.map_err(to_py),
        };
        let Some(conn) = client.connection() else {
            return client.send(message).map_err(to_py);
        };
        let OverflowPolicy::Block(limit) = conn.config().overflow() else {
            // "fail" and "disconnect" answer at once.
            return py.detach(|| client.send(message)).map_err(to_py);
        };
        // Wait in slices (Ctrl-C is checked between them), the message
        // going back and forth between tries.
        let pending = Mutex::new(Some(message));
        let limit = (limit != Duration::MAX).then_some(limit.as_secs_f64());
        blocking(py, limit, |slice| {
            let message = pending.lock().take().expect("the message between tries");
            match client.send_timeout(message, slice) {
                Err(Error::SendTimeout(message)) => {
                    *pending.lock() = Some(message);
                    Err(Error::Timeout)
                }
                other => other,
            }
        })
    }

    /// The next event, waiting up to `timeout` seconds (None: until one
    /// comes); None if none came in time.
    #[pyo3(signature = (timeout=None))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<ClientEvent>> {
        let client = &self.inner;
        let got = wait(py, timeout, true, |slice| {
            client.poll(slice).and_then(|e| e.ok_or(Error::Timeout))
        })?;
        match got {
            Ok(event) => Ok(Some(ClientEvent::new(py, event)?)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(to_py(e)),
        }
    }

    /// Stop reconnecting and close the open connection; returns at once.
    /// False if it was already closed.
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, code: u16, reason: &str) -> PyResult<bool> {
        self.inner.close(code, reason).map_err(to_py)
    }

    /// Whether a connection is open now.
    #[getter]
    fn connected(&self) -> bool {
        self.inner.is_connected()
    }
}

/// Start a reconnecting client for `uri` with the keyword `options` of
/// `connect` (the `reconnect_*` ones among them).
#[pyfunction]
#[pyo3(signature = (uri, options=None))]
pub(crate) fn start_client(
    uri: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<ClientHandle> {
    let config = config_from(options, Side::Client)?;
    let inner = Client::connect(uri, config).map_err(to_py)?;
    Ok(ClientHandle { inner })
}
