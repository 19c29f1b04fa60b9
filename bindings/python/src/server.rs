//! `ServerHandle` (listen, serve) and its poll-mode `Event`s.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use wsengine::{CloseInfo, Conn, Error, Handler, Message, Server, ServerEvent};

use crate::blocking::{aside, blocking, wait};
use crate::connection::{Connection, address, message_to_py};
use crate::errors::to_py;
use crate::groups::{BroadcastReport, broadcast};
use crate::options::{Side, config_from};
use crate::upgrade::Upgrade;

/// What an [`Event`] is about.
#[derive(Clone, Copy, Debug)]
enum EventKind {
    Open,
    Message,
    Close,
    Upgrade,
}

/// Something that happened on a connection of a server in events mode.
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct Event {
    kind: EventKind,
    /// The connection it happened on: the same object for every event of
    /// one connection, so it can key a dict of players or sessions. None
    /// for an "upgrade" event (no connection exists yet).
    #[pyo3(get)]
    connection: Option<Py<Connection>>,
    /// The upgrade request of an "upgrade" event (answer it with its
    /// `accept()` or `refuse()`), else None.
    #[pyo3(get)]
    upgrade: Option<Py<Upgrade>>,
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
    /// "open", "message", "close" or "upgrade" (interned: one string
    /// object each).
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        match self.kind {
            EventKind::Open => intern!(py, "open"),
            EventKind::Message => intern!(py, "message"),
            EventKind::Close => intern!(py, "close"),
            EventKind::Upgrade => intern!(py, "upgrade"),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<Event {} code={:?}>", self.kind(py), self.code)
    }
}

/// A listening server: accept connections, or poll events (poll_events=True).
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

/// Handler mode: the application's callables, called on each connection's
/// reader thread with the GIL taken there (see [`Handler`]).
struct PyHandler {
    on_message: Py<PyAny>,
    on_open: Option<Py<PyAny>>,
    on_close: Option<Py<PyAny>>,
}

/// What a reader thread keeps about the connection it serves, from
/// `on_open` to `on_close` (one connection at a time per thread).
struct Serving {
    id: u64,
    /// The one Python object of the connection, for every call.
    object: Py<Connection>,
    /// A callable raised: the connection is closing with 1011 and gets no
    /// more calls but `on_close`.
    failed: bool,
}

thread_local! {
    static SERVING: RefCell<Option<Serving>> = const { RefCell::new(None) };
}

/// Whether this thread is the reader of connection `id` running its
/// handler (so waiting for that connection's close here would wait for
/// this very thread).
pub(crate) fn serving(id: u64) -> bool {
    SERVING.with(|serving| serving.borrow().as_ref().is_some_and(|s| s.id == id))
}

impl PyHandler {
    /// Run `call` with the connection's Python object, unless a callable
    /// of this connection raised before. If `call` raises, the exception
    /// is logged ("wsengine" logger) and the connection closed with 1011.
    fn with_connection(
        &self,
        py: Python<'_>,
        conn: &Arc<Conn>,
        what: &str,
        call: impl FnOnce(&Bound<'_, Connection>) -> PyResult<()>,
    ) {
        let object = SERVING.with(|serving| {
            let mut serving = serving.borrow_mut();
            match &*serving {
                Some(s) if s.id == conn.id() => (!s.failed).then(|| s.object.clone_ref(py)),
                _ => {
                    let object = Py::new(py, Connection::wrap(Arc::clone(conn))).ok()?;
                    *serving = Some(Serving {
                        id: conn.id(),
                        object: object.clone_ref(py),
                        failed: false,
                    });
                    Some(object)
                }
            }
        });
        let Some(object) = object else {
            return;
        };
        if let Err(e) = call(object.bind(py)) {
            SERVING.with(|serving| {
                if let Some(s) = serving.borrow_mut().as_mut() {
                    s.failed = true;
                }
            });
            log_failure(py, what, &e);
            let _ = conn.close(wsengine::CloseCode::INTERNAL_ERROR, "internal error");
        }
    }
}

/// Log an exception a callable raised, as `serve` does for its handlers.
fn log_failure(py: Python<'_>, what: &str, e: &PyErr) {
    let logged = py.import(intern!(py, "logging")).and_then(|logging| {
        let logger = logging.call_method1(intern!(py, "getLogger"), ("wsengine",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", e.value(py))?;
        logger.call_method("error", (format!("{what} failed"),), Some(&kwargs))?;
        Ok(())
    });
    if logged.is_err() {
        e.print(py);
    }
}

impl Handler for PyHandler {
    fn on_open(&self, conn: &Arc<Conn>) {
        Python::attach(|py| {
            self.with_connection(py, conn, "on_open", |object| {
                if let Some(on_open) = &self.on_open {
                    on_open.call1(py, (object,))?;
                }
                Ok(())
            });
        });
    }

    fn on_message(&self, conn: &Arc<Conn>, message: Message) {
        Python::attach(|py| {
            self.with_connection(py, conn, "on_message", |object| {
                let data = message_to_py(py, message);
                self.on_message.call1(py, (object, data))?;
                Ok(())
            });
        });
    }

    fn on_close(&self, conn: &Arc<Conn>, info: &CloseInfo) {
        Python::attach(|py| {
            if let Some(on_close) = &self.on_close {
                // Called even after a callable raised: the last call.
                SERVING.with(|serving| {
                    if let Some(s) = serving.borrow_mut().as_mut() {
                        s.failed = false;
                    }
                });
                self.with_connection(py, conn, "on_close", |object| {
                    on_close.call1(py, (object, info.code.0, info.reason.as_str()))?;
                    Ok(())
                });
            }
            // The thread lets go of the connection's object (with the GIL).
            SERVING.with(|serving| drop(serving.borrow_mut().take()));
        });
    }
}

#[pymethods]
impl ServerHandle {
    #[new]
    #[pyo3(signature = (host, port, options=None, on_message=None, on_open=None, on_close=None))]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        options: Option<&Bound<'_, PyDict>>,
        on_message: Option<Py<PyAny>>,
        on_open: Option<Py<PyAny>>,
        on_close: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let config = config_from(options, Side::Server)?;
        let host = host.to_owned();
        let handler = match on_message {
            Some(on_message) => Some(PyHandler {
                on_message,
                on_open,
                on_close,
            }),
            None if on_open.is_some() || on_close.is_some() => {
                return Err(PyValueError::new_err(
                    "on_open and on_close need on_message (handler mode)",
                ));
            }
            None => None,
        };
        let server = py
            .detach(move || match handler {
                Some(handler) => Server::serve((host.as_str(), port), config, handler),
                None => Server::bind((host.as_str(), port), config),
            })
            .map_err(to_py)?;
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
            Err(e) => return Err(to_py(e)),
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
            ServerEvent::UpgradeRequest(pending) => {
                return Ok(Some(Event {
                    kind: EventKind::Upgrade,
                    connection: None,
                    upgrade: Some(Py::new(py, Upgrade::new(py, pending)?)?),
                    data: None,
                    code: None,
                    reason: None,
                }));
            }
            other => return Err(PyValueError::new_err(format!("unexpected event {other:?}"))),
        };
        let last = matches!(kind, EventKind::Close);
        Ok(Some(Event {
            kind,
            connection: Some(self.connection_object(py, conn, last)?),
            upgrade: None,
            data,
            code,
            reason,
        }))
    }

    /// Read the certificate files again for new handshakes.
    fn reload_tls(&self) -> PyResult<()> {
        match self.inner.server_tls() {
            Some(tls) => tls.reload().map_err(|e| to_py(Error::Tls(e))),
            None => Err(PyValueError::new_err("this server does not serve TLS")),
        }
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
    fn join(&self, conn: &Connection, group: &str) -> PyResult<()> {
        self.inner.groups().join(&conn.inner, group).map_err(to_py)
    }

    /// Remove `conn` from `group`; returns whether it was a member.
    fn leave(&self, conn: &Connection, group: &str) -> bool {
        self.inner.groups().leave(&conn.inner, group)
    }

    /// Members of `group` (0 if there is no such group).
    fn member_count(&self, group: &str) -> usize {
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
