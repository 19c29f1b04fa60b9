//! `Server`: accepting (on the connection threads, `pool.rs`), the
//! handshake, and graceful shutdown.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select_biased};
use parking_lot::{Condvar, Mutex};

use super::capacity::connection_capacity;
use super::conn::{Conn, RequestInfo};
use super::events::{Hub, ServerEvent};
use super::groups::Groups;
use super::handler::Handler;
use super::head::read_head;
use super::launch::{Upgraded, establish};
use super::pool::{AcceptPool, Acceptor};
use super::reader::Reader;
use super::registry::Registry;
use super::shared;
use super::signal::Signal;
use super::spawn::release_unused_stack;
use super::sys::stop_accepting;
use super::timer::{self, TimerKind, TimerTarget};
use super::tls_stream::TlsStream;
use super::transport::Transport;
use super::upgrade::{PendingUpgrade, Verdict};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::CloseInitiator;
use crate::protocol::handshake::{self, HandshakeError, ServerOptions, http_error_response};
use crate::protocol::http::{Body, Decision, Route, health_body, ok_head, ok_response};
use crate::protocol::{CloseCode, Role};

struct Inner {
    config: Arc<Config>,
    /// Connections allowed at once: `max_connections`, capped by the OS capacity.
    limit: usize,
    live: Mutex<usize>,
    all_gone: Condvar,
    /// Every connection from its handshake to its teardown, with its groups.
    registry: Arc<Registry>,
    /// Connections in their opening handshake (or answering plain HTTP),
    /// by source address (see `Config::max_handshakes_per_ip`).
    handshakes: Mutex<HashMap<IpAddr, usize>>,
    shutdown: Signal,
    accept_tx: Sender<Conn>,
    /// Poll mode: the event FIFO all connections feed.
    hub: Option<Arc<Hub>>,
    /// Handler mode: called on each connection's reader thread.
    handler: Option<Arc<dyn Handler>>,
    groups: Groups,
    /// The address listened on.
    local_addr: SocketAddr,
}

/// Held by a connection's threads; when the last one exits the connection
/// stops counting against the limit.
struct Slot {
    server: Arc<Inner>,
    id: u64,
}

/// Held while a connection is in its handshake: one of its address's
/// `max_handshakes_per_ip`.
struct HandshakeTicket {
    server: Arc<Inner>,
    ip: IpAddr,
}

impl HandshakeTicket {
    /// A ticket for `ip`, unless it already has as many as allowed.
    fn take(server: &Arc<Inner>, ip: IpAddr) -> Option<HandshakeTicket> {
        let mut all = server.handshakes.lock();
        let n = all.entry(ip).or_insert(0);
        if *n >= server.config.max_handshakes_per_ip {
            return None;
        }
        *n += 1;
        Some(HandshakeTicket {
            server: Arc::clone(server),
            ip,
        })
    }
}

impl Drop for HandshakeTicket {
    fn drop(&mut self) {
        let mut all = self.server.handshakes.lock();
        if let Some(n) = all.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                all.remove(&self.ip);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.registry.remove(self.id);
        let mut live = self.server.live.lock();
        *live -= 1;
        if *live == 0 {
            self.server.all_gone.notify_all();
        }
    }
}

/// A WebSocket server: connection threads that accept TCP connections and
/// run each upgrade handshake on the connection's own thread (so a slow
/// client delays nobody), and queue the open connections for [`accept`](Self::accept).
///
/// `Server` is `Send + Sync`; `accept` may be called from several threads.
/// Dropping it shuts it down (see [`shutdown`](Self::shutdown)).
pub struct Server {
    inner: Arc<Inner>,
    accept_rx: Receiver<Conn>,
    /// The threads accepting and serving connections.
    pool: Arc<AcceptPool>,
    /// The listening socket (a second descriptor of it), to stop it from
    /// `shutdown` and so wake the threads waiting in `accept`; closed
    /// there once they are gone, so the port is free when `shutdown`
    /// returns.
    listening: Mutex<Option<TcpListener>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("limit", &self.inner.limit)
            .field("live", &*self.inner.live.lock())
            .finish()
    }
}

impl Server {
    /// Listen on `addr` (use port 0 for any free port) and start accepting.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an invalid config; [`Error::Io`] if the
    /// address cannot be bound or the first connection thread cannot start.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> Result<Server> {
        Self::start(addr, config, None)
    }

    /// Listen on `addr` in handler mode: each connection's `handler` calls
    /// run on that connection's own reader thread as its messages arrive,
    /// and what they send is written once per burst of input (see
    /// [`Handler`]). The fastest way to serve: no thread hand-over per
    /// message. `accept` and `poll` are not used (they fail with
    /// `InvalidArgument`); the server owns each connection until it closes.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use wsengine::{Config, Conn, Message, Server};
    ///
    /// let server = Server::serve("127.0.0.1:9001", Config::default(), |conn: &Arc<Conn>, m: Message| {
    ///     let _ = conn.send(m); // an echo
    /// })?;
    /// # drop(server);
    /// # Ok::<(), wsengine::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`bind`](Self::bind); also [`Error::InvalidArgument`] with
    /// [`Config::poll_events`] set (a server has one way to deliver).
    pub fn serve(
        addr: impl ToSocketAddrs,
        config: Config,
        handler: impl Handler,
    ) -> Result<Server> {
        if config.poll_events {
            return Err(Error::InvalidArgument(
                "a server with a handler does not deliver events to poll (Config::poll_events)"
                    .into(),
            ));
        }
        Self::start(addr, config, Some(Arc::new(handler)))
    }

    fn start(
        addr: impl ToSocketAddrs,
        config: Config,
        handler: Option<Arc<dyn Handler>>,
    ) -> Result<Server> {
        config.validate()?;
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        timer::init()?;
        // A connection holds one descriptor (its socket); one answering a
        // file route holds the file's too.
        let fds_per_conn = if config.routes.has_files() { 2 } else { 1 };
        let (os_cap, _) = connection_capacity(fds_per_conn);
        let limit = config.max_connections.min(os_cap).max(1);
        let (accept_tx, accept_rx) = bounded(config.accept_queue_capacity);
        let hub = config.poll_events.then(|| {
            Arc::new(Hub::new(
                config.event_queue_capacity,
                config.event_queue_bytes,
            ))
        });
        let registry = Arc::new(Registry::default());
        let inner = Arc::new(Inner {
            config: Arc::new(config),
            limit,
            live: Mutex::new(0),
            all_gone: Condvar::new(),
            registry: Arc::clone(&registry),
            handshakes: Mutex::new(HashMap::new()),
            shutdown: Signal::new(),
            accept_tx,
            hub,
            handler,
            groups: Groups::new(registry),
            local_addr,
        });
        let listening = listener.try_clone().ok();
        let stack_size = inner.config.thread_stack_size;
        let pool = AcceptPool::start(
            "wsengine-conn",
            stack_size,
            KEEP_IDLE_THREAD,
            listener,
            Arc::clone(&inner),
        )?;
        Ok(Server {
            inner,
            accept_rx,
            pool,
            listening: Mutex::new(listening),
            local_addr,
        })
    }

    /// The server's TLS settings, if it serves TLS: call
    /// [`ServerTls::reload`](crate::tls::ServerTls::reload) on them to serve
    /// renewed certificate files to new handshakes.
    pub fn server_tls(&self) -> Option<&crate::tls::ServerTls> {
        self.inner.config.server_tls.as_ref()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The most connections this server holds at once: the configured
    /// `max_connections`, lowered to what the OS limits allow.
    pub fn connection_limit(&self) -> usize {
        self.inner.limit
    }

    /// Connections open or in their handshake right now.
    pub fn connection_count(&self) -> usize {
        *self.inner.live.lock()
    }

    /// The server's broadcast groups: join connections to named groups and
    /// broadcast to a group or to every connection.
    pub fn groups(&self) -> &Groups {
        &self.inner.groups
    }

    /// Wait for the next open connection.
    ///
    /// # Errors
    /// [`Error::ServerShutdown`] once the server is shut down.
    pub fn accept(&self) -> Result<Conn> {
        self.accept_deadline(None)
    }

    /// Wait up to `timeout` for the next open connection.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::ServerShutdown`].
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Conn> {
        self.accept_deadline(Some(timeout))
    }

    /// The next open connection if one is waiting.
    ///
    /// # Errors
    /// [`Error::ServerShutdown`] once the server is shut down.
    pub fn try_accept(&self) -> Result<Option<Conn>> {
        match self.accept_deadline(Some(Duration::ZERO)) {
            Ok(c) => Ok(Some(c)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn accept_deadline(&self, timeout: Option<Duration>) -> Result<Conn> {
        if self.inner.hub.is_some() {
            return Err(Error::InvalidArgument(
                "this server delivers connections through poll (Config::poll_events)".into(),
            ));
        }
        if self.inner.handler.is_some() {
            return Err(Error::InvalidArgument(
                "this server delivers connections to its handler (Server::serve)".into(),
            ));
        }
        let stop = self.inner.shutdown.receiver();
        if self.inner.shutdown.is_fired() {
            return Err(Error::ServerShutdown);
        }
        let timeout = timeout
            .map(crossbeam_channel::after)
            .unwrap_or_else(crossbeam_channel::never);
        select_biased! {
            recv(stop) -> _ => Err(Error::ServerShutdown),
            recv(self.accept_rx) -> c => c.map_err(|_| Error::ServerShutdown),
            recv(timeout) -> _ => Err(Error::Timeout),
        }
    }

    /// The next event of a poll-mode server ([`Config::poll_events`]),
    /// waiting up to `timeout`: `Duration::ZERO` only looks, `Duration::MAX`
    /// waits for as long as it takes. Any thread may poll; each event goes
    /// to one caller. `Ok(None)` means nothing happened within `timeout`.
    ///
    /// A game loop calls `poll(Duration::ZERO)` until it returns `Ok(None)`
    /// once per frame. Replies sent to a connection's messages go out before
    /// the answer to that connection's close: the answer is sent at the
    /// next `poll` after its last message was taken.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the server is not in poll mode;
    /// [`Error::ServerShutdown`] after [`shutdown`](Self::shutdown), once
    /// every remaining event (each connection's `Closed`) has been taken.
    pub fn poll(&self, timeout: Duration) -> Result<Option<ServerEvent>> {
        let Some(hub) = &self.inner.hub else {
            return Err(Error::InvalidArgument(
                "poll needs a server bound with Config::poll_events".into(),
            ));
        };
        match hub.poll(timeout, self.inner.shutdown.receiver()) {
            Ok(None) if self.inner.shutdown.is_fired() => Err(Error::ServerShutdown),
            Ok(event) => Ok(event),
            Err(()) => Err(Error::ServerShutdown),
        }
    }

    /// Shut down gracefully: stop accepting, close every connection with
    /// 1001 (going away), and wait until every connection thread has exited
    /// (at most about [`Config::close_timeout`]). Idempotent; any thread.
    pub fn shutdown(&self) {
        let listening = self.listening.lock().take();
        if self.inner.shutdown.fire() && !listening.as_ref().is_some_and(stop_accepting) {
            // Wake the threads out of accept() with connections of our
            // own (where a listening socket cannot be shut down; this needs
            // the address to be reachable from the calling thread, which
            // another network namespace or a firewall can prevent).
            let mut wake = self.local_addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(if wake.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            for _ in 0..self.pool.waiting() {
                let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            }
        }
        // Handshakes are cut under the lock, so that a connection thread
        // that marks its entry `Upgrading` (under the lock, before writing
        // the 101) either finds its socket already cut or is never cut.
        for shared in self.inner.registry.cut_handshakes() {
            shared.close(
                CloseCode::GOING_AWAY,
                "server shutdown",
                CloseInitiator::Local,
            );
        }
        // Connections nobody accepted: close them the same way.
        while let Ok(conn) = self.accept_rx.try_recv() {
            let _ = conn.close(CloseCode::GOING_AWAY, "server shutdown");
        }
        let deadline = timer::deadline_in(self.inner.config.close_timeout + Duration::from_secs(1));
        let mut live = self.inner.live.lock();
        while *live > 0 {
            if self
                .inner
                .all_gone
                .wait_until(&mut live, deadline)
                .timed_out()
            {
                break;
            }
        }
        drop(live);
        // Every thread has closed its descriptor of the listening socket
        // (those serving a connection once it ended): closing this last one
        // frees the port.
        self.pool.wait_all_gone(deadline);
        drop(listening);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long a connection thread whose connection ended waits for the next
/// one before it exits (see `pool.rs`).
const KEEP_IDLE_THREAD: Duration = Duration::from_secs(2);

/// An accepted connection, counted: everything `serve_connection` takes.
struct Admitted {
    stream: TcpStream,
    peer: SocketAddr,
    slot: Arc<Slot>,
    ticket: HandshakeTicket,
}

impl Acceptor for Inner {
    type Job = Admitted;

    fn stopped(&self) -> bool {
        self.shutdown.is_fired()
    }

    /// Count the connection and register it, or refuse it at once.
    ///
    /// Runs on a thread waiting to accept, so it never waits for the
    /// client: a refusal is one non-blocking write (see
    /// [`refuse_at_once`]).
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) -> Option<Admitted> {
        let Some(ticket) = HandshakeTicket::take(self, peer.ip()) else {
            refuse_at_once(stream, 503, "too many handshakes from this address");
            return None;
        };
        {
            let mut live = self.live.lock();
            if *live >= self.limit {
                drop(live);
                refuse_at_once(stream, 503, "connection limit reached");
                return None;
            }
            *live += 1;
        }
        let slot = Arc::new(Slot {
            server: Arc::clone(self),
            id: shared::next_id(),
        });
        Some(Admitted {
            stream,
            peer,
            slot,
            ticket,
        })
    }

    fn serve(self: &Arc<Self>, a: Admitted) {
        serve_connection(self, a.stream, a.peer, a.slot, a.ticket);
    }

    fn unserved(&self, a: Admitted) {
        let Admitted { stream, .. } = a;
        // The slot and the ticket are dropped: the counts are back.
        refuse_at_once(stream, 503, "cannot start a connection thread");
    }
}

/// Answer with an HTTP error and close, from a thread waiting to accept: one
/// non-blocking write (the response is small and a new socket's buffer is
/// empty), then what the client already sent is read without waiting, so
/// that closing does not reset the connection over unread data. Nothing
/// the client does can make this wait.
fn refuse_at_once(stream: TcpStream, status: u16, why: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(&http_error_response(status, "", why));
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match (&stream).read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

/// Answer with an HTTP error and close, without letting a slow client block
/// us for long (connection threads only: this waits up to about 0.4 s).
fn reject(stream: &Transport, status: u16, why: &str) {
    let response = http_error_response(status, "", why);
    let _ = stream.write_by(&response, Instant::now() + Duration::from_millis(200));
    linger_close(stream);
}

/// Close after an error response: end our side, then read what the client
/// still sends (briefly), so the response is not lost to a TCP reset. The
/// whole linger takes at most 200 ms however the client trickles.
fn linger_close(stream: &Transport) {
    stream.shutdown(Shutdown::Write);
    // What the client still sends is read as it comes (ciphertext, over
    // TLS: nobody needs to understand it).
    let mut stream = stream.tcp();
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

/// The connection thread: handshake, then it becomes the reader.
fn serve_connection(
    inner: &Arc<Inner>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Arc<Slot>,
    ticket: HandshakeTicket,
) {
    // TLS (when configured) starts in `complete_handshake`, on the clock
    // of the handshake timeout; here the session is only set up.
    let stream = match transport_for(&inner.config, stream) {
        Ok(stream) => stream,
        Err(stream) => {
            reject(&Transport::Tcp(stream), 503, "cannot start a TLS session");
            return;
        }
    };
    // Registered here, not by the listener, so the handle is made and
    // freed on this thread. Shutdown fires before it reads the registry:
    // either it finds this entry and cuts the socket, or this thread sees
    // it fired.
    let stream = Arc::new(stream);
    inner.registry.handshaking(slot.id, Arc::clone(&stream));
    if inner.shutdown.is_fired() {
        reject(&stream, 503, "server shutting down");
        return;
    }
    if let Some(reader) = complete_handshake(inner, stream, peer, slot, ticket) {
        // The handshake's frames are gone: an idle connection should not
        // keep the stack pages they touched.
        release_unused_stack();
        reader.run();
    }
}

/// The transport for an accepted socket: plain TCP, or a new TLS session
/// over it (handshake not started); the socket back if the session cannot
/// be made. Never inlined: a rustls session is built on the stack, and the
/// frame of `serve_connection`, which the reader runs under for the
/// connection's whole life, must not grow by it (it did, by 2 KiB, and an
/// idle plaintext connection held 4 KiB more).
#[inline(never)]
fn transport_for(config: &Config, stream: TcpStream) -> std::result::Result<Transport, TcpStream> {
    let Some(tls) = &config.server_tls else {
        return Ok(Transport::Tcp(stream));
    };
    match rustls::ServerConnection::new(tls.rustls_config()) {
        Ok(session) => Ok(Transport::Tls(Box::new(TlsStream::new(
            stream,
            session.into(),
        )))),
        Err(_) => Err(stream),
    }
}

/// Answer a plain request, refuse a bad upgrade, or complete the handshake
/// and register the connection: `Some(reader)` to run. Never inlined, so
/// that its frame is gone when the reader runs.
#[inline(never)]
fn complete_handshake(
    inner: &Arc<Inner>,
    stream: Arc<Transport>,
    peer: SocketAddr,
    slot: Arc<Slot>,
    ticket: HandshakeTicket,
) -> Option<Reader> {
    let config = &inner.config;
    let deadline = super::timer::deadline_in(config.handshake_timeout);
    let _ = stream.tcp().set_nodelay(true);
    if let Transport::Tls(tls) = &*stream {
        if !tls_handshake(tls, deadline) {
            return None;
        }
    }
    let max = config.max_handshake_bytes;
    let (request, leftover) = match read_head(&stream, deadline, max, |b| {
        handshake::server::parse_request(b, max)
    }) {
        Ok(r) => r,
        Err(Error::Handshake(e)) => {
            refuse(&stream, &e);
            return None;
        }
        Err(_) => return None, // timeout, reset or EOF: nobody to answer
    };
    if inner.shutdown.is_fired() {
        reject(&stream, 503, "server shutting down");
        return None;
    }
    if let (Some(allowed), Some(host)) = (&config.allowed_hosts, request.header("host")) {
        if !handshake::server::host_allowed(host, allowed) {
            refuse(&stream, &HandshakeError::HostRejected(host.to_owned()));
            return None;
        }
    }
    match config.routes.decide(&request) {
        Decision::Upgrade => {}
        Decision::Serve { route, head_only } => {
            serve_route(&stream, route, head_only, deadline);
            return None;
        }
        Decision::Health { head_only } => {
            let body = health_body(*inner.live.lock());
            let response = ok_response("application/json", body.as_bytes(), head_only);
            answer_plain(&stream, deadline, response);
            return None;
        }
        Decision::Refuse(response) => {
            answer_plain(&stream, deadline, response);
            return None;
        }
    }
    let options = ServerOptions {
        subprotocols: &config.subprotocols,
        origins: &config.origins,
        deflate: &config.deflate,
    };
    let mut accepted = match handshake::server::accept(request, &options) {
        Ok(a) => a,
        Err(e) => {
            refuse(&stream, &e);
            return None;
        }
    };
    let owned = inner.hub.is_some() || inner.handler.is_some();
    if !owned && inner.accept_tx.is_full() {
        reject(&stream, 503, "server busy: accept queue full");
        return None;
    }
    let mut info = RequestInfo {
        path: std::mem::take(&mut accepted.request.path),
        query: accepted.request.query.take(),
        headers: std::mem::take(&mut accepted.request.headers),
        subprotocol: accepted.subprotocol.clone(),
        compression: accepted.deflate,
        peer_addr: peer,
        // A listener bound to one address accepts on that address only;
        // asking the socket is needed for a wildcard one.
        local_addr: if inner.local_addr.ip().is_unspecified() {
            stream.tcp().local_addr().unwrap_or(peer)
        } else {
            inner.local_addr
        },
        peer_certificates: stream.peer_certificates(),
    };
    // `None`: the deadline passed while the application decided; the socket
    // is cut (or about to be) and nothing more is sent.
    let data = match decide(inner, &stream, &info, deadline)? {
        Verdict::Accept {
            subprotocol,
            headers,
            data,
        } => {
            accepted.respond(subprotocol, &headers);
            info.subprotocol = accepted.subprotocol.clone();
            data
        }
        Verdict::Refuse {
            status,
            headers,
            body,
        } => {
            let response = handshake::refusal_response(status, &headers, &body);
            // A refusal for running out of time still gets a moment to be sent.
            let by = deadline.max(Instant::now() + Duration::from_millis(500));
            answer_plain(&stream, by, response);
            return None;
        }
    };
    // The socket becomes the connection's: the registry lets go of it (the
    // entry is `Upgrading` from now on, so shutdown no longer cuts it).
    let id = slot.id;
    inner.registry.upgrading(id);
    let stream = match Arc::try_unwrap(stream) {
        Ok(stream) => stream,
        // Only if the handshake deadline's cut (`HandshakeCut`) is running
        // at this very moment: the socket is being shut down anyway.
        Err(_) => return None,
    };
    let upgraded = Upgraded {
        id,
        stream,
        role: Role::Server,
        info,
        leftover,
    };
    let (mut conn, reader) = establish(upgraded, Arc::clone(config), slot, owned);
    if let Err(e) = reader
        .shared
        .transport
        .write_by(&accepted.response, deadline)
    {
        // The client is gone or stalled: tear down through the reader, which
        // records how it ended and releases the connection's slot.
        let why = format!("handshake response not sent: {e}");
        reader
            .shared
            .kill(CloseCode::ABNORMAL, &why, CloseInitiator::Transport);
        drop(conn);
        return Some(reader);
    }
    drop(ticket);
    conn.set_data(data);
    // (Handshake writes wait with `poll`: no write timeout was set.)
    let _ = reader.shared.transport.tcp().set_read_timeout(None);
    let mut reader = reader;
    if let Some(hub) = &inner.hub {
        // Poll mode: the server owns the connection until it closes.
        let conn = Arc::new(conn);
        register_open(inner, &conn, Some(Arc::clone(&conn)));
        hub.open(Arc::clone(&conn));
        reader.deliver_to(Arc::clone(hub), conn);
    } else if let Some(handler) = &inner.handler {
        // Handler mode: the server owns the connection until it closes;
        // `on_open` runs when the reader starts, on this thread.
        let conn = Arc::new(conn);
        register_open(inner, &conn, Some(Arc::clone(&conn)));
        reader.handle_with(Arc::clone(handler), conn);
    } else {
        register_open(inner, &conn, None);
        if let Err(e) = inner.accept_tx.try_send(conn) {
            let _ = e
                .into_inner()
                .close(CloseCode::TRY_AGAIN_LATER, "server busy");
        }
    }
    Some(reader)
}

/// Ask the application about an upgrade, if it configured a way (a hook,
/// or upgrade events in poll mode), by `deadline`: its verdict, checked
/// (one that cannot be sent becomes a 500), or `None` if a hook was still
/// deciding at the deadline.
fn decide(
    inner: &Inner,
    stream: &Arc<Transport>,
    info: &RequestInfo,
    deadline: Instant,
) -> Option<Verdict> {
    let verdict = if let Some(hook) = &inner.config.upgrade_hook {
        // The hook runs here, on this connection's thread; if it is still
        // running at the deadline the timer cuts the socket, so the client
        // is not kept waiting for it.
        let cut = Arc::new(HandshakeCut(Arc::clone(stream)));
        timer::schedule(deadline, &cut, TimerKind::HandshakeDeadline);
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook.decide(info)));
        drop(cut);
        if Instant::now() >= deadline {
            return None;
        }
        decided.unwrap_or_else(|_| Verdict::refuse(500, "the upgrade hook failed"))
    } else if let (true, Some(hub)) = (inner.config.upgrade_events, &inner.hub) {
        let (tx, rx) = bounded(1);
        if !hub.upgrade_request(PendingUpgrade::new(info.clone(), tx)) {
            return Some(Verdict::refuse(503, "server busy: event queue full"));
        }
        let late = || Verdict::refuse(503, "the server did not answer the upgrade in time");
        select_biased! {
            recv(rx) -> verdict => verdict.unwrap_or_else(|_| late()),
            recv(inner.shutdown.receiver()) -> _ => Verdict::refuse(503, "server shutting down"),
            recv(crossbeam_channel::at(deadline)) -> _ => late(),
        }
    } else {
        return Some(Verdict::accept());
    };
    Some(match verdict.check_for(info) {
        Ok(()) => verdict,
        // The application's answer cannot be sent as it is: say so in the
        // refusal's body (our own words, nothing from the request).
        Err(why) => Verdict::refuse(
            500,
            format!("the server's upgrade decision is unusable: {why}"),
        ),
    })
}

/// Cuts a handshaking connection's socket at the handshake deadline while
/// the application's upgrade hook is still deciding. Held only for the
/// hook's call (the timer holds it weakly).
struct HandshakeCut(Arc<Transport>);

impl TimerTarget for HandshakeCut {
    fn on_timer(self: Arc<Self>, _kind: TimerKind) {
        let _ = self.0.tcp().shutdown(Shutdown::Both);
    }

    fn timer_panicked(&self) {}
}

/// The TLS handshake of a server connection, by `deadline` (the opening
/// handshake's). A client that speaks plain HTTP to the TLS port gets a
/// plain 400 that says so, at once, instead of a TLS alert it cannot read.
/// Returns whether the session is up.
fn tls_handshake(tls: &TlsStream, deadline: Instant) -> bool {
    let tcp = tls.tcp();
    let mut first = [0u8; 1];
    let left = deadline.saturating_duration_since(Instant::now());
    if tcp
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .is_err()
    {
        return false;
    }
    match tcp.peek(&mut first) {
        // 22: a TLS handshake record (a ClientHello).
        Ok(1) if first[0] == 22 => {}
        Ok(1) => {
            let plain = Transport::Tcp(match tcp.try_clone() {
                Ok(t) => t,
                Err(_) => return false,
            });
            reject(&plain, 400, "this port speaks TLS: use https:// or wss://");
            return false;
        }
        _ => return false,
    }
    tls.handshake(deadline).is_ok()
}

/// Register an upgraded connection as open; if shutdown has started, close
/// it with 1001 as shutdown does with the open connections it finds.
/// Shutdown fires before it reads the registry, so either it finds this
/// entry or this thread finds it fired.
fn register_open(inner: &Inner, conn: &Conn, owned: Option<Arc<Conn>>) {
    inner.registry.open(conn, owned);
    if inner.shutdown.is_fired() {
        conn.shared().close(
            CloseCode::GOING_AWAY,
            "server shutdown",
            CloseInitiator::Local,
        );
    }
}

/// Answer a plain HTTP request for `route` and close: its bytes, or the
/// file streamed in bounded chunks (memory per response independent of the
/// file's size; `HEAD` only looks at its size). The whole response must be
/// written by `deadline`, however slowly the client reads.
fn serve_route(stream: &Transport, route: &Route, head_only: bool, deadline: Instant) {
    let path = match &route.body {
        Body::Bytes(bytes) => {
            answer_plain(
                stream,
                deadline,
                ok_response(&route.content_type, bytes, head_only),
            );
            return;
        }
        Body::File(path) => path,
    };
    let opened = std::fs::File::open(path).and_then(|f| Ok((f.metadata()?.len(), f)));
    let (len, mut file) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            let status = if e.kind() == std::io::ErrorKind::NotFound {
                404
            } else {
                503
            };
            let response = http_error_response(status, "", "cannot read the file");
            answer_plain(stream, deadline, response);
            return;
        }
    };
    if stream
        .write_by(&ok_head(&route.content_type, len), deadline)
        .is_err()
        || head_only
    {
        linger_close(stream);
        return;
    }
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut left = len;
    while left > 0 {
        let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut chunk[..want]) {
            Ok(0) | Err(_) => break, // the file shrank or failed: the client sees a short body
            Ok(n) => n,
        };
        if stream.write_by(&chunk[..n], deadline).is_err() {
            break;
        }
        left -= n as u64;
    }
    linger_close(stream);
}

/// Bytes of a file read and written at a time.
const FILE_CHUNK: usize = 64 << 10;

/// Answer a plain HTTP request (the whole response by `deadline`) and close.
fn answer_plain(stream: &Transport, deadline: Instant, response: Vec<u8>) {
    let _ = stream.write_by(&response, deadline);
    linger_close(stream);
}

/// Answer a refused handshake (within 500 ms) and close.
fn refuse(stream: &Transport, e: &HandshakeError) {
    let _ = stream.write_by(&e.response(), Instant::now() + Duration::from_millis(500));
    linger_close(stream);
}
