"""Interop with the `websockets` library as the peer, in both directions."""

import threading

import pytest
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

import wsengine

SIXTEEN_MIB = 16 << 20


def test_websockets_client_against_a_wsengine_server(serve):
    url = serve(max_size=64 << 20)
    with ws_connect(url, max_size=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(["frag", "mented ", "text"])  # one message in three frames
        assert ws.recv(timeout=5) == "fragmented text"
        ws.send([b"bin", b"ary"])
        assert ws.recv(timeout=5) == b"binary"
        big = bytes(range(256)) * (SIXTEEN_MIB // 256)
        ws.send(big)
        assert ws.recv(timeout=30) == big
        ws.close(4002, "bye from websockets")


def test_close_codes_reach_a_websockets_client(serve):
    with ws_connect(serve(lambda c: c.close(4003, "server says bye"))) as ws:
        with pytest.raises(WsClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 4003 and info.value.rcvd.reason == "server says bye"


@pytest.fixture
def websockets_server():
    received = []

    def handler(ws):
        try:
            for message in ws:
                received.append(message)
                if message == "fragment please":
                    ws.send(["frag", "ments"])
                elif message == "close please":
                    ws.close(4004, "as you wish")
                else:
                    ws.send(message)
        except WsClosed:
            pass

    server = ws_serve(handler, "127.0.0.1", 0, max_size=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.socket.getsockname()[:2]
    yield f"ws://{host}:{port}/", received
    server.shutdown()


def test_wsengine_client_against_a_websockets_server(websockets_server):
    url, received = websockets_server
    with wsengine.connect(url, max_size=64 << 20) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send("fragment please")
        assert ws.recv(timeout=5) == "fragments"
        big = bytes(range(256)) * (SIXTEEN_MIB // 256)
        ws.send(big)
        assert ws.recv(timeout=30) == big
        ws.send("close please")
        with pytest.raises(wsengine.ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert (info.value.code, info.value.reason) == (4004, "as you wish")
    assert received[:2] == ["hello", "fragment please"]
