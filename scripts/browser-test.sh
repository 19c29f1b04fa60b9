#!/usr/bin/env bash
# The chat demo in a real browser: for each chat server (Rust, C, Python),
# start it on a free loopback port, drive two pages (plus one in another
# room) in Debian's headless Chromium with tests/browser/chat.mjs, and stop
# it; then again over https/wss, with the test CA (scripts/make-test-certs.sh)
# in the browser's NSS trust store (certutil, under a HOME of its own), so
# the page and its socket are trusted the way a real deployment's are.
# Screenshots: target/browser-chat-LANG[-tls].png.
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

# The browser's own trust store, holding the test CA: Chromium on Linux
# reads NSS's database under $HOME/.pki/nssdb.
scripts/make-test-certs.sh target/certs || exit 1
browser_home="$PWD/target/browser-home"
rm -rf "$browser_home" && mkdir -p "$browser_home/.pki/nssdb"
certutil -N -d "sql:$browser_home/.pki/nssdb" --empty-password || exit 1
certutil -A -d "sql:$browser_home/.pki/nssdb" -n "wsengine test CA" -t "C,," -i target/certs/ca.pem || exit 1

status=0
for lang in "${langs[@]}"; do
  cmd="$(example_command "$lang" chat chat_server chat.py)" || { echo "unknown chat server: $lang"; exit 2; }
  for tls in "" "-tls"; do
    log="target/browser-chat-$lang$tls.log"
    flags=()
    scheme=http
    if [ -n "$tls" ]; then
      flags=(--tls-cert target/certs/server.pem --tls-key target/certs/server.key)
      scheme=https
    fi
    echo "==> chat demo ($lang) over $scheme in headless Chromium"
    # shellcheck disable=SC2086  # the command is words on purpose
    $cmd 127.0.0.1:0 "${flags[@]}" > "$log" 2>&1 &
    pid=$!
    if ! base="$(wait_for_server "$pid" "$log" "$scheme://[0-9.]*:[0-9]*")"; then
      echo "$base"
      status=1
      continue
    fi
    CHROMIUM="$chromium" BROWSER_HOME="$browser_home" timeout 120 \
      node tests/browser/chat.mjs "$base" "$PWD/target/browser-chat-$lang$tls.png" || status=1
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
done
exit "$status"
