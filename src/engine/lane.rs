//! A bounded multi-producer queue whose memory follows what is in it.
//!
//! A crossbeam `bounded(n)` channel allocates and initialises all `n`
//! slots when it is created: with the default send queue of 1024 messages
//! that is about 40 KiB per connection before a single message is sent,
//! most of an idle connection's memory. A lane is an unbounded (linked
//! blocks, allocated as messages arrive) channel plus a count that enforces
//! the bound: a sender reserves a place before sending, the consumer gives
//! places back as it takes messages. Senders that wait for room sleep on a
//! one-token channel the consumer signals whenever it frees a place while
//! someone waits; a woken sender that leaves room behind (or finds the lane
//! closed) passes the token on, so several waiters are all woken in turn.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crossbeam_channel::{
    Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded, select_biased,
    unbounded,
};

struct Room {
    /// Places taken: messages sent and not yet given back by the consumer.
    len: AtomicUsize,
    capacity: usize,
    /// Senders sleeping on `token`.
    waiters: AtomicUsize,
    /// The consumer is gone: nothing sent will be taken.
    closed: AtomicBool,
    /// Wakes one sleeping sender (at most one token is pending).
    token: Token,
}

impl Room {
    /// Wake one sleeping sender, if any.
    fn signal(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.token.signal();
        }
    }

    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A one-token wake-up channel, created by the first thread that needs to
/// sleep on it: most connections never wait for room, and a crossbeam
/// channel costs about 600 bytes (cache-padded ends).
#[derive(Default)]
pub(crate) struct Token(OnceLock<(Sender<()>, Receiver<()>)>);

impl Token {
    /// For a thread about to sleep: the channel (created now if needed).
    /// Call it before re-checking the condition slept on, so that a waker
    /// that changes the condition afterwards finds the channel.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        let rx = &self.0.get_or_init(|| bounded(1)).1;
        std::sync::atomic::fence(Ordering::SeqCst);
        rx
    }

    /// Wake the sleeper, if the channel exists (if it does not, nobody has
    /// gone to sleep on it). Call it after changing the condition.
    pub(crate) fn signal(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if let Some((tx, _)) = self.0.get() {
            let _ = tx.try_send(());
        }
    }
}

/// The producing side of a lane; cloneable, usable from any thread.
pub(crate) struct LaneSender<T> {
    tx: Sender<T>,
    room: Arc<Room>,
}

impl<T> Clone for LaneSender<T> {
    fn clone(&self) -> Self {
        LaneSender {
            tx: self.tx.clone(),
            room: Arc::clone(&self.room),
        }
    }
}

/// The consuming side of a lane. Receiving through [`channel`](Self::channel)
/// (for `select!`) must be followed by [`taken`](Self::taken).
pub(crate) struct LaneReceiver<T> {
    rx: Receiver<T>,
    room: Arc<Room>,
}

/// A lane holding at most `capacity` messages (at least one).
pub(crate) fn lane<T>(capacity: usize) -> (LaneSender<T>, LaneReceiver<T>) {
    let (tx, rx) = unbounded();
    let room = Arc::new(Room {
        len: AtomicUsize::new(0),
        capacity: capacity.max(1),
        waiters: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        token: Token::default(),
    });
    (
        LaneSender {
            tx,
            room: Arc::clone(&room),
        },
        LaneReceiver { rx, room },
    )
}

impl<T> LaneSender<T> {
    /// Send if there is room now.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.room.closed.load(Ordering::Acquire) {
            return Err(TrySendError::Disconnected(value));
        }
        if !self.room.reserve() {
            return Err(TrySendError::Full(value));
        }
        self.tx.try_send(value).inspect_err(|_| {
            self.room.len.fetch_sub(1, Ordering::SeqCst);
        })
    }

    /// Send, waiting for room until `deadline` (`None`: as long as it
    /// takes) or until `stop` has something to receive or is disconnected.
    /// A stop gives the value back as `Disconnected`.
    pub(crate) fn send_until<S>(
        &self,
        mut value: T,
        deadline: Option<Instant>,
        stop: Option<&Receiver<S>>,
    ) -> Result<(), SendTimeoutError<T>> {
        let never = crossbeam_channel::never();
        let stop = stop.unwrap_or(&never);
        let mut woken = false;
        loop {
            match self.try_send(value) {
                Ok(()) => {
                    if woken && self.len() < self.room.capacity {
                        self.room.signal();
                    }
                    return Ok(());
                }
                Err(TrySendError::Disconnected(v)) => {
                    // Let the next waiter find out too.
                    self.room.signal();
                    return Err(SendTimeoutError::Disconnected(v));
                }
                Err(TrySendError::Full(v)) => value = v,
            }
            // The token exists before we count as waiting (so whoever sees
            // us waiting can signal it). SeqCst here and in `taken`: either
            // the consumer sees us waiting, or we see the room it made.
            let token = self.room.token.receiver();
            self.room.waiters.fetch_add(1, Ordering::SeqCst);
            if self.room.len.load(Ordering::SeqCst) < self.room.capacity
                || self.room.closed.load(Ordering::SeqCst)
            {
                self.room.waiters.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let timeout = match deadline {
                Some(d) => crossbeam_channel::at(d),
                None => crossbeam_channel::never(),
            };
            let mut outcome = None;
            select_biased! {
                recv(token) -> _ => woken = true,
                recv(stop) -> _ => outcome = Some(false),
                recv(timeout) -> _ => outcome = Some(true),
            }
            self.room.waiters.fetch_sub(1, Ordering::SeqCst);
            match outcome {
                Some(false) => return Err(SendTimeoutError::Disconnected(value)),
                Some(true) => {
                    return match self.try_send(value) {
                        Ok(()) => Ok(()),
                        Err(TrySendError::Full(v)) => Err(SendTimeoutError::Timeout(v)),
                        Err(TrySendError::Disconnected(v)) => {
                            Err(SendTimeoutError::Disconnected(v))
                        }
                    };
                }
                None => {}
            }
        }
    }

    /// Messages in the lane.
    pub(crate) fn len(&self) -> usize {
        self.room.len.load(Ordering::Acquire)
    }
}

impl<T> LaneReceiver<T> {
    /// Wait for the next message; `Err` once it is empty and every sender
    /// is gone.
    pub(crate) fn recv(&self) -> Result<T, crossbeam_channel::RecvError> {
        let v = self.rx.recv()?;
        self.taken(1);
        Ok(v)
    }

    /// Wait up to `timeout` for the next message.
    pub(crate) fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<T, crossbeam_channel::RecvTimeoutError> {
        let v = self.rx.recv_timeout(timeout)?;
        self.taken(1);
        Ok(v)
    }

    /// Take the next message if there is one.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let v = self.rx.try_recv()?;
        self.taken(1);
        Ok(v)
    }

    /// Take every message now in the lane.
    pub(crate) fn drain(&self) -> Vec<T> {
        let all: Vec<T> = self.rx.try_iter().collect();
        self.taken(all.len());
        all
    }

    /// The channel, for `select!`; a message received from it directly must
    /// be followed by [`taken`](Self::taken).
    pub(crate) fn channel(&self) -> &Receiver<T> {
        &self.rx
    }

    /// Give back `n` places, waking a waiting sender if there is one.
    pub(crate) fn taken(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.room.len.fetch_sub(n, Ordering::SeqCst);
        self.room.signal();
    }

    /// Messages in the lane.
    pub(crate) fn len(&self) -> usize {
        self.room.len.load(Ordering::Acquire)
    }
}

impl<T> Drop for LaneReceiver<T> {
    fn drop(&mut self) {
        self.room.closed.store(true, Ordering::SeqCst);
        self.room.signal();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_gives_places_back() {
        let (tx, rx) = lane(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!((tx.len(), rx.len()), (2, 2));
        assert_eq!(rx.try_recv(), Ok(1));
        tx.try_send(3).unwrap();
        assert_eq!(rx.drain(), vec![2, 3]);
        assert_eq!(tx.len(), 0);
    }

    #[test]
    fn a_full_lane_times_out_and_hands_the_value_back() {
        let (tx, _rx) = lane(1);
        tx.try_send(1).unwrap();
        let deadline = Instant::now() + Duration::from_millis(30);
        match tx.send_until::<()>(2, Some(deadline), None) {
            Err(SendTimeoutError::Timeout(2)) => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn every_waiting_sender_gets_in_as_room_appears() {
        let (tx, rx) = lane(1);
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (1..=4)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || tx.send_until::<()>(i, None, None).is_ok())
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 5 {
            got.push(
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("a waiting sender was never woken"),
            );
        }
        assert!(senders.into_iter().all(|s| s.join().unwrap()));
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn dropping_the_receiver_wakes_every_waiting_sender() {
        let (tx, rx) = lane(1);
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || tx.send_until::<()>(i, None, None))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        for s in senders {
            assert!(matches!(
                s.join().unwrap(),
                Err(SendTimeoutError::Disconnected(_))
            ));
        }
        assert!(matches!(tx.try_send(9), Err(TrySendError::Disconnected(9))));
    }

    #[test]
    fn a_stop_signal_ends_the_wait() {
        let (tx, _rx) = lane(1);
        tx.try_send(0).unwrap();
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let waiter = std::thread::spawn(move || tx.send_until(1, None, Some(&stop_rx)));
        std::thread::sleep(Duration::from_millis(20));
        drop(stop_tx);
        assert!(matches!(
            waiter.join().unwrap(),
            Err(SendTimeoutError::Disconnected(1))
        ));
    }

    #[test]
    fn a_receiver_sees_the_end_once_senders_are_gone() {
        let (tx, rx) = lane::<u8>(4);
        tx.try_send(7).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(7));
        assert!(rx.recv().is_err());
    }
}
