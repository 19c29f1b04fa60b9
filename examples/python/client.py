"""A line-based client: each line of standard input is sent as a text
message; every message received is printed.

    python examples/python/client.py URL      (e.g. ws://127.0.0.1:9001/)
    python examples/python/client.py wss://localhost:9001/ --ca ca.pem [--cert client.pem --key client.key]
    python examples/python/client.py ws://example.test/ --proxy socks5h://127.0.0.1:1080

``--proxy`` goes through that proxy (``direct``: none); without it the
environment's ``*_proxy`` variables decide. ``--reconnect`` uses a
:class:`wsengine.Client`: after a drop (a server restart, a dead link) it
reconnects, and lines typed meanwhile (up to 100) wait for the next
connection.
"""

import argparse
import sys
import threading

import wsengine


def main() -> None:
    parser = argparse.ArgumentParser(description="wsengine line client")
    parser.add_argument("url", help="ws:// or wss:// URL")
    parser.add_argument("--ca", help="trust this CA (PEM) besides the system's")
    parser.add_argument("--cert", help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--proxy", help="http://, socks5:// or socks5h:// proxy URL, or 'direct'")
    parser.add_argument("--reconnect", action="store_true", help="reconnect after a drop")
    args = parser.parse_args()
    tls = {k: v for k, v in {"tls_ca": args.ca, "tls_cert": args.cert, "tls_key": args.key}.items() if v}
    proxy = True if args.proxy is None else None if args.proxy == "direct" else args.proxy
    if args.reconnect:
        reconnecting(args.url, proxy=proxy, **tls)
        return
    with wsengine.connect(args.url, proxy=proxy, **tls) as ws:
        print(f"connected to {args.url}", file=sys.stderr)

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


def reconnecting(url: str, **options: object) -> None:
    client = wsengine.Client(url, reconnect_replay=100, **options)

    def printer() -> None:
        for event in client:
            if event.kind == "message":
                message = event.message
                print(message if isinstance(message, str) else f"<{len(message or b'')} bytes of binary>", flush=True)
            elif event.kind == "connected":
                print(f"{'re' if event.reconnected else ''}connected to {url}", file=sys.stderr)
            elif event.kind == "reconnecting":
                print(f"{event.cause}; reconnecting in {event.delay:.1f} s (attempt {event.attempt})", file=sys.stderr)
            else:
                print(f"closed: {event.cause} ({len(event.unsent)} lines not sent)", file=sys.stderr)

    reader = threading.Thread(target=printer, daemon=True)
    reader.start()
    for line in sys.stdin:
        try:
            client.send(line.rstrip("\n"))
        except wsengine.NotConnected as e:
            print(f"not sent: {e}", file=sys.stderr)
    client.close()
    reader.join(5)


if __name__ == "__main__":
    main()
