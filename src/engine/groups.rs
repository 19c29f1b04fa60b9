//! Broadcast groups ("rooms"): named sets of a server's connections, and
//! broadcasting to them with the frame encoded once.
//!
//! The sets live in the server's one registry of connections
//! (`registry.rs`): a connection is there from its handshake to its
//! teardown (its open phase is [`Audience::All`]), and leaves its groups
//! when its entry goes. A broadcast encodes the message
//! once into an [`EncodedFrame`] and puts a reference to it on each
//! recipient's own bounded send queue; each writer thread then writes those
//! shared bytes (a recipient that agreed on compression compresses the
//! payload itself, since its compression context is its own). Nothing is
//! copied per recipient, and no recipient waits for another: a full queue
//! is handled by that recipient's [`OverflowPolicy`](crate::OverflowPolicy).

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::SendTimeoutError;

use super::conn::Conn;
use super::outbox::Outgoing;
use super::registry::{Member, NotOpen, Registry};
use super::shared::{Offer, Registration};
use crate::error::{Error, Result};
use crate::protocol::Message;
use crate::protocol::encoder::EncodedFrame;

/// Longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 1024;

/// Who a broadcast goes to.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// Every open connection of the server.
    All,
    /// Every open connection but one (typically the sender).
    AllExcept(&'a Conn),
    /// The members of a group (none if the group does not exist).
    Group(&'a str),
    /// The members of a group but one (typically the sender).
    GroupExcept(&'a str, &'a Conn),
}

/// What became of one broadcast, recipient by recipient. Every recipient
/// is counted in exactly one field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Recipients whose send queue took the message: it will be written
    /// unless the connection fails first (then its `unsent_count` counts it).
    pub queued: usize,
    /// Recipients that did not get the message because their send queue was
    /// full: policy [`Fail`](crate::OverflowPolicy::Fail), or
    /// [`Block`](crate::OverflowPolicy::Block) once its timeout passed.
    pub dropped: usize,
    /// Recipients closed with 1008 because their send queue was full
    /// (policy [`Disconnect`](crate::OverflowPolicy::Disconnect)).
    pub disconnected: usize,
    /// Recipients already closing, skipped.
    pub closed: usize,
}

impl BroadcastReport {
    /// Recipients in all: queued, dropped, disconnected or closed.
    pub fn recipients(&self) -> usize {
        self.queued + self.dropped + self.disconnected + self.closed
    }
}

/// A server's broadcast groups. Get it from [`Server::groups`] or, in a
/// connection's handler, [`Conn::groups`].
///
/// `Groups` is a cheap handle (clone it freely), `Send + Sync`; every method
/// may be called from any thread. A connection may be in any number of
/// groups; it leaves all of them when it is torn down. A group exists while
/// it has members.
///
/// ```no_run
/// use wsengine::{Audience, Config, Server};
/// let server = Server::bind("127.0.0.1:8080", Config::default())?;
/// let conn = server.accept()?;
/// let groups = server.groups();
/// groups.join(&conn, "lobby")?;
/// let report = groups.broadcast(Audience::GroupExcept("lobby", &conn), "hello, lobby");
/// println!("queued for {} connections", report.queued);
/// # Ok::<(), wsengine::Error>(())
/// ```
///
/// [`Server::groups`]: crate::Server::groups
#[derive(Clone)]
pub struct Groups {
    inner: Arc<Registry>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (connections, groups) = self.inner.counts();
        f.debug_struct("Groups")
            .field("connections", &connections)
            .field("groups", &groups)
            .finish()
    }
}

impl Groups {
    /// The group face of a server's registry.
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Groups { inner: registry }
    }

    /// Add `conn` to `group` (created if needed). Joining a group twice is
    /// not an error.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or one over
    /// [`MAX_GROUP_NAME`] bytes, or a connection that is not this server's;
    /// [`Error::ConnectionClosed`] if the connection is already torn down.
    pub fn join(&self, conn: &Conn, group: &str) -> Result<()> {
        if group.is_empty() || group.len() > MAX_GROUP_NAME {
            return Err(Error::InvalidArgument(format!(
                "group name of {} bytes (1 to {MAX_GROUP_NAME})",
                group.len()
            )));
        }
        match self.inner.join(conn.id(), group) {
            Ok(()) => Ok(()),
            Err(NotOpen::Gone) => Err(conn.closed_error()),
            Err(NotOpen::Stranger) if conn.shared().finished.is_fired() => Err(conn.closed_error()),
            Err(NotOpen::Stranger) => Err(Error::InvalidArgument(
                "not a connection of this server".into(),
            )),
        }
    }

    /// Remove `conn` from `group`. Returns whether it was a member.
    pub fn leave(&self, conn: &Conn, group: &str) -> bool {
        self.inner.leave(conn.id(), group)
    }

    /// Remove `conn` from every group. Returns how many it left.
    pub fn leave_all(&self, conn: &Conn) -> usize {
        self.inner.leave_all(conn.id())
    }

    /// Send `message` to `audience`: encoded once, queued on each
    /// recipient's send queue without copying, in the order broadcasts are
    /// made. Never waits for a recipient whose queue has room; a full queue
    /// is handled by the recipient's [`OverflowPolicy`](crate::OverflowPolicy) after every other
    /// recipient has the message: `Fail` drops it for that recipient,
    /// `Disconnect` closes that recipient with 1008, and `Block(t)` waits up
    /// to `t` for room (so under `Block` a stalled recipient makes this call,
    /// not the other recipients, wait; choose `Fail` or `Disconnect` for a
    /// publisher that must never wait).
    ///
    /// Returns what became of each recipient. Any thread may call it.
    pub fn broadcast(
        &self,
        audience: Audience<'_>,
        message: impl Into<Message>,
    ) -> BroadcastReport {
        let frame = Arc::new(EncodedFrame::new(&message.into()));
        self.broadcast_frame(audience, &frame)
    }

    /// The fan-out of [`broadcast`](Self::broadcast), for a frame already encoded.
    fn broadcast_frame(
        &self,
        audience: Audience<'_>,
        frame: &Arc<EncodedFrame>,
    ) -> BroadcastReport {
        let (group, except) = match audience {
            Audience::All => (None, None),
            Audience::AllExcept(c) => (None, Some(c.id())),
            Audience::Group(g) => (Some(g), None),
            Audience::GroupExcept(g, c) => (Some(g), Some(c.id())),
        };
        // The recipients are copied out (an `Arc` and a lane handle each)
        // and the lock released before any frame is offered: offering may
        // compress (a recipient's direct write), and joins, leaves and
        // teardowns must not wait behind that.
        let recipients = self.inner.recipients(group, except);
        let mut report = BroadcastReport::default();
        let mut blocked = Vec::new();
        for m in &recipients {
            offer(m, frame, &mut report, &mut blocked);
        }
        // Everyone else has the message; now wait for the blocked ones.
        let start = Instant::now();
        for (member, o, timeout) in blocked {
            let left = start
                .checked_add(timeout)
                .map(|deadline| deadline.saturating_duration_since(Instant::now()));
            match member.shared.offer_waiting(&member.tx, o, left) {
                Ok(()) => report.queued += 1,
                Err(SendTimeoutError::Timeout(_)) => report.dropped += 1,
                Err(SendTimeoutError::Disconnected(_)) => report.closed += 1,
            }
        }
        report
    }

    /// Members of `group` (0 if there is no such group).
    pub fn member_count(&self, group: &str) -> usize {
        self.inner.member_count(group)
    }

    /// The names of every group that has members, in no particular order.
    pub fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// The groups `conn` is in, in the order it joined them (mostly: leaving
    /// a group may reorder the rest).
    pub fn groups_of(&self, conn: &Conn) -> Vec<String> {
        self.inner.groups_of(conn.id())
    }
}

impl Conn {
    /// The broadcast groups of the server this connection belongs to;
    /// `None` for client connections and once the server is gone.
    pub fn groups(&self) -> Option<Groups> {
        let registry: Arc<dyn Registration> = self.shared().registration.get()?.upgrade()?;
        let any: Arc<dyn Any + Send + Sync> = registry;
        let inner = any.downcast::<Registry>().ok()?;
        Some(Groups { inner })
    }
}

/// Offer `frame` to `m` through the one send path, counting the outcome;
/// `Block` recipients are set aside, with their timeout, for a second pass.
fn offer(
    m: &Member,
    frame: &Arc<EncodedFrame>,
    report: &mut BroadcastReport,
    blocked: &mut Vec<(Member, Outgoing, Duration)>,
) {
    let o = Outgoing::Frame(Arc::clone(frame));
    match m.shared.offer(&m.tx, o, m.shared.config.overflow(), true) {
        Offer::Queued => report.queued += 1,
        Offer::Full(_) => report.dropped += 1,
        Offer::Disconnected => report.disconnected += 1,
        Offer::Closed => report.closed += 1,
        Offer::Wait(o, timeout) => blocked.push((m.clone(), o, timeout)),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use crate::engine::lane::{LaneReceiver, lane};
    use crate::engine::shared::{Shared, WriterParts};
    use crate::engine::transport::Transport;

    use super::*;
    use crate::config::{Config, OverflowPolicy};
    use crate::protocol::{CloseCode, Role};

    /// A registered recipient without threads: its send queue's far end
    /// stays with the test, which plays the writer.
    fn recipient(
        groups: &Groups,
        policy: OverflowPolicy,
        queue: usize,
    ) -> (Arc<Shared>, LaneReceiver<Outgoing>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let config = Arc::new(Config::default().with_overflow_policy(policy));
        // Its writer's parts are never used: the writer is the test.
        let writer = WriterParts {
            out_rx: lane(1).1,
            ctrl_rx: lane(1).1,
            guard: Arc::new(()),
            main: |_, _| unreachable!("the test plays the writer"),
        };
        let shared = Shared::new(
            crate::engine::shared::next_id(),
            Role::Server,
            Transport::Tcp(stream),
            config,
            lane(1).0,
            writer,
        );
        // The test reads the queue: no direct writes to the socket.
        shared.queue_only();
        let (tx, rx) = lane(queue);
        groups.inner.open_member(Member {
            shared: Arc::clone(&shared),
            tx,
        });
        (shared, rx)
    }

    fn frame(o: Outgoing) -> Arc<EncodedFrame> {
        match o {
            Outgoing::Frame(f) => f,
            Outgoing::Message(m) => panic!("expected a shared frame, got {m:?}"),
        }
    }

    #[test]
    fn one_encoded_buffer_is_shared_by_every_recipient() {
        let groups = Groups::new(Arc::default());
        let queues: Vec<_> = (0..5)
            .map(|_| recipient(&groups, OverflowPolicy::Fail, 4).1)
            .collect();
        let report = groups.broadcast(Audience::All, "to everyone");
        assert_eq!(report.queued, 5);
        let frames: Vec<_> = queues
            .iter()
            .map(|q| frame(q.try_recv().unwrap()))
            .collect();
        for f in &frames[1..] {
            assert!(Arc::ptr_eq(f, &frames[0]), "a recipient got its own copy");
        }
        // The five queue entries are the only owners: no hidden copy.
        assert_eq!(Arc::strong_count(&frames[0]), 5);
        assert_eq!(frames[0].payload(), b"to everyone");
        assert_eq!(&frames[0].bytes()[..2], &[0x81, 11]);
    }

    #[test]
    fn each_recipient_policy_applies_to_its_own_full_queue() {
        let groups = Groups::new(Arc::default());
        let (_, fast) = recipient(&groups, OverflowPolicy::Fail, 8);
        let (_, fail) = recipient(&groups, OverflowPolicy::Fail, 1);
        let (disc, _disc_rx) = recipient(&groups, OverflowPolicy::Disconnect, 1);
        let (_, block) = recipient(&groups, OverflowPolicy::Block(Duration::from_millis(30)), 1);
        assert_eq!(groups.broadcast(Audience::All, "1").queued, 4);
        let started = Instant::now();
        let r = groups.broadcast(Audience::All, "2");
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(
            (r.queued, r.dropped, r.disconnected, r.closed),
            (1, 2, 1, 0)
        );
        assert_eq!(r.recipients(), 4);
        assert_eq!(fast.len(), 2, "the recipient with room got both");
        assert_eq!((fail.len(), block.len()), (1, 1));
        assert_eq!(
            disc.close_info().map(|i| i.code),
            Some(CloseCode::POLICY_VIOLATION)
        );
        // The disconnected recipient is closing: skipped from now on.
        let r = groups.broadcast(Audience::All, "3");
        assert_eq!(r.closed, 1);
    }

    #[test]
    fn a_blocked_recipient_gets_the_message_when_room_appears() {
        let groups = Groups::new(Arc::default());
        let (_, block) = recipient(&groups, OverflowPolicy::Block(Duration::from_secs(10)), 1);
        groups.broadcast(Audience::All, "first");
        let drain = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let first = frame(block.recv().unwrap());
            let second = frame(block.recv().unwrap());
            (first.payload().to_vec(), second.payload().to_vec())
        });
        let r = groups.broadcast(Audience::All, "second");
        assert_eq!(r.queued, 1);
        assert_eq!(
            drain.join().unwrap(),
            (b"first".to_vec(), b"second".to_vec())
        );
    }

    #[test]
    fn membership_and_teardown() {
        let groups = Groups::new(Arc::default());
        let (a, a_rx) = recipient(&groups, OverflowPolicy::Fail, 8);
        let (b, b_rx) = recipient(&groups, OverflowPolicy::Fail, 8);
        for (s, g) in [(&a, "red"), (&a, "blue"), (&b, "red")] {
            assert!(groups.inner.join(s.id, g).is_ok());
        }
        assert_eq!(groups.member_count("red"), 2);
        assert_eq!(groups.broadcast(Audience::Group("blue"), "b").queued, 1);
        assert_eq!(
            groups.broadcast(Audience::Group("none"), "x").recipients(),
            0
        );
        assert_eq!((a_rx.len(), b_rx.len()), (1, 0));
        // Teardown leaves every group; empty groups disappear.
        a.finish("test");
        assert_eq!(groups.member_count("red"), 1);
        assert_eq!(groups.member_count("blue"), 0);
        let mut names = groups.names();
        names.sort();
        assert_eq!(names, ["red"]);
        assert_eq!(groups.broadcast(Audience::All, "y").queued, 1);
        b.finish("test");
        assert!(groups.names().is_empty());
        assert_eq!(groups.broadcast(Audience::All, "z").recipients(), 0);
    }
}
