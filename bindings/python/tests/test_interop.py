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


JSON = (
    '{"id": %d, "user": "player-%d", "position": {"x": 12.5, "y": -3.25}, '
    '"inventory": ["sword", "shield", "potion"], "status": "online"}'
)


def test_compression_with_a_websockets_client(serve):
    seen = []

    def handler(conn):
        seen.append(conn.extensions)
        for message in conn:
            conn.send(message)

    url = serve(handler)
    with ws_connect(url, compression="deflate", max_size=None) as ws:
        assert ws.protocol.extensions, "websockets did not agree to permessage-deflate"
        for i in range(50):  # context takeover: later messages refer back
            ws.send(JSON % (i, i))
            assert ws.recv(timeout=5) == JSON % (i, i)
        ws.send(["compressed ", "and ", "fragmented"])
        assert ws.recv(timeout=5) == "compressed and fragmented"
        big = b"0123456789abcdef" * (1 << 20)  # 16 MiB, compressible
        ws.send(big)
        assert ws.recv(timeout=30) == big
    assert seen[0].startswith("permessage-deflate")
    assert "server_max_window_bits=12" in seen[0]


def test_compression_with_a_websockets_server_both_context_modes(websockets_server):
    url, _ = websockets_server
    for takeover in (False, True):
        with wsengine.connect(url, deflate_no_context_takeover=takeover, deflate_window_bits=15) as ws:
            assert ws.extensions is not None and ws.extensions.startswith("permessage-deflate")
            assert ("client_no_context_takeover" in ws.extensions) == takeover
            for i in range(50):
                ws.send(JSON % (i, i))
                assert ws.recv(timeout=5) == JSON % (i, i)
            ws.send("fragment please")  # websockets compresses each fragment
            assert ws.recv(timeout=5) == "fragments"


def test_compression_can_be_switched_off(serve, websockets_server):
    url, _ = websockets_server
    with wsengine.connect(url, compression=None) as ws:
        assert ws.extensions is None
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"
    with ws_connect(serve(compression=None)) as ws:
        assert not ws.protocol.extensions


def test_a_decompression_bomb_closes_with_1009(serve):
    with ws_connect(serve(max_size=1 << 20), compression="deflate", max_size=None) as ws:
        ws.send(bytes(32 << 20))  # 32 MiB of zeros: about 32 KiB on the wire
        with pytest.raises(WsClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd.code == 1009
