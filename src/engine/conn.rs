//! `Conn`: the application's handle to one open connection.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, TryRecvError};

use super::inbox::InboxReceiver;
use super::lane::LaneSender;
use super::outbox::{Control, Outgoing};
use super::shared::{Offer, Shared};
use crate::config::{Config, OverflowPolicy};
use crate::error::{Error, Result};
use crate::protocol::close::MAX_REASON_LEN;
use crate::protocol::deflate::DeflateParams;
use crate::protocol::{CloseCode, CloseInfo, CloseInitiator, Message};

/// Where a poll-mode connection's events wait for the application (the
/// server's event FIFO, `events.rs`): `Conn` only asks whether any do.
pub(crate) trait Backlog: Send + Sync {
    /// Whether no event is waiting to be taken.
    fn is_empty(&self) -> bool;
}

/// What is known about a connection from its opening handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request path without the query (`/chat`).
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// Server: the client's request headers. Client: the server's response headers.
    pub headers: Vec<(String, String)>,
    /// The negotiated subprotocol, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate agreement, if compression was negotiated.
    pub compression: Option<DeflateParams>,
    /// The peer's address.
    pub peer_addr: SocketAddr,
    /// Our address.
    pub local_addr: SocketAddr,
    /// The certificates the peer presented over TLS, leaf first, each
    /// DER-encoded: a server's client certificate (when
    /// [`ServerTls::with_client_ca_pem`](crate::tls::ServerTls::with_client_ca_pem)
    /// asks for one) or the server's chain on a client. Empty without TLS
    /// or when the peer presented none.
    pub peer_certificates: Vec<Vec<u8>>,
}

impl RequestInfo {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Server: the subprotocols the client offered, in its order.
    pub fn offered_subprotocols(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// Server: the value of the cookie `name` from the request's `Cookie`
    /// headers (RFC 6265 syntax; the first one of that name).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().trim_matches('"'))
    }

    /// The subject of the peer's TLS certificate (the leaf of
    /// [`peer_certificates`](Self::peer_certificates)) as RFC 4514 text,
    /// e.g. `CN=alice, O=Example`; `None` without one (or if it cannot be
    /// parsed, which a verified certificate always can).
    pub fn peer_certificate_subject(&self) -> Option<String> {
        let der = self.peer_certificates.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(cert.subject().to_string())
    }

    /// Server: the value of the query parameter `name` (as sent, not
    /// percent-decoded; the first one of that name).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Data the application attaches to a connection when it accepts it
/// ([`Verdict::with_data`](crate::Verdict::with_data)); read back with
/// [`Conn::data`].
pub type ConnData = Arc<dyn std::any::Any + Send + Sync>;

/// One open WebSocket connection.
///
/// `Conn` is `Send + Sync` and every method takes `&self`: share it with an
/// `Arc` and send, receive and close from any threads at once. Messages are
/// delivered in order, each to exactly one `recv` caller.
///
/// Dropping the last handle starts a normal close (1000) if none was
/// started; the connection's threads finish the close handshake (or give up
/// after [`Config::close_timeout`]) on their own.
pub struct Conn {
    shared: Arc<Shared>,
    out_tx: LaneSender<Outgoing>,
    /// The queue `recv` takes messages from; `None` in poll mode, where
    /// messages go to the server's event FIFO (an idle connection then
    /// holds no queue it never uses).
    in_rx: Option<InboxReceiver<Message>>,
    info: RequestInfo,
    /// That FIFO (poll mode), to see whether the application has more to
    /// answer before its next `poll`.
    hub: OnceLock<Weak<dyn Backlog>>,
    /// What the application attached when it accepted the upgrade.
    data: Option<ConnData>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("role", &self.shared.role)
            .field("peer_addr", &self.info.peer_addr)
            .field("path", &self.info.path)
            .field("close_info", &self.close_info())
            .finish()
    }
}

impl Conn {
    /// A handle on a connection whose threads `launch` has started.
    pub(crate) fn new(
        shared: Arc<Shared>,
        out_tx: LaneSender<Outgoing>,
        in_rx: Option<InboxReceiver<Message>>,
        info: RequestInfo,
    ) -> Self {
        Conn {
            shared,
            out_tx,
            in_rx,
            info,
            hub: OnceLock::new(),
            data: None,
        }
    }

    /// Attach the application's data (from its upgrade verdict), before the
    /// connection is handed out.
    pub(crate) fn set_data(&mut self, data: Option<ConnData>) {
        self.data = data;
    }

    /// The data the application attached when it accepted the upgrade
    /// ([`Verdict::with_data`](crate::Verdict::with_data)), if it is a `T`.
    pub fn data<T: std::any::Any>(&self) -> Option<&T> {
        self.data.as_deref()?.downcast_ref()
    }

    /// The attached data, whatever its type (for bindings that store their
    /// own handle type).
    pub fn data_any(&self) -> Option<&ConnData> {
        self.data.as_ref()
    }

    /// Send a message, applying the overflow policy ([`Config::overflow`])
    /// if the send queue is full (in messages or in bytes).
    ///
    /// `Ok` means the message is queued; it is written unless the connection
    /// fails first (then [`unsent_count`](Self::unsent_count) counts it).
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] once a close has started;
    /// [`Error::SendTimeout`] with the message handed back (policy
    /// `Block`); [`Error::QueueFull`] with the message handed back (policy
    /// `Fail`); `ConnectionClosed` with 1008 after closing the slow peer
    /// (policy `Disconnect`).
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        self.send_with(message.into(), self.shared.config.overflow())
    }

    /// Queue a message if there is room now, whatever the policy.
    ///
    /// # Errors
    /// [`Error::QueueFull`] (the message handed back), or [`Error::ConnectionClosed`].
    pub fn try_send(&self, message: impl Into<Message>) -> Result<()> {
        self.send_with(message.into(), OverflowPolicy::Fail)
    }

    /// Queue a message, waiting up to `timeout` for room (`Duration::MAX`:
    /// as long as the connection lives), whatever the policy.
    ///
    /// # Errors
    /// [`Error::SendTimeout`] with the message handed back when no room came
    /// in time (a caller waiting in slices, such as a binding checking for
    /// Ctrl-C, retries with it, copying nothing); [`Error::ConnectionClosed`]
    /// (also when the connection closes while waiting).
    pub fn send_timeout(&self, message: impl Into<Message>, timeout: Duration) -> Result<()> {
        self.send_with(message.into(), OverflowPolicy::Block(timeout))
    }

    /// [`Shared::offer`] with `policy`, the outcome as this API reports it.
    fn send_with(&self, message: Message, policy: OverflowPolicy) -> Result<()> {
        let o = Outgoing::Message(message);
        // Written by this thread when the application has caught up, or
        // gathered when this thread holds the connection's writes (handler
        // mode, and poll mode while events wait: see `Shared::hold_writes`).
        let write_now = self.caught_up() || self.shared.held_here();
        match self.shared.offer(&self.out_tx, o, policy, write_now) {
            Offer::Queued => Ok(()),
            Offer::Full(o) => Err(Error::QueueFull(o.into_message())),
            Offer::Wait(o, timeout) => {
                let timeout = (timeout != Duration::MAX).then_some(timeout);
                match self.shared.offer_waiting(&self.out_tx, o, timeout) {
                    Ok(()) => Ok(()),
                    Err(SendTimeoutError::Timeout(o)) => Err(Error::SendTimeout(o.into_message())),
                    Err(SendTimeoutError::Disconnected(_)) => Err(self.closed_error()),
                }
            }
            Offer::Disconnected | Offer::Closed => Err(self.closed_error()),
        }
    }

    /// Send a ping with `payload` (at most 125 bytes), ahead of queued messages.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a payload over 125 bytes;
    /// [`Error::QueueFull`] if the control lane is full (the writer is
    /// stuck on a peer that does not read); [`Error::ConnectionClosed`].
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > 125 {
            return Err(Error::InvalidArgument(format!(
                "ping payload of {} bytes (max 125)",
                payload.len()
            )));
        }
        if self.shared.send_closed() {
            return Err(self.closed_error());
        }
        self.shared
            .try_control(Control::Ping(payload.to_vec()))
            .map_err(|_| Error::QueueFull(Message::Binary(payload.to_vec())))
    }

    /// Wait for the next message.
    ///
    /// Messages that arrived before the connection closed are all delivered
    /// before this reports the close. Taking the last of them also answers
    /// a close the peer started, so replies sent to them go out first.
    ///
    /// Replies are gathered: while more messages wait behind the one taken,
    /// what the calling thread then sends on this connection is written in
    /// one write when it comes back to `recv` (or `recv_timeout`,
    /// `try_recv`) and finds nothing waiting, or at most 1 ms later if it
    /// does not come back. Sends from other threads are written at once and
    /// take the gathered ones with them, in order.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] once the connection is closed and drained;
    /// [`Error::InvalidArgument`] on a connection of a poll-mode server
    /// (its messages come from [`Server::poll`](crate::Server::poll)).
    pub fn recv(&self) -> Result<Message> {
        self.next(self.inbound()?, Some(None))
            .map_err(|_| self.drained())
    }

    /// Wait up to `timeout` for the next message.
    ///
    /// # Errors
    /// [`Error::Timeout`], or [`Error::ConnectionClosed`] as for [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        self.next(self.inbound()?, Some(Instant::now().checked_add(timeout)))
            .map_err(|e| match e {
                RecvTimeoutError::Timeout => Error::Timeout,
                RecvTimeoutError::Disconnected => self.drained(),
            })
    }

    /// The next message if one is waiting, without blocking.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] as for [`recv`](Self::recv).
    pub fn try_recv(&self) -> Result<Option<Message>> {
        match self.next(self.inbound()?, None) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.drained()),
        }
    }

    /// Start the close handshake with `code` and `reason`.
    ///
    /// Returns `Ok(true)` if this call started the close, `Ok(false)` if the
    /// connection was already closing or closed (not an error: close is
    /// idempotent and may be called from any thread). Messages already
    /// queued are sent before the close frame; messages keep arriving until
    /// the peer answers. The connection is torn down when the peer answers,
    /// or after [`Config::close_timeout`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `code` may not be sent (only 1000-1003,
    /// 1007-1014 and 3000-4999 may) or `reason` is over 123 bytes.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<bool> {
        let code = code.into();
        if !code.is_valid_on_wire() {
            return Err(Error::InvalidArgument(format!(
                "close code {code} may not be sent"
            )));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(Error::InvalidArgument(format!(
                "close reason of {} bytes (max {MAX_REASON_LEN})",
                reason.len()
            )));
        }
        Ok(self.shared.close(code, reason, CloseInitiator::Local))
    }

    /// How the connection ended, or `None` while it is open (no close started).
    pub fn close_info(&self) -> Option<CloseInfo> {
        self.shared.close_info()
    }

    /// Whether a close has started (no more messages can be sent).
    pub fn is_closed(&self) -> bool {
        self.shared.send_closed()
    }

    /// Wait up to `timeout` until the connection is fully torn down (socket
    /// shut down, reader finished). Returns whether it was.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let _ = self.shared.finished.receiver().recv_timeout(timeout);
        self.shared.finished.is_fired()
    }

    /// The opening handshake's details: path, query, headers, subprotocol, addresses.
    pub fn request(&self) -> &RequestInfo {
        &self.info
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.info.subprotocol.as_deref()
    }

    /// The permessage-deflate agreement, if compression was negotiated.
    pub fn compression(&self) -> Option<&DeflateParams> {
        self.info.compression.as_ref()
    }

    /// The configuration this connection runs with (its server's, or the
    /// one given to [`connect`](crate::connect)).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A number that identifies this connection in the process (never
    /// reused); the same for every handle on it.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.info.peer_addr
    }

    /// Our address.
    pub fn local_addr(&self) -> SocketAddr {
        self.info.local_addr
    }

    /// Messages queued for sending and not yet taken by the writer.
    pub fn send_queue_len(&self) -> usize {
        self.out_tx.len()
    }

    /// Bytes of the messages queued for sending and not yet taken by the
    /// writer (see [`Config::send_queue_bytes`]).
    pub fn send_queue_bytes(&self) -> usize {
        self.out_tx.bytes()
    }

    /// Messages received and not yet taken by `recv`.
    pub fn recv_queue_len(&self) -> usize {
        self.in_rx.as_ref().map_or(0, InboxReceiver::len)
    }

    /// Messages accepted by `send` that were never written because the
    /// connection failed first.
    pub fn unsent_count(&self) -> u64 {
        self.shared.unsent.load(Ordering::Relaxed)
    }

    pub(crate) fn closed_error(&self) -> Error {
        let info = self.shared.close_info().unwrap_or(CloseInfo {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            initiator: CloseInitiator::Transport,
            clean: false,
        });
        Error::ConnectionClosed(Box::new(info))
    }

    /// The queue `recv` takes from: connections not delivered through
    /// `Server::poll` have one.
    fn inbound(&self) -> Result<&InboxReceiver<Message>> {
        self.in_rx.as_ref().ok_or_else(|| {
            Error::InvalidArgument(
                "this connection's messages are delivered by Server::poll or to the server's handler"
                    .into(),
            )
        })
    }

    /// The data lane to this connection's writer.
    pub(crate) fn out_tx(&self) -> &LaneSender<Outgoing> {
        &self.out_tx
    }

    /// The engine state shared with this connection's threads.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Poll mode: the FIFO this connection's events go to.
    pub(crate) fn set_hub(&self, hub: Weak<dyn Backlog>) {
        let _ = self.hub.set(hub);
    }

    /// Take the next message; if none is waiting, wait until the deadline
    /// of `wait` (`Some(None)`: as long as it takes; `None`: not at all,
    /// reported as `Timeout`).
    ///
    /// While more messages wait behind the one taken, what this thread
    /// sends on the connection is gathered (see `Shared::hold_writes`):
    /// the replies to a burst go out in one write, when this thread comes
    /// back and finds the queue empty, or after `HOLD_MAX` if it does not.
    fn next(
        &self,
        inbound: &InboxReceiver<Message>,
        wait: Option<Option<Instant>>,
    ) -> Result<Message, RecvTimeoutError> {
        let m = match inbound.try_recv() {
            Ok(m) => m,
            Err(e) => {
                // Caught up: what was gathered goes out before this thread
                // waits (and before the close frame `drained` may release).
                self.shared.release_writes();
                match (e, wait) {
                    (TryRecvError::Empty, Some(deadline)) => inbound.recv_until(deadline)?,
                    (TryRecvError::Empty, None) => return Err(RecvTimeoutError::Timeout),
                    (TryRecvError::Disconnected, _) => return Err(RecvTimeoutError::Disconnected),
                }
            }
        };
        if inbound.len() > 0 {
            self.shared.hold_writes(true);
        }
        Ok(self.taken(m))
    }

    /// Whether the application has taken every message that arrived, so a
    /// send now is likely the last for a while: then it is written at once
    /// from the calling thread if nothing is queued ahead of it (one
    /// `sendmsg`, no wake-up of the writer thread). While messages wait,
    /// replies go to the writer thread, which sends a burst in one write.
    fn caught_up(&self) -> bool {
        match &self.in_rx {
            Some(rx) => rx.len() == 0,
            // No queue of its own: a poll-mode connection's messages wait
            // in the hub (none yet before it is set); a handler-mode one's
            // are handled as they arrive.
            None => self
                .hub
                .get()
                .is_none_or(|hub| hub.upgrade().is_some_and(|hub| hub.is_empty())),
        }
    }

    /// Account for a message leaving the inbound queue.
    fn taken(&self, m: Message) -> Message {
        self.shared.taken(m.len());
        m
    }

    /// The inbound queue is drained and will get no more messages.
    fn drained(&self) -> Error {
        self.shared.release_deferred_close();
        self.closed_error()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shared
            .close(CloseCode::NORMAL, "", CloseInitiator::Local);
    }
}
