//! Blocking without holding the interpreter, interruptible by Ctrl-C.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use wsengine::Error;

use crate::errors::to_py;
use crate::options::duration;

/// How long one GIL-free wait lasts before signals are checked.
const SLICE: Duration = Duration::from_millis(50);

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
pub(crate) fn wait<T: Send>(
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
pub(crate) fn aside<T: Send + 'static>(
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
    outcome.map_err(to_py)
}

/// [`wait`], with engine errors turned into Python exceptions.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    op: impl Fn(Duration) -> Result<T, Error> + Sync,
) -> PyResult<T> {
    wait(py, timeout, false, op)?.map_err(to_py)
}
