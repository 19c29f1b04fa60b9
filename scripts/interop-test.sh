#!/usr/bin/env bash
# Standard clients against the echo servers of each language: Node's `ws`
# and Python's `websockets`, compression on as they default to, each send
# one 16 MiB random message in a single frame (a little over 16 MiB on the
# wire, since random data does not compress) and check the echo. The echo
# servers' message limit is 64 MiB and their frame limit is left at its
# default; a frame limit of 16 MiB once refused this with 1009. Then one
# client floods each server without reading while another must get every
# echo within 2 s (tests/interop/flood.py). Then the same 16 MiB messages
# over wss://, each echo server started with the test certificate
# (scripts/make-test-certs.sh) and both clients trusting the test CA.
#
#   scripts/interop-test.sh [rust] [c] [python]     (default: all three)
#
# The Rust example is built here; the C one is built by scripts/c-tests.sh
# and the Python package (and `websockets`) installed into target/py-venv
# by scripts/python-tests.sh (the test command runs those first). `ws`
# comes from the npm registry (tests/interop/package-lock.json).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/wait-for-server.sh

langs=("$@")
[ "${#langs[@]}" -gt 0 ] || langs=(rust c python)
PY=target/py-venv/bin/python
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) || exit 1
cargo build --release --quiet --example echo_server || exit 1
scripts/make-test-certs.sh target/certs || exit 1
CERTS=target/certs

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# against CMD SCHEME [CA]: start the echo server CMD on a free port (over
# TLS with the test certificate when SCHEME is wss), send the 16 MiB
# messages from ws and websockets (trusting CA), flood it over plain ws://,
# and stop it. Returns non-zero if anything failed.
against() {
  local cmd="$1" scheme="$2" ca="${3:-}" port log pid up url failed=0 flags=()
  port="$(free_port)"
  log="target/interop-$lang-$scheme.log"
  [ "$scheme" = wss ] && flags=(--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key")
  # shellcheck disable=SC2086  # the command is words on purpose
  $cmd "127.0.0.1:$port" "${flags[@]}" > "$log" 2>&1 &
  pid=$!
  if ! up="$(wait_for_server "$pid" "$log" "listening on $scheme")"; then
    echo "$up"
    return 1
  fi
  url="ws://127.0.0.1:$port/"
  [ "$scheme" = wss ] && url="wss://localhost:$port/"
  # shellcheck disable=SC2086  # no CA is no argument
  timeout 120 node tests/interop/big_message.mjs "$url" $ca || failed=1
  # shellcheck disable=SC2086
  timeout 120 "$PY" tests/interop/big_message.py "$url" $ca || failed=1
  if [ "$scheme" = ws ]; then
    timeout 120 "$PY" tests/interop/flood.py "$url" || failed=1
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return $failed
}

status=0
for lang in "${langs[@]}"; do
  cmd="$(example_command "$lang" echo_server echo_server echo_server.py)" || { echo "unknown echo server: $lang"; exit 2; }
  echo "==> the $lang echo server: 16 MiB compressed messages from ws and websockets; a flood"
  against "$cmd" ws || status=1
  echo "==> the $lang echo server over TLS: 16 MiB compressed messages from ws and websockets over wss://"
  against "$cmd" wss "$CERTS/ca.pem" || status=1
done
exit "$status"
