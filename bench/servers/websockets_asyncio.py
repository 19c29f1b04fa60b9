"""Echo server on the websockets library's asyncio API (the usual choice)."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    host, _, port = sys.argv[1].rpartition(":")
    async with serve(echo, host, int(port), max_size=64 << 20, compression=None):
        print("listening", flush=True)
        await asyncio.Future()


asyncio.run(main())
