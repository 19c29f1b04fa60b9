"""Reconnecting clients: wsengine.Client's events across a server restart,
the websockets idiom `for ws in connect(uri, reconnect=True)`, sends while
disconnected (NotConnected, the replay buffer), refusals that end the loop,
and close during a wait."""

import threading
import time

import pytest

import wsengine

FAST = dict(reconnect_min_delay=0.1, reconnect_max_delay=0.3, reconnect_seed=7, proxy=None)


def echo(conn: wsengine.Connection) -> None:
    for message in conn:
        conn.send(message)


def start(port: int = 0, **options: object) -> "tuple[wsengine.WebSocketServer, int]":
    server = wsengine.serve(echo, "127.0.0.1", port, close_timeout=1, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.local_address[1]


def next_notice(client: wsengine.Client, timeout: float = 10) -> wsengine.ClientEvent:
    deadline = time.monotonic() + timeout
    while True:
        event = client.poll(max(0.0, deadline - time.monotonic()))
        assert event is not None, "no event in time"
        if event.kind != "message":
            return event


def test_client_events_across_a_restart_with_the_replay_buffer():
    server, port = start()
    client = wsengine.Client(f"ws://127.0.0.1:{port}/", reconnect_replay=2, **FAST)
    event = next_notice(client)
    assert (event.kind, event.reconnected) == ("connected", False)
    client.send("one")
    event = client.poll(5)
    assert (event.kind, event.message) == ("message", "one")

    server.shutdown()
    event = next_notice(client)
    assert event.kind == "reconnecting" and event.attempt == 1
    assert 0 <= event.delay <= 0.1
    assert event.close[0] == 1001 and "1001" in event.cause
    assert isinstance(event.error, wsengine.ConnectionClosed)
    client.send("kept 1")
    client.send(b"kept 2")
    with pytest.raises(wsengine.NotConnected) as caught:
        client.send("no room")
    assert caught.value.message == "no room"

    server, _ = start(port)
    while (event := next_notice(client)).kind == "reconnecting":
        pass
    assert (event.kind, event.reconnected) == ("connected", True)
    got = [client.poll(5).message for _ in range(2)]
    assert got == ["kept 1", b"kept 2"]
    assert client.connected

    started = time.monotonic()
    assert client.close() is True
    assert time.monotonic() - started < 0.05
    event = next_notice(client)
    assert event.kind == "closed" and event.unsent == []
    with pytest.raises(wsengine.ConnectionClosed):
        client.poll(1)
    server.shutdown()


def test_the_websockets_idiom_yields_one_connection_per_drop():
    server, port = start()
    seen = []
    restarted = []
    for ws in wsengine.connect(f"ws://127.0.0.1:{port}/", reconnect=True, **FAST):
        ws.send(f"connection {len(seen)}")
        seen.append(ws.recv(timeout=5))
        if len(seen) == 2:
            break  # done: leaving with the connection open closes the client
        server.shutdown()
        for _ in ws:  # ends when the connection drops (1001 is a clean close)
            pass
        with pytest.raises(wsengine.ConnectionClosedOK):
            ws.send("too late")
        server, _ = start(port)
        restarted.append(server)
    assert seen == ["connection 0", "connection 1"]
    restarted[0].shutdown()


def test_a_refusal_that_is_not_retried_ends_the_loop_with_its_error():
    def refuse(request):
        return (401, {"WWW-Authenticate": "Bearer"}, b"token required")

    server, port = start(process_request=refuse)
    with pytest.raises(wsengine.InvalidHandshake) as caught:
        for _ in wsengine.connect(f"ws://127.0.0.1:{port}/", reconnect=True, **FAST):
            pytest.fail("no connection should open")
    assert caught.value.status == 401
    server.shutdown()


def test_close_during_a_wait_returns_at_once():
    server, port = start()
    server.shutdown()  # nothing listens there now
    client = wsengine.Client(f"ws://127.0.0.1:{port}/", **FAST)
    event = next_notice(client)
    assert event.kind == "reconnecting" and event.close is None
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 0.05
    event = next_notice(client)
    assert event.kind == "closed" and "application" in event.cause
    with pytest.raises(wsengine.ConnectionClosed):
        client.send("late")


def test_bad_reconnect_settings_are_refused():
    with pytest.raises(ValueError):
        wsengine.Client("ws://127.0.0.1:1/", reconnect_min_delay=5, reconnect_max_delay=1)
    with pytest.raises(ValueError):
        wsengine.Client("ws://127.0.0.1:1/", reconnect_factor=0.5)
