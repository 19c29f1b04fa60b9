"""Exceptions raised by wsengine.

Everything derives from :class:`WebSocketError`. Timeouts raise the builtin
:class:`TimeoutError`; operating-system failures (connection refused, address
in use) raise the builtin :class:`OSError` subclasses.
"""

from __future__ import annotations

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
    answered with (0 when the answer was not a valid HTTP response)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message, status)
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidURI(WebSocketError, ValueError):
    """The URI is not a usable ``ws://`` URI (``wss://`` is not supported yet)."""


class QueueFull(WebSocketError):
    """The send queue is full and the overflow policy is ``"fail"``."""


class ServerShutdown(WebSocketError):
    """The server was shut down."""
