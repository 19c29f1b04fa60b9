import _thread
import socket
import threading
import time

import pytest

import wsengine


def test_exception_hierarchy():
    assert issubclass(wsengine.ConnectionClosedOK, wsengine.ConnectionClosed)
    assert issubclass(wsengine.ConnectionClosedError, wsengine.ConnectionClosed)
    assert issubclass(wsengine.ProtocolError, wsengine.ConnectionClosedError)
    assert issubclass(wsengine.MessageTooBig, wsengine.ConnectionClosedError)
    assert issubclass(wsengine.ConnectionClosed, wsengine.WebSocketError)
    assert issubclass(wsengine.InvalidURI, ValueError)


def test_recv_timeout(serve):
    with wsengine.connect(serve(lambda c: c.recv())) as ws:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2


def test_closed_error_carries_code_and_reason(serve):
    with wsengine.connect(serve(lambda c: c.close(4001, "go away"))) as ws:
        with pytest.raises(wsengine.ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert (info.value.code, info.value.reason) == (4001, "go away")
        with pytest.raises(wsengine.ConnectionClosed):
            ws.send("late")


def test_normal_close_is_closed_ok(serve):
    with wsengine.connect(serve(lambda c: c.close())) as ws:
        with pytest.raises(wsengine.ConnectionClosedOK):
            ws.recv(timeout=5)


def test_message_too_big(serve):
    with wsengine.connect(serve(max_size=1024, max_frame_size=1024)) as ws:
        ws.send("x" * 2000)
        with pytest.raises(wsengine.ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert info.value.code == 1009

    def handler(conn):
        conn.send("y" * 2000)
        time.sleep(1)

    ws = wsengine.connect(serve(handler), max_size=1024, max_frame_size=1024)
    with pytest.raises(wsengine.MessageTooBig) as info:
        ws.recv(timeout=5)
    assert info.value.code == 1009


def test_protocol_error_from_a_raw_peer():
    """A server that sends a masked frame: the client fails with 1002."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def bad_server():
        s, _ = listener.accept()
        request = s.recv(4096).decode()
        key = next(l.split(": ")[1] for l in request.split("\r\n") if l.lower().startswith("sec-websocket-key"))
        import base64, hashlib
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        s.sendall(f"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode())
        s.sendall(b"\x81\x81\x00\x00\x00\x00x")  # masked: forbidden from a server
        time.sleep(1)
        s.close()

    threading.Thread(target=bad_server, daemon=True).start()
    ws = wsengine.connect(f"ws://127.0.0.1:{port}/", close_timeout=0.5)
    with pytest.raises(wsengine.ProtocolError) as info:
        ws.recv(timeout=5)
    assert info.value.code == 1002
    listener.close()


def test_handshake_refusal_has_a_status(serve):
    url = serve(origins=["https://good.example"])
    with pytest.raises(wsengine.InvalidHandshake) as info:
        wsengine.connect(url, additional_headers=[("Origin", "https://evil.example")])
    assert info.value.status == 403


def test_bad_uri_and_refused_connection():
    with pytest.raises(wsengine.InvalidURI):
        wsengine.connect("http://example.com/")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefusedError):
        wsengine.connect(f"ws://127.0.0.1:{port}/")


def test_bad_options():
    with pytest.raises(TypeError):
        wsengine.listen("127.0.0.1", 0, no_such_option=1)
    with pytest.raises(ValueError):
        wsengine.listen("127.0.0.1", 0, overflow="sometimes")
    with pytest.raises(ValueError):
        wsengine.listen("127.0.0.1", 0, send_queue_capacity=0)
    with pytest.raises(TypeError):
        wsengine.connect("ws://127.0.0.1:1/", max_size="big")


def test_queue_full_with_the_fail_policy():
    with wsengine.listen("127.0.0.1", 0, send_queue_capacity=2, overflow="fail", close_timeout=0.5) as server:
        host, port = server.local_address
        raw = socket.create_connection((host, port))
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        conn = server.accept(timeout=5)
        with pytest.raises(wsengine.QueueFull):
            for _ in range(10000):  # the raw peer never reads
                conn.send(b"z" * 65536)
        raw.close()


def test_ctrl_c_interrupts_a_blocking_recv(serve):
    with wsengine.connect(serve(lambda c: c.recv())) as ws:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            ws.recv()
        assert time.monotonic() - started < 2


def test_ctrl_c_interrupts_a_send_blocked_on_a_full_queue():
    with wsengine.listen("127.0.0.1", 0, send_queue_capacity=2, send_timeout=2, close_timeout=0.5) as server:
        host, port = server.local_address
        raw = socket.create_connection((host, port))
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        conn = server.accept(timeout=5)
        # The raw peer never reads: sends block once the queue is full, and
        # "block" gives up after send_timeout.
        with pytest.raises(TimeoutError):
            for _ in range(10000):
                conn.send(b"z" * 65536)
        # Blocked again, Ctrl-C gets through well before the 2 s timeout.
        threading.Timer(0.2, _thread.interrupt_main).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            conn.send(b"z" * 65536)
        assert time.monotonic() - started < 1
        raw.close()


def test_ctrl_c_interrupts_a_connect_waiting_for_the_handshake():
    silent = socket.socket()  # listens (the kernel completes TCP) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    host, port = silent.getsockname()
    threading.Timer(0.2, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        wsengine.connect(f"ws://{host}:{port}/", open_timeout=5)
    assert time.monotonic() - started < 1
    # Left alone, the handshake's own timeout is a TimeoutError.
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        wsengine.connect(f"ws://{host}:{port}/", open_timeout=0.3)
    assert time.monotonic() - started < 2
    silent.close()


def test_ctrl_c_interrupts_a_shutdown_waiting_for_a_silent_peer():
    server = wsengine.listen("127.0.0.1", 0, close_timeout=3)
    host, port = server.local_address
    raw = socket.create_connection((host, port))  # upgrades, then never answers the close
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    server.accept(timeout=5)
    threading.Timer(0.2, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        server.shutdown()
    assert time.monotonic() - started < 1
    server.shutdown()  # the interrupted one finishes on its own; this waits for it
    assert server.connection_count == 0
    raw.close()


def test_ctrl_c_interrupts_a_blocking_accept():
    with wsengine.listen("127.0.0.1", 0) as server:
        threading.Timer(0.2, _thread.interrupt_main).start()
        with pytest.raises(KeyboardInterrupt):
            server.accept()


def test_cross_origin_pages_are_refused_by_default(serve):
    url = serve()
    with pytest.raises(wsengine.InvalidHandshake) as info:
        wsengine.connect(url, additional_headers=[("Origin", "https://evil.example")])
    assert info.value.status == 403
    host = url.split("/")[2]
    with wsengine.connect(url, additional_headers=[("Origin", f"http://{host}")]) as ws:
        ws.send("same host")
        assert ws.recv(timeout=5) == "same host"
    any_url = serve(origins="*")
    with wsengine.connect(any_url, additional_headers=[("Origin", "https://elsewhere.example")]) as ws:
        ws.send("any")
        assert ws.recv(timeout=5) == "any"


def test_huge_timeouts_raise_instead_of_panicking(serve):
    url = serve()
    with wsengine.connect(url) as ws:
        with pytest.raises(OverflowError):
            ws.recv(timeout=1e19)
        with pytest.raises(ValueError):
            ws.recv(timeout=float("nan"))
    with pytest.raises(OverflowError):
        wsengine.listen("127.0.0.1", 0, ping_interval=1e30)
    with pytest.raises(OverflowError):
        wsengine.connect(url, open_timeout=1e19)


def test_no_ping_timeout_keeps_a_silent_peer(serve):
    # With ping_timeout=None the keepalive arithmetic once wrapped and
    # closed every connection with 1006 a second after its first ping.
    url = serve(ping_interval=0.1, ping_timeout=None)
    with wsengine.connect(url, ping_interval=None) as ws:
        time.sleep(1.5)
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_a_poll_loop_is_not_held_up_by_a_client_that_does_not_read():
    with wsengine.listen("127.0.0.1", 0, poll_events=True, send_queue_bytes=1 << 18, close_timeout=0.5) as server:
        host, port = server.local_address
        url = f"ws://{host}:{port}/"
        # A small receive window keeps the kernel from absorbing megabytes of
        # echoes before the server's own send queue has to fill.
        flooder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooder.connect((host, port))
        flooder.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        payload = bytes(64 << 10)
        frame = b"\x82\xff" + (len(payload)).to_bytes(8, "big") + b"\x00\x00\x00\x00" + payload
        flooder.settimeout(0.2)
        stop = threading.Event()

        def flood():
            while not stop.is_set():
                try:
                    flooder.sendall(frame)
                except (socket.timeout, OSError):
                    pass

        flooding = threading.Thread(target=flood, daemon=True)
        flooding.start()
        dropped = 0
        answered = []
        with wsengine.connect(url) as ws:
            deadline = time.monotonic() + 20
            sent = 0
            # Keep serving until the flooder's queue has refused at least one
            # reply: how soon that happens depends on the kernel's buffers.
            while (len(answered) < 20 or dropped == 0) and time.monotonic() < deadline:
                if sent == len(answered) and sent < 20:
                    ws.send(f"ping {sent}")
                    sent += 1
                event = server.poll(timeout=0.05)
                if event is not None and event.kind == "message":
                    try:
                        event.connection.send(event.data)
                    except wsengine.QueueFull:
                        dropped += 1
                try:
                    answered.append(ws.recv(timeout=0))
                except TimeoutError:
                    pass
        stop.set()
        flooder.close()
        assert answered == [f"ping {i}" for i in range(20)]
        assert dropped > 0, "the flooder's queue never filled"
