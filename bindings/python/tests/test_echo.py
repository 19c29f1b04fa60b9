import threading

import pytest

import wsengine


def test_text_and_binary_round_trip(serve):
    with wsengine.connect(serve()) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=5) == b"\x00\xff"
        ws.send(bytearray(b"ba"))
        assert ws.recv(timeout=5) == b"ba"
        ws.send(memoryview(b"memory"))
        assert ws.recv(timeout=5) == b"memory"
        big = bytes(range(256)) * 8192  # 2 MiB
        ws.send(big)
        assert ws.recv(timeout=10) == big
    assert ws.close_code == 1000 and ws.close_clean


@pytest.mark.parametrize("batch", [True, False])
def test_engine_options_are_accepted_and_echo_still_works(serve, batch):
    url = serve(batch_scheduling=batch, read_buffer_size=4096, thread_stack_size=256 << 10)
    with wsengine.connect(url, batch_scheduling=batch) as ws:
        for i in range(100):
            ws.send(f"m{i}")
        assert [ws.recv(timeout=5) for _ in range(100)] == [f"m{i}" for i in range(100)]
        ws.send(b"x" * 100_000)  # several reads, straight into the message
        assert ws.recv(timeout=5) == b"x" * 100_000


def test_request_details_and_subprotocols(serve):
    seen = {}

    def handler(conn):
        seen["path"] = conn.request.path
        seen["query"] = conn.request.query
        seen["token"] = conn.request.header("X-Token")
        seen["subprotocol"] = conn.subprotocol
        conn.send("ok")

    url = serve(handler, subprotocols=["chat"]) + "room?name=ann"
    with wsengine.connect(url, subprotocols=["chat"], additional_headers={"X-Token": "abc"}) as ws:
        assert ws.recv(timeout=5) == "ok"
        assert ws.subprotocol == "chat"
        assert ws.remote_address[0] == "127.0.0.1"
    assert seen == {"path": "/room", "query": "name=ann", "token": "abc", "subprotocol": "chat"}


def test_iteration_ends_at_a_normal_close(serve):
    def handler(conn):
        for i in range(3):
            conn.send(str(i))
        conn.close(1000, "done")

    with wsengine.connect(serve(handler)) as ws:
        assert list(ws) == ["0", "1", "2"]
        assert (ws.close_code, ws.close_reason) == (1000, "done")


def test_concurrent_senders_on_one_connection(serve):
    with wsengine.connect(serve()) as ws:
        def send_many(tag):
            for i in range(200):
                ws.send(f"{tag}-{i}")

        threads = [threading.Thread(target=send_many, args=(t,)) for t in "abcd"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [ws.recv(timeout=5) for _ in range(800)]
    for tag in "abcd":
        mine = [m for m in got if m.startswith(tag)]
        assert mine == [f"{tag}-{i}" for i in range(200)], "each sender's order is kept"


def test_listen_and_accept_yourself():
    with wsengine.listen("127.0.0.1", 0, close_timeout=1) as server:
        host, port = server.local_address
        client = wsengine.connect(f"ws://{host}:{port}/")
        conn = server.accept(timeout=5)
        client.send("x")
        assert conn.recv(timeout=5) == "x"
        with pytest.raises(TimeoutError):
            server.accept(timeout=0.05)
        # close() says whether this call started the close, as in Rust and C.
        assert client.close() is True
        assert client.close() is False
    with pytest.raises(wsengine.ServerShutdown):
        server.accept(timeout=1)


def test_poll_events_like_a_game_loop():
    with wsengine.listen("127.0.0.1", 0, poll_events=True, close_timeout=1) as server:
        host, port = server.local_address
        client = wsengine.connect(f"ws://{host}:{port}/")
        client.send("move")
        kinds = []
        while "message" not in kinds:
            event = server.poll(timeout=5)
            assert event is not None
            kinds.append(event.kind)
            if event.kind == "message":
                assert event.data == "move"
                event.connection.send("ack")
        assert kinds == ["open", "message"]
        assert client.recv(timeout=5) == "ack"
        assert server.poll() is None
        client.close(4000, "bye")
        event = server.poll(timeout=5)
        assert (event.kind, event.code, event.reason) == ("close", 4000, "bye")


def test_poll_gives_one_connection_object_per_connection():
    # A game keys its players by connection: every event of a connection
    # carries the same object, and "close" hands it over one last time.
    with wsengine.listen("127.0.0.1", 0, poll_events=True, close_timeout=1) as server:
        host, port = server.local_address
        clients = [wsengine.connect(f"ws://{host}:{port}/") for _ in range(2)]
        for i, client in enumerate(clients):
            client.send(f"hello {i}")
        players = {}
        messages = {}
        while len(messages) < 2:
            event = server.poll(timeout=5)
            assert event is not None
            if event.kind == "open":
                players[event.connection] = len(players)
            elif event.kind == "message":
                assert event.connection in players
                messages[event.data] = event.connection
        assert messages["hello 0"] is not messages["hello 1"]
        assert event.kind is event.kind  # interned: no new string per access
        clients[0].close()
        event = server.poll(timeout=5)
        assert event.kind == "close"
        assert event.connection is messages["hello 0"]
        del players[event.connection]
        assert list(players.values()) == [1]
        clients[1].close()
