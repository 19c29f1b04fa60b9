"""Python `websockets` (compression on by default) sends one 16 MiB random
binary message in a single frame to a wsengine echo server and checks the
echo. Random data does not compress: the frame is a little larger than
16 MiB on the wire.

    python big_message.py ws://127.0.0.1:PORT/
    python big_message.py wss://localhost:PORT/ CA.pem    (trusting that CA)
"""

import os
import ssl
import sys

from websockets.sync.client import connect


def main() -> None:
    url = sys.argv[1]
    tls = {"ssl": ssl.create_default_context(cafile=sys.argv[2])} if len(sys.argv) > 2 else {}
    big = os.urandom(16 << 20)
    with connect(url, max_size=64 << 20, open_timeout=10, **tls) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        if "permessage-deflate" not in extensions:
            sys.exit(f"websockets client: not compressed ({extensions!r})")
        ws.send(big)
        if ws.recv(timeout=60) != big:
            sys.exit("websockets client: the echo differs")
    print(f"websockets client: 16 MiB compressed message echoed by {url}")


if __name__ == "__main__":
    main()
