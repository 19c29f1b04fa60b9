//! One timer thread for the whole process.
//!
//! Connections register deadlines (close handshake, keepalive, idle) here
//! instead of each keeping a thread awake: 10,000 idle connections cost one
//! sleeping thread and a heap of 10,000 entries. Entries hold `Weak`
//! references, so a timer never keeps a connection alive; a stale entry is
//! dropped when it fires.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// The close handshake must be over by now.
    CloseDeadline,
    /// Send a deferred close frame even if the application has not drained.
    DeferredClose,
    /// Check whether to ping, or whether the peer is dead.
    Keepalive,
    /// Check for an idle connection.
    Idle,
    /// A server connection's opening handshake must be over by now (the
    /// application's upgrade hook is still deciding).
    HandshakeDeadline,
    /// Free large message buffers kept and not reused (`recycle.rs`).
    TrimBuffers,
    /// Write out replies a `poll` or `recv` caller gathered, `HOLD_MAX`
    /// after the first of them (`Shared::hold_writes`).
    HeldWrites,
}

/// What a timer calls: a connection's state. Held weakly, so a timer never
/// keeps a connection alive, and as a trait object, so the timer does not
/// depend on what a connection is.
pub(crate) trait TimerTarget: Send + Sync {
    /// Run the timer `kind`, on the timer thread (shared by every
    /// connection: it must not block).
    fn on_timer(self: Arc<Self>, kind: TimerKind);
    /// `on_timer` panicked: the target must be dropped (its state may be
    /// half-changed).
    fn timer_panicked(&self);
}

struct Entry {
    at: Instant,
    seq: u64,
    target: Weak<dyn TimerTarget>,
    kind: TimerKind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    const fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

struct Timers {
    queue: Mutex<Queue>,
    wake: Condvar,
}

static TIMERS: Timers = Timers {
    queue: Mutex::new(Queue::new()),
    wake: Condvar::new(),
};
static STARTED: Mutex<bool> = Mutex::new(false);

fn timers() -> &'static Timers {
    &TIMERS
}

/// The instant `d` from now. Durations past [`MAX_TIMEOUT`] (which
/// `Config::validate` refuses, but which arithmetic may produce) count as
/// `MAX_TIMEOUT`: later than any connection lives, and never an overflow.
///
/// [`MAX_TIMEOUT`]: crate::config::MAX_TIMEOUT
pub(crate) fn deadline_in(d: Duration) -> Instant {
    Instant::now() + d.min(crate::config::MAX_TIMEOUT)
}

/// Start the timer thread if it is not running. Servers and clients call
/// this before creating connections, so a process that cannot start it gets
/// an error up front instead of connections whose deadlines never fire.
pub(crate) fn init() -> std::io::Result<()> {
    let mut started = STARTED.lock();
    if !*started {
        std::thread::Builder::new()
            .name("wsengine-timer".into())
            .stack_size(64 << 10)
            .spawn(|| run(&TIMERS))?;
        *started = true;
    }
    Ok(())
}

/// Call `target.on_timer(kind)` at (or soon after) `at`, if the target
/// still exists then.
pub(crate) fn schedule<T: TimerTarget + 'static>(at: Instant, target: &Arc<T>, kind: TimerKind) {
    let weak: Weak<T> = Arc::downgrade(target);
    let target: Weak<dyn TimerTarget> = weak;
    let t = timers();
    let mut q = t.queue.lock();
    q.seq += 1;
    let seq = q.seq;
    let earliest = q.heap.peek().is_none_or(|e| at < e.at);
    q.heap.push(Entry {
        at,
        seq,
        target,
        kind,
    });
    drop(q);
    if earliest {
        t.wake.notify_one();
    }
}

fn run(t: &'static Timers) {
    let mut q = t.queue.lock();
    loop {
        let now = Instant::now();
        match q.heap.peek() {
            None => t.wake.wait(&mut q),
            Some(e) if e.at > now => {
                let at = e.at;
                t.wake.wait_until(&mut q, at);
            }
            Some(_) => {
                let Some(entry) = q.heap.pop() else { continue };
                // Never run connection code while holding the queue lock.
                drop(q);
                if let Some(target) = entry.target.upgrade() {
                    let run = Arc::clone(&target);
                    let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run.on_timer(entry.kind)
                    }));
                    if fired.is_err() {
                        target.timer_panicked();
                    }
                }
                q = t.queue.lock();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::{Sender, channel};

    use super::*;

    /// A target that reports what happened to it.
    struct Probe {
        events: Mutex<Sender<&'static str>>,
        panics: bool,
    }

    impl TimerTarget for Probe {
        fn on_timer(self: Arc<Self>, kind: TimerKind) {
            assert_eq!(kind, TimerKind::Idle);
            if self.panics {
                std::panic::resume_unwind(Box::new("probe panics"));
            }
            let _ = self.events.lock().unwrap().send("fired");
        }

        fn timer_panicked(&self) {
            let _ = self.events.lock().unwrap().send("panicked");
        }
    }

    #[test]
    fn targets_are_called_weakly_and_a_panic_is_reported_to_them() {
        init().unwrap();
        let (tx, rx) = channel();
        let probe = |panics| {
            Arc::new(Probe {
                events: Mutex::new(tx.clone()),
                panics,
            })
        };
        let soon = || deadline_in(Duration::from_millis(20));
        let (calm, wild, gone) = (probe(false), probe(true), probe(false));
        schedule(soon(), &calm, TimerKind::Idle);
        schedule(soon(), &wild, TimerKind::Idle);
        schedule(soon(), &gone, TimerKind::Idle);
        drop(gone); // a timer never keeps its target alive, nor calls it once gone
        let mut got: Vec<_> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, ["fired", "panicked"]);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }
}
