//! Limits, timeouts and policies, in one place, with finite defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::UpgradeHook;
use crate::error::{Error, Result};
use crate::protocol::DecoderLimits;
use crate::protocol::deflate::DeflateConfig;
pub use crate::protocol::handshake::OriginPolicy;
use crate::protocol::http::Routes;
use crate::proxy::Proxy;
use crate::reconnect::ReconnectPolicy;
use crate::tls::{ClientTls, ServerTls};

/// What [`Conn::send`](crate::Conn::send) does when the connection's send
/// queue is full because the peer reads slower than the application writes.
///
/// Whatever the choice, memory stays bounded: the queue never grows past
/// [`Config::send_queue_capacity`] messages or past
/// [`Config::send_queue_bytes`] bytes (one message larger than that is
/// taken when the queue is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Wait up to this long for room, then fail with [`Error::SendTimeout`]
    /// (the message handed back).
    /// `Duration::MAX` waits as long as the connection lives; any other
    /// value must be at most [`MAX_TIMEOUT`].
    Block(Duration),
    /// Fail at once with [`Error::QueueFull`], handing the message back.
    Fail,
    /// Close the slow peer with 1008 (policy violation) and fail the send
    /// with [`Error::ConnectionClosed`].
    Disconnect,
}

/// The longest timeout or interval a [`Config`] accepts (one year):
/// [`Config::validate`] refuses longer ones, so that no deadline the engine
/// computes from them can overflow the clock. "Never" is `None` where a
/// setting can be off (keepalive, idle timeout, ping timeout).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Configuration shared by servers and clients.
///
/// Every limit is finite by default and chosen to be safe on the open
/// internet. Fields are public; `Config` is `#[non_exhaustive]`, so start
/// from [`Config::default()`] and change fields or use the `with_*` setters:
///
/// ```
/// use std::time::Duration;
/// let config = wsengine::Config::default()
///     .with_max_message_size(1 << 20)
///     .with_ping_interval(Some(Duration::from_secs(10)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest message accepted from the peer, all fragments together.
    /// Default 64 MiB: large enough for ordinary use, small enough that a
    /// malicious peer cannot exhaust memory. A larger message closes with 1009.
    pub max_message_size: usize,
    /// Largest single frame accepted from the peer, if it should be smaller
    /// than a message. Default `None`: the message limit, so that any
    /// message up to `max_message_size` passes however the peer frames it.
    /// For a compressed message the limit applies to the inflated size; its
    /// frames may be slightly larger on the wire than the limit, as deflate
    /// expands incompressible data a little.
    pub max_frame_size: Option<usize>,
    /// Largest upgrade request (server) or response (client) head, in bytes.
    /// Default 8 KiB; a larger head is answered with 431.
    pub max_handshake_bytes: usize,
    /// Server: most connections open at once (handshakes included); more are
    /// answered 503. Default 10,000. The server also computes what the
    /// operating system allows (threads, memory maps, file descriptors) and
    /// never goes past that.
    pub max_connections: usize,
    /// Messages a connection queues for sending before the
    /// [`overflow_policy`](Self::overflow_policy) applies. Default 1024.
    pub send_queue_capacity: usize,
    /// Bytes of messages a connection queues for sending before the
    /// [`overflow_policy`](Self::overflow_policy) applies; one message
    /// larger than this is taken when the queue is empty. Broadcast frames
    /// count too. Default 16 MiB.
    pub send_queue_bytes: usize,
    /// Complete messages a connection buffers for `recv`. When full, the
    /// reader stops reading and TCP flow control slows the peer. Default 256.
    pub recv_queue_capacity: usize,
    /// Bytes of complete messages a connection buffers for `recv`. Past
    /// this the reader stops as for a full queue; a single message larger
    /// than this is still taken when the queue is empty. With
    /// `max_message_size`, it bounds what a peer can make one connection
    /// hold: about `recv_queue_bytes + max_message_size`. Default 16 MiB.
    pub recv_queue_bytes: usize,
    /// Server: handshaken connections waiting for `accept`. When full, new
    /// upgrades are answered 503. Default 128.
    pub accept_queue_capacity: usize,
    /// Server: deliver connections, messages and closes as events through
    /// [`Server::poll`](crate::Server::poll) (the game-loop pattern: drain
    /// events on your own thread, no thread per connection) instead of
    /// `accept` and `Conn::recv`. Default `false`.
    pub poll_events: bool,
    /// Server in poll mode: message events waiting for `poll` at most; past
    /// this, connections stop being read until `poll` catches up. Default 1024.
    pub event_queue_capacity: usize,
    /// Server in poll mode: bytes of the messages waiting for `poll`, all
    /// connections together; past this, connections stop being read until
    /// `poll` catches up (one message larger than this is queued when no
    /// other waits). Default 64 MiB.
    pub event_queue_bytes: usize,
    /// What `send` does on a full send queue. Default `None`: in poll mode
    /// ([`poll_events`](Self::poll_events)) [`OverflowPolicy::Fail`], so a
    /// game loop never waits for a slow peer; otherwise
    /// [`OverflowPolicy::Block`] for up to 10 s. See [`overflow`](Self::overflow).
    pub overflow_policy: Option<OverflowPolicy>,
    /// Server: time a client has to send its complete upgrade request,
    /// and the time a plain HTTP request's whole exchange may take (its
    /// response must be written by then, however slowly the client reads);
    /// client: time for the server's answer. Default 10 s.
    pub handshake_timeout: Duration,
    /// Client: time to establish the TCP connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time the close handshake may take before the socket is dropped
    /// (and threads exit). Default 5 s.
    pub close_timeout: Duration,
    /// Send a ping after this long without hearing from the peer. `None`
    /// disables keepalive. Default 20 s.
    pub ping_interval: Option<Duration>,
    /// Time to wait for any data after a keepalive ping before the peer is
    /// declared dead and the connection dropped (close code 1006). `None`
    /// keeps pinging but never drops the peer for not answering. Default 20 s.
    pub ping_timeout: Option<Duration>,
    /// Close with 1001 after this long without a message in either
    /// direction. `None` (the default) never does.
    pub idle_timeout: Option<Duration>,
    /// Stack size of each connection thread. Default 128 KiB: the threads
    /// do no deep recursion, and small stacks are what let one process hold
    /// thousands of connections.
    pub thread_stack_size: usize,
    /// Run each connection's writer thread under Linux's `SCHED_BATCH`
    /// policy (default `true`): a writer woken for a queued message waits
    /// for the thread that woke it to block or use up its time slice
    /// instead of preempting it, so it sends everything queued meanwhile in
    /// one write (a send made when the application has answered everything
    /// does not wake the writer at all: it is written at once). This cut
    /// the server CPU per echoed small message by about a quarter in
    /// `bench` (BENCHMARKS.md). The cost: when every core is busy, a queued
    /// message may wait up to a scheduler tick (1-4 ms) longer. Reader
    /// threads run under it too: woken by data, one waits for the thread
    /// running (another reader, the poll thread, or the application thread
    /// answering the last burst from `recv`) to block rather than
    /// preempting it mid-burst (handler mode: 0.76 -> 0.61 us per small
    /// message). The application's own threads keep their policy. Ignored
    /// elsewhere than Linux.
    pub batch_scheduling: bool,
    /// Most bytes the reader asks the socket for at a time. Default 16 KiB.
    /// The buffer starts at 1 KiB and grows to this size only while reads
    /// fill it, so quiet connections do not hold it.
    pub read_buffer_size: usize,
    /// Subprotocols: a server's supported list in preference order, or the
    /// list a client offers. Default empty.
    pub subprotocols: Vec<String>,
    /// Server: which pages may open a WebSocket ([`OriginPolicy`]).
    /// Default: same host only.
    pub origins: OriginPolicy,
    /// Server: if set, upgrades and plain requests whose `Host` header (with
    /// or without its port, case-insensitive) is not listed are refused
    /// with 403, so a DNS-rebinding page cannot reach the server by a name
    /// of its own. Default `None`: any host.
    pub allowed_hosts: Option<Vec<String>>,
    /// Server: connections from one IP address still in their opening
    /// handshake (or answering a plain HTTP request) at once; more are
    /// answered 503 at once, so one host cannot hold every handshake slot.
    /// Counted per address, so an IPv6 host with many addresses is not
    /// held to it. Default 128.
    pub max_handshakes_per_ip: usize,
    /// Client: extra header lines for the upgrade request. Default empty.
    pub extra_headers: Vec<(String, String)>,
    /// Server: accept unmasked frames from clients. RFC 6455 forbids them;
    /// default `false` (they close the connection with 1002).
    pub accept_unmasked_frames: bool,
    /// permessage-deflate (RFC 7692): whether a server accepts it and a
    /// client offers it, the windows, context takeover, level, memory level
    /// and the size below which messages go uncompressed. Default: enabled,
    /// 12-bit windows both ways, memory level 5 (about 207 KiB of zlib state
    /// per connection once it has compressed and inflated a message; nothing
    /// before; see [`DeflateConfig`]). The message size limit applies to the
    /// inflated size.
    pub deflate: DeflateConfig,
    /// Server: plain HTTP on the same port (static routes, a health
    /// endpoint) and the paths that accept the upgrade. Default: no routes,
    /// upgrades on every path. See the `with_*route*` setters.
    pub routes: Routes,
    /// Server: serve https and `wss://` with this certificate (and,
    /// optionally, ask clients for theirs). The TLS handshake counts
    /// against [`handshake_timeout`](Self::handshake_timeout); routes and
    /// the health endpoint are served over TLS too. Default `None`: plain
    /// TCP.
    pub server_tls: Option<ServerTls>,
    /// Server: a function that decides each valid upgrade request before
    /// the `101` (accept, perhaps with a subprotocol, headers and data;
    /// or refuse with any status). It runs on the connection's thread,
    /// within [`handshake_timeout`](Self::handshake_timeout). Default
    /// `None`: every valid upgrade is accepted.
    pub upgrade_hook: Option<UpgradeHook>,
    /// Server in poll mode: deliver each valid upgrade request as
    /// [`ServerEvent::UpgradeRequest`](crate::ServerEvent::UpgradeRequest),
    /// to answer from the loop's own thread within
    /// [`handshake_timeout`](Self::handshake_timeout) (unanswered: 503).
    /// Waiting requests count against the event queue's budget
    /// ([`event_queue_capacity`](Self::event_queue_capacity),
    /// [`event_queue_bytes`](Self::event_queue_bytes)); with it full, a new
    /// one is refused with 503 at once.
    /// Needs [`poll_events`](Self::poll_events); not with an
    /// [`upgrade_hook`](Self::upgrade_hook). Default `false`.
    pub upgrade_events: bool,
    /// Client: TLS settings for `wss://` URLs (ignored for `ws://`).
    /// Default: trust what the operating system trusts, verify the URL's
    /// host, no client certificate ([`ClientTls`]).
    pub client_tls: ClientTls,
    /// Client: how to reach the server: directly or through an HTTP or
    /// SOCKS5 proxy. Default [`Proxy::FromEnvironment`]: the proxy the
    /// `*_proxy` variables name, honouring `no_proxy` (none set: direct).
    pub proxy: Proxy,
    /// Client: when and how a [`Client`](crate::Client) reconnects
    /// (backoff with full jitter, which closes and refusals are retried, a
    /// replay buffer). [`connect`](crate::connect) never reconnects.
    pub reconnect: ReconnectPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 64 << 20,
            max_frame_size: None,
            max_handshake_bytes: 8 << 10,
            max_connections: 10_000,
            send_queue_capacity: 1024,
            send_queue_bytes: 16 << 20,
            recv_queue_capacity: 256,
            recv_queue_bytes: 16 << 20,
            accept_queue_capacity: 128,
            poll_events: false,
            event_queue_capacity: 1024,
            event_queue_bytes: 64 << 20,
            overflow_policy: None,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Some(Duration::from_secs(20)),
            idle_timeout: None,
            thread_stack_size: 128 << 10,
            batch_scheduling: true,
            read_buffer_size: 16 << 10,
            subprotocols: Vec::new(),
            origins: OriginPolicy::SameHost,
            allowed_hosts: None,
            max_handshakes_per_ip: 128,
            extra_headers: Vec::new(),
            accept_unmasked_frames: false,
            deflate: DeflateConfig::default(),
            routes: Routes::default(),
            server_tls: None,
            upgrade_hook: None,
            upgrade_events: false,
            client_tls: ClientTls::default(),
            proxy: Proxy::FromEnvironment,
            reconnect: ReconnectPolicy::default(),
        }
    }
}

impl Config {
    setters! {
        /// Set [`max_message_size`](Self::max_message_size).
        with_max_message_size: max_message_size: usize;
        /// Set [`max_frame_size`](Self::max_frame_size).
        with_max_frame_size: max_frame_size: Option<usize>;
        /// Set [`max_handshake_bytes`](Self::max_handshake_bytes).
        with_max_handshake_bytes: max_handshake_bytes: usize;
        /// Set [`max_connections`](Self::max_connections).
        with_max_connections: max_connections: usize;
        /// Set [`send_queue_capacity`](Self::send_queue_capacity).
        with_send_queue_capacity: send_queue_capacity: usize;
        /// Set [`send_queue_bytes`](Self::send_queue_bytes).
        with_send_queue_bytes: send_queue_bytes: usize;
        /// Set [`recv_queue_capacity`](Self::recv_queue_capacity).
        with_recv_queue_capacity: recv_queue_capacity: usize;
        /// Set [`recv_queue_bytes`](Self::recv_queue_bytes).
        with_recv_queue_bytes: recv_queue_bytes: usize;
        /// Set [`accept_queue_capacity`](Self::accept_queue_capacity).
        with_accept_queue_capacity: accept_queue_capacity: usize;
        /// Set [`poll_events`](Self::poll_events).
        with_poll_events: poll_events: bool;
        /// Set [`event_queue_capacity`](Self::event_queue_capacity).
        with_event_queue_capacity: event_queue_capacity: usize;
        /// Set [`event_queue_bytes`](Self::event_queue_bytes).
        with_event_queue_bytes: event_queue_bytes: usize;
        /// Set [`handshake_timeout`](Self::handshake_timeout).
        with_handshake_timeout: handshake_timeout: Duration;
        /// Set [`connect_timeout`](Self::connect_timeout).
        with_connect_timeout: connect_timeout: Duration;
        /// Set [`close_timeout`](Self::close_timeout).
        with_close_timeout: close_timeout: Duration;
        /// Set [`ping_interval`](Self::ping_interval).
        with_ping_interval: ping_interval: Option<Duration>;
        /// Set [`ping_timeout`](Self::ping_timeout).
        with_ping_timeout: ping_timeout: Option<Duration>;
        /// Set [`idle_timeout`](Self::idle_timeout).
        with_idle_timeout: idle_timeout: Option<Duration>;
        /// Set [`thread_stack_size`](Self::thread_stack_size).
        with_thread_stack_size: thread_stack_size: usize;
        /// Set [`batch_scheduling`](Self::batch_scheduling).
        with_batch_scheduling: batch_scheduling: bool;
        /// Set [`read_buffer_size`](Self::read_buffer_size).
        with_read_buffer_size: read_buffer_size: usize;
        /// Set [`subprotocols`](Self::subprotocols).
        with_subprotocols: subprotocols: Vec<String>;
        /// Set [`origins`](Self::origins).
        with_origins: origins: OriginPolicy;
        /// Set [`allowed_hosts`](Self::allowed_hosts).
        with_allowed_hosts: allowed_hosts: Option<Vec<String>>;
        /// Set [`max_handshakes_per_ip`](Self::max_handshakes_per_ip).
        with_max_handshakes_per_ip: max_handshakes_per_ip: usize;
        /// Set [`extra_headers`](Self::extra_headers).
        with_extra_headers: extra_headers: Vec<(String, String)>;
        /// Set [`accept_unmasked_frames`](Self::accept_unmasked_frames).
        with_accept_unmasked_frames: accept_unmasked_frames: bool;
        /// Set [`deflate`](Self::deflate).
        with_deflate: deflate: DeflateConfig;
        /// Set [`routes`](Self::routes).
        with_routes: routes: Routes;
        /// Set [`server_tls`](Self::server_tls).
        with_server_tls: server_tls: Option<ServerTls>;
        /// Set [`upgrade_hook`](Self::upgrade_hook).
        with_upgrade_hook: upgrade_hook: Option<UpgradeHook>;
        /// Set [`upgrade_events`](Self::upgrade_events).
        with_upgrade_events: upgrade_events: bool;
        /// Set [`client_tls`](Self::client_tls).
        with_client_tls: client_tls: ClientTls;
        /// Set [`proxy`](Self::proxy).
        with_proxy: proxy: Proxy;
        /// Set [`reconnect`](Self::reconnect).
        with_reconnect: reconnect: ReconnectPolicy;
    }

    /// Set [`overflow_policy`](Self::overflow_policy) to `policy`.
    #[must_use]
    pub fn with_overflow_policy(mut self, policy: OverflowPolicy) -> Self {
        self.overflow_policy = Some(policy);
        self
    }

    /// The policy `send` applies on a full queue: the one set, or the
    /// default for the mode (see [`overflow_policy`](Self::overflow_policy)).
    pub fn overflow(&self) -> OverflowPolicy {
        self.overflow_policy.unwrap_or(if self.poll_events {
            OverflowPolicy::Fail
        } else {
            OverflowPolicy::Block(Duration::from_secs(10))
        })
    }

    /// The largest frame accepted: [`max_frame_size`](Self::max_frame_size)
    /// if set, else the message limit.
    pub fn frame_limit(&self) -> usize {
        self.max_frame_size.unwrap_or(self.max_message_size)
    }

    /// Server: answer `GET path` (and `HEAD`) with `body` as `content_type`.
    ///
    /// ```
    /// let config = wsengine::Config::default()
    ///     .with_route("/", "text/html; charset=utf-8", "<h1>hello</h1>")
    ///     .with_health_path(Some("/health"))
    ///     .with_websocket_paths(Some(&["/ws"]));
    /// assert!(config.routes.accepts_upgrade("/ws"));
    /// ```
    pub fn with_route(
        mut self,
        path: impl Into<String>,
        content_type: impl Into<String>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        self.routes.add(path, content_type, body);
        self
    }

    /// Server: answer `GET path` with the contents of `file`, read at each
    /// request (its content type from its extension, as
    /// [`crate::protocol::http::content_type_for`] says).
    pub fn with_file_route(mut self, path: impl Into<String>, file: impl Into<PathBuf>) -> Self {
        self.routes.add_file(path, file);
        self
    }

    /// Server: answer `GET path` with `200` and `{"status":"ok","connections":N}`
    /// (`None`: no health endpoint, the default).
    pub fn with_health_path(mut self, path: Option<&str>) -> Self {
        self.routes.health_path = path.map(str::to_owned);
        self
    }

    /// Server: accept the WebSocket upgrade only on these paths (`None`:
    /// on every path that is not a route, the default).
    pub fn with_websocket_paths(mut self, paths: Option<&[&str]>) -> Self {
        self.routes.websocket_paths = paths.map(|p| p.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// Check that the values make sense together.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first offending field: zero
    /// sizes or capacities, a frame limit above the message limit, a thread
    /// stack under 64 KiB, zero timeouts, or timeouts over [`MAX_TIMEOUT`].
    pub fn validate(&self) -> Result<()> {
        let fail = |why: &str| Err(Error::InvalidArgument(why.to_owned()));
        if self.max_message_size == 0 || self.max_frame_size == Some(0) {
            return fail("max_message_size and max_frame_size must be positive");
        }
        if self.frame_limit() > self.max_message_size {
            return fail("max_frame_size must not exceed max_message_size");
        }
        if self.max_handshake_bytes < 256 {
            return fail("max_handshake_bytes must be at least 256");
        }
        if self.max_connections == 0
            || self.send_queue_capacity == 0
            || self.send_queue_bytes == 0
            || self.event_queue_bytes == 0
            || self.max_handshakes_per_ip == 0
            || self.recv_queue_capacity == 0
            || self.recv_queue_bytes == 0
            || self.accept_queue_capacity == 0
            || self.event_queue_capacity == 0
        {
            return fail("connection limits and queue capacities must be positive");
        }
        if self.thread_stack_size < 64 << 10 {
            return fail("thread_stack_size must be at least 64 KiB");
        }
        if self.read_buffer_size < 512 {
            return fail("read_buffer_size must be at least 512 bytes");
        }
        self.reconnect.validate()?;
        if let Proxy::Url(url) = &self.proxy {
            if let Err(why) = crate::protocol::proxy::ProxyUrl::parse(url) {
                return fail(&format!("proxy: {why}"));
            }
        }
        if self.upgrade_events && !self.poll_events {
            return fail("upgrade_events needs poll_events");
        }
        if self.upgrade_events && self.upgrade_hook.is_some() {
            return fail("use upgrade_events or an upgrade_hook, not both");
        }
        self.deflate.validate().map_err(Error::InvalidArgument)?;
        self.routes.validate().map_err(Error::InvalidArgument)?;
        let block = match self.overflow_policy {
            Some(OverflowPolicy::Block(t)) if t != Duration::MAX => Some(t),
            _ => None,
        };
        let timeouts = [
            ("handshake_timeout", Some(self.handshake_timeout)),
            ("connect_timeout", Some(self.connect_timeout)),
            ("close_timeout", Some(self.close_timeout)),
            ("ping_timeout", self.ping_timeout),
            ("ping_interval", self.ping_interval),
            ("idle_timeout", self.idle_timeout),
            ("overflow_policy Block", block),
        ];
        for (name, value) in timeouts {
            match value {
                Some(Duration::ZERO) => return fail(&format!("{name} must be positive")),
                Some(t) if t > MAX_TIMEOUT => {
                    return fail(&format!(
                        "{name} must be at most {} s (use None for never)",
                        MAX_TIMEOUT.as_secs()
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn decoder_limits(&self) -> DecoderLimits {
        DecoderLimits {
            max_message_size: self.max_message_size,
            max_frame_size: self.frame_limit(),
            accept_unmasked_frames: self.accept_unmasked_frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_finite_and_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.max_message_size, 64 << 20);
        // TLS settings compare by content: two defaults are equal.
        assert_eq!(c, Config::default());
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(
            Config::default()
                .with_max_frame_size(Some(1 << 30))
                .validate()
                .is_err()
        );
        assert!(
            Config::default()
                .with_send_queue_capacity(0)
                .validate()
                .is_err()
        );
        assert!(
            Config::default()
                .with_close_timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(
            Config::default()
                .with_thread_stack_size(4096)
                .validate()
                .is_err()
        );
    }

    /// Finding 6 of issue 14: a `Duration::MAX` passed `validate()` and
    /// then panicked (or wrapped) where the engine added it to the clock.
    #[test]
    fn durations_no_clock_can_add_are_refused() {
        let huge = Duration::MAX;
        for config in [
            Config::default().with_close_timeout(huge),
            Config::default().with_handshake_timeout(huge),
            Config::default().with_ping_interval(Some(huge)),
            Config::default().with_ping_timeout(Some(huge)),
            Config::default().with_idle_timeout(Some(MAX_TIMEOUT + Duration::from_secs(1))),
            Config::default().with_overflow_policy(OverflowPolicy::Block(huge / 2)),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("at most"), "{err}");
        }
        // "Off" is None, and a send may wait as long as the connection lives.
        Config::default()
            .with_ping_timeout(None)
            .with_overflow_policy(OverflowPolicy::Block(huge))
            .with_idle_timeout(Some(MAX_TIMEOUT))
            .validate()
            .unwrap();
    }

    #[test]
    fn the_frame_limit_follows_the_message_limit_unless_set() {
        let c = Config::default().with_max_message_size(100 << 20);
        assert_eq!(c.frame_limit(), 100 << 20);
        assert_eq!(c.with_max_frame_size(Some(1024)).frame_limit(), 1024);
    }

    #[test]
    fn poll_loops_do_not_wait_for_slow_peers_by_default() {
        assert_eq!(
            Config::default().overflow(),
            OverflowPolicy::Block(Duration::from_secs(10))
        );
        let polled = Config::default().with_poll_events(true);
        assert_eq!(polled.overflow(), OverflowPolicy::Fail);
        let asked = polled.with_overflow_policy(OverflowPolicy::Block(Duration::from_secs(1)));
        assert_eq!(
            asked.overflow(),
            OverflowPolicy::Block(Duration::from_secs(1))
        );
    }
}
