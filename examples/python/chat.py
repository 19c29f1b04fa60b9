"""A chat room: every message from one client goes to every client, with
join and leave notices. (Once broadcast groups land, this will use them:
encode once, each member's queue policy respected.)

    python examples/python/chat.py [ADDR]     (default 127.0.0.1:8080)

Try it with two `python examples/python/client.py ws://127.0.0.1:8080/`.
"""

import sys
import threading

import wsengine


class Room:
    """The connections in the room; safe to use from every handler thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: "set[wsengine.Connection]" = set()

    def broadcast(self, text: str) -> None:
        with self._lock:
            members = list(self._members)
        for conn in members:  # send outside the lock: a slow peer delays no one's join
            try:
                conn.send(text)
            except wsengine.WebSocketError:
                pass  # it is leaving; its own handler cleans up

    def handler(self, conn: wsengine.Connection) -> None:
        name = "{}:{}".format(*conn.remote_address)
        with self._lock:
            self._members.add(conn)
        self.broadcast(f"* {name} joined")
        try:
            for message in conn:
                if isinstance(message, str):
                    self.broadcast(f"{name}: {message}")
        finally:
            with self._lock:
                self._members.discard(conn)
            self.broadcast(f"* {name} left")


def main() -> None:
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
    host, _, port = addr.rpartition(":")
    with wsengine.serve(Room().handler, host.strip("[]"), int(port)) as server:
        print(f"chat listening on ws://{addr}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
