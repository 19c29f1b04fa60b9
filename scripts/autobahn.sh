#!/usr/bin/env bash
# Run the Autobahn TestSuite, groups 1-10, against wsengine as a server (the
# echo_server example) and as a client (the autobahn_client example), and diff
# every case's result with the expected results committed in tests/autobahn/.
#
#   scripts/autobahn.sh            # both sides
#   scripts/autobahn.sh server     # or: client
#   ECHO_SERVER=target/c-examples/echo_server LABEL=c scripts/autobahn.sh server
#
# ECHO_SERVER is the server under test (default: the Rust echo_server
# example); every echo server of the project must match the same expected
# results. LABEL names its report directory and log.
# Needs ../shared/autobahn (or WSENGINE_SHARED) and python3; the suite's venv is
# made under target/autobahn-venv on first use. Release examples must be built.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${WSENGINE_SHARED:-../shared}"
AB="$SHARED/autobahn"
VENV="$PWD/target/autobahn-venv"
SIDES="${*:-server client}"
for side in $SIDES; do
  case "$side" in server|client) ;; *) echo "autobahn.sh: unknown side '$side'" >&2; exit 2 ;; esac
done
ECHO_SERVER="${ECHO_SERVER:-target/release/examples/echo_server}"
LABEL="${LABEL:-rust}"

[ -d "$AB" ] || { echo "autobahn.sh: $AB not found (set WSENGINE_SHARED)" >&2; exit 2; }

# (Re)create the venv unless it exists with the current patch applied.
mkdir -p target
want="$(sha256sum "$AB/py3.patch" | cut -d' ' -f1)"
have="$(cat "$VENV"/lib/python3*/site-packages/autobahntestsuite/PY3_PORT_APPLIED 2>/dev/null || true)"
if [ ! -x "$VENV/bin/wstest" ] || [ "$have" != "$want" ]; then
  echo "==> setting up the Autobahn TestSuite in $VENV (about a minute)"
  if ! "$AB/setup.sh" "$VENV" >target/autobahn-setup.log 2>&1; then
    tail -30 target/autobahn-setup.log
    exit 1
  fi
fi

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

check() { # side
  "$VENV/bin/python" "$AB/summarize.py" "target/autobahn/$LABEL-$1" --baseline "tests/autobahn/expected-$1.json" \
    --fail-on-diff | sed -n '/^Baseline/,$p'
}

status=0
for side in $SIDES; do
  export VENV EXCLUDE_DEFLATE=1 REPORT_DIR="$PWD/target/autobahn/$LABEL-$side" SUITE_TIMEOUT=600
  port="$(free_port)"
  log="target/autobahn-$LABEL-$side.log"
  echo "==> Autobahn $side suite (groups 1-10), $LABEL, on 127.0.0.1:$port"
  if [ "$side" = server ]; then
    # ECHO_SERVER may be a command with arguments (an interpreter and a script).
    $ECHO_SERVER "127.0.0.1:$port" >"target/autobahn-$LABEL-echo-server.log" 2>&1 &
    pid=$!
    AGENT=wsengine "$AB/run-server-suite.sh" "127.0.0.1:$port" >"$log" 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    "$AB/run-client-suite.sh" "$port" target/release/examples/autobahn_client "ws://127.0.0.1:$port" >"$log" 2>&1 || true
  fi
  sed -n '/^  all /p' "$log"
  if check "$side"; then
    echo "autobahn $side ($LABEL): every case as expected"
  else
    echo "autobahn $side ($LABEL): results differ from tests/autobahn/expected-$side.json (log: $log)"
    status=1
  fi
done
exit $status
