//! The state every thread of one connection shares.
//!
//! All close decisions go through [`Shared`]: the application's `close`,
//! a close frame from the peer, a protocol error found by the reader, an
//! I/O error, a timer, server shutdown and `Drop`. Each is a transition of
//! the close state machine (`lifecycle.rs`) taken under one lock; `Shared`
//! then carries out the actions it returns (`apply`): flags, wake-ups,
//! timers, socket shutdown. Sending goes through one path, [`Shared::offer`].

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, TrySendError};
use parking_lot::{Mutex, MutexGuard};

use super::keepalive::{self, Keepalive};
use super::lane::{LaneReceiver, LaneSender, Token};
use super::lifecycle::{Actions, Lifecycle};
use super::outbox::{Batch, Control, Direct, Outbox, Outgoing};
use super::signal::Signal;
use super::spawn::spawn_with;
use super::timer::{self, TimerKind, TimerTarget};
use super::transport::Transport;
use crate::config::{Config, OverflowPolicy};
use crate::protocol::close::{CloseInfo, CloseInitiator};
use crate::protocol::{CloseCode, CloseFrame, Role};

/// Shared by the reader, the writer, the timer and every `Conn` handle.
pub(crate) struct Shared {
    /// Unique in the process, never reused.
    pub(crate) id: u64,
    pub(crate) role: Role,
    pub(crate) transport: Transport,
    pub(crate) config: Arc<Config>,
    /// The control lane; use `try_control`/`send_control`, which keep the
    /// outbox's count of queued frames.
    ctrl_tx: LaneSender<Control>,
    /// Fired when the writer must act on a close: a close frame is pending,
    /// or the connection is torn down.
    pub(crate) closing: Signal,
    /// Fired when the connection is being torn down (killed or finished);
    /// wakes a reader blocked on a full inbound queue.
    pub(crate) killed: Signal,
    /// Fired once teardown is complete: the reader has exited.
    pub(crate) finished: Signal,
    /// Mirrors `Lifecycle::sends_refused` for the lock-free check in `send`.
    send_closed: AtomicBool,
    /// The close state machine; transitions return what to do, done by
    /// [`apply`](Self::apply) once the lock is released.
    lifecycle: Mutex<Lifecycle>,
    /// Milliseconds (on the engine clock) when bytes last arrived.
    last_rx: AtomicU64,
    /// When the last keepalive ping was queued.
    last_ping: AtomicU64,
    /// When a data message was last sent or received.
    last_data: AtomicU64,
    /// Messages accepted by `send` that were never written.
    pub(crate) unsent: AtomicU64,
    /// Payload bytes in the inbound queue (see `Config::recv_queue_bytes`).
    pub(crate) inbound_bytes: AtomicUsize,
    /// Poll mode: message events of this connection not yet taken.
    pub(crate) in_flight: AtomicUsize,
    /// Poll mode: the reader will deliver no more messages.
    pub(crate) input_ended: AtomicBool,
    /// A token posted when `recv` frees inbound bytes, for a waiting reader.
    /// Wakes the reader waiting for room in the inbound queue.
    pub(crate) room: Token,
    /// Server connections: the server's groups, to leave when torn down.
    pub(crate) registration: OnceLock<Weak<dyn Registration>>,
    /// The write side, shared by the writer thread and direct senders.
    pub(crate) outbox: Outbox,
    /// The writer thread: not started until a frame must wait for it.
    writer: Mutex<Writer>,
    /// `writer` is no longer `Idle` (read without its lock).
    writer_settled: AtomicBool,
    /// This `Shared`, for the writer thread started from a `&self` method.
    me: Weak<Shared>,
}

/// What only the writer thread holds: the lanes' receiving ends, its share
/// of the connection's guard, and its body (`launch.rs` passes it in, so
/// this layer need not know the writer).
pub(crate) struct WriterParts {
    pub(crate) out_rx: LaneReceiver<Outgoing>,
    pub(crate) ctrl_rx: LaneReceiver<Control>,
    /// Held while the writer runs (a server's connection slot).
    pub(crate) guard: Arc<dyn Send + Sync>,
    pub(crate) main: fn(Arc<Shared>, WriterParts),
}

/// Whether a connection's writer thread runs.
///
/// A connection starts without one. A frame sent while nothing is queued
/// or unfinished ahead of it is written by the sending thread itself
/// without blocking (`outbox.rs`): messages, pings, pongs, and our close
/// frame. The writer starts the first time a frame must wait: a sender
/// finds another write in the way, the socket does not take a whole
/// write, or the application queues faster than it writes. A connection
/// that never needs it (opened and dropped, a short exchange, a quiet
/// subscriber fed by direct broadcast writes) costs one thread, not two:
/// measured, starting the writer was a third of a plain handshake's
/// server CPU.
enum Writer {
    /// Not started; what it takes to start it.
    Idle(WriterParts),
    /// Started (its thread may have finished since).
    Running,
    /// Never started and never will: the connection's writing is over,
    /// or the thread could not start.
    Retired,
}

/// What became of [`Shared::offer`]. A frame that may still be sent (or
/// handed back to the caller) comes back with the outcome.
#[derive(Debug)]
pub(crate) enum Offer {
    /// Queued, or written at once.
    Queued,
    /// The queue was full and the policy is `Fail`.
    Full(Outgoing),
    /// The queue was full and the policy is `Block`: wait up to this long
    /// with [`Shared::offer_waiting`] (a broadcast first serves everyone else).
    Wait(Outgoing, Duration),
    /// The queue was full and the policy is `Disconnect`: the connection
    /// is now closing with 1008.
    Disconnected,
    /// A close had started.
    Closed,
}

/// The longest a reply waits in a hold: a bounded hold's gathered frames
/// are written by the timer this long after the first of them; an
/// unbounded one (handler mode) older than this is written out when the
/// thread goes on holding.
pub(crate) const HOLD_MAX: Duration = Duration::from_millis(1);

/// A thread's hold on one connection's direct writes (see
/// [`Shared::hold_writes`]); dropping it writes what was gathered.
///
/// The connection is held weakly: a thread that stops calling `recv` or
/// `poll` while holding must not keep a finished connection (its socket,
/// its buffers) alive. While the connection lives, its reader holds it;
/// once it is gone there is nothing left to write to.
struct Held {
    shared: Weak<Shared>,
    since: Instant,
    /// The timer writes out what is gathered (`Shared::hold_writes`).
    bounded: bool,
}

impl Held {
    fn is(&self, shared: &Shared) -> bool {
        std::ptr::eq(self.shared.as_ptr(), shared)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // A busy batch is written by whoever holds it, or at their release.
        if let Some(shared) = self.shared.upgrade() {
            let _ = shared.write_held();
        }
    }
}

thread_local! {
    /// The connection whose direct writes this thread gathers, if any. A
    /// thread that exits holding one writes it out (`Held`'s drop).
    static HELD: std::cell::RefCell<Option<Held>> = const { std::cell::RefCell::new(None) };
}

/// Write out whatever connection the calling thread holds the writes of.
pub(crate) fn release_held() {
    let held = HELD
        .try_with(|held| held.borrow_mut().take())
        .ok()
        .flatten();
    drop(held);
}

/// What a server connection is registered with (its server's groups),
/// told once when the connection is torn down. A trait, so that this
/// module need not know the registry (which holds `Shared`s): the
/// registry is a layer above. `Any` lets it find itself again
/// (`Conn::groups`).
pub(crate) trait Registration: std::any::Any + Send + Sync {
    /// Connection `id` is torn down: forget it and its memberships.
    fn torn_down(&self, id: u64);
}

/// A new connection id: unique in the process, never reused. The one id
/// space of the engine: a server takes it when it accepts the TCP
/// connection (its registry entry), and the connection keeps it.
pub(crate) fn next_id() -> u64 {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Milliseconds since the engine's clock started (monotonic).
pub(crate) fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Shared {
    /// The state of connection `id` (from [`next_id`]). Its writer thread
    /// starts from `writer` when first needed.
    pub(crate) fn new(
        id: u64,
        role: Role,
        transport: Transport,
        config: Arc<Config>,
        ctrl_tx: LaneSender<Control>,
        writer: WriterParts,
    ) -> Arc<Self> {
        let now = now_ms();
        let close_timeout = config.close_timeout;
        Arc::new_cyclic(|me| Shared {
            id,
            role,
            transport,
            config,
            ctrl_tx,
            closing: Signal::new(),
            killed: Signal::new(),
            finished: Signal::new(),
            send_closed: AtomicBool::new(false),
            lifecycle: Mutex::new(Lifecycle::new(role, close_timeout)),
            last_rx: AtomicU64::new(now),
            last_ping: AtomicU64::new(0),
            last_data: AtomicU64::new(now),
            unsent: AtomicU64::new(0),
            inbound_bytes: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            input_ended: AtomicBool::new(false),
            room: Token::default(),
            registration: OnceLock::new(),
            outbox: Outbox::new(role),
            writer: Mutex::new(Writer::Idle(writer)),
            writer_settled: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// Offer `o` to this connection's data lane `tx`: the one send path of
    /// `Conn` and of broadcasts. Refused at once if a close has started;
    /// queued (or written) if there is room; otherwise `policy` decides
    /// (see [`Offer`]). A queued message counts as traffic for the idle
    /// timeout.
    ///
    /// With `write_now`, the calling thread first tries to write the frame
    /// itself, which succeeds when nothing is queued or being written: no
    /// other thread wakes. Broadcasts use it (a fan-out would otherwise wake
    /// every recipient's writer thread per message), and so does a `Conn`
    /// whose application has caught up. Otherwise the frame goes on the
    /// lane, where the writer thread gathers a burst into one vectored
    /// write (measured: writing each of a burst of replies directly cost a
    /// third more CPU per message than batching).
    pub(crate) fn offer(
        self: &Arc<Self>,
        tx: &LaneSender<Outgoing>,
        o: Outgoing,
        policy: OverflowPolicy,
        write_now: bool,
    ) -> Offer {
        if self.send_closed() {
            return Offer::Closed;
        }
        let Some(o) = self.write_now_or_hand_back(o, write_now) else {
            self.touch_data();
            return Offer::Queued;
        };
        match self.on_lane(|| tx.try_send(o)) {
            Ok(()) => {
                self.touch_data();
                Offer::Queued
            }
            Err(TrySendError::Disconnected(_)) => Offer::Closed,
            Err(TrySendError::Full(o)) => match policy {
                OverflowPolicy::Fail => Offer::Full(o),
                OverflowPolicy::Block(timeout) => Offer::Wait(o, timeout),
                OverflowPolicy::Disconnect => {
                    self.close(
                        CloseCode::POLICY_VIOLATION,
                        "send queue full: peer too slow",
                        CloseInitiator::Local,
                    );
                    Offer::Disconnected
                }
            },
        }
    }

    /// Wait up to `timeout` (`None`: as long as the connection lives) for
    /// room on `tx` for `o`: the second half of [`Offer::Wait`].
    pub(crate) fn offer_waiting(
        &self,
        tx: &LaneSender<Outgoing>,
        o: Outgoing,
        timeout: Option<Duration>,
    ) -> Result<(), SendTimeoutError<Outgoing>> {
        let deadline = timeout.map(timer::deadline_in);
        self.on_lane(|| tx.send_until::<()>(o, deadline, None))?;
        self.touch_data();
        Ok(())
    }

    /// With `write_now`, write `o` directly if nothing is in the way
    /// (`None`: done); otherwise hand it back for the lane.
    fn write_now_or_hand_back(&self, o: Outgoing, write_now: bool) -> Option<Outgoing> {
        if !write_now {
            return Some(o);
        }
        self.send_direct(o).err()
    }

    /// Put a frame on a lane with `send`, counted as queued while it is
    /// there (so no direct write overtakes it), starting the writer thread
    /// that will take it if it is not running yet.
    fn on_lane<E>(&self, send: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        self.writer_needed();
        self.outbox.enqueueing();
        let sent = send();
        if sent.is_err() {
            self.outbox.not_enqueued();
        }
        sent
    }

    /// Send a ping or pong: written at once by the calling thread if
    /// nothing is in the way, else put on the control lane if there is
    /// room (it goes out before any message sent after it).
    pub(crate) fn try_control(&self, c: Control) -> Result<(), Control> {
        let Some(c) = self.control_direct(c) else {
            return Ok(());
        };
        self.on_lane(|| self.ctrl_tx.try_send(c))
            .map_err(TrySendError::into_inner)
    }

    /// As [`try_control`](Self::try_control), waiting for room on the lane
    /// unless the connection is torn down first.
    pub(crate) fn send_control(&self, c: Control) {
        let Some(c) = self.control_direct(c) else {
            return;
        };
        let killed = self.killed.receiver();
        let _ = self.on_lane(|| self.ctrl_tx.send_until(c, None, Some(killed)));
    }

    /// Write a control frame directly if nothing is in the way (`None`:
    /// done); hand it back otherwise.
    fn control_direct(&self, c: Control) -> Option<Control> {
        match self.outbox.try_direct(&self.transport, c, self.held_here()) {
            Direct::Sent => None,
            Direct::Gathered(first) => {
                self.gathered(first);
                None
            }
            Direct::Unfinished => {
                self.kick_writer();
                None
            }
            Direct::Queue(c) => Some(c),
            Direct::Failed(e, lost) => {
                self.lost(&e, lost);
                None
            }
        }
    }

    /// A direct write failed: `lost` messages were accepted and never
    /// written (as if the writer thread had failed them), and the
    /// connection is dropped.
    fn lost(&self, e: &io::Error, lost: usize) {
        if lost > 0 {
            self.unsent.fetch_add(lost as u64, Ordering::Relaxed);
        }
        self.write_failed(e);
    }

    /// From now on, what the calling thread writes directly on this
    /// connection is gathered and written in one write when the thread
    /// lets go ([`release_writes`](Self::release_writes), or holding
    /// another connection's writes, or exiting). Handler mode holds while
    /// the reader handles one read's bytes; poll mode while the
    /// application thread handles a run of one connection's events with
    /// more events waiting; `recv` while more messages wait behind the one
    /// taken. An unbounded hold older than [`HOLD_MAX`] is written out and
    /// begun again. Other threads still write at once (taking the
    /// gathered frames with them, in order).
    ///
    /// With `bounded` (poll mode and `recv`, where the application decides
    /// when it comes back), the timer thread writes out what is gathered
    /// `HOLD_MAX` after the first frame of it, whatever the thread does
    /// meanwhile: a reply never waits longer than that for an application
    /// that stopped polling.
    pub(crate) fn hold_writes(self: &Arc<Self>, bounded: bool) {
        let ended = HELD.with(|held| {
            let mut held = held.borrow_mut();
            if let Some(h) = held.as_mut() {
                // (A bounded hold's age is the timer's business: no clock
                // read per message.)
                if h.is(self) && (h.bounded || h.since.elapsed() < HOLD_MAX) {
                    h.bounded |= bounded;
                    return None; // the hold goes on
                }
            }
            held.replace(Held {
                shared: Arc::downgrade(self),
                since: Instant::now(),
                bounded,
            })
        });
        // Another connection's (or an old) hold is written out, with the
        // thread-local no longer borrowed.
        drop(ended);
    }

    /// Write what the calling thread gathered on this connection, if it
    /// holds its writes, and stop holding.
    pub(crate) fn release_writes(&self) {
        let held = HELD.with(|held| {
            let mut held = held.borrow_mut();
            if held.as_ref().is_some_and(|h| h.is(self)) {
                held.take()
            } else {
                None
            }
        });
        drop(held);
    }

    /// Whether the calling thread holds this connection's writes.
    pub(crate) fn held_here(&self) -> bool {
        // (`try_with`: a send from another thread-local's destructor, at
        // thread exit, finds no hold rather than a panic.)
        HELD.try_with(|held| held.borrow().as_ref().is_some_and(|h| h.is(self)))
            .unwrap_or(false)
    }

    /// Write out what was gathered (the end of a hold). Returns `false`
    /// if another thread had the batch (see [`Outbox::release`]).
    fn write_held(&self) -> bool {
        match self.outbox.release(&self.transport) {
            Direct::Sent | Direct::Gathered(_) => {}
            Direct::Queue(()) => return false,
            Direct::Unfinished => self.kick_writer(),
            Direct::Failed(e, lost) => self.lost(&e, lost),
        }
        true
    }

    /// A frame was gathered by this thread's hold: the first one waiting
    /// under a bounded hold arms the timer that writes the batch out.
    fn gathered(&self, first: bool) {
        if !first {
            return;
        }
        let shared = HELD.with(|held| {
            let held = held.borrow();
            let h = held.as_ref().filter(|h| h.bounded && h.is(self))?;
            h.shared.upgrade()
        });
        if let Some(shared) = shared {
            timer::schedule(timer::deadline_in(HOLD_MAX), &shared, TimerKind::HeldWrites);
        }
    }

    /// Wake the writer to send what the transport holds (records the TLS
    /// layer made while reading). If the control lane is full the writer
    /// is awake anyway, and it sends them before anything else.
    ///
    /// Rare, and never inlined: the reader's loop calls it, and its frame
    /// is the depth an idle connection's reader thread keeps resident.
    #[cold]
    #[inline(never)]
    pub(crate) fn kick_writer(&self) {
        self.writer_needed();
        let _ = self.ctrl_tx.try_send(Control::Kick);
    }

    /// Write `o` directly if nothing is in the way (gathered, if this
    /// thread holds the connection's writes); hand it back otherwise.
    fn send_direct(&self, o: Outgoing) -> Result<(), Outgoing> {
        match self.outbox.try_direct(&self.transport, o, self.held_here()) {
            Direct::Sent => Ok(()),
            Direct::Gathered(first) => {
                self.gathered(first);
                Ok(())
            }
            Direct::Unfinished => {
                // If the lane is full the writer is awake anyway, and it
                // finishes the leftover before anything else.
                self.kick_writer();
                Ok(())
            }
            Direct::Queue(o) => Err(o),
            Direct::Failed(e, lost) => {
                self.lost(&e, lost);
                Ok(())
            }
        }
    }

    /// Start the keepalive and idle timers, if configured.
    pub(crate) fn start_timers(self: &Arc<Self>) {
        if let Some(interval) = self.config.ping_interval {
            timer::schedule(timer::deadline_in(interval), self, TimerKind::Keepalive);
        }
        if let Some(idle) = self.config.idle_timeout {
            timer::schedule(timer::deadline_in(idle), self, TimerKind::Idle);
        }
    }

    /// Whether `send` must refuse new messages.
    pub(crate) fn send_closed(&self) -> bool {
        self.send_closed.load(Ordering::Acquire)
    }

    /// For `recv`: a message of `len` bytes left the inbound queue.
    pub(crate) fn taken(&self, len: usize) {
        self.inbound_bytes.fetch_sub(len, Ordering::AcqRel);
        // One token is enough: the reader re-checks the count after waking.
        self.room.signal();
    }

    pub(crate) fn touch_rx(&self) {
        self.last_rx.store(now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn touch_data(&self) {
        if self.config.idle_timeout.is_some() {
            self.last_data.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// Start the close handshake with `code` and `reason` (already validated).
    ///
    /// Returns `true` if this call decided how the connection ends, `false`
    /// if a close was already under way (in which case a deferred close
    /// frame, such as the answer to the peer's close, is sent now).
    pub(crate) fn close(
        self: &Arc<Self>,
        code: CloseCode,
        reason: &str,
        initiator: CloseInitiator,
    ) -> bool {
        let (decided, actions) =
            self.lifecycle
                .lock()
                .close(Instant::now(), code, reason, initiator);
        self.apply(actions);
        decided
    }

    /// Fail the connection: the peer broke a rule (see [`Lifecycle::fail`]).
    pub(crate) fn fail(self: &Arc<Self>, code: CloseCode, reason: String) {
        let actions = self.lifecycle.lock().fail(Instant::now(), code, reason);
        self.apply(actions);
    }

    /// The peer's close frame arrived.
    pub(crate) fn on_peer_close(self: &Arc<Self>, frame: Option<CloseFrame>) {
        let actions = self.lifecycle.lock().peer_closed(Instant::now(), frame);
        self.apply(actions);
    }

    /// Send the deferred close frame now, if one is waiting.
    ///
    /// Called when the application has drained every message that arrived
    /// before it (so replies it sent to them go out first), or when the
    /// grace period ends. (`close` and `Drop` release it through `close`.)
    pub(crate) fn release_deferred_close(self: &Arc<Self>) {
        let actions = self.lifecycle.lock().release_deferred(Instant::now());
        self.apply(actions);
    }

    /// For the writer: the close frame to send, if one is pending.
    pub(crate) fn take_pending_close(&self) -> Option<Option<CloseFrame>> {
        self.lifecycle.lock().take_close_frame()
    }

    /// For the writer: our close frame has been written.
    pub(crate) fn on_close_sent(&self) {
        let actions = self.lifecycle.lock().close_sent();
        self.apply_untimed(actions);
    }

    /// Drop the connection at once, without a close handshake (timeouts,
    /// dead peers, failed writes). The reader notices and tears down.
    pub(crate) fn kill(&self, code: CloseCode, reason: &str, initiator: CloseInitiator) {
        let actions = self.lifecycle.lock().kill(code, reason, initiator);
        self.apply_untimed(actions);
    }

    /// For the reader, as it exits: the connection is over. Records the
    /// final state, shuts the socket down and wakes every waiter.
    pub(crate) fn finish(&self, why: &str) {
        let actions = self.lifecycle.lock().finish(why);
        self.apply_untimed(actions);
    }

    /// How the connection ended, or `None` while it is open.
    pub(crate) fn close_info(&self) -> Option<CloseInfo> {
        self.lifecycle.lock().info()
    }

    /// Carry out what a lifecycle transition asked for (lock released).
    fn apply(self: &Arc<Self>, mut actions: Actions) {
        if let Some(at) = actions.close_deadline.take() {
            timer::schedule(at, self, TimerKind::CloseDeadline);
        }
        if let Some(at) = actions.grace_deadline.take() {
            timer::schedule(at, self, TimerKind::DeferredClose);
        }
        self.apply_untimed(actions);
    }

    /// [`apply`](Self::apply) for transitions that arm no timer.
    fn apply_untimed(&self, actions: Actions) {
        debug_assert!(actions.close_deadline.is_none() && actions.grace_deadline.is_none());
        if actions.stop_sending {
            self.send_closed.store(true, Ordering::Release);
        }
        if let Some(how) = actions.shutdown {
            self.transport.shutdown(how);
        }
        if actions.wake_blocked {
            self.killed.fire();
        }
        if actions.wake_writer {
            self.closing.fire();
            self.writer_woken();
        }
        if actions.torn_down {
            if let Some(registry) = self.registration.get().and_then(Weak::upgrade) {
                registry.torn_down(self.id);
            }
            self.finished.fire();
        }
    }

    /// Make sure the writer thread runs: a frame is about to wait for it
    /// on a lane. If the thread cannot start, the connection is dropped
    /// and the lanes' receiving ends with it, so the frame is refused (the
    /// caller hears `Closed`), not lost.
    fn writer_needed(&self) {
        let Some((writer, parts)) = self.claim_idle_writer() else {
            return;
        };
        if let Err((e, parts)) = self.start_writer(parts) {
            self.writer_not_started(writer, &e, parts);
        }
    }

    /// If the writer was never started, take what starting it needs and
    /// mark it `Running` and settled (before any thread runs, so the
    /// writer's own calls take the fast path), with the lock still held:
    /// the caller starts it, or finishes its work and retires it.
    fn claim_idle_writer(&self) -> Option<(MutexGuard<'_, Writer>, WriterParts)> {
        if self.writer_settled.load(Ordering::Acquire) {
            return None;
        }
        let mut writer = self.writer.lock();
        if !matches!(*writer, Writer::Idle(_)) {
            return None;
        }
        let Writer::Idle(parts) = std::mem::replace(&mut *writer, Writer::Running) else {
            unreachable!("checked above, under the same lock");
        };
        self.writer_settled.store(true, Ordering::Release);
        Some((writer, parts))
    }

    /// The writer must act on a close (`closing` has fired): send our
    /// close frame if one is pending, then stop. A running writer sees the
    /// signal. Without one, this thread does what it would, without
    /// blocking: it writes the close frame, and only if the socket does
    /// not take all of it does the writer start, to finish it.
    fn writer_woken(&self) {
        let Some((mut writer, parts)) = self.claim_idle_writer() else {
            return;
        };
        let mut batch = self.outbox.lock();
        let frame = self.take_pending_close();
        let written = match &frame {
            // Nothing to write: the connection is over.
            None => Ok(true),
            Some(frame) => {
                batch.close(frame.as_ref());
                batch.closed = true;
                batch.write_out(&self.transport, true)
            }
        };
        if let Ok(false) = written {
            // The writer thread sends the rest, then tells the lifecycle.
            batch.close_unfinished = true;
            drop(batch);
            if let Err((e, parts)) = self.start_writer(parts) {
                self.writer_not_started(writer, &e, parts);
            }
            return;
        }
        *writer = Writer::Retired;
        self.writing_over(&mut batch, &parts.out_rx);
        drop(batch);
        drop(writer);
        // Dropped with no lock held: the guard may be a server's slot.
        drop(parts);
        match written {
            Ok(_) if frame.is_some() => self.on_close_sent(),
            Ok(_) => {}
            Err(e) => self.write_failed(&e),
        }
    }

    /// The writer thread could not start (`writer` was set to `Running`
    /// for it): nothing more is written, and the connection is dropped.
    fn writer_not_started(
        &self,
        mut writer: MutexGuard<'_, Writer>,
        e: &io::Error,
        parts: WriterParts,
    ) {
        *writer = Writer::Retired;
        let mut batch = self.outbox.lock();
        batch.close_unfinished = false;
        self.writing_over(&mut batch, &parts.out_rx);
        drop(batch);
        drop(writer);
        drop(parts);
        self.kill(
            CloseCode::INTERNAL_ERROR,
            &format!("cannot start the writer thread: {e}"),
            CloseInitiator::Local,
        );
    }

    /// Tests that play the writer: everything goes through the data lane,
    /// which no thread reads but the test.
    #[cfg(test)]
    pub(crate) fn queue_only(&self) {
        self.outbox.queue_only();
        *self.writer.lock() = Writer::Running;
        self.writer_settled.store(true, Ordering::Release);
    }

    /// Whether the writer thread was ever started.
    #[cfg(test)]
    pub(crate) fn writer_started(&self) -> bool {
        matches!(*self.writer.lock(), Writer::Running)
    }

    /// Start the writer thread with `parts`; on failure they come back.
    fn start_writer(&self, parts: WriterParts) -> Result<(), (io::Error, WriterParts)> {
        let Some(me) = self.me.upgrade() else {
            // Unreachable: `self` is borrowed from a live `Arc`.
            return Err((io::Error::other("connection state dropped"), parts));
        };
        let stack = self.config.thread_stack_size;
        spawn_with("wsengine-write", stack, (me, parts), |(me, parts)| {
            (parts.main)(me, parts)
        })
        .map_err(|(e, (_, parts))| (e, parts))
    }

    /// Nothing more will be written (the writer's last step, or what
    /// stands in for it when there never was one): direct writes stop, the
    /// data lane closes, and messages accepted and not written are counted
    /// as unsent. Closing the lane first: a send that got `Ok` is in what
    /// its drain returns.
    pub(crate) fn writing_over(&self, batch: &mut Batch, out_rx: &LaneReceiver<Outgoing>) {
        batch.closed = true;
        let unsent = batch.messages + out_rx.close_and_drain().len();
        if unsent > 0 {
            self.unsent.fetch_add(unsent as u64, Ordering::Relaxed);
        }
    }

    /// A write failed: drop the connection.
    pub(crate) fn write_failed(&self, e: &std::io::Error) {
        self.kill(
            CloseCode::ABNORMAL,
            &format!("write failed: {e}"),
            CloseInitiator::Transport,
        );
    }

    /// Run one timer.
    fn run_timer(self: &Arc<Self>, kind: TimerKind) {
        match kind {
            TimerKind::CloseDeadline => {
                let actions = self.lifecycle.lock().close_timed_out();
                self.apply_untimed(actions);
            }
            TimerKind::DeferredClose => self.release_deferred_close(),
            TimerKind::Keepalive => self.keepalive(),
            TimerKind::Idle => self.idle_check(),
            // Whoever holds this connection's writes may still be adding
            // to them; what is gathered so far goes out now. If another
            // thread has the batch, it may be the holder, gathering: try
            // again shortly rather than trust it to come back.
            TimerKind::HeldWrites => {
                if !self.write_held() {
                    timer::schedule(timer::deadline_in(HOLD_MAX), self, TimerKind::HeldWrites);
                }
            }
            // Armed for handshaking connections (`server.rs`) and the
            // buffer pool (`recycle.rs`) only.
            TimerKind::HandshakeDeadline | TimerKind::TrimBuffers => {}
        }
    }

    fn keepalive(self: &Arc<Self>) {
        let Some(interval) = self.config.ping_interval else {
            return;
        };
        if self.send_closed() {
            return;
        }
        let now = now_ms();
        let action = keepalive::keepalive(
            now,
            self.last_rx.load(Ordering::Relaxed),
            self.last_ping.load(Ordering::Relaxed),
            interval.as_millis() as u64,
            self.config.ping_timeout.map(|t| t.as_millis() as u64),
        );
        let next = match action {
            Keepalive::Dead => {
                self.kill(
                    CloseCode::ABNORMAL,
                    "keepalive timeout: no answer to ping",
                    CloseInitiator::Transport,
                );
                return;
            }
            Keepalive::Ping { next } => {
                self.last_ping.store(now, Ordering::Relaxed);
                // A full control lane means the writer is stuck; the deadline still runs.
                let _ = self.try_control(Control::Ping(Vec::new()));
                next
            }
            Keepalive::Wait { next } => next,
        };
        let at = timer::deadline_in(Duration::from_millis(next.saturating_sub(now)));
        timer::schedule(at, self, TimerKind::Keepalive);
    }

    fn idle_check(self: &Arc<Self>) {
        let Some(idle) = self.config.idle_timeout else {
            return;
        };
        if self.send_closed() {
            return;
        }
        let now = now_ms();
        let last = self.last_data.load(Ordering::Relaxed);
        match keepalive::idle_deadline(now, last, idle.as_millis() as u64) {
            None => {
                self.close(CloseCode::GOING_AWAY, "idle timeout", CloseInitiator::Local);
            }
            Some(next) => {
                let at = timer::deadline_in(Duration::from_millis(next - now));
                timer::schedule(at, self, TimerKind::Idle);
            }
        }
    }
}

impl TimerTarget for Shared {
    fn on_timer(self: Arc<Self>, kind: TimerKind) {
        self.run_timer(kind);
    }

    fn timer_panicked(&self) {
        self.kill(
            CloseCode::ABNORMAL,
            "internal error: timer panicked",
            CloseInitiator::Local,
        );
    }
}
