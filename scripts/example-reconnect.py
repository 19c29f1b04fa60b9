#!/usr/bin/env python3
"""The example clients with --reconnect keep echoing stdin lines across a
restart of the server they talk to, on the same address: the Rust
echo_client, and (when built) the C client and the Python client.py.

Runs target/release/examples/echo_server on a free loopback port, starts
the client, sends a line, stops the server (SIGTERM: its connections go
away), sends a line while it is down (kept for the next connection),
starts the server again on the same port, sends a third line, and checks
that all three come back. Every step is bounded in time; every process it
started is stopped by PID.
"""

import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "target/release/examples/echo_server")
CLIENTS = {
    "rust": [os.path.join(ROOT, "target/release/examples/echo_client")],
    "c": [os.path.join(ROOT, "target/c/examples-pkgconfig/client")],
    "python": [os.path.join(ROOT, "target/py-venv/bin/python"), os.path.join(ROOT, "examples/python/client.py")],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen([SERVER, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("echo_server never listened")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def check(name: str, command: list) -> None:
    port = free_port()
    server = start_server(port)
    client = subprocess.Popen(
        command + [f"ws://127.0.0.1:{port}/", "--reconnect"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list = []
    got = threading.Condition()

    def read() -> None:
        assert client.stdout is not None
        for line in client.stdout:
            with got:
                lines.append(line.rstrip("\n"))
                got.notify_all()

    threading.Thread(target=read, daemon=True).start()
    log: list = []
    threading.Thread(target=lambda: log.extend(client.stderr), daemon=True).start()

    def send(text: str) -> None:
        assert client.stdin is not None
        client.stdin.write(text + "\n")
        client.stdin.flush()

    def expect(text: str) -> None:
        with got:
            if not got.wait_for(lambda: text in lines, timeout=15):
                stop(client)
                raise SystemExit(f"{name}: {text!r} never came back; got {lines}; client said:\n{''.join(log)}")

    try:
        time.sleep(0.5)
        send("before the restart")
        expect("before the restart")
        stop(server)
        time.sleep(0.3)
        send("while it was down")
        server = start_server(port)
        expect("while it was down")
        send("after the restart")
        expect("after the restart")
        print(f"{name}: the example client with --reconnect kept echoing across a server restart")
    finally:
        if client.stdin:
            client.stdin.close()
        try:
            client.wait(10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
        stop(server)


def main() -> None:
    wanted = sys.argv[1:] or ["rust"]
    for name in wanted:
        if not os.path.exists(CLIENTS[name][-1]):
            raise SystemExit(f"{name}: {CLIENTS[name][-1]} is not built")
        check(name, CLIENTS[name])


if __name__ == "__main__":
    main()
