"""Echo server on wsengine in events mode: one Python thread polls every
connection's events and answers (no thread per connection)."""
import sys

import wsengine

host, _, port = sys.argv[1].rpartition(":")
with wsengine.listen(host, int(port), poll_events=True, max_size=64 << 20) as server:
    print("listening", flush=True)
    while True:
        event = server.poll(timeout=None)
        if event is not None and event.kind == "message":
            try:
                event.connection.send(event.data)
            except wsengine.ConnectionClosed:
                pass  # the client left with echoes still queued
