"""The Python examples, driven as a user would."""

import importlib.util
import pathlib

import wsengine

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chat_room_broadcasts_to_everyone(serve):
    chat = load("chat")
    url = serve(chat.Room().handler)
    alice = wsengine.connect(url)
    assert alice.recv(timeout=5).endswith("joined")
    bob = wsengine.connect(url)
    assert bob.recv(timeout=5).endswith("joined")
    assert alice.recv(timeout=5).endswith("joined")  # alice hears bob join
    alice.send("hi all")
    assert alice.recv(timeout=5).endswith(": hi all")
    assert bob.recv(timeout=5).endswith(": hi all")
    bob.close()
    assert alice.recv(timeout=5).endswith("left")
    alice.close()


def test_echo_server_handler(serve):
    echo = load("echo_server")
    with wsengine.connect(serve(echo.echo)) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
