"""A chat server: the chat page at http://ADDR/ and its socket at /ws on the
same port, one room per ?room= (a broadcast group), join and leave notices.
The same page and protocol as the Rust and C chat examples (see
examples/chat.rs).

    python examples/python/chat.py [ADDR]     (default 127.0.0.1:8080)
    python examples/python/chat.py [ADDR] --tls-cert cert.pem --tls-key key.pem   (https)

Open http://127.0.0.1:8080/ in two tabs and type in one; add
?room=games&name=ana to pick a room and a name. Each connection's handler
runs on its own thread; broadcasts are encoded once by the engine.
"""

import json
import pathlib
import re
import sys
from urllib.parse import parse_qs

import wsengine

PAGE = pathlib.Path(__file__).resolve().parent.parent / "chat" / "index.html"
MAX_NAME = 32
MAX_MESSAGE = 4096


def clean(value: str) -> str:
    """Only ASCII letters, digits, space, '_', '-', '.'; at most 32; trimmed."""
    return re.sub(r"[^A-Za-z0-9 _.\-]", "", value)[:MAX_NAME].strip()


class Chat:
    """The chat's handler; `server` is set once the server exists."""

    server: wsengine.WebSocketServer

    def handler(self, conn: wsengine.Connection) -> None:
        query = parse_qs(conn.request.query or "")
        name = clean(query.get("name", [""])[0]) or f"guest-{conn.id}"
        room = clean(query.get("room", [""])[0]) or "lobby"

        def send_room(**fields: object) -> None:
            conn.broadcast(json.dumps(fields), group=room)

        conn.join(room)
        send_room(type="join", user=name, members=self.server.member_count(room))
        try:
            for message in conn:
                if isinstance(message, str):
                    send_room(type="message", user=name, text=message)
        finally:
            # (The engine also removes a closed connection from its groups.)
            conn.leave(room)
            send_room(type="leave", user=name, members=self.server.member_count(room))


def main() -> None:
    args = sys.argv[1:]
    tls = {}
    for flag, option in (("--tls-cert", "tls_cert"), ("--tls-key", "tls_key")):
        if flag in args:
            i = args.index(flag)
            tls[option] = args[i + 1]
            del args[i : i + 2]
    addr = args[0] if args else "127.0.0.1:8080"
    host, _, port = addr.rpartition(":")
    chat = Chat()
    chat.server = wsengine.serve(
        chat.handler,
        host.strip("[]"),
        int(port),
        routes={"/": PAGE},
        health_path="/health",
        websocket_paths=["/ws"],
        max_size=MAX_MESSAGE,
        # A tab that stops reading is dropped (it reconnects), not waited for.
        overflow="disconnect",
        **tls,
    )
    with chat.server as server:
        host, port = server.local_address
        scheme = "https" if tls else "http"
        print(f"chat on {scheme}://{host}:{port}/ (open it in two tabs; Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
