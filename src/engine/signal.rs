//! A one-shot broadcast: fired once, observed by any number of waiters.
//!
//! Built on channel disconnection: the only `Sender` is dropped when the
//! signal fires, so every receiver (including ones inside a `select!`)
//! wakes with `Disconnected`. Firing twice is a no-op.
//!
//! The channel is made by the first caller of [`Signal::receiver`]: most
//! signals of an idle connection are never waited on, and each channel is
//! a heap allocation. A channel made after the signal fired is made
//! already disconnected.

use std::sync::OnceLock;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

/// Uninhabited: nothing is ever sent on a signal channel.
pub(crate) enum Never {}

enum State {
    /// Not fired, and nobody has asked for the channel yet.
    Unwatched,
    /// Not fired; dropping the sender (held only for that) fires the channel.
    Watched {
        _tx: Sender<Never>,
    },
    Fired,
}

pub(crate) struct Signal {
    state: Mutex<State>,
    rx: OnceLock<Receiver<Never>>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Signal {
            state: Mutex::new(State::Unwatched),
            rx: OnceLock::new(),
        }
    }

    /// Fire the signal; returns `true` if this call fired it.
    pub(crate) fn fire(&self) -> bool {
        // Dropping a `Watched` sender wakes every receiver.
        !matches!(
            std::mem::replace(&mut *self.state.lock(), State::Fired),
            State::Fired
        )
    }

    pub(crate) fn is_fired(&self) -> bool {
        matches!(*self.state.lock(), State::Fired)
    }

    /// A receiver that becomes ready (disconnected) once the signal fires.
    pub(crate) fn receiver(&self) -> &Receiver<Never> {
        self.rx.get_or_init(|| {
            let (tx, rx) = bounded(0);
            let mut state = self.state.lock();
            if matches!(*state, State::Unwatched) {
                *state = State::Watched { _tx: tx };
            }
            // Otherwise it already fired: `tx` drops here, and `rx` is ready.
            rx
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_once() {
        let s = Signal::new();
        assert!(!s.is_fired());
        assert!(s.fire());
        assert!(!s.fire());
        assert!(s.is_fired());
    }

    #[test]
    fn a_receiver_made_before_firing_wakes_when_it_fires() {
        let s = std::sync::Arc::new(Signal::new());
        let rx = s.receiver().clone();
        assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
        assert!(!s.is_fired(), "waiting does not fire it");
        let firing = std::sync::Arc::clone(&s);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            firing.fire()
        });
        // Disconnected (not a timeout) once fired.
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        ));
        assert!(t.join().unwrap());
    }

    #[test]
    fn a_receiver_made_after_firing_is_ready_at_once() {
        let s = Signal::new();
        s.fire();
        assert!(matches!(
            s.receiver().recv_timeout(Duration::from_secs(5)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        ));
    }
}
