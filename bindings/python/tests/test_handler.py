"""Handler mode from Python: listen(on_message=...) calls the callables on
each connection's reader thread; replies keep their order against sends
from other threads; a close from inside follows the reply sent before it;
a raising callable closes only its connection, with 1011."""

import logging
import threading
import time

import pytest

import wsengine


def start(**callbacks):
    server = wsengine.listen("127.0.0.1", 0, close_timeout=1, **callbacks)
    host, port = server.local_address
    return server, f"ws://{host}:{port}/"


def test_echo_with_open_and_close_callbacks():
    events = []
    objects = set()

    def on_open(conn):
        objects.add(id(conn))
        events.append(("open", threading.current_thread() is not threading.main_thread()))
        conn.send("hello")

    def on_message(conn, message):
        objects.add(id(conn))
        conn.send(message)

    def on_close(conn, code, reason):
        objects.add(id(conn))
        events.append(("close", code))

    server, url = start(on_message=on_message, on_open=on_open, on_close=on_close)
    with server:
        with wsengine.connect(url) as ws:
            assert ws.recv(timeout=5) == "hello"
            for i in range(200):
                ws.send(f"m{i}")
            ws.send(b"\x00" * (3 << 20))
            assert [ws.recv(timeout=5) for _ in range(200)] == [f"m{i}" for i in range(200)]
            assert ws.recv(timeout=5) == b"\x00" * (3 << 20)
        deadline = time.monotonic() + 5
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events == [("open", True), ("close", 1000)]
        assert len(objects) == 1, "one Connection object for every call of a connection"
        with pytest.raises(ValueError):
            server.accept(timeout=0)


def test_replies_keep_their_order_against_sends_from_another_thread():
    opened = []
    ready = threading.Event()

    def on_open(conn):
        opened.append(conn)
        ready.set()

    def on_message(conn, message):
        conn.send("r" + message[1:])

    server, url = start(on_message=on_message, on_open=on_open)
    n = 1000
    with server, wsengine.connect(url) as ws:
        assert ready.wait(5)
        sender = threading.Thread(target=lambda: [opened[0].send(f"t{j}") for j in range(n)])
        sender.start()
        for i in range(n):
            ws.send(f"m{i}")
        counts = {"r": 0, "t": 0}
        for _ in range(2 * n):
            message = ws.recv(timeout=5)
            kind = message[0]
            assert message[1:] == str(counts[kind]), f"{kind} out of order"
            counts[kind] += 1
        sender.join()


def test_close_from_inside_the_handler_follows_its_reply():
    def on_message(conn, message):
        if message == "bye":
            conn.send("last")
            conn.close(4000, "done")
        else:
            conn.send(message)

    closed = []
    server, url = start(on_message=on_message, on_close=lambda conn, code, reason: closed.append(conn.close_clean))
    with server, wsengine.connect(url) as ws:
        ws.send("one")
        ws.send("bye")
        started = time.monotonic()
        assert ws.recv(timeout=5) == "one"
        assert ws.recv(timeout=5) == "last"
        with pytest.raises(wsengine.ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4000
        # The handler's close() did not wait for its own thread: the close
        # handshake completes at once, cleanly (not at the close timeout).
        assert time.monotonic() - started < 0.5
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert closed == [True]


def test_a_raising_handler_closes_only_its_connection_with_1011(caplog):
    closed = []

    def on_message(conn, message):
        if message == "boom":
            raise RuntimeError("on purpose")
        conn.send(message)

    server, url = start(on_message=on_message, on_close=lambda conn, code, reason: closed.append(code))
    with caplog.at_level(logging.ERROR, logger="wsengine"), server:
        with wsengine.connect(url) as fine, wsengine.connect(url) as doomed:
            doomed.send("boom")
            with pytest.raises(wsengine.ConnectionClosed):
                doomed.recv(timeout=5)
            assert doomed.close_code == 1011
            for i in range(20):
                fine.send(f"still {i}")
                assert fine.recv(timeout=5) == f"still {i}"
        deadline = time.monotonic() + 5
        while len(closed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(closed) == [1000, 1011]
    assert any("on_message failed" in r.message and r.exc_info for r in caplog.records)


def test_wait_returns_after_shutdown_and_open_alone_is_refused():
    server, _ = start(on_message=lambda conn, message: None)
    assert not server.wait(timeout=0.05)
    threading.Timer(0.1, server.shutdown).start()
    assert server.wait(timeout=5)
    with pytest.raises(ValueError):
        wsengine.listen("127.0.0.1", 0, on_open=lambda conn: None)
