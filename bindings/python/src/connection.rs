//! `Connection` and `Request`, and `connect`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};
use wsengine::{CloseInfo, Conn, Error, Groups, Message, OverflowPolicy, RequestInfo};

use crate::blocking::{aside, blocking, wait};
use crate::errors::to_py;
use crate::groups::{BroadcastReport, broadcast};
use crate::options::{Side, config_from};

/// The message as `str` or `bytes` (a copy: Python objects own their
/// bytes); a large message's buffer then goes back for reuse.
pub(crate) fn message_to_py<'py>(py: Python<'py>, m: Message) -> Bound<'py, PyAny> {
    let object = match &m {
        Message::Text(s) => PyString::new(py, s).into_any(),
        Message::Binary(b) => PyBytes::new(py, b).into_any(),
    };
    wsengine::recycle(m);
    object
}

pub(crate) fn message_from_py(data: &Bound<'_, PyAny>) -> PyResult<Message> {
    if let Ok(s) = data.cast::<PyString>() {
        Ok(Message::Text(s.to_cow()?.into_owned()))
    } else if let Ok(b) = data.cast::<PyBytes>() {
        Ok(Message::Binary(b.as_bytes().to_vec()))
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        Ok(Message::Binary(b.to_vec()))
    } else if data.hasattr("tobytes")? {
        // memoryview and other buffer objects
        let b = data.call_method0("tobytes")?;
        Ok(Message::Binary(b.cast::<PyBytes>()?.as_bytes().to_vec()))
    } else {
        Err(PyTypeError::new_err(format!(
            "a message is str, bytes, bytearray or memoryview, not {}",
            data.get_type().name()?
        )))
    }
}

pub(crate) fn address(addr: std::net::SocketAddr) -> (String, u16) {
    (addr.ip().to_string(), addr.port())
}

/// The opening handshake's request (server side) or response (client side).
#[pyclass(frozen, get_all, module = "wsengine._wsengine")]
pub struct Request {
    /// The path, without the query.
    pub(crate) path: String,
    /// The query string without `?`, or None.
    query: Option<String>,
    /// Header lines as (name, value) pairs, in order.
    headers: Vec<(String, String)>,
    /// The peer's (host, port).
    remote_address: (String, u16),
    /// The peer's TLS certificate (DER), or None.
    peer_certificate: Option<Py<PyBytes>>,
    /// Its subject as RFC 4514 text ("CN=alice"), or None.
    peer_subject: Option<String>,
}

/// The Python `Request` for a handshake's details.
pub(crate) fn request_from(py: Python<'_>, info: &RequestInfo) -> Request {
    Request {
        path: info.path.clone(),
        query: info.query.clone(),
        headers: info.headers.clone(),
        remote_address: address(info.peer_addr),
        peer_certificate: info
            .peer_certificates
            .first()
            .map(|der| crate::upgrade::der_bytes(py, der)),
        peer_subject: info.peer_certificate_subject(),
    }
}

impl Request {
    fn info_header(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[pymethods]
impl Request {
    /// The first header called `name` (case-insensitive), or None.
    fn header(&self, name: &str) -> Option<String> {
        self.info_header(name).next().map(str::to_owned)
    }

    /// The value of the cookie `name`, or None.
    fn cookie(&self, name: &str) -> Option<String> {
        self.info_header("cookie")
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    }

    /// The subprotocols the client offered, in its order.
    #[getter]
    fn subprotocols(&self) -> Vec<String> {
        self.info_header("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("<Request path={:?} query={:?}>", self.path, self.query)
    }
}

/// A WebSocket connection. Safe to use from several threads at once.
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct Connection {
    pub(crate) inner: Arc<Conn>,
}

impl Connection {
    pub(crate) fn wrap(inner: Arc<Conn>) -> Self {
        Connection { inner }
    }

    fn server_groups(&self) -> PyResult<Groups> {
        self.inner.groups().ok_or_else(|| {
            PyValueError::new_err("only a server's connections have broadcast groups")
        })
    }
}

#[pymethods]
impl Connection {
    /// Send a text (str) or binary (bytes-like) message.
    ///
    /// With a full send queue the `overflow` option decides: "block" waits
    /// (without the GIL, interruptible by Ctrl-C) up to `send_timeout`.
    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let message = message_from_py(message)?;
        // Queue it at once if there is room (no GIL hand-off).
        let message = match self.inner.try_send(message) {
            Ok(()) => return Ok(()),
            Err(Error::QueueFull(message)) => message,
            Err(e) => return Err(to_py(e)),
        };
        let conn = &self.inner;
        let OverflowPolicy::Block(limit) = conn.config().overflow() else {
            // "fail" and "disconnect" answer at once.
            return py.detach(|| conn.send(message)).map_err(to_py);
        };
        // Wait in slices, the message going back and forth between tries.
        let pending = Mutex::new(Some(message));
        let limit = (limit != Duration::MAX).then_some(limit.as_secs_f64());
        blocking(py, limit, |slice| {
            let message = pending.lock().take().expect("the message between tries");
            match conn.send_timeout(message, slice) {
                Err(Error::SendTimeout(message)) => {
                    *pending.lock() = Some(message);
                    Err(Error::Timeout)
                }
                other => other,
            }
        })
    }

    /// The next message (str or bytes), waiting up to `timeout` seconds.
    /// While more messages wait behind it, what this thread then sends on
    /// the connection is written in one write when it calls `recv` again
    /// and nothing waits (or at most 1 ms later).
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let conn = &self.inner;
        let m = blocking(py, timeout, |slice| conn.recv_timeout(slice))?;
        Ok(message_to_py(py, m))
    }

    /// Send a ping (at most 125 bytes of payload).
    #[pyo3(signature = (data=None))]
    fn ping(&self, data: Option<&[u8]>) -> PyResult<()> {
        self.inner.ping(data.unwrap_or_default()).map_err(to_py)
    }

    /// Start the close handshake and wait (GIL released) until it is done or
    /// the close timeout passes. Returns whether this call started the
    /// close: closing twice is fine and returns False, as in Rust
    /// (`Ok(false)`) and C (`WSE_RESULT_CLOSED`).
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, py: Python<'_>, code: u16, reason: &str) -> PyResult<bool> {
        let started = self.inner.close(code, reason).map_err(to_py)?;
        let conn = &self.inner;
        if crate::server::serving(conn.id()) {
            // Called by this connection's own handler, on its reader
            // thread: the close completes once the handler returns and
            // the reader reads the peer's answer, so do not wait here.
            return Ok(started);
        }
        // The engine tears every connection down within its close timeout.
        blocking(py, None, |slice| {
            if conn.wait_closed(slice) {
                Ok(())
            } else {
                Err(Error::Timeout)
            }
        })?;
        Ok(started)
    }

    /// The close code, or None while the connection is open.
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.inner.close_info().map(|i| i.code.0)
    }

    /// The close reason, or None while the connection is open.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.inner.close_info().map(|i| i.reason)
    }

    /// Whether the peer's close frame arrived and nothing failed (None while open).
    #[getter]
    fn close_clean(&self) -> Option<bool> {
        self.inner.close_info().map(|i| i.clean)
    }

    /// Whether a close has started (nothing more can be sent).
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The opening handshake's request (server) or response headers (client).
    #[getter]
    fn request(&self, py: Python<'_>) -> Request {
        request_from(py, self.inner.request())
    }

    /// What `process_request` (or an upgrade event) attached with
    /// `Accept(data=...)`, or None.
    #[getter]
    fn data(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner
            .data::<crate::upgrade::PyData>()
            .map(|d| d.0.clone_ref(py))
    }

    /// The negotiated extensions in Sec-WebSocket-Extensions form (every
    /// permessage-deflate parameter spelled out), or None.
    #[getter]
    fn extensions(&self) -> Option<String> {
        self.inner.compression().map(|d| d.to_string())
    }

    /// A number that identifies the connection in the process (never reused).
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    /// Join the broadcast group `group` of this connection's server.
    fn join(&self, group: &str) -> PyResult<()> {
        self.server_groups()?
            .join(&self.inner, group)
            .map_err(to_py)
    }

    /// Leave `group`; returns whether the connection was in it.
    fn leave(&self, group: &str) -> PyResult<bool> {
        Ok(self.server_groups()?.leave(&self.inner, group))
    }

    /// The groups this connection is in.
    #[getter]
    fn groups(&self) -> PyResult<Vec<String>> {
        Ok(self.server_groups()?.groups_of(&self.inner))
    }

    /// Broadcast `message` to `group` (None: every connection of the
    /// server), without this connection if `exclude_self`.
    #[pyo3(signature = (message, *, group=None, exclude_self=false))]
    fn broadcast(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        group: Option<&str>,
        exclude_self: bool,
    ) -> PyResult<BroadcastReport> {
        let groups = self.server_groups()?;
        let except = exclude_self.then_some(&*self.inner);
        broadcast(py, &groups, message, group, except)
    }

    /// The negotiated subprotocol, or None.
    #[getter]
    fn subprotocol(&self) -> Option<String> {
        self.inner.subprotocol().map(str::to_owned)
    }

    /// The peer's (host, port).
    #[getter]
    fn remote_address(&self) -> (String, u16) {
        address(self.inner.peer_addr())
    }

    /// Our (host, port).
    #[getter]
    fn local_address(&self) -> (String, u16) {
        address(self.inner.local_addr())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next message; stops at a normal close, raises on an abnormal one.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let conn = &self.inner;
        match wait(py, None, false, |slice| conn.recv_timeout(slice))? {
            Ok(m) => Ok(Some(message_to_py(py, m))),
            Err(Error::ConnectionClosed(info)) if closed_ok(&info) => Ok(None),
            Err(e) => Err(to_py(e)),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py, 1000, "")?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let (host, port) = address(self.inner.peer_addr());
        format!(
            "<Connection peer={host}:{port} path={:?} closed={}>",
            self.inner.request().path,
            self.inner.is_closed()
        )
    }
}

fn closed_ok(info: &CloseInfo) -> bool {
    info.clean && matches!(info.code.0, 1000 | 1001 | 1005)
}

/// Connect to a ws:// URI and complete the opening handshake.
///
/// On a helper thread ([`aside`]), so Ctrl-C interrupts it.
#[pyfunction]
#[pyo3(signature = (uri, options=None))]
pub(crate) fn connect(
    py: Python<'_>,
    uri: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Connection> {
    let config = config_from(options, Side::Client)?;
    let uri = uri.to_owned();
    let conn = aside(py, "wsengine-connect", move || {
        wsengine::connect(&uri, config.clone())
    })?
    .map_err(to_py)?;
    Ok(Connection::wrap(Arc::new(conn)))
}
