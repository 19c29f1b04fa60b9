//! Broadcasting to a server's groups, and its report.

use pyo3::prelude::*;
use wsengine::{Audience, Conn, Groups};

use crate::connection::message_from_py;

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
pub(crate) fn broadcast(
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
