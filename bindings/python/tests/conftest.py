import threading
from typing import Callable, Iterator

import pytest

import wsengine


def echo(conn: wsengine.Connection) -> None:
    for message in conn:
        conn.send(message)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a wsengine server running `handler`; returns its ws:// URL."""
    servers = []

    def start(handler: Callable[[wsengine.Connection], None] = echo, **options: object) -> str:
        options.setdefault("close_timeout", 1)
        server = wsengine.serve(handler, "127.0.0.1", 0, **options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        host, port = server.local_address
        return f"ws://{host}:{port}/"

    yield start
    for server in servers:
        server.shutdown()
