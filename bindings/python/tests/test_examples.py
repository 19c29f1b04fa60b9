"""The Python examples, driven as a user would."""

import importlib.util
import json
import pathlib
import threading

import pytest

import wsengine

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chat_rooms_broadcast_with_notices():
    chat = load("chat")
    app = chat.Chat()
    app.server = wsengine.serve(
        app.handler, "127.0.0.1", 0, routes={"/": chat.PAGE}, websocket_paths=["/ws"], close_timeout=1
    )
    threading.Thread(target=app.server.serve_forever, daemon=True).start()
    host, port = app.server.local_address
    base = f"ws://{host}:{port}/ws"
    try:
        alice = wsengine.connect(base + "?room=r1&name=alice")
        assert json.loads(alice.recv(timeout=5)) == {"type": "join", "user": "alice", "members": 1}
        bob = wsengine.connect(base + "?room=r1&name=b%C3%B6b%20<x>")  # sanitized to "bb x"
        assert json.loads(bob.recv(timeout=5))["user"] == "bb x"
        assert json.loads(alice.recv(timeout=5)) == {"type": "join", "user": "bb x", "members": 2}
        carol = wsengine.connect(base + "?room=other")
        assert json.loads(carol.recv(timeout=5))["user"].startswith("guest-")
        alice.send('hi "all"')
        for ws in (alice, bob):
            assert json.loads(ws.recv(timeout=5)) == {"type": "message", "user": "alice", "text": 'hi "all"'}
        bob.close()
        assert json.loads(alice.recv(timeout=5)) == {"type": "leave", "user": "bb x", "members": 1}
        with pytest.raises(TimeoutError):
            carol.recv(timeout=0.2)  # another room heard nothing
        alice.close()
        carol.close()
    finally:
        app.server.shutdown()


def test_echo_server_handler(serve):
    echo = load("echo_server")
    with wsengine.connect(serve(echo.echo)) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"


@pytest.mark.parametrize("mode", [[], ["--handler"], ["--poll"]])
def test_echo_server_example_in_each_mode(mode):
    """The example as a user runs it: serve() by default, --handler, --poll."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo_server.py"), "127.0.0.1:0", *mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("echo_server listening on ws://127.0.0.1:"), line
        url = line.split(" on ")[1].strip() + "/"
        with wsengine.connect(url) as ws:
            for i in range(50):
                ws.send(f"m{i}")
            ws.send(b"\x01" * 300_000)
            assert [ws.recv(timeout=5) for _ in range(50)] == [f"m{i}" for i in range(50)]
            assert ws.recv(timeout=5) == b"\x01" * 300_000
    finally:
        proc.kill()
        proc.wait()
