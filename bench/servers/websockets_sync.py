"""Echo server on the websockets library's threading (sync) API."""
import sys

from websockets.sync.server import serve


def echo(ws):
    for message in ws:
        ws.send(message)


host, _, port = sys.argv[1].rpartition(":")
with serve(echo, host, int(port), max_size=64 << 20, compression=None) as server:
    print("listening", flush=True)
    server.serve_forever()
