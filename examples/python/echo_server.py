"""Echo server: text comes back as text, binary as binary, on any path, up
to 64 MiB. The same behaviour and command line as the Rust and C ones.

    python examples/python/echo_server.py [ADDR]     (default 127.0.0.1:9001)
    python examples/python/echo_server.py [ADDR] --tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]
"""

import argparse

import wsengine


def echo(conn: wsengine.Connection) -> None:
    for message in conn:
        conn.send(message)


def main() -> None:
    parser = argparse.ArgumentParser(description="wsengine echo server")
    parser.add_argument("addr", nargs="?", default="127.0.0.1:9001")
    parser.add_argument("--tls-cert", help="certificate chain (PEM): serve wss://")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--tls-client-ca", help="require client certificates from this CA (PEM)")
    args = parser.parse_args()
    host, _, port = args.addr.rpartition(":")
    tls = {}
    if args.tls_cert or args.tls_key:
        tls = {"tls_cert": args.tls_cert, "tls_key": args.tls_key}
        if args.tls_client_ca:
            tls["tls_client_ca"] = args.tls_client_ca
    with wsengine.serve(echo, host.strip("[]"), int(port), max_size=64 << 20, **tls) as server:
        scheme = "wss" if tls else "ws"
        print(f"echo_server listening on {scheme}://{args.addr}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
