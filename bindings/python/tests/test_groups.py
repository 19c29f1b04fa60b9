"""Broadcast groups and plain HTTP routes from Python."""

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

import wsengine


@pytest.fixture
def hub():
    """A listen() server plus a helper that connects n clients and returns
    (server-side, client-side) pairs."""
    server = wsengine.listen(close_timeout=1)
    host, port = server.local_address

    def clients(n):
        pairs = []
        for _ in range(n):
            client = wsengine.connect(f"ws://{host}:{port}/")
            pairs.append((server.accept(timeout=5), client))
        return pairs

    yield server, clients
    server.shutdown()


def test_join_leave_broadcast_and_report(hub):
    server, clients = hub
    (a, ca), (b, cb), (c, cc) = clients(3)
    a.join("red")
    server.join(b, "red")
    assert sorted(a.groups) == ["red"] and server.member_count("red") == 2
    report = server.broadcast("to red", group="red")
    assert (report.queued, report.dropped, report.disconnected, report.closed) == (2, 0, 0, 0)
    assert report.recipients == 2
    assert ca.recv(timeout=5) == "to red" and cb.recv(timeout=5) == "to red"
    # Everyone but the sender, from the sender's connection.
    assert a.broadcast(b"\x00bin", exclude_self=True).queued == 2
    assert cb.recv(timeout=5) == b"\x00bin" and cc.recv(timeout=5) == b"\x00bin"
    assert server.broadcast("all but c", exclude=c).queued == 2
    assert ca.recv(timeout=5) == "all but c" and cb.recv(timeout=5) == "all but c"
    with pytest.raises(TimeoutError):
        cc.recv(timeout=0.1)
    assert b.leave("red") and not b.leave("red")
    assert server.member_count("red") == 1
    assert server.broadcast("nobody", group="empty").recipients == 0
    with pytest.raises(ValueError):
        a.join("")
    with pytest.raises(ValueError):
        ca.join("red")  # a client connection has no groups


def test_closing_leaves_every_group(hub):
    server, clients = hub
    (a, ca), (b, _cb) = clients(2)
    a.join("x")
    a.join("y")
    b.join("x")
    ca.close()
    for _ in range(200):
        if server.member_count("y") == 0:
            break
        threading.Event().wait(0.01)
    assert server.member_count("y") == 0 and server.member_count("x") == 1
    with pytest.raises(wsengine.ConnectionClosed):
        a.join("z")


def test_a_full_queue_under_fail_is_reported_as_dropped():
    server = wsengine.listen(close_timeout=1, send_queue_capacity=1, overflow="fail")
    host, port = server.local_address
    try:
        # A raw socket that completes the handshake and then never reads.
        stalled = socket.create_connection((host, port))
        stalled.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        conn = server.accept(timeout=5)  # (dropping it would close it)
        dropped = 0
        for _ in range(200):
            dropped += server.broadcast(b"x" * (1 << 20)).dropped
            if dropped:
                break
        assert dropped > 0 and not conn.closed
        stalled.close()
    finally:
        server.shutdown()


def http(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def test_routes_health_and_upgrade_paths(tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<h1>hi</h1>")
    server = wsengine.listen(
        routes={"/": page, "/data.json": ("application/json", '{"a": 1}'), "/raw": ("text/plain", b"raw")},
        health_path="/health",
        websocket_paths=["/ws"],
        close_timeout=1,
    )
    host, port = server.local_address
    base = f"http://{host}:{port}"
    try:
        assert http(base + "/") == (200, "text/html; charset=utf-8", b"<h1>hi</h1>")
        assert http(base + "/data.json") == (200, "application/json", b'{"a": 1}')
        assert http(base + "/raw", "HEAD") == (200, "text/plain", b"")
        # The count includes this request (and earlier ones still closing).
        health = json.loads(http(base + "/health")[2])
        assert health["status"] == "ok" and health["connections"] >= 1
        assert http(base + "/nope")[0] == 404
        assert http(base + "/", "POST")[0] == 405
        assert http(base + "/ws")[0] == 426
        with wsengine.connect(f"ws://{host}:{port}/ws?room=a") as ws:
            conn = server.accept(timeout=5)
            assert conn.request.query == "room=a"
            ws.send("ok")
            assert conn.recv(timeout=5) == "ok"
        with pytest.raises(wsengine.InvalidHandshake) as refused:
            wsengine.connect(f"ws://{host}:{port}/elsewhere")
        assert refused.value.status == 404
        with pytest.raises(TypeError):
            wsengine.listen(routes={"/": 42})
    finally:
        server.shutdown()
