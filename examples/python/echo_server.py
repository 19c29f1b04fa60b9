"""Echo server: text comes back as text, binary as binary, on any path, up
to 64 MiB. The same behaviour and command line as the Rust and C ones.

    python examples/python/echo_server.py [ADDR]     (default 127.0.0.1:9001)
    python examples/python/echo_server.py [ADDR] --tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]
    python examples/python/echo_server.py [ADDR] --handler   (listen(on_message=...): on the reader threads)
    python examples/python/echo_server.py [ADDR] --poll      (one thread polling every connection)

By default the echo runs in serve(): a Python thread per connection, the
fastest of the three from Python once there are many connections
(bench/python_echo.py, 64 connections: 1.8 us of server CPU per message,
against 9.9 us for on_message called on the engine's reader threads, whose
64 threads then contend for the GIL one message at a time; with one
connection the handler is the fastest, 26 us against 34).
"""

import argparse

import wsengine


def echo_message(conn: wsengine.Connection, message) -> None:
    """Handler mode: called on the connection's reader thread."""
    conn.send(message)


def echo(conn: wsengine.Connection) -> None:
    """serve(): runs on a thread of its own for each connection."""
    for message in conn:
        conn.send(message)


def main() -> None:
    parser = argparse.ArgumentParser(description="wsengine echo server")
    parser.add_argument("addr", nargs="?", default="127.0.0.1:9001")
    parser.add_argument("--tls-cert", help="certificate chain (PEM): serve wss://")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--tls-client-ca", help="require client certificates from this CA (PEM)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--threads", action="store_true", help="serve(): a thread per connection (the default)")
    mode.add_argument("--handler", action="store_true", help="listen(on_message=...): on the reader threads")
    mode.add_argument("--poll", action="store_true", help="one thread polling events")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    host = host.strip("[]")
    options = {"max_size": 64 << 20}
    if args.tls_cert or args.tls_key:
        options.update(tls_cert=args.tls_cert, tls_key=args.tls_key)
        if args.tls_client_ca:
            options["tls_client_ca"] = args.tls_client_ca
    if args.handler:
        server = wsengine.listen(host, int(port), on_message=echo_message, **options)
    elif args.poll:
        server = wsengine.listen(host, int(port), poll_events=True, **options)
    else:
        server = wsengine.serve(echo, host, int(port), **options)
    with server:
        scheme = "wss" if args.tls_cert else "ws"
        host, port = server.local_address
        host = f"[{host}]" if ":" in host else host
        print(f"echo_server listening on {scheme}://{host}:{port}", flush=True)
        try:
            if args.handler:
                server.wait()
            elif args.poll:
                while True:
                    event = server.poll(timeout=None)
                    if event is not None and event.kind == "message":
                        try:
                            event.connection.send(event.data)
                        except wsengine.ConnectionClosed:
                            pass  # the client left with echoes still queued
            else:
                server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
