//! `wsengine._wsengine`: the native half of the `wsengine` Python package.
//!
//! Frozen classes around `Arc`s of the engine's types, so every method takes
//! `&self` and any Python thread may call any method at any time. Blocking
//! calls release the interpreter in short slices and check for signals in
//! between, so Ctrl-C interrupts a blocked `recv`, `accept`, `send` (on a
//! full queue) or `close` promptly; `connect` and `shutdown` run on a helper
//! thread for the same reason ([`aside`]).
//! Errors become the exception classes of `wsengine.exceptions`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::exceptions::{PyOverflowError, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};
use wsengine::{
    Audience, CloseInfo, CloseInitiator, Config, Conn, Error, Groups, MAX_TIMEOUT, Message,
    OriginPolicy, OverflowPolicy, Server, ServerEvent,
};

/// How long one GIL-free wait lasts before signals are checked.
const SLICE: Duration = Duration::from_millis(50);

/// An instance of the exception class `name` from `wsengine.exceptions`.
fn exception<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    let made = py
        .import("wsengine.exceptions")
        .and_then(|m| m.getattr(name))
        .and_then(|class| class.call1(args));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

fn closed_error(py: Python<'_>, info: &CloseInfo) -> PyErr {
    let code = info.code.0;
    let local = info.initiator == CloseInitiator::Local;
    let class = if info.clean && matches!(code, 1000 | 1001 | 1005) {
        "ConnectionClosedOK"
    } else if local && code == 1009 {
        "MessageTooBig"
    } else if local && matches!(code, 1002 | 1007) {
        "ProtocolError"
    } else {
        "ConnectionClosedError"
    };
    exception(py, class, (code, info.reason.clone(), info.clean))
}

/// The one place engine errors become Python exceptions.
fn to_py(py: Python<'_>, error: Error) -> PyErr {
    match error {
        Error::ConnectionClosed(info) => closed_error(py, &info),
        Error::ServerShutdown => exception(py, "ServerClosed", ("the server was shut down",)),
        Error::Timeout => PyTimeoutError::new_err("timed out"),
        Error::QueueFull(_) => exception(py, "QueueFull", ("the send queue is full",)),
        Error::InvalidArgument(why) => PyValueError::new_err(why),
        Error::Handshake(h) => exception(py, "InvalidHandshake", (h.to_string(), h.status())),
        Error::Url(why) => exception(py, "InvalidURI", (why,)),
        Error::Io(e) => PyErr::from(e),
        // `Error` is #[non_exhaustive] outside its crate; a variant added
        // there lands here until it gets an exception of its own.
        other => PyValueError::new_err(other.to_string()),
    }
}

/// Run `op` until it returns something other than a timeout, `timeout`
/// passes (None: never), or a signal handler raises (Ctrl-C): the outer
/// `Err`. The inner result is the engine's own.
///
/// `op` runs with the GIL released, in slices of at most `SLICE` with a
/// signal check between them. With `try_first`, it is first tried once
/// without waiting and without releasing the GIL. That suits a single
/// consumer (a poll loop): when an event is ready, a GIL hand-off costs more
/// than the call. It does not suit many threads receiving at once: a thread
/// that keeps the GIL while messages are ready holds it until the
/// interpreter forces a switch (5 ms), and the others queue up behind it
/// (measured: throughput fell by a third and p50 latency sat at 5 ms).
fn wait<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    try_first: bool,
    op: impl Fn(Duration) -> Result<T, Error> + Sync,
) -> PyResult<Result<T, Error>> {
    let deadline = match timeout {
        Some(t) if t.is_nan() || t < 0.0 => {
            return Err(PyValueError::new_err(format!("invalid timeout {t}")));
        }
        Some(t) => Some(Instant::now() + duration(t, "timeout")?),
        None => None,
    };
    if try_first {
        match op(Duration::ZERO) {
            Err(Error::Timeout) if deadline.is_some_and(|d| Instant::now() >= d) => {
                return Ok(Err(Error::Timeout));
            }
            Err(Error::Timeout) => {}
            other => return Ok(other),
        }
    }
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        match py.detach(|| op(slice)) {
            Err(Error::Timeout) if deadline.is_none_or(|d| Instant::now() < d) => {
                py.check_signals()?
            }
            other => return Ok(other),
        }
    }
}

/// Run `work` on a helper thread named `name` and wait for it in slices,
/// so that Ctrl-C interrupts the wait. Interrupted, the caller gets
/// `KeyboardInterrupt` and `work` finishes on its own; what it returns is
/// then dropped (a connection made too late is closed by its `Drop`).
fn aside<T: Send + 'static>(
    py: Python<'_>,
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            // The receiver is gone if the caller was interrupted.
            let _ = tx.send(work());
        })?;
    let rx = Mutex::new(rx);
    // `wait`'s own result says whether a slice passed; `T` is `work`'s.
    let outcome = wait(py, None, false, |slice| {
        match rx.lock().recv_timeout(slice) {
            Ok(outcome) => Ok(outcome),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::Io(
                std::io::Error::other(format!("the {name} thread stopped")),
            )),
        }
    })?;
    outcome.map_err(|e| to_py(py, e))
}

/// [`wait`], with engine errors turned into Python exceptions.
fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    op: impl Fn(Duration) -> Result<T, Error> + Sync,
) -> PyResult<T> {
    wait(py, timeout, false, op)?.map_err(|e| to_py(py, e))
}

/// `seconds` (not negative, not NaN) as a `Duration`; `OverflowError` past
/// the engine's longest timeout (a year; use `None` for "never").
fn duration(seconds: f64, what: &str) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d <= MAX_TIMEOUT => Ok(d),
        _ => Err(PyOverflowError::new_err(format!(
            "{what} of {seconds} s is too large (at most {} s; None means no limit)",
            MAX_TIMEOUT.as_secs()
        ))),
    }
}

fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v > 0.0 => duration(v, what).map(Some),
        Some(v) => Err(PyValueError::new_err(format!(
            "{what} must be positive, got {v}"
        ))),
    }
}

/// One value for both sides, or a `(server, client)` pair.
fn pair<'py, T: FromPyObjectOwned<'py> + Copy>(value: &Bound<'py, PyAny>) -> PyResult<(T, T)> {
    match value.extract::<T>() {
        Ok(both) => Ok((both, both)),
        Err(_) => value.extract(),
    }
}

/// Build a `Config` from the keyword options of `connect`, `listen` and `serve`.
fn config_from(options: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut c = Config::default();
    let Some(options) = options else { return Ok(c) };
    // Unset, the engine picks by mode: "block" up to 10 s, or "fail" for
    // a server polled for events.
    let mut send_timeout = None;
    let mut overflow: Option<String> = None;
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "max_size" => c.max_message_size = value.extract()?,
            "max_frame_size" => c.max_frame_size = value.extract()?,
            "max_connections" => c.max_connections = value.extract()?,
            "send_queue" => c.send_queue_capacity = value.extract()?,
            "recv_queue" => c.recv_queue_capacity = value.extract()?,
            "recv_queue_bytes" => c.recv_queue_bytes = value.extract()?,
            "send_queue_bytes" => c.send_queue_bytes = value.extract()?,
            "event_queue_bytes" => c.event_queue_bytes = value.extract()?,
            "max_handshakes_per_ip" => c.max_handshakes_per_ip = value.extract()?,
            "accept_queue" => c.accept_queue_capacity = value.extract()?,
            "event_queue" => c.event_queue_capacity = value.extract()?,
            "events" => c.poll_events = value.extract()?,
            "overflow" => overflow = Some(value.extract()?),
            "send_timeout" => send_timeout = Some(seconds(value.extract()?, "send_timeout")?),
            "ping_interval" => c.ping_interval = seconds(value.extract()?, "ping_interval")?,
            "ping_timeout" => c.ping_timeout = seconds(value.extract()?, "ping_timeout")?,
            "close_timeout" => {
                c.close_timeout =
                    seconds(value.extract()?, "close_timeout")?.unwrap_or(Duration::from_secs(5))
            }
            "open_timeout" => {
                let t = seconds(value.extract()?, "open_timeout")?.unwrap_or(MAX_TIMEOUT);
                c.handshake_timeout = t;
                c.connect_timeout = t;
            }
            "idle_timeout" => c.idle_timeout = seconds(value.extract()?, "idle_timeout")?,
            "origins" => {
                c.origins = if value.is_none() {
                    OriginPolicy::SameHost
                } else if value.extract::<String>().is_ok_and(|v| v == "*") {
                    OriginPolicy::AnyOrigin
                } else {
                    OriginPolicy::Allow(value.extract().map_err(|_| {
                        PyTypeError::new_err("origins is a list of origins, \"*\" or None")
                    })?)
                }
            }
            "allowed_hosts" => c.allowed_hosts = value.extract()?,
            "subprotocols" => {
                c.subprotocols = value.extract::<Option<Vec<String>>>()?.unwrap_or_default()
            }
            "additional_headers" => {
                c.extra_headers = if value.is_none() {
                    Vec::new()
                } else if let Ok(d) = value.cast::<PyDict>() {
                    d.iter()
                        .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
                        .collect::<PyResult<_>>()?
                } else {
                    value.extract()?
                }
            }
            "compression" => {
                c.deflate.enabled = match value.extract::<Option<String>>()?.as_deref() {
                    None => false,
                    Some("deflate") => true,
                    Some(other) => {
                        return Err(PyValueError::new_err(format!(
                            "compression must be 'deflate' or None, not {other:?}"
                        )));
                    }
                }
            }
            "deflate_window_bits" => {
                let (server, client) = pair(&value)?;
                c.deflate.server_max_window_bits = server;
                c.deflate.client_max_window_bits = client;
            }
            "deflate_no_context_takeover" => {
                let (server, client) = pair(&value)?;
                c.deflate.server_no_context_takeover = server;
                c.deflate.client_no_context_takeover = client;
            }
            "deflate_level" => c.deflate.level = value.extract()?,
            "deflate_mem_level" => c.deflate.mem_level = value.extract()?,
            "deflate_threshold" => c.deflate.threshold = value.extract()?,
            "routes" => {
                let routes = value.cast::<PyDict>()?;
                for (path, target) in routes.iter() {
                    let path: String = path.extract()?;
                    if let Ok((content_type, body)) = target.extract::<(String, Bound<'_, PyAny>)>()
                    {
                        c.routes.add(path, content_type, body_bytes(&body)?);
                    } else {
                        let file: std::path::PathBuf = target.extract().map_err(|_| {
                            PyTypeError::new_err(
                                "a route is (content_type, str | bytes) or a path to a file",
                            )
                        })?;
                        c.routes.add_file(path, file);
                    }
                }
            }
            "health_path" => c.routes.health_path = value.extract()?,
            "websocket_paths" => c.routes.websocket_paths = value.extract()?,
            "thread_stack_size" => c.thread_stack_size = value.extract()?,
            "read_buffer_size" => c.read_buffer_size = value.extract()?,
            "batch_scheduling" => c.batch_scheduling = value.extract()?,
            other => return Err(PyTypeError::new_err(format!("unexpected option {other:?}"))),
        }
    }
    let overflow = match (overflow.as_deref(), send_timeout) {
        (None, None) => None,
        // A send_timeout alone asks for blocking.
        (None | Some("block"), timeout) => Some(OverflowPolicy::Block(
            timeout
                .unwrap_or(Some(Duration::from_secs(10)))
                .unwrap_or(Duration::MAX),
        )),
        (Some("fail"), _) => Some(OverflowPolicy::Fail),
        (Some("disconnect"), _) => Some(OverflowPolicy::Disconnect),
        (Some(other), _) => {
            return Err(PyValueError::new_err(format!(
                "overflow must be 'block', 'fail' or 'disconnect', not {other:?}"
            )));
        }
    };
    c.overflow_policy = overflow;
    c.validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(c)
}

fn message_to_py<'py>(py: Python<'py>, m: Message) -> Bound<'py, PyAny> {
    match m {
        Message::Text(s) => PyString::new(py, &s).into_any(),
        Message::Binary(b) => PyBytes::new(py, &b).into_any(),
    }
}

fn message_from_py(data: &Bound<'_, PyAny>) -> PyResult<Message> {
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

fn address(addr: std::net::SocketAddr) -> (String, u16) {
    (addr.ip().to_string(), addr.port())
}

/// The opening handshake's request (server side) or response (client side).
#[pyclass(frozen, get_all, module = "wsengine._wsengine")]
pub struct Request {
    /// The path, without the query.
    path: String,
    /// The query string without `?`, or None.
    query: Option<String>,
    /// Header lines as (name, value) pairs, in order.
    headers: Vec<(String, String)>,
}

#[pymethods]
impl Request {
    /// The first header called `name` (case-insensitive), or None.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn __repr__(&self) -> String {
        format!("<Request path={:?} query={:?}>", self.path, self.query)
    }
}

/// A WebSocket connection. Safe to use from several threads at once.
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct Connection {
    inner: Arc<Conn>,
}

impl Connection {
    fn wrap(inner: Arc<Conn>) -> Self {
        Connection { inner }
    }

    fn server_groups(&self) -> PyResult<Groups> {
        self.inner.groups().ok_or_else(|| {
            PyValueError::new_err("only a server's connections have broadcast groups")
        })
    }
}

/// What became of one broadcast: each recipient is counted in one field.
#[pyclass(frozen, get_all, module = "wsengine._wsengine")]
pub struct BroadcastReport {
    /// Recipients whose send queue took the message.
    queued: usize,
    /// Recipients whose queue was full ("fail", or "block" after its timeout).
    dropped: usize,
    /// Recipients closed with 1008 because their queue was full ("disconnect").
    disconnected: usize,
    /// Recipients already closing, skipped.
    closed: usize,
}

#[pymethods]
impl BroadcastReport {
    /// Recipients in all.
    #[getter]
    fn recipients(&self) -> usize {
        self.queued + self.dropped + self.disconnected + self.closed
    }

    fn __repr__(&self) -> String {
        format!(
            "<BroadcastReport queued={} dropped={} disconnected={} closed={}>",
            self.queued, self.dropped, self.disconnected, self.closed
        )
    }
}

/// Encode `message` once and queue it for `group` (None: everyone) but
/// `except`; waits (without the GIL) only for "block" recipients whose queue is full.
fn broadcast(
    py: Python<'_>,
    groups: &Groups,
    message: &Bound<'_, PyAny>,
    group: Option<&str>,
    except: Option<&Conn>,
) -> PyResult<BroadcastReport> {
    let message = message_from_py(message)?;
    let audience = match (group, except) {
        (None, None) => Audience::All,
        (None, Some(c)) => Audience::AllExcept(c),
        (Some(g), None) => Audience::Group(g),
        (Some(g), Some(c)) => Audience::GroupExcept(g, c),
    };
    let r = py.detach(|| groups.broadcast(audience, message));
    Ok(BroadcastReport {
        queued: r.queued,
        dropped: r.dropped,
        disconnected: r.disconnected,
        closed: r.closed,
    })
}

/// A route body: str (UTF-8) or bytes-like.
fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = body.extract::<String>() {
        return Ok(text.into_bytes());
    }
    body.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a route body is str or bytes"))
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
            Err(e) => return Err(to_py(py, e)),
        };
        let conn = &self.inner;
        let OverflowPolicy::Block(limit) = conn.config().overflow() else {
            // "fail" and "disconnect" answer at once.
            return py.detach(|| conn.send(message)).map_err(|e| to_py(py, e));
        };
        // Wait in slices, the message going back and forth between tries.
        let pending = Mutex::new(Some(message));
        let limit = (limit != Duration::MAX).then_some(limit.as_secs_f64());
        blocking(py, limit, |slice| {
            let message = pending.lock().take().expect("the message between tries");
            match conn.try_send_for(message, slice) {
                Err(Error::QueueFull(message)) => {
                    *pending.lock() = Some(message);
                    Err(Error::Timeout)
                }
                other => other,
            }
        })
    }

    /// The next message (str or bytes), waiting up to `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let conn = &self.inner;
        let m = blocking(py, timeout, |slice| conn.recv_timeout(slice))?;
        Ok(message_to_py(py, m))
    }

    /// Send a ping (at most 125 bytes of payload).
    #[pyo3(signature = (data=None))]
    fn ping(&self, py: Python<'_>, data: Option<&[u8]>) -> PyResult<()> {
        self.inner
            .ping(data.unwrap_or_default())
            .map_err(|e| to_py(py, e))
    }

    /// Start the close handshake and wait (GIL released) until it is done or
    /// the close timeout passes. Closing twice is fine.
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, py: Python<'_>, code: u16, reason: &str) -> PyResult<()> {
        self.inner.close(code, reason).map_err(|e| to_py(py, e))?;
        let conn = &self.inner;
        // The engine tears every connection down within its close timeout.
        blocking(py, None, |slice| {
            if conn.wait_closed(slice) {
                Ok(())
            } else {
                Err(Error::Timeout)
            }
        })
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
    fn request(&self) -> Request {
        let info = self.inner.request();
        Request {
            path: info.path.clone(),
            query: info.query.clone(),
            headers: info.headers.clone(),
        }
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
    fn join(&self, py: Python<'_>, group: &str) -> PyResult<()> {
        self.server_groups()?
            .join(&self.inner, group)
            .map_err(|e| to_py(py, e))
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
            Err(e) => Err(to_py(py, e)),
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

/// What an [`Event`] is about.
#[derive(Clone, Copy, Debug)]
enum EventKind {
    Open,
    Message,
    Close,
}

/// Something that happened on a connection of a server in events mode.
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct Event {
    kind: EventKind,
    /// The connection it happened on: the same object for every event of
    /// one connection, so it can key a dict of players or sessions.
    #[pyo3(get)]
    connection: Py<Connection>,
    /// The message (str or bytes) of a "message" event, else None.
    #[pyo3(get)]
    data: Option<Py<PyAny>>,
    /// The close code of a "close" event, else None.
    #[pyo3(get)]
    code: Option<u16>,
    /// The close reason of a "close" event, else None.
    #[pyo3(get)]
    reason: Option<String>,
}

#[pymethods]
impl Event {
    /// "open", "message" or "close" (interned: one string object each).
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        match self.kind {
            EventKind::Open => intern!(py, "open"),
            EventKind::Message => intern!(py, "message"),
            EventKind::Close => intern!(py, "close"),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<Event {} code={:?}>", self.kind(py), self.code)
    }
}

/// A listening server: accept connections, or poll events (events=True).
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct ServerHandle {
    inner: Arc<Server>,
    /// Events mode: the Python object of each open connection, by id, made
    /// at its first event and dropped with its "close" event. One object per
    /// connection keeps identity (`is`, dict keys) and saves an allocation
    /// per event.
    connections: Mutex<HashMap<u64, Py<Connection>>>,
}

impl ServerHandle {
    /// The Python object for `conn`: the one made at its first event, or a
    /// new one; `last` (its "close" event) forgets it.
    ///
    /// The lock is never held while Python runs (making an object may run
    /// the garbage collector, and a finalizer could poll).
    fn connection_object(
        &self,
        py: Python<'_>,
        conn: Arc<Conn>,
        last: bool,
    ) -> PyResult<Py<Connection>> {
        let id = conn.id();
        let known = if last {
            self.connections.lock().remove(&id)
        } else {
            self.connections.lock().get(&id).map(|c| c.clone_ref(py))
        };
        if let Some(object) = known {
            return Ok(object);
        }
        let object = Py::new(py, Connection::wrap(conn))?;
        if last {
            return Ok(object);
        }
        // Another thread polling the same server may have made one meanwhile.
        let kept = self
            .connections
            .lock()
            .entry(id)
            .or_insert(object)
            .clone_ref(py);
        Ok(kept)
    }
}

#[pymethods]
impl ServerHandle {
    #[new]
    #[pyo3(signature = (host, port, options=None))]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = config_from(options)?;
        let host = host.to_owned();
        let server = py
            .detach(move || Server::bind((host.as_str(), port), config))
            .map_err(|e| to_py(py, e))?;
        Ok(ServerHandle {
            inner: Arc::new(server),
            connections: Mutex::default(),
        })
    }

    /// The next connection, waiting up to `timeout` seconds (None: forever).
    #[pyo3(signature = (timeout=None))]
    fn accept(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Connection> {
        let server = &self.inner;
        blocking(py, timeout, |slice| server.accept_timeout(slice))
            .map(|c| Connection::wrap(Arc::new(c)))
    }

    /// The next event (events mode), waiting up to `timeout` seconds (0: only
    /// look; None: forever). None if nothing happened in time.
    #[pyo3(signature = (timeout=0.0))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Event>> {
        let server = &self.inner;
        let event = match wait(py, timeout, true, |slice| {
            server.poll(slice)?.ok_or(Error::Timeout)
        })? {
            Ok(event) => event,
            Err(Error::Timeout) => return Ok(None),
            Err(e) => return Err(to_py(py, e)),
        };
        let (kind, conn, data, code, reason) = match event {
            ServerEvent::Open(c) => (EventKind::Open, c, None, None, None),
            ServerEvent::Message(c, m) => (
                EventKind::Message,
                c,
                Some(message_to_py(py, m).unbind()),
                None,
                None,
            ),
            ServerEvent::Closed(c, info) => (
                EventKind::Close,
                c,
                None,
                Some(info.code.0),
                Some(info.reason),
            ),
            other => return Err(PyValueError::new_err(format!("unexpected event {other:?}"))),
        };
        let last = matches!(kind, EventKind::Close);
        Ok(Some(Event {
            kind,
            connection: self.connection_object(py, conn, last)?,
            data,
            code,
            reason,
        }))
    }

    /// Stop accepting, close every connection with 1001, wait for them
    /// (on a helper thread, [`aside`], so Ctrl-C interrupts the wait).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let server = Arc::clone(&self.inner);
        aside(py, "wsengine-shutdown", move || server.shutdown())
    }

    /// The (host, port) the server listens on.
    #[getter]
    fn local_address(&self) -> (String, u16) {
        address(self.inner.local_addr())
    }

    /// Connections open right now.
    #[getter]
    fn connection_count(&self) -> usize {
        self.inner.connection_count()
    }

    /// Add `conn` to `group`.
    fn join(&self, py: Python<'_>, conn: &Connection, group: &str) -> PyResult<()> {
        self.inner
            .groups()
            .join(&conn.inner, group)
            .map_err(|e| to_py(py, e))
    }

    /// Remove `conn` from `group`; returns whether it was a member.
    fn leave(&self, conn: &Connection, group: &str) -> bool {
        self.inner.groups().leave(&conn.inner, group)
    }

    /// Members of `group` (0 if there is no such group).
    fn group_size(&self, group: &str) -> usize {
        self.inner.groups().member_count(group)
    }

    /// Broadcast `message` to `group` (None: every connection), except `exclude`.
    #[pyo3(signature = (message, group=None, exclude=None))]
    fn broadcast(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        group: Option<&str>,
        exclude: Option<&Connection>,
    ) -> PyResult<BroadcastReport> {
        let except = exclude.map(|c| &*c.inner);
        broadcast(py, self.inner.groups(), message, group, except)
    }
}

/// Connect to a ws:// URI and complete the opening handshake.
///
/// On a helper thread ([`aside`]), so Ctrl-C interrupts it.
#[pyfunction]
#[pyo3(signature = (uri, options=None))]
fn connect(py: Python<'_>, uri: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Connection> {
    let config = config_from(options)?;
    let uri = uri.to_owned();
    let conn = aside(py, "wsengine-connect", move || {
        wsengine::connect(&uri, &config)
    })?
    .map_err(|e| to_py(py, e))?;
    Ok(Connection::wrap(Arc::new(conn)))
}

/// The native module behind the `wsengine` package.
#[pymodule(gil_used = false)]
fn _wsengine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Connection>()?;
    m.add_class::<ServerHandle>()?;
    m.add_class::<Event>()?;
    m.add_class::<Request>()?;
    m.add_class::<BroadcastReport>()?;
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
