"""Echo server: text comes back as text, binary as binary, on any path, up
to 64 MiB. The same behaviour and command line as the Rust and C ones.

    python examples/python/echo_server.py [ADDR]     (default 127.0.0.1:9001)
"""

import sys

import wsengine


def echo(conn: wsengine.Connection) -> None:
    for message in conn:
        conn.send(message)


def main() -> None:
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9001"
    host, _, port = addr.rpartition(":")
    with wsengine.serve(echo, host.strip("[]"), int(port), max_size=64 << 20) as server:
        print(f"echo_server listening on ws://{addr}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
