#!/usr/bin/env bash
# Run the Autobahn TestSuite against wsengine as a server (the echo_server
# example) and as a client (the autobahn_client example), and diff every
# case's result with the expected results committed in tests/autobahn/.
#
#   scripts/autobahn.sh            # both sides, at the same time
#   scripts/autobahn.sh server     # or: client
#   ECHO_SERVER=target/c-examples/echo_server LABEL=c scripts/autobahn.sh server
#   SUITE=deflate scripts/autobahn.sh   # the permessage-deflate groups
#   TLS=1 scripts/autobahn.sh      # the same over wss:// (SUITE=all: groups 1-10 and 12-13)
#
# SUITE=core (default) runs groups 1-10 against tests/autobahn/expected-SIDE.json;
# SUITE=deflate runs the permessage-deflate groups 12-13 (216 cases) against
# tests/autobahn/expected-SIDE-deflate.json; both sides at once take about
# eleven minutes here, nearly all of it the suite's own Python.
# ECHO_SERVER is the server under test (default: the Rust echo_server
# example); every echo server of the project must match the same expected
# results. LABEL names its report directory and log.
# TLS=1 runs the server suite against the echo server started with the test
# certificate (scripts/make-test-certs.sh), and the client suite against a
# fuzzing server listening with it (the client trusting the test CA); the
# results must equal the plain runs' expected results, case for case.
# (The kit's run-*-suite.sh scripts speak ws:// only, so the TLS runs write
# their own specs.)
# The kit is tests/autobahn/kit (see its README, licences included); needs
# python3. The suite's venv is made under target/autobahn-venv on first use.
# Release examples must be built.
set -euo pipefail
cd "$(dirname "$0")/.."
AB="$PWD/tests/autobahn/kit"
VENV="$PWD/target/autobahn-venv"
SIDES="${*:-server client}"
for side in $SIDES; do
  case "$side" in server|client) ;; *) echo "autobahn.sh: unknown side '$side'" >&2; exit 2 ;; esac
done
ECHO_SERVER="${ECHO_SERVER:-target/release/examples/echo_server}"
LABEL="${LABEL:-rust}"
SUITE="${SUITE:-core}"
TLS="${TLS:-0}"
case "$SUITE" in
  core) CASE_LIST="*"; EXCLUDE=1; SUFFIX=""; GROUPS_NAME="groups 1-10" ;;
  deflate) CASE_LIST="12.*,13.*"; EXCLUDE=0; SUFFIX="-deflate"; GROUPS_NAME="groups 12-13, permessage-deflate" ;;
  *) echo "autobahn.sh: SUITE must be core or deflate, not '$SUITE'" >&2; exit 2 ;;
esac
if [ "$TLS" = 1 ]; then
  LABEL="$LABEL-tls"
  GROUPS_NAME="$GROUPS_NAME, over TLS"
  CERTS="$PWD/target/certs"
  scripts/make-test-certs.sh "$CERTS"
fi


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
  "$VENV/bin/python" "$AB/summarize.py" "target/autobahn/$LABEL-$1$SUFFIX" \
    --baseline "tests/autobahn/expected-$1$SUFFIX.json" --fail-on-diff | sed -n '/^Baseline/,$p'
}

# A wstest spec: MODE (fuzzingclient or fuzzingserver) and URL, the case
# patterns, the report directory, and for a fuzzing server its TLS key and
# certificate.
write_spec() { # file mode url
  "$VENV/bin/python" - "$@" "$REPORT_DIR" "$CASE_LIST" "$EXCLUDE" "${CERTS:-}" <<'PY'
import json, sys
spec_file, mode, url, outdir, cases, exclude, certs = sys.argv[1:]
spec = {"outdir": outdir, "cases": cases.split(","),
        "exclude-cases": ["12.*", "13.*"] if exclude == "1" else [], "exclude-agent-cases": {}}
if mode == "fuzzingclient":
    spec["servers"] = [{"agent": "wsengine", "url": url}]
else:
    spec.update(url=url, key=certs + "/server.key", cert=certs + "/server.pem")
json.dump(spec, open(spec_file, "w"), indent=2)
PY
}

# The server suite against a wss:// echo server at URL.
tls_server_suite() { # url
  mkdir -p "$REPORT_DIR" && rm -f "$REPORT_DIR"/index.json "$REPORT_DIR"/*_case_*.json
  write_spec "$REPORT_DIR/fuzzingclient.json" fuzzingclient "$1"
  "$VENV/bin/python" -c 'import socket,sys,time
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", int(sys.argv[1].rsplit(":",1)[1])), 1).close(); break
    except OSError: time.sleep(0.1)' "$1"
  timeout "$SUITE_TIMEOUT" "$VENV/bin/wstest" -m fuzzingclient -s "$REPORT_DIR/fuzzingclient.json"
}

# The client suite: a fuzzing server on wss://127.0.0.1:PORT with the test
# certificate, and the Rust client trusting the test CA.
tls_client_suite() { # port
  mkdir -p "$REPORT_DIR" && rm -f "$REPORT_DIR"/index.json "$REPORT_DIR"/*_case_*.json
  write_spec "$REPORT_DIR/fuzzingserver.json" fuzzingserver "wss://127.0.0.1:$1"
  "$VENV/bin/wstest" -m fuzzingserver -s "$REPORT_DIR/fuzzingserver.json" -u 0 &
  local ws=$!
  "$VENV/bin/python" -c 'import socket,sys,time
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); break
    except OSError: time.sleep(0.1)' "$1"
  timeout "$SUITE_TIMEOUT" target/release/examples/autobahn_client "wss://127.0.0.1:$1" --ca "$CERTS/ca.pem"
  local rc=$?
  kill "$ws" 2>/dev/null
  wait "$ws" 2>/dev/null
  return $rc
}

run_side() { # side: run the suite for one side, then diff it with the expected results
  local side="$1" port log pid
  export VENV EXCLUDE_DEFLATE="$EXCLUDE" REPORT_DIR="$PWD/target/autobahn/$LABEL-$side$SUFFIX" SUITE_TIMEOUT=1800
  port="$(free_port)"
  log="target/autobahn-$LABEL-$side$SUFFIX.log"
  echo "==> Autobahn $side suite ($GROUPS_NAME), $LABEL, on 127.0.0.1:$port"
  if [ "$side" = server ] && [ "$TLS" = 1 ]; then
    # shellcheck disable=SC2086  # ECHO_SERVER may be a command with arguments
    $ECHO_SERVER "127.0.0.1:$port" --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
      >"target/autobahn-$LABEL-echo-server$SUFFIX.log" 2>&1 &
    pid=$!
    tls_server_suite "wss://127.0.0.1:$port" >"$log" 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  elif [ "$side" = server ]; then
    # ECHO_SERVER may be a command with arguments (an interpreter and a script).
    $ECHO_SERVER "127.0.0.1:$port" >"target/autobahn-$LABEL-echo-server$SUFFIX.log" 2>&1 &
    pid=$!
    AGENT=wsengine "$AB/run-server-suite.sh" "127.0.0.1:$port" "$CASE_LIST" >"$log" 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  elif [ "$TLS" = 1 ]; then
    tls_client_suite "$port" >"$log" 2>&1 || true
  else
    CASES="$CASE_LIST" "$AB/run-client-suite.sh" "$port" target/release/examples/autobahn_client \
      "ws://127.0.0.1:$port" >"$log" 2>&1 || true
  fi
  sed -n '/^  all /p' "$log"
  if check "$side"; then
    echo "autobahn $side ($LABEL, $SUITE): every case as expected"
  else
    echo "autobahn $side ($LABEL, $SUITE): results differ from tests/autobahn/expected-$side$SUFFIX.json (log: $log)"
    return 1
  fi
}

# The sides are independent (their own ports and report directories): run
# them side by side, each on its own core, and report in order.
status=0
pids=()
for side in $SIDES; do
  run_side "$side" >"target/autobahn-$LABEL-$side$SUFFIX.summary" 2>&1 &
  pids+=($!)
done
i=0
for side in $SIDES; do
  wait "${pids[$i]}" || status=1
  cat "target/autobahn-$LABEL-$side$SUFFIX.summary"
  i=$((i + 1))
done
exit $status
