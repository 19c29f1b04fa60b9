//! The application's say before the 101, from Python: `process_request`
//! (called on the connection's thread with the GIL) and, in events mode,
//! "upgrade" events answered from the loop.

use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use wsengine::{PendingUpgrade, RequestInfo, UpgradeHook, Verdict};

use crate::connection::{Request, request_from};

/// A Python object attached to a connection (`Accept(data=...)`), read
/// back as `Connection.data`.
pub(crate) struct PyData(pub(crate) Py<PyAny>);

/// `process_request(request)` as the server's upgrade hook.
pub(crate) fn hook(callable: Py<PyAny>) -> UpgradeHook {
    UpgradeHook::new(move |info: &RequestInfo| {
        Python::attach(|py| {
            let answer = Py::new(py, request_from(py, info))
                .and_then(|request| callable.call1(py, (request,)))
                .and_then(|answer| verdict_from(answer.bind(py)));
            answer.unwrap_or_else(|e| {
                // The traceback goes where unhandled exceptions in threads go.
                e.write_unraisable(py, Some(callable.bind(py)));
                Verdict::refuse(500, "process_request failed")
            })
        })
    })
}

/// A `process_request` answer: None accepts; `(status, headers, body)`
/// refuses, as in `websockets`; a `wsengine.Accept` accepts with a
/// subprotocol, headers and data.
pub(crate) fn verdict_from(answer: &Bound<'_, PyAny>) -> PyResult<Verdict> {
    if answer.is_none() {
        return Ok(Verdict::accept());
    }
    let py = answer.py();
    let accept = py.import("wsengine")?.getattr("Accept")?;
    if answer.is_instance(&accept)? {
        return accept_from(
            answer.getattr("subprotocol")?.extract()?,
            &answer.getattr("headers")?,
            answer.getattr("data")?,
        );
    }
    if let Ok(tuple) = answer.cast::<PyTuple>()
        && tuple.len() == 3
    {
        let status: u16 = tuple.get_item(0)?.extract()?;
        return refuse_from(status, &tuple.get_item(1)?, &tuple.get_item(2)?);
    }
    Err(PyTypeError::new_err(
        "process_request returns None, wsengine.Accept(...) or (status, headers, body)",
    ))
}

fn accept_from(
    subprotocol: Option<String>,
    headers: &Bound<'_, PyAny>,
    data: Bound<'_, PyAny>,
) -> PyResult<Verdict> {
    let mut verdict = Verdict::accept();
    if let Some(p) = subprotocol {
        verdict = verdict.with_subprotocol(p);
    }
    for (name, value) in header_list(headers)? {
        verdict = verdict.with_header(name, value);
    }
    if !data.is_none() {
        verdict = verdict.with_data(PyData(data.unbind()));
    }
    Ok(verdict)
}

fn refuse_from(
    status: u16,
    headers: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
) -> PyResult<Verdict> {
    let body = if body.is_none() {
        Vec::new()
    } else if let Ok(text) = body.cast::<PyString>() {
        text.to_cow()?.as_bytes().to_vec()
    } else {
        body.extract::<Vec<u8>>()
            .map_err(|_| PyTypeError::new_err("a refusal's body is str or bytes"))?
    };
    let mut verdict = Verdict::refuse(status, body);
    for (name, value) in header_list(headers)? {
        verdict = verdict.with_header(name, value);
    }
    Ok(verdict)
}

/// Headers as a dict, a list of pairs, or None.
fn header_list(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    if headers.is_none() {
        Ok(Vec::new())
    } else if let Ok(d) = headers.cast::<PyDict>() {
        d.iter()
            .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
            .collect()
    } else {
        headers.extract()
    }
}

/// An upgrade request of a server made with `upgrade_events=True`, from
/// `poll()`: answer it with `accept()` or `refuse()` within the handshake
/// timeout (unanswered: 503).
#[pyclass(frozen, module = "wsengine._wsengine")]
pub struct Upgrade {
    /// The request: path, query, headers, remote address, client certificate.
    #[pyo3(get)]
    request: Py<Request>,
    pending: Mutex<Option<PendingUpgrade>>,
}

impl Upgrade {
    pub(crate) fn new(py: Python<'_>, pending: PendingUpgrade) -> PyResult<Upgrade> {
        Ok(Upgrade {
            request: Py::new(py, request_from(py, pending.request()))?,
            pending: Mutex::new(Some(pending)),
        })
    }

    fn answer(&self, verdict: Verdict) -> PyResult<()> {
        let mut pending = self.pending.lock();
        let Some(p) = pending.as_ref() else {
            return Err(PyValueError::new_err("this upgrade was answered already"));
        };
        verdict
            .check_for(p.request())
            .map_err(PyValueError::new_err)?;
        if let Some(p) = pending.take() {
            p.answer(verdict);
        }
        Ok(())
    }
}

#[pymethods]
impl Upgrade {
    /// Accept: answer 101 with `subprotocol` (one the client offered; None
    /// keeps the server's choice) and `headers`, and attach `data` to the
    /// connection (`Connection.data`).
    #[pyo3(signature = (subprotocol=None, headers=None, data=None))]
    fn accept(
        &self,
        py: Python<'_>,
        subprotocol: Option<String>,
        headers: Option<Bound<'_, PyAny>>,
        data: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let none = py.None().into_bound(py);
        let verdict = accept_from(
            subprotocol,
            headers.as_ref().unwrap_or(&none),
            data.unwrap_or_else(|| none.clone()),
        )?;
        self.answer(verdict)
    }

    /// Refuse with `status` (300-599), `body` (str or bytes) and `headers`
    /// (a dict or (name, value) pairs), then close.
    #[pyo3(signature = (status, body=None, headers=None))]
    fn refuse(
        &self,
        py: Python<'_>,
        status: u16,
        body: Option<Bound<'_, PyAny>>,
        headers: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let none = py.None().into_bound(py);
        let verdict = refuse_from(
            status,
            headers.as_ref().unwrap_or(&none),
            body.as_ref().unwrap_or(&none),
        )?;
        self.answer(verdict)
    }

    /// Whether `accept` or `refuse` was called.
    #[getter]
    fn answered(&self) -> bool {
        self.pending.lock().is_none()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let request = self.request.bind(py).borrow();
        format!("<Upgrade path={:?}>", request.path)
    }
}

/// `bytes` for a DER certificate.
pub(crate) fn der_bytes(py: Python<'_>, der: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, der).unbind()
}
