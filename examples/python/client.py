"""A line-based client: each line of standard input is sent as a text
message; every message received is printed.

    python examples/python/client.py URL      (e.g. ws://127.0.0.1:9001/)
"""

import sys
import threading

import wsengine


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: client.py URL   (e.g. ws://127.0.0.1:9001/)")
    with wsengine.connect(sys.argv[1]) as ws:
        print(f"connected to {sys.argv[1]}", file=sys.stderr)

        def printer() -> None:
            try:
                for message in ws:
                    print(message if isinstance(message, str) else f"<{len(message)} bytes of binary>", flush=True)
            except wsengine.ConnectionClosed as e:
                print(e, file=sys.stderr)

        reader = threading.Thread(target=printer, daemon=True)
        reader.start()
        for line in sys.stdin:
            ws.send(line.rstrip("\n"))
    reader.join(5)


if __name__ == "__main__":
    main()
