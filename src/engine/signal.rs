//! A one-shot broadcast: fired once, observed by any number of waiters.
//!
//! Built on channel disconnection: the only `Sender` is dropped when the
//! signal fires, so every receiver (including ones inside a `select!`)
//! wakes with `Disconnected`. Firing twice is a no-op.

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

/// Uninhabited: nothing is ever sent on a signal channel.
pub(crate) enum Never {}

pub(crate) struct Signal {
    tx: Mutex<Option<Sender<Never>>>,
    rx: Receiver<Never>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        let (tx, rx) = bounded(0);
        Signal {
            tx: Mutex::new(Some(tx)),
            rx,
        }
    }

    /// Fire the signal; returns `true` if this call fired it.
    pub(crate) fn fire(&self) -> bool {
        self.tx.lock().take().is_some()
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.tx.lock().is_none()
    }

    /// A receiver that becomes ready (disconnected) once the signal fires.
    pub(crate) fn receiver(&self) -> &Receiver<Never> {
        &self.rx
    }
}
