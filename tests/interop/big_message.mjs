// Node's `ws` (compression on, as its default server and browsers use it)
// sends one 16 MiB random binary message in a single frame to a wsengine
// echo server and checks the echo. Random data does not compress: the
// frame is a little larger than 16 MiB on the wire.
//
//   node big_message.mjs ws://127.0.0.1:PORT/
//   node big_message.mjs wss://localhost:PORT/ CA.pem    (trusting that CA)
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const [url, ca] = process.argv.slice(2);
const big = randomBytes(16 << 20);
const ws = new WebSocket(url, {
  perMessageDeflate: { threshold: 0 },
  maxPayload: 64 << 20,
  ...(ca ? { ca: readFileSync(ca) } : {}),
});
const fail = (why) => {
  console.error(`ws client: ${why}`);
  process.exit(1);
};
const timer = setTimeout(() => fail("no echo within 60 s"), 60_000);
ws.on("open", () => {
  if (!ws.extensions.includes("permessage-deflate")) fail(`not compressed: ${ws.extensions}`);
  ws.send(big, { binary: true, compress: true, fin: true });
});
ws.on("message", (data, isBinary) => {
  if (!isBinary || !Buffer.isBuffer(data) || !data.equals(big)) fail("the echo differs");
  clearTimeout(timer);
  console.log(`ws client: 16 MiB compressed message echoed by ${url}`);
  ws.close(1000);
});
ws.on("close", (code) => {
  if (code !== 1000 && code !== 1005) fail(`closed with ${code}`);
});
ws.on("error", (e) => fail(e.message));
