//! A connection's inbound queue: the reader thread puts messages in, the
//! application's `recv` callers take them out, and the reader says when
//! they are worth waking for.
//!
//! A channel wakes a sleeping receiver on every send. The reader decodes
//! one read's bytes into several messages; waking the application thread
//! at the first one lets it preempt the reader, answer one message, find
//! the queue empty and sleep again, once per message: twice the context
//! switches of reading a burst and answering it whole. Here the reader
//! puts a read's messages in quietly and [announces](InboxSender::announce)
//! them once it has decoded them all (or before it waits for room, or
//! when it goes away), so a woken `recv` caller finds the burst waiting
//! and its replies can go out together (`Conn::recv` holds them while
//! more messages wait).
//!
//! The bound in messages is the underlying [`lane`]'s; the queue memory
//! follows what is in it, as a lane's does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError, TrySendError};
use parking_lot::{Condvar, Mutex};

use super::lane::{LaneReceiver, LaneSender, Weigh, lane};

/// Where `recv` callers sleep until messages are announced.
struct Arrivals {
    /// Callers asleep (or about to sleep) on `arrived`; changed under `lock`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    arrived: Condvar,
}

impl Arrivals {
    /// Wake one sleeper (`all`: every sleeper), if there is one. The
    /// caller has put messages in (or ended the queue) before calling.
    fn wake(&self, all: bool) {
        // Pairs with the fence in `InboxReceiver::recv_until`: either the
        // sleeper's check sees what was put in, or this sees the sleeper.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        // Taken so that a caller between its check and its sleep cannot
        // miss the notification.
        let _guard = self.lock.lock();
        if all {
            self.arrived.notify_all();
        } else {
            self.arrived.notify_one();
        }
    }
}

/// An inbound queue of at most `capacity` messages (at least one).
pub(crate) fn inbox<T>(capacity: usize) -> (InboxSender<T>, InboxReceiver<T>) {
    let (tx, rx) = lane(capacity);
    let arrivals = Arc::new(Arrivals {
        sleepers: AtomicUsize::new(0),
        lock: Mutex::new(()),
        arrived: Condvar::new(),
    });
    (
        InboxSender {
            lane: Some(tx),
            arrivals: Arc::clone(&arrivals),
        },
        InboxReceiver { lane: rx, arrivals },
    )
}

/// The reader's end. Dropping it ends the queue: `recv` callers get every
/// message already in it, then `Disconnected`.
pub(crate) struct InboxSender<T> {
    /// `None` only while being dropped.
    lane: Option<LaneSender<T>>,
    arrivals: Arc<Arrivals>,
}

impl<T: Weigh> InboxSender<T> {
    /// Put `value` in without waking anyone (see [`announce`](Self::announce)),
    /// waiting for room if the queue is full, until `stop` has something
    /// to receive or is disconnected. Returns `false` (dropping the value)
    /// if stopped or if the receiving end is gone.
    pub(crate) fn send<S>(&self, value: T, stop: &Receiver<S>) -> bool {
        let Some(lane) = &self.lane else {
            return false;
        };
        match lane.try_send(value) {
            Ok(()) => true,
            Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(value)) => {
                // Whoever would make room must know what is waiting.
                self.announce();
                lane.send_until(value, None, Some(stop)).is_ok()
            }
        }
    }

    /// Wake a `recv` caller for the messages put in since the last
    /// announcement (cheap when nobody sleeps: a fence and a load).
    pub(crate) fn announce(&self) {
        self.arrivals.wake(false);
    }
}

impl<T> Drop for InboxSender<T> {
    fn drop(&mut self) {
        // The lane ends first, so that whoever wakes finds it ended.
        drop(self.lane.take());
        self.arrivals.wake(true);
    }
}

/// The `recv` callers' end; shared by every thread that calls `recv` on
/// the connection.
pub(crate) struct InboxReceiver<T> {
    lane: LaneReceiver<T>,
    arrivals: Arc<Arrivals>,
}

impl<T: Weigh> InboxReceiver<T> {
    /// Wait until `deadline` (`None`: as long as it takes) for the next
    /// message; `Disconnected` once the queue is ended and empty.
    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            match self.take() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            let mut guard = self.arrivals.lock.lock();
            self.arrivals.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            // Checked again as a sleeper: a message announced from now on
            // finds us counted, and notifies only once we sleep (the lock).
            let timed_out = match self.lane.try_recv() {
                Ok(v) => {
                    self.arrivals.sleepers.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                    self.pass_on();
                    return Ok(v);
                }
                Err(TryRecvError::Disconnected) => false,
                Err(TryRecvError::Empty) => match deadline {
                    Some(d) => self.arrivals.arrived.wait_until(&mut guard, d).timed_out(),
                    None => {
                        self.arrivals.arrived.wait(&mut guard);
                        false
                    }
                },
            };
            self.arrivals.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(guard);
            if timed_out {
                return self.take().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                });
            }
        }
    }

    /// Take the next message if one is in the queue (announced or not).
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.take()
    }

    fn take(&self) -> Result<T, TryRecvError> {
        let v = self.lane.try_recv()?;
        self.pass_on();
        Ok(v)
    }

    /// Another caller asleep while messages are left wakes up to take them
    /// (an announcement wakes one caller, which passes it on).
    fn pass_on(&self) {
        if self.arrivals.sleepers.load(Ordering::SeqCst) > 0 && self.lane.len() > 0 {
            self.arrivals.wake(false);
        }
    }
}

impl<T> InboxReceiver<T> {
    /// Messages in the queue.
    pub(crate) fn len(&self) -> usize {
        self.lane.len()
    }
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::*;

    impl Weigh for u32 {
        fn weight(&self) -> usize {
            0
        }
    }

    fn never() -> Receiver<()> {
        crossbeam_channel::never()
    }

    #[test]
    fn a_sleeper_wakes_at_the_announcement_not_before() {
        let (tx, rx) = inbox::<u32>(16);
        let (got_tx, got) = crossbeam_channel::unbounded();
        let consumer = thread::spawn(move || {
            while let Ok(v) = rx.recv_until(None) {
                got_tx.send(v).unwrap();
            }
        });
        // Let the consumer go to sleep first.
        thread::sleep(Duration::from_millis(50));
        assert!(tx.send(1, &never()));
        assert!(tx.send(2, &never()));
        assert!(
            got.recv_timeout(Duration::from_millis(100)).is_err(),
            "woken before the announcement"
        );
        tx.announce();
        assert_eq!(got.recv_timeout(Duration::from_secs(5)), Ok(1));
        assert_eq!(got.recv_timeout(Duration::from_secs(5)), Ok(2));
        drop(tx);
        consumer.join().unwrap();
    }

    #[test]
    fn ending_the_queue_wakes_every_caller_after_the_last_message() {
        let (tx, rx) = inbox::<u32>(16);
        let rx = Arc::new(rx);
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let rx = Arc::clone(&rx);
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv_until(None) {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        for v in 0..10 {
            assert!(tx.send(v, &never()));
        }
        // Not announced: the end announces them.
        drop(tx);
        let mut all: Vec<u32> = callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_queue_announces_before_the_sender_waits() {
        let (tx, rx) = inbox::<u32>(2);
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_until(None) {
                got.push(v);
            }
            got
        });
        // Never announced by hand: filling the queue must do it, or this
        // waits forever.
        for v in 0..100 {
            assert!(tx.send(v, &never()));
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn recv_until_times_out_and_sees_the_end() {
        let (tx, rx) = inbox::<u32>(4);
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(rx.recv_until(Some(soon)), Err(RecvTimeoutError::Timeout));
        assert!(tx.send(7, &never()));
        // Taken without an announcement: it is in the queue.
        assert_eq!(rx.try_recv(), Ok(7));
        drop(tx);
        assert_eq!(rx.recv_until(None), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn a_stopped_sender_gives_up_on_a_full_queue() {
        let (tx, _rx) = inbox::<u32>(1);
        assert!(tx.send(1, &never()));
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        stop_tx.send(()).unwrap();
        assert!(!tx.send(2, &stop));
    }
}
