"""One client floods an echo server with 64 KiB messages and never reads;
another, with `websockets`, must still get each of its echoes within two
seconds. (A poll-loop server once blocked for 10 s on the flooder's full
queue, freezing every other connection.)

    python flood.py ws://127.0.0.1:PORT/
"""

import socket
import sys
import threading
import time
from urllib.parse import urlparse

from websockets.sync.client import connect

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def flood(host: str, port: int, stop: threading.Event) -> None:
    """Send masked (all-zero key) 64 KiB binary frames until told to stop
    or the server closes; never read."""
    payload = bytes(64 << 10)
    frame = b"\x82\xff" + len(payload).to_bytes(8, "big") + b"\0\0\0\0" + payload
    with socket.create_connection((host, port)) as s:
        s.sendall(UPGRADE)
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                s.sendall(frame)
            except socket.timeout:
                continue
            except OSError:
                return  # closed by the server (a slow-peer policy)


def main() -> None:
    url = sys.argv[1]
    where = urlparse(url)
    stop = threading.Event()
    flooder = threading.Thread(target=flood, args=(where.hostname, where.port, stop), daemon=True)
    flooder.start()
    time.sleep(2)  # long enough for the flooder's queues to fill
    worst = 0.0
    try:
        with connect(url, open_timeout=5) as ws:
            for i in range(20):
                started = time.monotonic()
                ws.send(f"echo {i}")
                if ws.recv(timeout=2) != f"echo {i}":
                    sys.exit(f"flood: wrong echo for {i}")
                worst = max(worst, time.monotonic() - started)
    except TimeoutError:
        sys.exit(f"flood: an echo took over 2 s from {url} while another client flooded")
    finally:
        stop.set()
    print(f"flood: 20 echoes while another client flooded {url}, slowest {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
