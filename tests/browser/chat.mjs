// End-to-end test of the chat demo in a real browser: Debian's headless
// Chromium, driven by playwright-core (which never downloads a browser).
//
//   node chat.mjs http://127.0.0.1:PORT SCREENSHOT.png
//
// Two pages join one room; a message typed in one shows in both, with the
// join notice; a page in another room sees nothing of it; closing a page
// tells the room. Exits non-zero with the reason on any failure.

import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node chat.mjs BASE_URL SCREENSHOT.png");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // No sandbox (CI runs as root); nothing that reaches for the network.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  // HOME holds the NSS trust store with the test CA (scripts/browser-test.sh),
  // for the https run: the certificate is trusted, not an error ignored.
  env: { ...process.env, HOME: process.env.BROWSER_HOME || process.env.HOME },
  timeout: 30_000,
});

async function open(context, room, name) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  await page.goto(`${base}/?room=${room}&name=${name}`);
  await page.locator('#status[data-state="open"]').waitFor();
  return page;
}

const line = (page, text) => page.locator("#log li", { hasText: text });

let failed = false;
try {
  // No ignoreHTTPSErrors: an untrusted certificate fails the test.
  const context = await browser.newContext();
  const alice = await open(context, "e2e", "alice");
  const bob = await open(context, "e2e", "bob");
  const carol = await open(context, "elsewhere", "carol");

  // Alice sees Bob arrive; both are counted.
  await line(alice, "bob joined (2 here)").waitFor();

  // Typed in one page, shown in both (the sender's own copy comes back
  // from the server, so it proves the round trip too).
  await alice.fill("#text", "hello from alice <b>not bold</b>");
  await alice.press("#text", "Enter");
  for (const page of [alice, bob]) {
    await line(page, "alice: hello from alice <b>not bold</b>").waitFor();
  }
  await bob.fill("#text", "hi alice");
  await bob.click("button");
  await line(alice, "bob: hi alice").waitFor();

  // Rooms are separate: Carol got only her own join notice.
  await line(carol, "carol joined (1 here)").waitFor();
  const carolLines = await carol.locator("#log li").allTextContents();
  if (carolLines.length !== 1) {
    throw new Error(`carol's room saw other rooms' traffic: ${JSON.stringify(carolLines)}`);
  }

  await alice.screenshot({ path: screenshot, fullPage: true });

  // Closing a tab is a leave for the others.
  await bob.close();
  await line(alice, "bob left (1 here)").waitFor();
  console.log(`browser chat test passed; screenshot at ${screenshot}`);
} catch (e) {
  failed = true;
  console.error(`browser chat test FAILED: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
