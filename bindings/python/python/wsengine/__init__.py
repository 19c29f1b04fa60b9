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
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple, Union

from . import exceptions
from ._wsengine import BroadcastReport, Connection, Event, Request, ServerHandle, Upgrade, __version__
from ._wsengine import connect as _connect
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
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


def connect(
    uri: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[Headers] = None,
    open_timeout: Optional[float] = 10,
    proxy: Union[str, bool, None] = True,
    **options: Any,
) -> Connection:
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

    Raises :class:`InvalidURI`, :class:`InvalidHandshake` (with
    ``status``, ``headers`` and ``body`` of a refusal), :class:`TLSError`,
    :class:`TimeoutError` or :class:`OSError`.
    """
    if options.get("ssl") is not None and uri[:5].lower() == "ws://":
        # As in websockets: TLS settings on a plain URI would be ignored.
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    options["subprotocols"] = list(subprotocols) if subprotocols else None
    options["additional_headers"] = additional_headers
    options["open_timeout"] = open_timeout
    options["proxy"] = proxy
    return _connect(uri, options)


class Server:
    """A listening server (see :func:`listen`).

    ``accept(timeout=None)`` returns the next :class:`Connection`; iterating
    yields connections until the server shuts down. With ``poll_events=True``,
    ``poll(timeout=0)`` returns :class:`Event` objects instead ("open",
    "message", "close"), for game loops that drain events once per frame.
    """

    def __init__(self, host: str, port: int, **options: Any) -> None:
        self._handle = ServerHandle(host, port, options)

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


def listen(host: str = "127.0.0.1", port: int = 0, **options: Any) -> Server:
    """Listen on ``host:port`` and return a :class:`Server` to accept (or,
    with ``poll_events=True``, poll) connections yourself.

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
    return Server(host, port, **options)


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
