"""Exceptions raised by wsengine.

Everything derives from :class:`WebSocketError`. Timeouts raise the builtin
:class:`TimeoutError`; operating-system failures (connection refused, address
in use) raise the builtin :class:`OSError` subclasses.
"""

from __future__ import annotations

import ssl
from typing import List, Tuple

__all__ = [
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "MessageTooBig",
    "InvalidHandshake",
    "InvalidURI",
    "QueueFull",
    "ServerShutdown",
    "TLSError",
    "CertificateVerifyError",
]


class WebSocketError(Exception):
    """Base class of every wsengine exception."""


class ConnectionClosed(WebSocketError):
    """The connection is closed (or closing): nothing more can be sent, and
    every message received before the close has been delivered.

    ``code`` and ``reason`` are the close code and reason; ``clean`` says
    whether the peer's close frame arrived and nothing failed.
    """

    def __init__(self, code: int, reason: str = "", clean: bool = False) -> None:
        super().__init__(code, reason, clean)
        self.code = code
        self.reason = reason
        self.clean = clean

    def __str__(self) -> str:
        text = f"connection closed with code {self.code}"
        if self.reason:
            text += f" ({self.reason})"
        return text


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000, 1001, or no code) and cleanly."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abnormally or with an error code."""


class ProtocolError(ConnectionClosedError):
    """We closed the connection because the peer broke the protocol
    (1002), or sent text that is not UTF-8 (1007)."""


class MessageTooBig(ConnectionClosedError):
    """We closed the connection (1009) because the peer sent a message or
    frame larger than ``max_size`` / ``max_frame_size``."""


class InvalidHandshake(WebSocketError):
    """The opening handshake failed; ``status`` is the HTTP status the server
    answered with (0 when the answer was not a valid HTTP response), and
    ``headers`` (a list of (name, value) pairs) and ``body`` (bytes) are the
    rest of a refusal (a 401's ``WWW-Authenticate``, a 429's
    ``Retry-After``, the text saying why)."""

    def __init__(
        self,
        message: str,
        status: int = 0,
        headers: "List[Tuple[str, str]] | None" = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, status)
        self.status = status
        self.headers = list(headers or [])
        self.body = body

    def header(self, name: str) -> "str | None":
        """The first response header called ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __str__(self) -> str:
        return str(self.args[0])


class ProxyError(InvalidHandshake):
    """The proxy refused the tunnel or broke its protocol (as in
    ``websockets``, an :class:`InvalidHandshake`). ``kind`` is
    ``"refused"`` (an HTTP proxy's answer other than 2xx; ``status`` holds
    it: 407 for missing or wrong credentials), ``"auth_failed"`` (a SOCKS5
    proxy refused the credentials or wants some), ``"socks_reply"`` (a
    SOCKS5 proxy could not reach the server; ``socks_reply`` is its RFC
    1928 reply code), ``"protocol"`` or ``"bad_url"``. A proxy that cannot
    be reached at all raises :class:`OSError`. The proxy's password never
    appears in the message."""

    def __init__(
        self, message: str, status: int = 0, kind: str = "protocol", socks_reply: int = 0
    ) -> None:
        super().__init__(message, status)
        self.kind = kind
        self.socks_reply = socks_reply


class NotConnected(WebSocketError):
    """A reconnecting client is between connections and could not keep
    the message (no replay buffer, or it is full): nothing was sent.
    ``message`` is the message, handed back."""

    def __init__(self, text: str, message: "str | bytes | None" = None) -> None:
        super().__init__(text)
        self.message = message

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidURI(WebSocketError, ValueError):
    """The URI is not a usable ``ws://`` or ``wss://`` URI."""


class QueueFull(WebSocketError):
    """The send queue is full and the overflow policy is ``"fail"``."""


class ServerShutdown(WebSocketError):
    """The server was shut down."""


class TLSError(WebSocketError, ssl.SSLError):
    """TLS failed. A subclass of :class:`ssl.SSLError`, so code written for
    ``websockets`` that catches ``ssl.SSLError`` keeps working.

    ``kind`` names what failed: ``"client_certificate_rejected"`` (the
    server refused our certificate, or wanted one), ``"not_tls"`` (the peer
    does not speak TLS), ``"handshake"`` (no common version or cipher, an
    alert), ``"config"`` (our own certificate, key or CA files are
    unusable), or, on :class:`CertificateVerifyError`, the failed check.
    """

    def __init__(self, message: str, kind: str = "handshake") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = kind.upper()

    def __str__(self) -> str:
        return str(self.args[0])


class CertificateVerifyError(TLSError, ssl.SSLCertVerificationError):
    """The peer's certificate did not verify; ``kind`` is
    ``"unknown_issuer"``, ``"expired"``, ``"not_yet_valid"``,
    ``"name_mismatch"`` or ``"bad_certificate"``. A subclass of
    :class:`ssl.SSLCertVerificationError`."""

    def __init__(self, message: str, kind: str = "bad_certificate") -> None:
        super().__init__(message, kind)
        self.verify_message = message
        self.verify_code = 0
