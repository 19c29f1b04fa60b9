//! The close lifecycle of one connection, as a state machine.
//!
//! Every way a connection can end goes through [`Lifecycle`]: the
//! application's `close` (or its last handle dropping), the peer's close
//! frame, a protocol error found by the reader, a failed write, a timer
//! (close deadline, keepalive, idle), server shutdown, and the reader
//! exiting. The first decision wins and is recorded once.
//!
//! The machine holds no locks, sockets or threads and never reads the
//! clock: each transition takes the time it happens at and returns the
//! [`Actions`] the calling thread must carry out (stop accepting sends,
//! wake the writer, shut the socket down, arm a timer...). `Shared` keeps
//! one `Lifecycle` under its mutex and applies the actions, so the rules
//! live here and are unit-tested without sockets (below).
//!
//! ```text
//!            close()                         writer takes       writer wrote
//!   Open ────────────────────────> Queued ──> Writing ─────────> Sent ──┐
//!    │  peer's close / fail()        ^                                   │ peer's close:
//!    └──────────> Deferred ──────────┘ app drained, grace over,          │ shut down our
//!                                      or close()                        │ side of TCP
//!   any phase ── kill() (timeout, dead peer, write error) ──> Killed     │
//!   any phase ── reader exits ──────────────────────────────> Done <─────┘ (reader sees EOF)
//! ```

use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::config::MAX_TIMEOUT;
use crate::protocol::{CloseCode, CloseFrame, CloseInfo, CloseInitiator, Role};

/// How long a close frame that follows received messages (the answer to a
/// peer's close, or the close that fails a connection after a protocol
/// error) waits for the application to take those messages, so that its
/// replies to them go out first. The application reading past its last
/// message, or calling `close`, releases it at once.
pub(crate) const DEFERRED_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where the connection is in its close.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// No close frame decided yet.
    Open,
    /// A close frame (`None`: an empty one) waits until the application
    /// has taken the messages that arrived before it, or the grace period
    /// ends: our answer to the peer's close, or the close failing the
    /// connection after a protocol error.
    Deferred(Option<CloseFrame>),
    /// Our close frame is handed to the writer; nothing more may be sent.
    Queued(Option<CloseFrame>),
    /// The writer took the close frame and is writing it.
    Writing,
    /// Our close frame is written; waiting for the peer's, or for the
    /// peer to end TCP.
    Sent,
    /// Dropped without (finishing) the close handshake: the socket is shut
    /// down, the reader is about to notice.
    Killed,
    /// Torn down: the reader has exited.
    Done,
}

/// What the threads must do after a transition. Every field defaults to
/// "nothing"; the caller does what is set, in field order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use]
pub(crate) struct Actions {
    /// Refuse sends from now on.
    pub(crate) stop_sending: bool,
    /// Wake the writer: a close frame is ready for it, or the connection is over.
    pub(crate) wake_writer: bool,
    /// Arm the close-handshake deadline (then call [`Lifecycle::close_timed_out`]).
    pub(crate) close_deadline: Option<Instant>,
    /// Arm the end of the grace period (then call [`Lifecycle::release_deferred`]).
    pub(crate) grace_deadline: Option<Instant>,
    /// Shut the socket down in this direction.
    pub(crate) shutdown: Option<Shutdown>,
    /// Wake every thread blocked for the connection (a reader waiting for
    /// room in the inbound queue, a sender waiting for the control lane).
    pub(crate) wake_blocked: bool,
    /// The connection is over: leave its groups, wake `wait_closed`.
    pub(crate) torn_down: bool,
}

impl Actions {
    /// Whether nothing is to be done.
    #[cfg(test)]
    fn is_none(&self) -> bool {
        *self == Actions::default()
    }
}

/// The first close decision: code, reason and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    code: CloseCode,
    reason: String,
    initiator: CloseInitiator,
}

/// One connection's close lifecycle: the phase and the facts recorded on
/// the way (the first decision, which close frames were exchanged, whether
/// the connection was failed). Transitions are its methods only.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    role: Role,
    close_timeout: Duration,
    phase: Phase,
    decision: Option<Decision>,
    /// The peer's close frame arrived.
    received_close: bool,
    /// Our close frame was written.
    sent_close: bool,
    /// Failed: a protocol error, a timeout, a transport error.
    failed: bool,
}

impl Lifecycle {
    /// An open connection on the `role` side, whose close handshake may
    /// take `close_timeout` once our close frame is queued.
    pub(crate) fn new(role: Role, close_timeout: Duration) -> Self {
        Lifecycle {
            role,
            close_timeout,
            phase: Phase::Open,
            decision: None,
            received_close: false,
            sent_close: false,
            failed: false,
        }
    }

    /// The application (or the engine on its behalf: idle timeout, slow
    /// peer, shutdown, last handle dropped) closes with `code` and `reason`.
    ///
    /// Returns `true` if this decided how the connection ends. A deferred
    /// close frame (say, our answer to the peer's close) goes out now
    /// instead, and the call returns `false`; so it does once a close is
    /// under way.
    pub(crate) fn close(
        &mut self,
        now: Instant,
        code: CloseCode,
        reason: &str,
        initiator: CloseInitiator,
    ) -> (bool, Actions) {
        match &mut self.phase {
            Phase::Open => {
                self.decide(code, reason, initiator);
                let frame = CloseFrame {
                    code,
                    reason: reason.to_owned(),
                };
                (true, self.queue(now, Some(frame)))
            }
            Phase::Deferred(frame) => {
                let frame = frame.take();
                (false, self.queue(now, frame))
            }
            _ => (false, Actions::default()),
        }
    }

    /// The reader found that the peer broke a rule: the connection fails
    /// with `code`. The close frame saying so waits for the application to
    /// take what arrived before (see [`DEFERRED_CLOSE_GRACE`]); if our close
    /// frame is already on its way, the connection is dropped at once.
    pub(crate) fn fail(&mut self, now: Instant, code: CloseCode, reason: String) -> Actions {
        match self.phase {
            Phase::Done | Phase::Killed => Actions::default(),
            Phase::Open => {
                self.failed = true;
                self.decide(code, &reason, CloseInitiator::Local);
                self.defer(now, Some(CloseFrame { code, reason }))
            }
            Phase::Deferred(_) => {
                // Already answering the peer: it is that answer that waits.
                self.failed = true;
                self.decide(code, &reason, CloseInitiator::Local);
                Actions::default()
            }
            Phase::Queued(_) | Phase::Writing | Phase::Sent => {
                // Our close frame said what there is to say.
                self.failed = true;
                self.decide(code, &reason, CloseInitiator::Local);
                self.drop_now()
            }
        }
    }

    /// The peer's close frame arrived (`None`: it had no payload).
    pub(crate) fn peer_closed(&mut self, now: Instant, frame: Option<CloseFrame>) -> Actions {
        self.received_close = true;
        match self.phase {
            Phase::Open => {
                let (code, reason) = match &frame {
                    Some(f) => (f.code, f.reason.clone()),
                    None => (CloseCode::NO_STATUS, String::new()),
                };
                self.decide(code, &reason, CloseInitiator::Peer);
                // Echo the peer's code (without its reason) once the
                // application has taken the messages that came first.
                let echo = frame.map(|f| CloseFrame {
                    code: f.code,
                    reason: String::new(),
                });
                self.defer(now, echo)
            }
            // The peer answered our close: done once ours is written.
            Phase::Sent => self.handshake_complete(),
            _ => Actions::default(),
        }
    }

    /// The application took every message that arrived before a deferred
    /// close frame, or the grace period ended: send that frame now.
    pub(crate) fn release_deferred(&mut self, now: Instant) -> Actions {
        match &mut self.phase {
            Phase::Deferred(frame) => {
                let frame = frame.take();
                self.queue(now, frame)
            }
            _ => Actions::default(),
        }
    }

    /// For the writer: the close frame to write, if one is queued (the
    /// outer `None`: none; the inner: an empty close frame).
    pub(crate) fn take_close_frame(&mut self) -> Option<Option<CloseFrame>> {
        match &mut self.phase {
            Phase::Queued(frame) => {
                let frame = frame.take();
                self.phase = Phase::Writing;
                Some(frame)
            }
            _ => None,
        }
    }

    /// For the writer: our close frame is written.
    pub(crate) fn close_sent(&mut self) -> Actions {
        if self.phase != Phase::Writing {
            // Killed or torn down meanwhile: the socket is already shut.
            return Actions::default();
        }
        self.sent_close = true;
        self.phase = Phase::Sent;
        if self.received_close || self.failed {
            self.handshake_complete()
        } else {
            Actions::default()
        }
    }

    /// Drop the connection at once, without (finishing) the close
    /// handshake: a timeout, a dead peer, a failed write.
    pub(crate) fn kill(
        &mut self,
        code: CloseCode,
        reason: &str,
        initiator: CloseInitiator,
    ) -> Actions {
        if matches!(self.phase, Phase::Done | Phase::Killed) {
            return Actions::default();
        }
        self.decide(code, reason, initiator);
        // After both close frames, only the TCP teardown was left (a client
        // waits for the server to end TCP): the close stays clean.
        if !(self.received_close && self.sent_close) {
            self.failed = true;
        }
        self.drop_now()
    }

    /// Shut the connection down without a word more; the reader notices.
    fn drop_now(&mut self) -> Actions {
        self.phase = Phase::Killed;
        Actions {
            stop_sending: true,
            shutdown: Some(Shutdown::Both),
            wake_blocked: true,
            ..Actions::default()
        }
    }

    /// The close-handshake deadline armed when our close frame was queued
    /// has passed.
    pub(crate) fn close_timed_out(&mut self) -> Actions {
        self.kill(
            CloseCode::ABNORMAL,
            "close handshake timed out",
            CloseInitiator::Transport,
        )
    }

    /// The reader is exiting (`why`: what ended it, for a close nobody
    /// decided): the connection is over.
    pub(crate) fn finish(&mut self, why: &str) -> Actions {
        if self.phase == Phase::Done {
            return Actions::default();
        }
        self.decide(CloseCode::ABNORMAL, why, CloseInitiator::Transport);
        if !self.received_close {
            self.failed = true;
        }
        self.phase = Phase::Done;
        Actions {
            stop_sending: true,
            wake_writer: true,
            shutdown: Some(Shutdown::Both),
            wake_blocked: true,
            torn_down: true,
            ..Actions::default()
        }
    }

    /// How the connection ended, or `None` while nobody has decided.
    pub(crate) fn info(&self) -> Option<CloseInfo> {
        let d = self.decision.as_ref()?;
        Some(CloseInfo {
            code: d.code,
            reason: d.reason.clone(),
            initiator: d.initiator,
            clean: self.received_close && !self.failed,
        })
    }

    /// Whether sends are refused: a close frame is queued, or the
    /// connection is dropped. (`Shared` mirrors it in an atomic, set by
    /// [`Actions::stop_sending`]; the tests check the two agree.)
    #[cfg(test)]
    fn sends_refused(&self) -> bool {
        matches!(
            self.phase,
            Phase::Queued(_) | Phase::Writing | Phase::Sent | Phase::Killed | Phase::Done
        )
    }

    /// Record the first decision; later ones are ignored.
    fn decide(&mut self, code: CloseCode, reason: &str, initiator: CloseInitiator) {
        if self.decision.is_none() {
            self.decision = Some(Decision {
                code,
                reason: reason.to_owned(),
                initiator,
            });
        }
    }

    /// Hand `frame` to the writer and start the close deadline.
    fn queue(&mut self, now: Instant, frame: Option<CloseFrame>) -> Actions {
        self.phase = Phase::Queued(frame);
        Actions {
            stop_sending: true,
            wake_writer: true,
            close_deadline: Some(now + self.close_timeout.min(MAX_TIMEOUT)),
            ..Actions::default()
        }
    }

    /// Hold `frame` until the application drains or the grace period ends.
    fn defer(&mut self, now: Instant, frame: Option<CloseFrame>) -> Actions {
        self.phase = Phase::Deferred(frame);
        Actions {
            grace_deadline: Some(now + DEFERRED_CLOSE_GRACE),
            ..Actions::default()
        }
    }

    /// Both close frames are exchanged, or we failed the connection and
    /// said why: a server, or a failing endpoint, ends its side of TCP; a
    /// client waits for the server to (RFC 6455 section 7.1.1).
    fn handshake_complete(&self) -> Actions {
        let ends_tcp = self.role == Role::Server || self.failed;
        Actions {
            shutdown: ends_tcp.then_some(Shutdown::Write),
            ..Actions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn frame(code: u16, reason: &str) -> CloseFrame {
        CloseFrame {
            code: CloseCode(code),
            reason: reason.to_owned(),
        }
    }

    /// A lifecycle and the state of the `send_closed` mirror, so every
    /// step can check that `stop_sending` came exactly when sends became
    /// refused.
    struct Machine {
        lc: Lifecycle,
        stopped: bool,
        now: Instant,
    }

    impl Machine {
        fn new(role: Role) -> Self {
            Machine {
                lc: Lifecycle::new(role, TIMEOUT),
                stopped: false,
                now: Instant::now(),
            }
        }

        fn step(&mut self, actions: Actions) -> Actions {
            self.stopped |= actions.stop_sending;
            assert_eq!(self.stopped, self.lc.sends_refused(), "{:?}", self.lc);
            actions
        }

        fn close(&mut self, code: u16, reason: &str) -> (bool, Actions) {
            let (decided, a) =
                self.lc
                    .close(self.now, CloseCode(code), reason, CloseInitiator::Local);
            (decided, self.step(a))
        }

        fn peer_closed(&mut self, f: Option<CloseFrame>) -> Actions {
            let a = self.lc.peer_closed(self.now, f);
            self.step(a)
        }

        fn fail(&mut self, code: u16, reason: &str) -> Actions {
            let a = self.lc.fail(self.now, CloseCode(code), reason.to_owned());
            self.step(a)
        }

        fn release(&mut self) -> Actions {
            let a = self.lc.release_deferred(self.now);
            self.step(a)
        }

        fn sent(&mut self) -> Actions {
            let a = self.lc.close_sent();
            self.step(a)
        }

        fn kill(&mut self, why: &str) -> Actions {
            let a = self
                .lc
                .kill(CloseCode::ABNORMAL, why, CloseInitiator::Transport);
            self.step(a)
        }

        fn finish(&mut self, why: &str) -> Actions {
            let a = self.lc.finish(why);
            self.step(a)
        }

        fn timed_out(&mut self) -> Actions {
            let a = self.lc.close_timed_out();
            self.step(a)
        }

        /// The writer takes the queued close frame and writes it.
        fn write_close(&mut self) -> (Option<CloseFrame>, Actions) {
            let f = self.lc.take_close_frame().expect("a close frame is queued");
            (f, self.sent())
        }

        fn info(&self) -> (u16, String, CloseInitiator, bool) {
            let i = self.lc.info().expect("decided");
            (i.code.0, i.reason, i.initiator, i.clean)
        }
    }

    fn queued(deadline: Instant) -> Actions {
        Actions {
            stop_sending: true,
            wake_writer: true,
            close_deadline: Some(deadline),
            ..Actions::default()
        }
    }

    fn shut(how: Shutdown) -> Actions {
        Actions {
            shutdown: Some(how),
            ..Actions::default()
        }
    }

    fn dropped() -> Actions {
        Actions {
            stop_sending: true,
            shutdown: Some(Shutdown::Both),
            wake_blocked: true,
            ..Actions::default()
        }
    }

    fn torn_down() -> Actions {
        Actions {
            stop_sending: true,
            wake_writer: true,
            shutdown: Some(Shutdown::Both),
            wake_blocked: true,
            torn_down: true,
            ..Actions::default()
        }
    }

    #[test]
    fn an_open_connection_has_no_close_info_and_accepts_sends() {
        let m = Machine::new(Role::Server);
        assert!(m.lc.info().is_none());
        assert!(!m.lc.sends_refused());
    }

    #[test]
    fn our_close_is_queued_once_with_a_deadline() {
        let mut m = Machine::new(Role::Server);
        let (decided, a) = m.close(1000, "bye");
        assert!(decided);
        assert_eq!(a, queued(m.now + TIMEOUT));
        assert_eq!(m.info(), (1000, "bye".into(), CloseInitiator::Local, false));
        // A second close, from any thread, changes nothing.
        let (decided, a) = m.close(4000, "again");
        assert!(!decided);
        assert!(a.is_none());
        assert_eq!(m.lc.take_close_frame(), Some(Some(frame(1000, "bye"))));
        // The writer takes it once.
        assert_eq!(m.lc.take_close_frame(), None);
    }

    #[test]
    fn a_server_ends_tcp_when_the_peer_answers_after_our_close_is_written() {
        let mut m = Machine::new(Role::Server);
        let _ = m.close(1000, "");
        let (_, a) = m.write_close();
        assert!(a.is_none(), "waits for the peer's answer");
        assert_eq!(m.peer_closed(Some(frame(1000, ""))), shut(Shutdown::Write));
        assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Local, true));
        assert_eq!(m.finish("eof"), torn_down());
        assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Local, true));
    }

    #[test]
    fn a_server_ends_tcp_when_the_answer_came_before_our_close_was_written() {
        let mut m = Machine::new(Role::Server);
        let _ = m.close(1000, "");
        let f = m.lc.take_close_frame();
        assert!(f.is_some());
        // The peer's close arrives while the writer is still writing ours.
        assert!(m.peer_closed(None).is_none());
        assert_eq!(m.sent(), shut(Shutdown::Write));
    }

    #[test]
    fn a_client_waits_for_the_server_to_end_tcp() {
        let mut m = Machine::new(Role::Client);
        let _ = m.close(1000, "");
        let _ = m.write_close();
        assert!(m.peer_closed(Some(frame(1000, ""))).is_none());
        assert_eq!(m.finish("eof"), torn_down());
        assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Local, true));
    }

    #[test]
    fn a_client_whose_server_never_ends_tcp_is_dropped_but_stays_clean() {
        let mut m = Machine::new(Role::Client);
        let _ = m.close(1000, "");
        let _ = m.write_close();
        let _ = m.peer_closed(Some(frame(1000, "")));
        assert_eq!(m.timed_out(), dropped());
        assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Local, true));
    }

    #[test]
    fn a_close_nobody_answers_times_out_unclean() {
        let mut m = Machine::new(Role::Server);
        let _ = m.close(1001, "going away");
        let _ = m.write_close();
        assert_eq!(m.timed_out(), dropped());
        assert_eq!(
            m.info(),
            (1001, "going away".into(), CloseInitiator::Local, false)
        );
        // The reader then exits; the decision stays ours.
        assert_eq!(m.finish("read failed"), torn_down());
        assert_eq!(m.info().0, 1001);
    }

    #[test]
    fn the_close_deadline_after_teardown_does_nothing() {
        let mut m = Machine::new(Role::Server);
        let _ = m.close(1000, "");
        let _ = m.write_close();
        let _ = m.peer_closed(None);
        let _ = m.finish("eof");
        assert!(m.timed_out().is_none());
        assert!(m.info().3, "still clean");
    }

    #[test]
    fn the_peers_close_is_echoed_after_the_application_drains() {
        let mut m = Machine::new(Role::Server);
        let a = m.peer_closed(Some(frame(4001, "their reason")));
        assert_eq!(
            a,
            Actions {
                grace_deadline: Some(m.now + DEFERRED_CLOSE_GRACE),
                ..Actions::default()
            }
        );
        // Replies to earlier messages may still be sent meanwhile.
        assert!(!m.lc.sends_refused());
        assert_eq!(
            m.lc.take_close_frame(),
            None,
            "the writer must not take it yet"
        );
        assert_eq!(
            m.info(),
            (4001, "their reason".into(), CloseInitiator::Peer, true)
        );
        assert_eq!(m.release(), queued(m.now + TIMEOUT));
        // The echo carries the code, not the reason.
        let (f, a) = m.write_close();
        assert_eq!(f, Some(frame(4001, "")));
        assert_eq!(a, shut(Shutdown::Write));
        // Releasing again (the grace timer firing late) does nothing.
        assert!(m.release().is_none());
    }

    #[test]
    fn an_empty_peer_close_is_echoed_empty_and_reported_as_1005() {
        let mut m = Machine::new(Role::Client);
        let _ = m.peer_closed(None);
        let _ = m.release();
        let (f, a) = m.write_close();
        assert_eq!(f, None);
        assert!(a.is_none(), "a client leaves ending TCP to the server");
        assert_eq!(m.info(), (1005, "".into(), CloseInitiator::Peer, true));
    }

    #[test]
    fn closing_while_an_answer_waits_sends_the_answer_now() {
        let mut m = Machine::new(Role::Server);
        let _ = m.peer_closed(Some(frame(1000, "")));
        let (decided, a) = m.close(4000, "mine");
        assert!(!decided, "the peer decided first");
        assert_eq!(a, queued(m.now + TIMEOUT));
        assert_eq!(m.lc.take_close_frame(), Some(Some(frame(1000, ""))));
        assert_eq!(m.info().2, CloseInitiator::Peer);
    }

    #[test]
    fn a_protocol_error_is_said_after_the_application_drains() {
        let mut m = Machine::new(Role::Client);
        let a = m.fail(1002, "bad opcode");
        assert_eq!(a.grace_deadline, Some(m.now + DEFERRED_CLOSE_GRACE));
        assert!(!m.lc.sends_refused());
        assert_eq!(
            m.info(),
            (1002, "bad opcode".into(), CloseInitiator::Local, false)
        );
        let _ = m.release();
        let (f, a) = m.write_close();
        assert_eq!(f, Some(frame(1002, "bad opcode")));
        // A failing endpoint ends TCP without waiting, even a client.
        assert_eq!(a, shut(Shutdown::Write));
    }

    #[test]
    fn a_protocol_error_after_our_close_drops_the_connection() {
        for writer_state in 0..3 {
            let mut m = Machine::new(Role::Server);
            let _ = m.close(1000, "");
            if writer_state >= 1 {
                let _ = m.lc.take_close_frame();
            }
            if writer_state == 2 {
                let _ = m.sent();
            }
            assert_eq!(m.fail(1007, "bad utf-8"), dropped());
            assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Local, false));
            // The writer finishing its write afterwards changes nothing.
            assert!(m.sent().is_none());
        }
    }

    #[test]
    fn a_protocol_error_while_answering_the_peer_keeps_the_answer() {
        let mut m = Machine::new(Role::Server);
        let _ = m.peer_closed(Some(frame(1000, "")));
        assert!(m.fail(1002, "late garbage").is_none());
        let _ = m.release();
        assert_eq!(m.lc.take_close_frame(), Some(Some(frame(1000, ""))));
        assert_eq!(m.info(), (1000, "".into(), CloseInitiator::Peer, false));
    }

    #[test]
    fn a_kill_is_final_and_later_closes_do_not_rewrite_it() {
        let mut m = Machine::new(Role::Server);
        assert_eq!(m.kill("keepalive timeout"), dropped());
        // The application dropping its last handle right after (a race the
        // loopback tests hit): the keepalive reason stays.
        let (decided, a) = m.close(1000, "");
        assert!(!decided);
        assert!(a.is_none());
        assert!(m.fail(1002, "x").is_none());
        assert!(m.peer_closed(None).is_none());
        assert!(m.release().is_none());
        assert!(m.kill("again").is_none());
        assert_eq!(m.lc.take_close_frame(), None);
        assert_eq!(
            m.info(),
            (
                1006,
                "keepalive timeout".into(),
                CloseInitiator::Transport,
                false
            )
        );
        assert_eq!(m.finish("read failed"), torn_down());
    }

    #[test]
    fn a_write_failure_while_writing_our_close_drops_unclean() {
        let mut m = Machine::new(Role::Client);
        let _ = m.close(1000, "");
        let _ = m.lc.take_close_frame();
        assert_eq!(m.kill("write failed"), dropped());
        assert!(m.sent().is_none());
        assert!(!m.info().3);
    }

    #[test]
    fn a_reader_that_ends_first_records_a_transport_close() {
        let mut m = Machine::new(Role::Server);
        assert_eq!(m.finish("connection reset"), torn_down());
        assert_eq!(
            m.info(),
            (
                1006,
                "connection reset".into(),
                CloseInitiator::Transport,
                false
            )
        );
        // Everything after teardown is a no-op.
        assert!(m.finish("again").is_none());
        assert!(m.close(1000, "").1.is_none());
        assert!(m.kill("late timer").is_none());
        assert!(m.timed_out().is_none());
        assert!(m.peer_closed(None).is_none());
    }

    #[test]
    fn teardown_drops_an_answer_still_waiting() {
        let mut m = Machine::new(Role::Server);
        let _ = m.peer_closed(Some(frame(1001, "")));
        assert_eq!(m.finish("eof"), torn_down());
        assert!(m.release().is_none());
        assert_eq!(m.lc.take_close_frame(), None);
        // The peer closed cleanly; we never answered, but nothing failed.
        assert_eq!(m.info(), (1001, "".into(), CloseInitiator::Peer, true));
    }

    /// Any event, from any thread, in any order: the races of real
    /// connections, generated.
    #[derive(Debug, Clone)]
    enum Step {
        Close(u16),
        PeerClosed(Option<u16>),
        Fail(u16),
        Release,
        TakeFrame,
        Sent,
        Kill,
        TimedOut,
        Finish,
    }

    fn any_step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (1000u16..1004).prop_map(Step::Close),
            proptest::option::of(1000u16..1004).prop_map(Step::PeerClosed),
            (1002u16..1010).prop_map(Step::Fail),
            Just(Step::Release),
            Just(Step::TakeFrame),
            Just(Step::Sent),
            Just(Step::Kill),
            Just(Step::TimedOut),
            Just(Step::Finish),
        ]
    }

    proptest::proptest! {
        /// Whatever happens in whatever order: the first decision is never
        /// rewritten, sends once refused stay refused (and `stop_sending`
        /// says so exactly when), the writer gets at most one close frame,
        /// the socket is torn down once, and nothing happens after teardown.
        #[test]
        fn every_interleaving_keeps_the_invariants(
            role in proptest::prop_oneof![
                proptest::strategy::Just(Role::Server),
                proptest::strategy::Just(Role::Client)
            ],
            steps in proptest::collection::vec(any_step(), 0..24),
        ) {
            let mut m = Machine::new(role);
            let mut first = None;
            let mut frames = 0;
            let mut torn_down = 0;
            let mut done = false;
            for step in steps {
                let a = match step {
                    Step::Close(code) => m.close(code, "").1,
                    Step::PeerClosed(code) => m.peer_closed(code.map(|c| frame(c, ""))),
                    Step::Fail(code) => m.fail(code, "rule"),
                    Step::Release => m.release(),
                    Step::TakeFrame => {
                        frames += usize::from(m.lc.take_close_frame().is_some());
                        Actions::default()
                    }
                    Step::Sent => m.sent(),
                    Step::Kill => m.kill("gone"),
                    Step::TimedOut => m.timed_out(),
                    Step::Finish => m.finish("eof"),
                };
                if done {
                    proptest::prop_assert!(a.is_none(), "acted after teardown: {:?}", a);
                }
                torn_down += usize::from(a.torn_down);
                done |= a.torn_down;
                if let Some(info) = m.lc.info() {
                    let now = (info.code, info.reason, info.initiator);
                    proptest::prop_assert_eq!(first.get_or_insert(now.clone()), &now);
                }
            }
            proptest::prop_assert!(frames <= 1, "{} close frames", frames);
            proptest::prop_assert!(torn_down <= 1);
        }
    }

    #[test]
    fn a_deadline_past_the_longest_timeout_saturates() {
        let mut lc = Lifecycle::new(Role::Server, Duration::MAX);
        let now = Instant::now();
        let (_, a) = lc.close(now, CloseCode::NORMAL, "", CloseInitiator::Local);
        assert_eq!(a.close_deadline, Some(now + MAX_TIMEOUT));
    }
}
