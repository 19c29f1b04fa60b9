//! Event delivery for servers in poll mode ([`Config::poll_events`]).
//!
//! Instead of an accept queue and one receive queue per connection, every
//! connection of the server feeds one FIFO of [`ServerEvent`]s that the
//! application drains with [`Server::poll`](super::Server::poll), from any
//! thread, typically once per frame of a game loop. Events of one
//! connection come in order: `Open`, its messages, then `Closed`.
//!
//! Message events are bounded: at most `Config::event_queue_capacity` wait
//! at once, holding at most `Config::event_queue_bytes` (one larger message
//! is queued when no other waits), and each connection's `recv_queue_bytes`
//! still applies; a connection whose messages cannot be queued stops being
//! read (TCP backpressure). `Open` and `Closed` never wait, and there are at most two
//! per connection. Upgrade requests (with `Config::upgrade_events`) count
//! against the same budget; one that finds it full is refused with 503.
//!
//! [`Config::poll_events`]: crate::Config::poll_events

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, after, bounded, never, select_biased, unbounded};
use parking_lot::Mutex;

use super::conn::{Backlog, Conn};
use super::lane::Budget;
use super::shared::{Shared, release_held};
use super::signal::Never;
use super::upgrade::PendingUpgrade;
use crate::protocol::CloseInfo;
use crate::protocol::Message;

/// Something that happened on one of a poll-mode server's connections.
///
/// Each event holds the connection; reply or close through it. The server
/// keeps every connection alive until it closes, so dropping events (and
/// the handles in them) never closes a connection by itself.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A connection completed its opening handshake.
    Open(Arc<Conn>),
    /// A complete message arrived.
    Message(Arc<Conn>, Message),
    /// The connection is closed and torn down: its last event.
    Closed(Arc<Conn>, CloseInfo),
    /// A client asks to upgrade (only with
    /// [`Config::upgrade_events`](crate::Config::upgrade_events)): answer
    /// it before the handshake timeout. No connection exists yet; an
    /// accepted one arrives as `Open`.
    UpgradeRequest(PendingUpgrade),
}

impl ServerEvent {
    /// The connection the event is about (none for `UpgradeRequest`).
    pub fn conn(&self) -> Option<&Arc<Conn>> {
        match self {
            ServerEvent::Open(c) | ServerEvent::Message(c, _) | ServerEvent::Closed(c, _) => {
                Some(c)
            }
            ServerEvent::UpgradeRequest(_) => None,
        }
    }
}

/// The bytes an upgrade request holds while it waits: its request's text
/// and the client's certificates.
fn upgrade_weight(pending: &PendingUpgrade) -> usize {
    let r = pending.request();
    r.path.len()
        + r.query.as_ref().map_or(0, String::len)
        + r.headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
        + r.peer_certificates.iter().map(Vec::len).sum::<usize>()
}

/// The shared FIFO of one poll-mode server.
pub(crate) struct Hub {
    tx: Sender<ServerEvent>,
    rx: Receiver<ServerEvent>,
    /// Message events waiting in `rx`, and the bytes of their messages.
    budget: Budget,
    /// Wakes readers waiting for room: a token per waiting reader, sent
    /// when the queue has drained to half (see `made_room`).
    room_tx: Sender<()>,
    room_rx: Receiver<()>,
    /// Readers waiting in `deliver` for room.
    waiting: AtomicUsize,
    /// Connections whose deferred close waits for the application to be
    /// done with their last messages.
    releases: Mutex<Releases>,
    /// Wakes a blocked `poll` so it can release them.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Backlog for Hub {
    fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// Deferred closes to release, by how sure we are that the application has
/// handled (and replied to) the messages before them.
#[derive(Default)]
struct Releases {
    /// Pending since before the last non-blocking poll that found nothing:
    /// a game loop has finished that frame, so its replies are queued.
    ready: Vec<Arc<Shared>>,
    /// Pending since then: the application may still be handling them.
    fresh: Vec<Arc<Shared>>,
}

impl Hub {
    pub(crate) fn new(capacity: usize, byte_capacity: usize) -> Self {
        let (tx, rx) = unbounded();
        let (room_tx, room_rx) = bounded(capacity.max(1));
        let (wake_tx, wake_rx) = bounded(1);
        Hub {
            tx,
            rx,
            budget: Budget::new(capacity, byte_capacity),
            room_tx,
            room_rx,
            waiting: AtomicUsize::new(0),
            releases: Mutex::new(Releases::default()),
            wake_tx,
            wake_rx,
        }
    }

    pub(crate) fn open(&self, conn: Arc<Conn>) {
        // The hub owns `rx`, so the channel never disconnects.
        let _ = self.tx.send(ServerEvent::Open(conn));
    }

    pub(crate) fn closed(&self, conn: Arc<Conn>, info: CloseInfo) {
        let _ = self.tx.send(ServerEvent::Closed(conn, info));
    }

    /// Ask the application about an upgrade. Never waits: `false` if the
    /// event budget (the one message events share) has no room, and the
    /// upgrade is refused. Counted until `poll` hands it out, so a loop
    /// that stops polling cannot be made to hold the requests of every
    /// connection that comes and gives up meanwhile.
    pub(crate) fn upgrade_request(&self, pending: PendingUpgrade) -> bool {
        if !self.budget.reserve(upgrade_weight(&pending)) {
            return false;
        }
        let _ = self.tx.send(ServerEvent::UpgradeRequest(pending));
        true
    }

    /// For the reader: queue a message event, waiting for room. Returns
    /// `false` if the connection was torn down while waiting.
    pub(crate) fn deliver(&self, conn: &Arc<Conn>, m: Message, killed: &Receiver<Never>) -> bool {
        while !self.budget.reserve(m.len()) {
            // Counted as waiting before looking again: a poller that
            // drains the queue past half either sees this count (and sends
            // a token) or left the room this second look finds.
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if self.budget.reserve(m.len()) {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            let woken = select_biased! {
                recv(killed) -> _ => false,
                recv(self.room_rx) -> _ => true,
            };
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            if !woken {
                return false;
            }
        }
        conn.shared().in_flight.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send(ServerEvent::Message(Arc::clone(conn), m));
        true
    }

    /// For the reader: no more messages will come from this connection (a
    /// close arrived or it failed). If the application has taken them all,
    /// the next `poll` releases the deferred close.
    pub(crate) fn input_ended(&self, shared: &Arc<Shared>) {
        shared.input_ended.store(true, Ordering::SeqCst);
        if shared.in_flight.load(Ordering::SeqCst) == 0 {
            // Everything was taken before: a poller waiting now is done with it.
            self.push_release(shared, true);
        }
    }

    /// Queue a deferred close for release. `wake` wakes a blocked poller to
    /// release it; the thread that took a connection's last message does not
    /// wake others (it releases the close itself when it polls again, after
    /// its replies, even while other threads poll too).
    fn push_release(&self, shared: &Arc<Shared>, wake: bool) {
        self.releases.lock().fresh.push(Arc::clone(shared));
        if wake {
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Release deferred closes: all of them when `all` (the application is
    /// back to wait for more, so it is done with what it took), else only
    /// the ones from before its last completed drain.
    fn release(&self, all: bool) {
        let list = {
            let mut r = self.releases.lock();
            let mut list = std::mem::take(&mut r.ready);
            if all {
                list.append(&mut r.fresh);
            }
            list
        };
        for shared in list {
            shared.release_deferred_close();
        }
    }

    /// An event of `weight` left the queue. Once the queue has drained to
    /// half, every reader waiting for room is woken at once: each then
    /// queues what it has read and reads on, until the queue is full
    /// again. (Waking one reader per event taken, as before, made every
    /// message cost a wake-up and a context switch once the queue was
    /// full: at 64 connections x 64 messages in flight the echo fell to a
    /// tenth of its rate, 9.4 us of server CPU per message.)
    fn made_room(&self, weight: usize) {
        if !self.budget.release_to_low_water(weight) {
            return;
        }
        // Tokens already on their way count (no reader is woken twice
        // for one wait, and none spins through stale tokens later).
        let unwoken = self
            .waiting
            .load(Ordering::SeqCst)
            .saturating_sub(self.room_rx.len());
        for _ in 0..unwoken {
            if self.room_tx.try_send(()).is_err() {
                break;
            }
        }
    }

    /// The next event, waiting up to `timeout` (`Duration::MAX`: no limit).
    /// `Ok(None)` on timeout; `Err(())` once `stop` has fired and no event is left.
    ///
    /// The answer to a peer's close waits until the application is done
    /// with the messages before it. A blocking poll (nonzero `timeout`)
    /// means it is, for everything it took. A non-blocking poll that finds
    /// nothing ends a game loop's drain; the replies of that frame follow
    /// it, so those closes are answered at the next frame's first poll.
    pub(crate) fn poll(
        &self,
        timeout: Duration,
        stop: &Receiver<Never>,
    ) -> Result<Option<ServerEvent>, ()> {
        self.release(!timeout.is_zero());
        let event = match self.rx.try_recv() {
            Ok(ev) => Some(ev),
            Err(_) => {
                // Nothing waits: replies gathered from this thread go out
                // before it returns empty-handed or blocks.
                release_held();
                self.wait(timeout, stop)?
            }
        };
        self.took(&event);
        Ok(event)
    }

    /// `poll` found nothing: `Ok(None)` at once for a zero `timeout`,
    /// else wait for an event up to `timeout`.
    fn wait(&self, timeout: Duration, stop: &Receiver<Never>) -> Result<Option<ServerEvent>, ()> {
        let event = match self.rx.try_recv() {
            Ok(ev) => ev,
            Err(_) if timeout.is_zero() => {
                let mut r = self.releases.lock();
                let fresh = std::mem::take(&mut r.fresh);
                r.ready.extend(fresh);
                return Ok(None);
            }
            Err(_) => {
                let timer = if timeout == Duration::MAX {
                    never()
                } else {
                    after(timeout)
                };
                loop {
                    select_biased! {
                        recv(self.rx) -> ev => match ev {
                            Ok(ev) => break ev,
                            Err(_) => return Err(()),
                        },
                        recv(stop) -> _ => match self.rx.try_recv() {
                            Ok(ev) => break ev,
                            Err(_) => return Err(()),
                        },
                        recv(self.wake_rx) -> _ => self.release(true),
                        recv(timer) -> _ => return Ok(None),
                    }
                }
            }
        };
        Ok(Some(event))
    }

    /// Bookkeeping for an event `poll` hands out (`None`: none).
    ///
    /// Replies to a run of one connection's messages are gathered while
    /// more events wait (the application will poll again at once), and
    /// written in one write when it takes another connection's event,
    /// finds the queue empty, or has held them for `HOLD_MAX`: one write
    /// per run instead of a wake-up of the connection's writer thread.
    fn took(&self, event: &Option<ServerEvent>) {
        match event {
            Some(ServerEvent::Message(conn, _)) if !self.rx.is_empty() => {
                conn.shared().hold_writes(true);
            }
            _ => release_held(),
        }
        let Some(event) = event else {
            return;
        };
        if let ServerEvent::UpgradeRequest(pending) = event {
            self.made_room(upgrade_weight(pending));
        }
        if let ServerEvent::Message(conn, m) = event {
            self.made_room(m.len());
            let shared = conn.shared();
            shared.taken(m.len());
            if shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
                && shared.input_ended.load(Ordering::SeqCst)
            {
                self.push_release(shared, false);
            }
        }
    }
}
