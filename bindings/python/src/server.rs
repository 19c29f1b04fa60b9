//! `ServerHandle` (listen, serve) and its poll-mode `Event`s.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use wsengine::{Conn, Error, Server, ServerEvent};

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
        let config = config_from(options, Side::Server)?;
        let host = host.to_owned();
        let server = py
            .detach(move || Server::bind((host.as_str(), port), config))
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
