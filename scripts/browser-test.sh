#!/usr/bin/env bash
# The chat demo in a real browser: for each chat server (Rust, C, Python),
# start it on a free loopback port, drive two pages (plus one in another
# room) in Debian's headless Chromium with tests/browser/chat.mjs, and stop
# it. Screenshots: target/browser-chat-LANG.png.
#
#   scripts/browser-test.sh [rust] [c] [python]     (default: all three)
#
# Needs /usr/bin/chromium (Debian's package; .ci/run installs it), node and
# npm; playwright-core comes from the npm registry and never downloads a
# browser. The Rust example is built here; the C one is built by
# scripts/c-tests.sh and the Python package installed by
# scripts/python-tests.sh (the test command runs those first).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/wait-for-server.sh

langs=("$@")
[ "${#langs[@]}" -gt 0 ] || langs=(rust c python)
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "no Chromium at $chromium (apt-get install chromium)"; exit 1; }
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || exit 1
cargo build --release --quiet --example chat || exit 1

status=0
for lang in "${langs[@]}"; do
  cmd="$(example_command "$lang" chat chat_server chat.py)" || { echo "unknown chat server: $lang"; exit 2; }
  log="target/browser-chat-$lang.log"
  echo "==> chat demo ($lang) in headless Chromium"
  # shellcheck disable=SC2086  # the command is words on purpose
  $cmd 127.0.0.1:0 > "$log" 2>&1 &
  pid=$!
  if ! base="$(wait_for_server "$pid" "$log" 'http://[0-9.]*:[0-9]*')"; then
    echo "$base"
    status=1
    continue
  fi
  CHROMIUM="$chromium" timeout 120 node tests/browser/chat.mjs "$base" "$PWD/target/browser-chat-$lang.png" ||
    status=1
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
exit "$status"
