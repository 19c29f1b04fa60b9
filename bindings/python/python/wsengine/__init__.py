"""wsengine: WebSocket (RFC 6455) servers and clients on a native engine.

The API follows the ``websockets`` library's synchronous API::

    import wsengine

    def echo(conn):
        for message in conn:
            conn.send(message)

    with wsengine.serve(echo, "127.0.0.1", 8765) as server:
        server.serve_forever()

    with wsengine.connect("ws://127.0.0.1:8765/") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

Every blocking call releases the GIL and can be interrupted with Ctrl-C.
Connections are safe to use from several threads at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator, Literal, Optional, Sequence, Tuple, Union, overload

from . import exceptions
from ._wsengine import BroadcastReport, ClientEvent, ClientHandle, Connection, Event, Request, ServerHandle, Upgrade, __version__
from ._wsengine import connect as _connect
from ._wsengine import start_client as _start_client
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    NotConnected,
    ProxyError,
    MessageTooBig,
    ProtocolError,
    QueueFull,
    ServerShutdown,
    TLSError,
    CertificateVerifyError,
    WebSocketError,
)

__all__ = [
    "Accept",
    "BroadcastReport",
    "Client",
    "ClientEvent",
    "Reconnecting",
    "connect",
    "listen",
    "serve",
    "Connection",
    "Event",
    "Request",
    "Server",
    "Upgrade",
    "WebSocketServer",
    "exceptions",
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "MessageTooBig",
    "InvalidHandshake",
    "InvalidURI",
    "NotConnected",
    "ProxyError",
    "QueueFull",
    "ServerShutdown",
    "TLSError",
    "CertificateVerifyError",
    "__version__",
]

logger = logging.getLogger("wsengine")

Headers = Union[Sequence[Tuple[str, str]], "dict[str, str]"]


class Accept:
    """What ``process_request`` returns to accept an upgrade with choices of
    its own: ``subprotocol`` (one the client offered; None keeps the
    server's choice), extra response ``headers`` (a dict or (name, value)
    pairs), and ``data`` attached to the connection (``Connection.data``).
    Returning None accepts with none of these."""

    __slots__ = ("subprotocol", "headers", "data")

    def __init__(
        self,
        subprotocol: Optional[str] = None,
        headers: Optional[Headers] = None,
        data: Any = None,
    ) -> None:
        self.subprotocol = subprotocol
        self.headers = headers
        self.data = data

    def __repr__(self) -> str:
        return f"Accept(subprotocol={self.subprotocol!r}, headers={self.headers!r}, data={self.data!r})"


def _client_options(
    uri: str,
    subprotocols: Optional[Sequence[str]],
    additional_headers: Optional[Headers],
    open_timeout: Optional[float],
    proxy: Union[str, bool, None],
    options: "dict[str, Any]",
) -> "dict[str, Any]":
    if options.get("ssl") is not None and uri[:5].lower() == "ws://":
        # As in websockets: TLS settings on a plain URI would be ignored.
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    options["subprotocols"] = list(subprotocols) if subprotocols else None
    options["additional_headers"] = additional_headers
    options["open_timeout"] = open_timeout
    options["proxy"] = proxy
    return options


@overload
def connect(
    uri: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[Headers] = None,
    open_timeout: Optional[float] = 10,
    proxy: Union[str, bool, None] = True,
    reconnect: Literal[False] = False,
    **options: Any,
) -> Connection: ...


@overload
def connect(
    uri: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[Headers] = None,
    open_timeout: Optional[float] = 10,
    proxy: Union[str, bool, None] = True,
    reconnect: Literal[True],
    **options: Any,
) -> "Reconnecting": ...


def connect(
    uri: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[Headers] = None,
    open_timeout: Optional[float] = 10,
    proxy: Union[str, bool, None] = True,
    reconnect: bool = False,
    **options: Any,
) -> "Union[Connection, Reconnecting]":
    """Open a WebSocket connection to ``uri`` (``ws://`` or ``wss://``).

    For ``wss://`` the server's certificate is verified against what the
    operating system trusts and the URI's host. ``ssl`` may be an
    :class:`ssl.SSLContext` where its settings can be honoured exactly
    (verification on, with its CA certificates, or off with ``CERT_NONE``
    and ``check_hostname=False``; TLS 1.2 or 1.3); settings that cannot be
    (``CERT_OPTIONAL``, CRL checks, TLS below 1.2) raise ``ValueError``
    instead of being ignored. A client certificate loaded into a context
    cannot be read back from it: pass ``tls_cert=`` and ``tls_key=``. Own
    options: ``tls_ca`` (a PEM file of CAs to trust besides the system's),
    ``tls_system_trust`` (False: only ``tls_ca``), ``tls_cert``/``tls_key``
    (a client certificate for mutual TLS), ``server_hostname`` (verify this
    name instead of the URI's host, as in ``websockets``), and
    ``dangerous_accept_any_certificate`` (never in production). TLS failures
    raise :class:`TLSError` (an :class:`ssl.SSLError`) or, for the server's
    certificate, :class:`CertificateVerifyError` (an
    :class:`ssl.SSLCertVerificationError`); ``kind`` says which check.

    ``proxy`` is read as ``websockets`` reads it: ``True`` (the default)
    uses the proxy the environment names (``wss_proxy``/``ws_proxy``, then
    ``https_proxy``/``http_proxy``, then ``all_proxy``; hosts listed in
    ``no_proxy`` are reached directly), ``None`` connects directly, and a
    string names the proxy: ``http://[user:password@]host:port``,
    ``socks5://...`` (names resolved here) or ``socks5h://...`` (resolved
    by the proxy). A refusing proxy raises :class:`ProxyError`. A host with
    several addresses is tried address by address; the :class:`OSError`
    names each one that failed.

    ``open_timeout`` bounds the TCP connect (tunnel included) and the
    handshake each. Other
    options: ``max_size``, ``max_frame_size`` (default: ``max_size``),
    ``send_queue_capacity`` and ``send_queue_bytes`` (messages and bytes, default
    1024 and 16 MiB), ``recv_queue_capacity``, ``recv_queue_bytes``, ``overflow``
    (``"block"``, ``"fail"`` or ``"disconnect"``; default ``"block"`` up to
    ``send_timeout``, 10 s, except ``"fail"`` for a server polled with
    ``poll_events=True``, so a poll loop never waits for a slow client),
    ``send_timeout``, ``ping_interval``, ``ping_timeout`` (``None``: keep
    pinging, never drop the peer for not answering), ``close_timeout``,
    ``idle_timeout``, and the engine's ``thread_stack_size``,
    ``read_buffer_size`` and ``batch_scheduling``. Timeouts are seconds,
    at most a year (``None`` where a timeout can be off); larger ones raise
    ``OverflowError``.

    Compression (permessage-deflate, RFC 7692) is on by default, as in
    ``websockets``: ``compression=None`` turns it off. Its options:
    ``deflate_window_bits`` (9-15, default 12; one value or a
    ``(server, client)`` pair), ``deflate_no_context_takeover`` (bool or
    pair, default False), ``deflate_level`` (0-9, default 6),
    ``deflate_mem_level`` (1-9, default 5) and ``deflate_threshold``
    (messages shorter than this go uncompressed, default 64). ``max_size``
    limits the inflated size. ``Connection.extensions`` tells what was agreed.

    With ``reconnect=True`` it returns an iterable of connections, the
    ``websockets`` idiom::

        for ws in wsengine.connect(uri, reconnect=True):
            try:
                for message in ws:
                    ...
            except wsengine.ConnectionClosed:
                continue        # dropped: the loop waits for the next one

    Each ``ws`` serves until its connection drops; the loop then waits (by
    the ``reconnect_*`` options, see :class:`Client`) and yields the next.
    It ends when the server closes or refuses in a way that is not retried
    (raising that error), or when the body leaves with its connection
    still open (``break``, ``return``: the client is closed).

    Raises :class:`InvalidURI`, :class:`InvalidHandshake` (with
    ``status``, ``headers`` and ``body`` of a refusal), :class:`TLSError`,
    :class:`ProxyError`, :class:`TimeoutError` or :class:`OSError`.
    """
    options = _client_options(uri, subprotocols, additional_headers, open_timeout, proxy, options)
    if reconnect:
        return Reconnecting(Client._from_options(uri, options))
    return _connect(uri, options)


class Client:
    """A client that reconnects: it connects in the background and again
    after a drop, and reports everything as events (:class:`ClientEvent`,
    from :meth:`poll` or by iterating): ``"connected"`` (``reconnected``
    after a drop: rejoin rooms here), ``"message"`` (``message``),
    ``"reconnecting"`` (``attempt``, ``delay`` in seconds, ``cause``,
    ``unsent_count``, ``close``) and, last, ``"closed"`` (``cause``,
    ``error``, ``unsent``: the replay buffer's messages, never sent).

    The options of :func:`connect`, and: ``reconnect_min_delay`` (the first
    retry within this many seconds, default 1), ``reconnect_max_delay``
    (30), ``reconnect_factor`` (2: each failure in a row doubles the
    window; the wait is drawn at random in it), ``reconnect_max_attempts``
    (None: never give up), ``reconnect_reset_after`` (10: a connection up
    this long starts the count again), ``reconnect_seed`` (replayable
    waits), ``reconnect_close_codes`` (default 1001, 1006, 1011-1014; never
    after our own close), ``reconnect_statuses`` (429 and 503, honouring
    ``Retry-After``), ``reconnect_replay`` and ``reconnect_replay_bytes``
    (messages sent while disconnected kept and sent first on the next
    connection; default 0: :meth:`send` raises :class:`NotConnected` with
    the message).
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        additional_headers: Optional[Headers] = None,
        open_timeout: Optional[float] = 10,
        proxy: Union[str, bool, None] = True,
        **options: Any,
    ) -> None:
        options = _client_options(uri, subprotocols, additional_headers, open_timeout, proxy, options)
        self._handle = _start_client(uri, options)

    @classmethod
    def _from_options(cls, uri: str, options: "dict[str, Any]") -> "Client":
        client = cls.__new__(cls)
        client._handle = _start_client(uri, options)
        return client

    def send(self, message: Union[str, bytes, bytearray, memoryview]) -> None:
        """Send on the open connection; between connections, keep it in the
        replay buffer, or raise :class:`NotConnected` (``.message`` is it)."""
        self._handle.send(message)

    def poll(self, timeout: Optional[float] = None) -> Optional[ClientEvent]:
        """The next event, waiting up to ``timeout`` seconds (None: until
        one comes); None if none came. Raises :class:`ConnectionClosedOK`
        once the ``"closed"`` event has been read."""
        return self._handle.poll(timeout)

    def close(self, code: int = 1000, reason: str = "") -> bool:
        """Stop reconnecting and close the open connection; returns at once
        (a ``"closed"`` event follows). False if it was already closed."""
        return self._handle.close(code, reason)

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return self._handle.connected

    def __iter__(self) -> Iterator[ClientEvent]:
        """Every event, up to and including ``"closed"``."""
        while True:
            event = self._handle.poll(None)
            if event is None:
                continue
            yield event
            if event.kind == "closed":
                return

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reconnecting:
    """What ``connect(uri, reconnect=True)`` returns: iterating yields one
    :class:`ReconnectingConnection` per connection (see :func:`connect`)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._current: Optional[ReconnectingConnection] = None
        self._final: Optional[ClientEvent] = None

    def __iter__(self) -> "Reconnecting":
        return self

    def __next__(self) -> "ReconnectingConnection":
        if self._current is not None and self._current._ended is None:
            # The body left with its connection open: done.
            self.client.close()
            raise StopIteration
        while self._final is None:
            event = self.client._handle.poll(None)
            if event is None or event.kind == "message":
                continue  # messages of a connection the body stopped reading
            if event.kind == "connected":
                self._current = ReconnectingConnection(self)
                return self._current
            if event.kind == "reconnecting":
                logger.info("reconnecting in %.2f s (attempt %d): %s", event.delay, event.attempt, event.cause)
                continue
            self._final = event
        error = self._final.error
        if error is None or isinstance(error, ConnectionClosedOK) or self._final.cause == "closed by the application":
            raise StopIteration
        raise error

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop: no more connections."""
        self.client.close(code, reason)


class ReconnectingConnection:
    """One connection of ``connect(uri, reconnect=True)``: ``send``,
    ``recv`` and iteration as on :class:`Connection`, until it drops
    (``recv`` then raises the :class:`ConnectionClosed` of the drop)."""

    def __init__(self, owner: Reconnecting) -> None:
        self._owner = owner
        self._ended: Optional[BaseException] = None

    def send(self, message: Union[str, bytes, bytearray, memoryview]) -> None:
        if self._ended is not None:
            raise self._ended
        self._owner.client.send(message)

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next message of this connection, waiting up to ``timeout``
        seconds (``TimeoutError``)."""
        if self._ended is not None:
            raise self._ended
        while True:
            event = self._owner.client._handle.poll(timeout)
            if event is None:
                raise TimeoutError("timed out")
            if event.kind == "message":
                assert event.message is not None
                return event.message
            if event.kind == "connected":
                continue
            if event.kind == "closed":
                self._owner._final = event
            error = event.error
            if error is None:
                error = ConnectionClosedOK(1000, event.cause or "", True)
            self._ended = error
            raise error

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """Messages until the connection ends (a clean close ends the
        loop; a drop raises)."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close this connection and stop reconnecting."""
        self._owner.close(code, reason)


class Server:
    """A listening server (see :func:`listen`).

    ``accept(timeout=None)`` returns the next :class:`Connection`; iterating
    yields connections until the server shuts down. With ``poll_events=True``,
    ``poll(timeout=0)`` returns :class:`Event` objects instead ("open",
    "message", "close"), for game loops that drain events once per frame.
    """

    def __init__(
        self,
        host: str,
        port: int,
        on_message: Optional[Callable[[Connection, Union[str, bytes]], Any]] = None,
        on_open: Optional[Callable[[Connection], Any]] = None,
        on_close: Optional[Callable[[Connection, int, str], Any]] = None,
        **options: Any,
    ) -> None:
        self._handle = ServerHandle(host, port, options, on_message, on_open, on_close)
        self._stopped = threading.Event()

    def accept(self, timeout: Optional[float] = None) -> Connection:
        """The next connection, waiting up to ``timeout`` seconds.

        Raises :class:`TimeoutError` or :class:`ServerShutdown`.
        """
        return self._handle.accept(timeout)

    def poll(self, timeout: Optional[float] = 0) -> Optional[Event]:
        """The next event of a server made with ``poll_events=True``, waiting up
        to ``timeout`` seconds (0: only look; None: forever), or None."""
        return self._handle.poll(timeout)

    def shutdown(self) -> None:
        """Stop accepting, close every connection with 1001 (going away),
        and wait for them to finish. Idempotent."""
        self._handle.shutdown()
        self._stopped.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until :meth:`shutdown` (called from another thread) or
        ``timeout`` seconds; returns whether the server is shut down. For a
        server in handler mode, whose work happens on the connections'
        threads: ``server.wait()`` keeps the program running (Ctrl-C
        interrupts it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if self._stopped.wait(max(left, 0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    close = shutdown

    @property
    def local_address(self) -> Tuple[str, int]:
        """The (host, port) the server listens on."""
        return self._handle.local_address

    @property
    def connection_count(self) -> int:
        """Connections open right now."""
        return self._handle.connection_count

    def join(self, conn: Connection, group: str) -> None:
        """Add ``conn`` to the broadcast group ``group`` (created on first
        join). A connection may be in any number of groups and leaves them
        all when it closes. ``conn.join(group)`` does the same."""
        self._handle.join(conn, group)

    def leave(self, conn: Connection, group: str) -> bool:
        """Remove ``conn`` from ``group``; returns whether it was a member."""
        return self._handle.leave(conn, group)

    def member_count(self, group: str) -> int:
        """Members of ``group`` (0 if nobody is in it)."""
        return self._handle.member_count(group)

    def broadcast(
        self,
        message: Union[str, bytes, bytearray, memoryview],
        group: Optional[str] = None,
        exclude: Optional[Connection] = None,
    ) -> BroadcastReport:
        """Send ``message`` to every member of ``group`` (None: every
        connection of the server) except ``exclude``.

        The frame is encoded once and shared by all recipients. A recipient
        whose send queue is full is handled by its ``overflow`` option,
        after everyone else has the message: "fail" skips it, "disconnect"
        closes it with 1008, "block" waits up to ``send_timeout`` (so this
        call, not the other recipients, waits). Returns a
        :class:`BroadcastReport` (``queued``, ``dropped``, ``disconnected``,
        ``closed``).
        """
        return self._handle.broadcast(message, group, exclude)

    def __iter__(self) -> Iterator[Connection]:
        while True:
            try:
                yield self.accept()
            except ServerShutdown:
                return

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def reload_tls(self) -> None:
        """Read the ``tls_cert`` and ``tls_key`` files again and serve what
        they hold to new handshakes; open connections keep going. Raises
        :class:`TLSError` (``kind="config"``) if they cannot be used; the
        certificate served before then stays."""
        self._handle.reload_tls()

    def __repr__(self) -> str:
        host, port = self.local_address
        return f"<wsengine.Server ws://{host}:{port}/>"


def listen(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_message: Optional[Callable[[Connection, Union[str, bytes]], Any]] = None,
    on_open: Optional[Callable[[Connection], Any]] = None,
    on_close: Optional[Callable[[Connection, int, str], Any]] = None,
    **options: Any,
) -> Server:
    """Listen on ``host:port`` and return a :class:`Server` to accept (or,
    with ``poll_events=True``, poll) connections yourself.

    Handler mode: with ``on_message(conn, message)`` the server calls it on
    each connection's own reader thread as messages arrive (taking the GIL
    there), and what it sends on ``conn`` is written once per burst of
    input. The fastest with few connections (one connection echoing one
    message at a time: 26 us of server CPU per message against 34 for
    :func:`serve`); with many busy connections their reader threads
    contend for the GIL and :func:`serve` is faster (64 connections: 1.8
    us against 9.9, ``bench/python_echo.py``). ``on_open(conn)`` and ``on_close(conn, code,
    reason)`` are optional. Calls for one connection come one at a time and
    in order; ``conn`` is the same object in each. A callable that raises is
    logged (logger "wsengine") and its connection closed with 1011; the
    others go on. ``accept`` and ``poll`` are not used; ``server.wait()``
    keeps the program running::

        def echo(conn, message):
            conn.send(message)

        with wsengine.listen("127.0.0.1", 8765, on_message=echo) as server:
            server.wait()

    Options as for :func:`connect`, plus ``origins``, ``allowed_hosts``,
    ``subprotocols`` (supported, in preference order), ``max_connections``,
    ``max_handshakes_per_ip`` (default 128), ``accept_queue_capacity``, ``poll_events``,
    ``event_queue_capacity`` and ``event_queue_bytes`` (default 64 MiB).

    ``origins`` decides which web pages may connect (browsers send
    ``Origin``; a request without one is always accepted). The default,
    ``None``, accepts only pages from this server's own host (the
    ``Origin``'s host and port are the ``Host`` header's): a page elsewhere
    gets 403. Unlike ``websockets``, where ``None`` accepts every origin,
    this is safe on the internet. A list accepts exactly those origins;
    ``"*"`` accepts every origin. ``allowed_hosts`` (a list of ``Host``
    values, default any) refuses other hosts with 403, against DNS
    rebinding.

    Plain HTTP on the same port: ``routes`` maps paths to
    ``(content_type, str | bytes)`` or to a file path (read at each request,
    content type from its extension); ``health_path`` answers
    ``{"status":"ok","connections":N}``; ``websocket_paths`` lists the paths
    that accept the upgrade (default: every path that is not a route).
    Other plain requests get 404 (426 on a WebSocket-only path).

    TLS (https and ``wss://`` on the same port): ``tls_cert`` and
    ``tls_key`` (PEM files; ``server.reload_tls()`` reads them again for new
    handshakes), ``tls_client_ca`` (ask clients for a certificate from this
    CA; ``tls_client_cert_required``, default True). An
    :class:`ssl.SSLContext` as ``ssl=`` raises ``TypeError``: its
    certificate cannot be read back from it.

    ``process_request(request)`` decides each valid upgrade before the
    ``101``, on the connection's thread: return None to accept,
    :class:`Accept` to accept with a subprotocol, headers or ``data``, or
    ``(status, headers, body)`` to refuse (401 with ``WWW-Authenticate``,
    429 with ``Retry-After``, ...). ``request`` has ``path``, ``query``,
    ``headers``, ``header()``, ``cookie()``, ``subprotocols``,
    ``remote_address`` and ``peer_certificate``. (``websockets`` passes the
    connection too; here no connection exists before the ``101``.) An
    exception in it refuses with 500. With ``poll_events=True``,
    ``upgrade_events=True`` delivers "upgrade" events to answer from the
    loop instead (``event.upgrade.accept()`` / ``.refuse(status, body)``).
    """
    return Server(host, port, on_message, on_open, on_close, **options)


class WebSocketServer(Server):
    """A server that runs ``handler(connection)`` on its own thread for each
    connection (see :func:`serve`)."""

    def __init__(self, handler: Callable[[Connection], Any], host: str, port: int, **options: Any) -> None:
        super().__init__(host, port, **options)
        self._handler = handler

    def serve_forever(self) -> None:
        """Accept connections and hand each to the handler on a new thread,
        until :meth:`shutdown` (from another thread) or Ctrl-C."""
        for conn in self:
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            thread.start()

    def _run(self, conn: Connection) -> None:
        try:
            self._handler(conn)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("connection handler failed")
            conn.close(1011, "internal error")
            return
        conn.close()


def serve(handler: Callable[[Connection], Any], host: str = "127.0.0.1", port: int = 0, **options: Any) -> WebSocketServer:
    """Listen on ``host:port`` and return a server that, once
    :meth:`~WebSocketServer.serve_forever` runs, calls ``handler(conn)`` on
    a thread of its own for every connection, then closes it (1011 if the
    handler raised). Options as for :func:`listen`."""
    return WebSocketServer(handler, host, port, **options)
