//! `Client`: a client connection that reconnects by the rules of a
//! [`ReconnectPolicy`] (opt-in: [`connect`](super::connect) never does).
//!
//! One supervisor thread per client connects, forwards what arrives to the
//! client's event queue, and when the connection ends decides (by the
//! policy) whether to try again and after how long. The application reads
//! one stream of [`ClientEvent`]s: the messages, and the notices that a
//! connection opened, that the client is waiting to reconnect (attempt,
//! delay, cause), and that it is done. Messages that arrived before a
//! connection ended are delivered before the notice of its end. The
//! thread hands events over one at a time: what the application has not
//! read stays in the connection's receive queue (bounded by
//! `recv_queue_capacity` and `recv_queue_bytes`), plus the one message in
//! the thread's hand.
//!
//! Sends go to the open connection. Between connections a send fails with
//! [`Error::NotConnected`] (the message handed back), or, with a replay
//! buffer ([`ReconnectPolicy::replay_messages`]), waits there and goes out
//! first, in order, on the next connection. What was accepted and never
//! sent is reported: the count a dropped connection could not send in its
//! `Reconnecting` notice, the replay buffer's messages in `Closed`.
//!
//! [`Client::close`] returns at once, also during a wait: nothing
//! connects after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use parking_lot::Mutex;

use super::client::connect;
use super::conn::Conn;
use super::spawn::spawn_detached;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::{CloseCode, CloseInfo, CloseInitiator, Message};
use crate::reconnect::{Backoff, ReconnectPolicy};

/// What a [`Client`] reports, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A connection opened: the first one (`reconnected` false) or one
    /// after a drop (`reconnected` true: rejoin rooms, resubscribe here).
    Connected {
        /// Whether an earlier connection of this client had opened.
        reconnected: bool,
    },
    /// A message from the server.
    Message(Message),
    /// The connection ended or an attempt failed, and the client will try
    /// again after `delay`.
    Reconnecting {
        /// Attempts in a row so far, this one included (1 for the first
        /// retry after a drop).
        attempt: u32,
        /// How long the client waits before this attempt.
        delay: Duration,
        /// Why: the close of the connection that dropped, or the error of
        /// the attempt that failed.
        cause: String,
        /// Messages the dropped connection had accepted and could not send
        /// (0 after a failed attempt).
        unsent: u64,
        /// How the dropped connection closed (`None` after a failed
        /// attempt).
        close: Option<CloseInfo>,
    },
    /// The client is done: [`Client::close`] was called, the server closed
    /// or refused in a way the policy does not retry, or the attempts ran
    /// out. The last event.
    Closed {
        /// Why it ended.
        cause: String,
        /// How the last connection ended, if one was open.
        close: Option<CloseInfo>,
        /// The replay buffer's messages, never sent (handed back).
        unsent: Vec<Message>,
        /// The error of the last attempt, when the client ended on it (a
        /// refusal that is not retried, or the last of the attempts).
        error: Option<Error>,
    },
}

/// A reconnecting client connection (see the module docs).
///
/// `Send + Sync`: any thread may send, close or read events; one reader of
/// events at a time is the normal use. Dropping it closes it (1000).
pub struct Client {
    inner: Arc<Inner>,
    events: Receiver<ClientEvent>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

struct Inner {
    url: String,
    policy: ReconnectPolicy,
    state: Mutex<State>,
    /// Wakes the supervisor out of a wait (`close`).
    stop: Sender<()>,
}

#[derive(Default)]
struct State {
    conn: Option<Arc<Conn>>,
    replay: VecDeque<Message>,
    replay_bytes: usize,
    /// Set by `close`: the code and reason to close with.
    closing: Option<(CloseCode, String)>,
}

impl Client {
    /// Start a client for `url` (`ws://` or `wss://`) with `config`,
    /// reconnecting by [`Config::reconnect`]. Returns at once: the first
    /// attempt runs on the client's thread like every later one, and
    /// [`ClientEvent::Connected`] says when it succeeded (or `Closed` that
    /// it will not).
    ///
    /// # Errors
    /// [`Error::Url`] or [`Error::InvalidArgument`] for a URL, config or
    /// policy that cannot work; [`Error::Io`] if the thread cannot start.
    pub fn connect(url: &str, config: Config) -> Result<Client> {
        config.validate()?;
        crate::protocol::handshake::WsUrl::parse(url).map_err(Error::Url)?;
        let (stop_tx, stop_rx) = bounded(1);
        // A hand-over, not a queue: what the application has not read
        // stays in the connection's receive queue, which is bounded in
        // bytes (`recv_queue_bytes`), plus the one message in the
        // supervisor's hand.
        let (events_tx, events_rx) = bounded(0);
        let inner = Arc::new(Inner {
            url: url.to_owned(),
            policy: config.reconnect.clone(),
            state: Mutex::new(State::default()),
            stop: stop_tx,
        });
        let supervisor = Supervisor {
            inner: Arc::clone(&inner),
            config,
            events: events_tx,
            stop: stop_rx,
        };
        let stack = supervisor.config.thread_stack_size;
        spawn_detached("wsengine-client", stack, move || supervisor.run())?;
        Ok(Client {
            inner,
            events: events_rx,
        })
    }

    /// Send `message` on the open connection (by its config's overflow
    /// policy); between connections, keep it in the replay buffer if the
    /// policy has one with room.
    ///
    /// # Errors
    /// [`Error::NotConnected`] between connections without room to keep it
    /// (the message handed back); [`Error::ConnectionClosed`] after
    /// [`close`](Self::close), or if the connection closed during the send;
    /// what [`Conn::send`] returns.
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        self.send_with(message.into(), |conn, m| conn.send(m))
    }

    /// As [`send`](Self::send), waiting at most `timeout` for room on the
    /// open connection whatever its overflow policy (as
    /// [`Conn::send_timeout`]: [`Error::SendTimeout`] hands the message
    /// back).
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`Error::SendTimeout`].
    pub fn send_timeout(&self, message: impl Into<Message>, timeout: Duration) -> Result<()> {
        self.send_with(message.into(), |conn, m| conn.send_timeout(m, timeout))
    }

    fn send_with(
        &self,
        message: Message,
        send: impl FnOnce(&Conn, Message) -> Result<()>,
    ) -> Result<()> {
        let mut state = self.inner.state.lock();
        if let Some((code, reason)) = &state.closing {
            return Err(Error::ConnectionClosed(Box::new(CloseInfo {
                code: *code,
                reason: reason.clone(),
                initiator: CloseInitiator::Local,
                clean: false,
            })));
        }
        // A connection that is closing counts as gone: the message waits
        // for the next one (or comes back) instead of failing with it.
        match state.conn.clone().filter(|c| !c.is_closed()) {
            Some(conn) => {
                drop(state);
                send(&conn, message)
            }
            None => {
                let policy = &self.inner.policy;
                if state.replay.len() < policy.replay_messages
                    && state.replay_bytes + message.len() <= policy.replay_bytes
                {
                    state.replay_bytes += message.len();
                    state.replay.push_back(message);
                    Ok(())
                } else {
                    Err(Error::NotConnected(message))
                }
            }
        }
    }

    /// The next event, waiting up to `timeout` (`Duration::MAX`: as long as
    /// it takes); `Ok(None)` if none came in time.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] once the `Closed` event has been read.
    pub fn poll(&self, timeout: Duration) -> Result<Option<ClientEvent>> {
        let got = if timeout == Duration::MAX {
            self.events
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            self.events.recv_timeout(timeout)
        };
        match got {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(Error::ConnectionClosed(Box::new(CloseInfo {
                    code: CloseCode::NORMAL,
                    reason: "client closed".into(),
                    initiator: CloseInitiator::Local,
                    clean: true,
                })))
            }
        }
    }

    /// Stop: close the open connection with `code` and `reason` (its close
    /// handshake then runs as usual), or end the wait for the next attempt.
    /// Returns at once; nothing connects after it, and `Closed` follows.
    /// Returns whether this call closed it (false the second time).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a code that may not be sent or a
    /// reason over 123 bytes.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<bool> {
        let code = code.into();
        if !code.is_valid_on_wire() || reason.len() > crate::protocol::close::MAX_REASON_LEN {
            return Err(Error::InvalidArgument(format!(
                "close code {code} with a {} byte reason may not be sent",
                reason.len()
            )));
        }
        let conn = {
            let mut state = self.inner.state.lock();
            if state.closing.is_some() {
                return Ok(false);
            }
            state.closing = Some((code, reason.to_owned()));
            state.conn.clone()
        };
        let _ = self.inner.stop.try_send(());
        if let Some(conn) = conn {
            let _ = conn.close(code, reason);
        }
        Ok(true)
    }

    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        self.inner
            .state
            .lock()
            .conn
            .as_ref()
            .is_some_and(|c| !c.is_closed())
    }

    /// The open connection, if any (its request details, addresses,
    /// subprotocol). Sending on it directly bypasses the replay buffer.
    pub fn connection(&self) -> Option<Arc<Conn>> {
        self.inner.state.lock().conn.clone()
    }

    /// The URL this client connects to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.close(CloseCode::NORMAL, "");
    }
}

/// The client's thread.
struct Supervisor {
    inner: Arc<Inner>,
    config: Config,
    events: Sender<ClientEvent>,
    stop: Receiver<()>,
}

/// How one attempt (and the connection it opened, if it did) ended.
struct Ended {
    /// What to tell: the close of the connection, or the attempt's error.
    cause: String,
    /// The attempt's error, if it failed.
    error: Option<Error>,
    /// The connection's close, if one had opened.
    close: Option<CloseInfo>,
    /// Whether the policy retries it, and the server's `Retry-After`.
    retry: bool,
    retry_after: Option<Duration>,
    /// Messages the connection accepted and could not send.
    unsent: u64,
    /// The connection stayed open for the policy's `reset_after`.
    stayed_up: bool,
}

/// The application dropped the client: nobody to tell any more.
struct Gone;

impl Supervisor {
    fn run(self) {
        let policy = &self.inner.policy;
        let mut backoff = Backoff::new(policy.seed);
        let mut opened_before = false;
        let mut last_close = None;
        loop {
            let Ok(ended) = self.attempt(&mut opened_before) else {
                return;
            };
            if ended.close.is_some() {
                last_close = ended.close.clone();
            }
            if ended.stayed_up {
                backoff.reset();
            }
            if self.closing() {
                return self.finish("closed by the application".into(), last_close, None);
            }
            if !ended.retry {
                return self.finish(ended.cause, last_close, ended.error);
            }
            if policy
                .max_attempts
                .is_some_and(|max| backoff.attempt >= max)
            {
                let cause = format!(
                    "gave up after {} attempts: {}",
                    backoff.attempt, ended.cause
                );
                return self.finish(cause, last_close, ended.error);
            }
            let delay = backoff.next(policy, ended.retry_after);
            let notice = ClientEvent::Reconnecting {
                attempt: backoff.attempt,
                delay,
                cause: ended.cause,
                unsent: ended.unsent,
                close: ended.close,
            };
            if self.events.send(notice).is_err() {
                return;
            }
            match self.stop.recv_timeout(delay) {
                Err(RecvTimeoutError::Timeout) => {}
                // `close` was called (or the client dropped).
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    return self.finish("closed by the application".into(), last_close, None);
                }
            }
        }
    }

    fn closing(&self) -> bool {
        self.inner.state.lock().closing.is_some()
    }

    /// Connect once; if that works, serve the connection until it ends.
    fn attempt(&self, opened_before: &mut bool) -> std::result::Result<Ended, Gone> {
        let policy = &self.inner.policy;
        let conn = match connect(&self.inner.url, self.config.clone()) {
            Ok(conn) => Arc::new(conn),
            Err(e) => {
                let (retry, retry_after) = policy.retries_failure(&e);
                return Ok(Ended {
                    cause: e.to_string(),
                    error: Some(e),
                    close: None,
                    retry,
                    retry_after,
                    unsent: 0,
                    stayed_up: false,
                });
            }
        };
        let opened = Instant::now();
        // Replayed messages a connection closing under them took down with
        // it (a race of microseconds): counted, never silent.
        let mut replay_lost = 0;
        {
            let mut state = self.inner.state.lock();
            if let Some((code, reason)) = &state.closing {
                // `close` came while this attempt was connecting: it ends
                // here, and the application never sees it open.
                let _ = conn.close(*code, reason);
                drop(state);
                conn.wait_closed(self.config.close_timeout + Duration::from_secs(1));
                return Ok(Ended {
                    cause: "closed by the application".into(),
                    error: None,
                    close: conn.close_info(),
                    retry: false,
                    retry_after: None,
                    unsent: 0,
                    stayed_up: false,
                });
            }
            // What waited goes first, in order; sends from other threads
            // wait for the lock, so they follow it. A connection that is
            // already closing keeps the rest for the next one.
            while !conn.is_closed() {
                let Some(message) = state.replay.pop_front() else {
                    break;
                };
                state.replay_bytes -= message.len();
                match conn.send(message) {
                    Ok(()) => {}
                    Err(Error::QueueFull(m) | Error::SendTimeout(m)) => {
                        state.replay_bytes += m.len();
                        state.replay.push_front(m);
                        break;
                    }
                    Err(_) => {
                        replay_lost += 1;
                        break;
                    }
                }
            }
            state.conn = Some(Arc::clone(&conn));
        }
        let reconnected = std::mem::replace(opened_before, true);
        self.events
            .send(ClientEvent::Connected { reconnected })
            .map_err(|_| Gone)?;
        let close = loop {
            match conn.recv() {
                Ok(message) => {
                    if self.events.send(ClientEvent::Message(message)).is_err() {
                        let _ = conn.close(CloseCode::NORMAL, "");
                        return Err(Gone);
                    }
                }
                Err(Error::ConnectionClosed(info)) => break *info,
                Err(e) => {
                    break CloseInfo {
                        code: CloseCode::ABNORMAL,
                        reason: e.to_string(),
                        initiator: CloseInitiator::Transport,
                        clean: false,
                    };
                }
            }
        };
        self.inner.state.lock().conn = None;
        // Torn down, so the count of what it could not send is final.
        conn.wait_closed(self.config.close_timeout + Duration::from_secs(1));
        Ok(Ended {
            cause: format!("connection closed: {close}"),
            error: None,
            retry: policy.retries_close(&close),
            close: Some(close),
            retry_after: None,
            unsent: conn.unsent_count() + replay_lost,
            stayed_up: opened.elapsed() >= policy.reset_after,
        })
    }

    /// Tell the application the client is done, handing back what the
    /// replay buffer still held.
    fn finish(&self, cause: String, close: Option<CloseInfo>, error: Option<Error>) {
        let unsent = {
            let mut state = self.inner.state.lock();
            state.replay_bytes = 0;
            // Later sends fail instead of filling a buffer nobody sends.
            state
                .closing
                .get_or_insert_with(|| (CloseCode::NORMAL, String::new()));
            state.replay.drain(..).collect()
        };
        let _ = self.events.send(ClientEvent::Closed {
            cause,
            close,
            unsent,
            error,
        });
    }
}
