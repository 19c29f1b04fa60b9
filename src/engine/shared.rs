//! The state every thread of one connection shares, and its close guard.
//!
//! All close decisions go through [`Shared`]: the application's `close`,
//! a close frame from the peer, a protocol error found by the reader, an
//! I/O error, a timer, server shutdown and `Drop`. The first decision wins
//! and is recorded once; later ones are no-ops that return `false`.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, TrySendError};
use parking_lot::{Mutex, MutexGuard};

use super::groups::GroupsInner;
use super::keepalive::{self, Keepalive};
use super::lane::{LaneSender, Token, Weigh};
use super::signal::Signal;
use super::timer::{self, TimerKind, TimerTarget};
use super::writer::{self, Direct, Outbox};
use crate::config::Config;
use crate::protocol::encoder::EncodedFrame;
use crate::protocol::{CloseCode, CloseFrame, Message, Role};

/// How long a close frame that follows received messages (the answer to a
/// peer's close, or the close that fails a connection after a protocol
/// error) waits for the application to take those messages, so that its
/// replies to them go out first. The application reading past its last
/// message, or calling `close`, releases it at once.
const DEFERRED_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Who decided that the connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseInitiator {
    /// This endpoint: the application (`close`, drop, server shutdown) or
    /// the engine enforcing a rule (protocol violation by the peer, size
    /// limit, idle timeout, slow-consumer policy). The reason says which.
    Local,
    /// The peer sent the first close frame.
    Peer,
    /// Neither: the TCP connection failed or went silent (reset, end of
    /// stream without a close frame, keepalive timeout). The code is 1006.
    Transport,
}

/// How a connection ended (or is ending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the one sent by whoever initiated the close, 1005 if
    /// the peer's close frame had none, 1006 if there was no close handshake.
    pub code: CloseCode,
    /// The close reason (may be empty).
    pub reason: String,
    /// Who initiated the close.
    pub initiator: CloseInitiator,
    /// `true` when the peer's close frame was received and the connection was
    /// not failed (no protocol error, timeout or transport error).
    pub clean: bool,
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.initiator {
            CloseInitiator::Local => "locally",
            CloseInitiator::Peer => "by peer",
            CloseInitiator::Transport => "by transport failure",
        };
        write!(f, "code {} closed {who}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        f.write_str(if self.clean { ", clean" } else { ", not clean" })
    }
}

/// What the writer's data lane carries.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A message of this connection's own.
    Message(Message),
    /// A frame encoded once and shared with other connections (broadcast).
    Frame(Arc<EncodedFrame>),
}

impl Outgoing {
    /// The message itself (a copy of a shared frame's payload), to hand
    /// back to a caller whose send did not go through.
    pub(crate) fn into_message(self) -> Message {
        match self {
            Outgoing::Message(m) => m,
            Outgoing::Frame(f) => f.to_message(),
        }
    }
}

impl Weigh for Outgoing {
    fn weight(&self) -> usize {
        match self {
            Outgoing::Message(m) => m.len(),
            Outgoing::Frame(f) => f.bytes().len(),
        }
    }
}

/// What the writer's priority lane carries.
#[derive(Debug)]
pub(crate) enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Not a frame: wakes the writer to send what a direct write left
    /// unsent (not counted as queued; the leftover itself holds off other
    /// direct writes).
    Kick,
}

impl Weigh for Control {
    fn weight(&self) -> usize {
        match self {
            Control::Ping(p) | Control::Pong(p) => p.len(),
            Control::Kick => 0,
        }
    }
}

#[derive(Default)]
struct State {
    /// The first close decision: code, reason, initiator.
    decision: Option<(CloseCode, String, CloseInitiator)>,
    /// The peer's close frame arrived.
    received_close: bool,
    /// A close frame waiting for the application to drain the messages that
    /// arrived before it: our answer to the peer's close, or a failure close.
    deferred: Option<Option<CloseFrame>>,
    /// A close frame was handed to the writer (no more data may be queued).
    close_queued: bool,
    /// The frame the writer should send next (taken by the writer).
    pending: Option<Option<CloseFrame>>,
    /// The writer wrote our close frame.
    sent_close: bool,
    /// The connection was failed (protocol error, timeout, transport error).
    failed: bool,
    /// Torn down: the reader has exited, the socket is shut down.
    done: bool,
}

/// Shared by the reader, the writer, the timer and every `Conn` handle.
pub(crate) struct Shared {
    /// Unique in the process, never reused.
    pub(crate) id: u64,
    pub(crate) role: Role,
    pub(crate) stream: TcpStream,
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
    /// Mirrors `close_queued || done` for the lock-free check in `send`.
    send_closed: AtomicBool,
    state: Mutex<State>,
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
    /// A "closed" event for this connection was handed out (C `wse_conn_poll`).
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    pub(crate) close_event_taken: AtomicBool,
    /// A token posted when `recv` frees inbound bytes, for a waiting reader.
    /// Wakes the reader waiting for room in the inbound queue.
    pub(crate) room: Token,
    /// Server connections: the server's groups, to leave when torn down.
    pub(crate) groups: OnceLock<Weak<GroupsInner>>,
    /// The write side, shared by the writer thread and direct senders.
    pub(crate) outbox: Outbox,
}

/// Milliseconds since the engine's clock started (monotonic).
pub(crate) fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Shared {
    pub(crate) fn new(
        role: Role,
        stream: TcpStream,
        config: Arc<Config>,
        ctrl_tx: LaneSender<Control>,
    ) -> Self {
        let now = now_ms();
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            role,
            stream,
            config,
            ctrl_tx,
            closing: Signal::new(),
            killed: Signal::new(),
            finished: Signal::new(),
            send_closed: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            last_rx: AtomicU64::new(now),
            last_ping: AtomicU64::new(0),
            last_data: AtomicU64::new(now),
            unsent: AtomicU64::new(0),
            inbound_bytes: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            input_ended: AtomicBool::new(false),
            close_event_taken: AtomicBool::new(false),
            room: Token::default(),
            groups: OnceLock::new(),
            outbox: Outbox::new(role),
        }
    }

    /// Send `o` through `tx` (this connection's data lane), handing it back
    /// as the lane would (`Full`, `Disconnected`).
    ///
    /// With `write_now`, the calling thread first tries to write the frame
    /// itself, which succeeds when nothing is queued or being written: no
    /// other thread wakes. Broadcasts use it (a fan-out would otherwise wake
    /// every recipient's writer thread per message). A connection's own
    /// sends go through the lane, where the writer thread gathers a burst
    /// into one vectored write (measured: writing each of a burst of
    /// replies directly cost a third more CPU per message than batching).
    pub(crate) fn try_send(
        &self,
        tx: &LaneSender<Outgoing>,
        o: Outgoing,
        write_now: bool,
    ) -> Result<(), TrySendError<Outgoing>> {
        let Some(o) = self.write_now_or_hand_back(o, write_now) else {
            return Ok(());
        };
        self.on_lane(|| tx.try_send(o))
    }

    /// As [`try_send`](Self::try_send), waiting up to `timeout` (`None`:
    /// as long as it takes) for room on the lane.
    pub(crate) fn send_waiting(
        &self,
        tx: &LaneSender<Outgoing>,
        o: Outgoing,
        timeout: Option<Duration>,
        write_now: bool,
    ) -> Result<(), SendTimeoutError<Outgoing>> {
        let Some(o) = self.write_now_or_hand_back(o, write_now) else {
            return Ok(());
        };
        self.on_lane(|| tx.send_until::<()>(o, timeout.map(timer::deadline_in), None))
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
    /// there (so no direct write overtakes it).
    fn on_lane<E>(&self, send: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        self.outbox.enqueueing();
        let sent = send();
        if sent.is_err() {
            self.outbox.not_enqueued();
        }
        sent
    }

    /// Put a control frame on the control lane if there is room (it goes
    /// out before any message sent after it).
    pub(crate) fn try_control(&self, c: Control) -> Result<(), Control> {
        self.on_lane(|| self.ctrl_tx.try_send(c))
            .map_err(TrySendError::into_inner)
    }

    /// Put a control frame on the control lane, waiting for room unless the
    /// connection is torn down first.
    pub(crate) fn send_control(&self, c: Control) {
        let killed = self.killed.receiver();
        let _ = self.on_lane(|| self.ctrl_tx.send_until(c, None, Some(killed)));
    }

    /// Write `o` directly if nothing is in the way; hand it back otherwise.
    fn send_direct(&self, o: Outgoing) -> Result<(), Outgoing> {
        match self.outbox.try_direct(&self.stream, o) {
            Direct::Sent => Ok(()),
            Direct::Unfinished => {
                // If the lane is full the writer is awake anyway, and it
                // finishes the leftover before anything else.
                let _ = self.ctrl_tx.try_send(Control::Kick);
                Ok(())
            }
            Direct::Queue(o) => Err(o),
            Direct::Failed(e) => {
                // Accepted and lost, as if the writer thread had failed it.
                self.unsent.fetch_add(1, Ordering::Relaxed);
                writer::fail(self, &e);
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

    /// Queue `frame` as our close frame (state locked by the caller).
    fn queue_close(self: &Arc<Self>, st: &mut State, frame: Option<CloseFrame>) {
        st.close_queued = true;
        st.pending = Some(frame);
        self.send_closed.store(true, Ordering::Release);
        self.closing.fire();
        timer::schedule(
            timer::deadline_in(self.config.close_timeout),
            self,
            TimerKind::CloseDeadline,
        );
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
        let mut st = self.state.lock();
        if st.done || st.close_queued {
            return false;
        }
        if let Some(reply) = st.deferred.take() {
            self.queue_close(&mut st, reply);
            return false;
        }
        st.decision = Some((code, reason.to_owned(), initiator));
        let frame = CloseFrame {
            code,
            reason: reason.to_owned(),
        };
        self.queue_close(&mut st, Some(frame));
        true
    }

    /// Fail the connection: the peer broke a rule. A close frame with `code`
    /// is sent once the application has taken the messages that arrived
    /// before the violation; then the connection is dropped without waiting
    /// for the peer's answer.
    pub(crate) fn fail(self: &Arc<Self>, code: CloseCode, reason: String) {
        let mut st = self.state.lock();
        if st.done {
            return;
        }
        st.failed = true;
        if st.decision.is_none() {
            st.decision = Some((code, reason.clone(), CloseInitiator::Local));
        }
        if st.close_queued {
            // Our close frame is already out or on its way: nothing more to say.
            drop(st);
            self.shutdown(Shutdown::Both);
            return;
        }
        self.defer_close(st, Some(CloseFrame { code, reason }));
    }

    /// Hold `frame` until the application drains (or the grace period ends).
    fn defer_close(self: &Arc<Self>, mut st: MutexGuard<'_, State>, frame: Option<CloseFrame>) {
        st.deferred = Some(frame);
        drop(st);
        timer::schedule(
            timer::deadline_in(DEFERRED_CLOSE_GRACE),
            self,
            TimerKind::DeferredClose,
        );
    }

    /// The peer's close frame arrived.
    pub(crate) fn on_peer_close(self: &Arc<Self>, frame: Option<CloseFrame>) {
        let mut st = self.state.lock();
        st.received_close = true;
        if st.done {
            return;
        }
        if st.close_queued {
            // The peer answered our close.
            if st.sent_close {
                self.handshake_complete(&st);
            }
            return;
        }
        let (code, reason) = match &frame {
            Some(f) => (f.code, f.reason.clone()),
            None => (CloseCode::NO_STATUS, String::new()),
        };
        st.decision = Some((code, reason, CloseInitiator::Peer));
        // Echo the peer's code once the application has taken the messages
        // that came before the close.
        let echo = frame.map(|f| CloseFrame {
            code: f.code,
            reason: String::new(),
        });
        self.defer_close(st, echo);
    }

    /// Send the deferred close frame now, if one is waiting.
    ///
    /// Called when the application has drained every message that arrived
    /// before it (so replies it sent to them go out first), or when the
    /// grace period ends. (`close` and `Drop` release it through `close`.)
    pub(crate) fn release_deferred_close(self: &Arc<Self>) {
        let mut st = self.state.lock();
        if st.done || st.close_queued {
            return;
        }
        if let Some(reply) = st.deferred.take() {
            self.queue_close(&mut st, reply);
        }
    }

    /// For the writer: the close frame to send, if one is pending.
    pub(crate) fn take_pending_close(&self) -> Option<Option<CloseFrame>> {
        self.state.lock().pending.take()
    }

    /// For the writer: our close frame has been written.
    pub(crate) fn on_close_sent(&self) {
        let mut st = self.state.lock();
        st.sent_close = true;
        if st.received_close || st.failed {
            self.handshake_complete(&st);
        }
    }

    /// Both close frames are exchanged (or we failed the connection and
    /// said why): the server, or a failing endpoint, now ends its side of
    /// TCP; a client waits for the server to do so (RFC 6455 section 7.1.1).
    fn handshake_complete(&self, st: &State) {
        if self.role == Role::Server || st.failed {
            self.shutdown(Shutdown::Write);
        }
    }

    /// Drop the connection at once, without a close handshake (timeouts,
    /// dead peers). The reader notices and tears down.
    pub(crate) fn kill(&self, code: CloseCode, reason: &str, initiator: CloseInitiator) {
        let mut st = self.state.lock();
        if st.done {
            return;
        }
        if st.decision.is_none() {
            st.decision = Some((code, reason.to_owned(), initiator));
        }
        // After both close frames were exchanged, only TCP teardown was
        // left (a client waits for the server to end TCP): still clean.
        if !(st.received_close && st.sent_close) {
            st.failed = true;
        }
        drop(st);
        self.shutdown(Shutdown::Both);
        self.killed.fire();
    }

    /// For the reader, as it exits: the connection is over. Records the
    /// final state, shuts the socket down and wakes every waiter.
    pub(crate) fn finish(&self, why: &str) {
        let mut st = self.state.lock();
        if st.decision.is_none() {
            st.decision = Some((
                CloseCode::ABNORMAL,
                why.to_owned(),
                CloseInitiator::Transport,
            ));
        }
        if !st.received_close {
            st.failed = true;
        }
        st.deferred = None;
        st.done = true;
        drop(st);
        self.send_closed.store(true, Ordering::Release);
        self.shutdown(Shutdown::Both);
        self.killed.fire();
        self.closing.fire();
        if let Some(groups) = self.groups.get().and_then(Weak::upgrade) {
            groups.remove(self.id);
        }
        self.finished.fire();
    }

    /// How the connection ended, or `None` while it is open.
    pub(crate) fn close_info(&self) -> Option<CloseInfo> {
        let st = self.state.lock();
        let (code, reason, initiator) = st.decision.clone()?;
        Some(CloseInfo {
            code,
            reason,
            initiator,
            clean: st.received_close && !st.failed,
        })
    }

    fn shutdown(&self, how: Shutdown) {
        // Errors only mean the socket is already shut down or reset.
        let _ = self.stream.shutdown(how);
    }

    /// Run one timer.
    fn run_timer(self: &Arc<Self>, kind: TimerKind) {
        match kind {
            TimerKind::CloseDeadline => {
                if !self.finished.is_fired() {
                    self.kill(
                        CloseCode::ABNORMAL,
                        "close handshake timed out",
                        CloseInitiator::Transport,
                    );
                }
            }
            TimerKind::DeferredClose => self.release_deferred_close(),
            TimerKind::Keepalive => self.keepalive(),
            TimerKind::Idle => self.idle_check(),
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
