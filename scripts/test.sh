#!/usr/bin/env bash
# Every test wsengine has: formatting, lints, layering, the generated C
# header being current, Rust unit/property/integration/doc tests, docs, a
# smoke run of every fuzz target (fuzz/, cargo-fuzz on nightly), the
# network-fault tests (as root, in namespaces), a 60 s soak, the
# C side (install, examples via pkg-config and CMake, C tests under
# ASan+UBSan and valgrind), the Python package (pip install, stubtest,
# pytest), the example clients reconnecting across a server restart, the
# proxy tests (tinyproxy and danted, required), the chat demo of each language in headless Chromium, standard
# clients (Node's ws, Python's websockets) sending 16 MiB compressed
# messages to each echo server while one client floods it without reading
# must not slow another (and the 16 MiB messages again over wss://), and the
# Autobahn conformance suites against the Rust, C and Python echo servers and
# the Rust client (groups 1-10), the permessage-deflate groups 12-13 against
# the Rust server and client, and over TLS the Rust server (groups 1-10 and
# 12-13) and client (groups 1-10), with the same expected results.
#
#   scripts/test.sh
#
# Runs from a fresh clone with nothing beside it. Installs what it needs
# itself (the Autobahn venv under target/, from tests/autobahn/kit). Exit status 0 only if all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# As root (CI), the network-fault tests (tests/netfaults.rs) must run: a
# missing namespace is a failure there, not a skip.
if [ "$(id -u)" = 0 ]; then
  export WSENGINE_REQUIRE_NETNS=1
fi
# The proxy tests (tests/client_proxy.rs, test_proxy.c/.py) need Debian's
# tinyproxy and danted; here a missing one is a failure, not a skip.
export WSENGINE_REQUIRE_PROXIES=1

passed=0
failed=0
failures=()
stage() { # name command...
  local name="$1"; shift
  echo
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "--- $name: ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "--- $name: FAILED ($((SECONDS - start))s)"
  fi
}

fmt_check() {
  cargo fmt --all -- --check &&
    cargo fmt --manifest-path fuzz/Cargo.toml -- --check
}

layering() {
  # The protocol core is sans-IO: no sockets, threads or clocks.
  if grep -rnE 'std::(net|thread)|Instant::now|SystemTime' src/protocol; then
    echo "src/protocol must not use sockets, threads or clocks"
    return 1
  fi
  # The engine's files import each other without a cycle.
  python3 scripts/check-engine-layers.py
}

header_current() {
  # build.rs rewrites include/wsengine.h when src/capi changed; the committed
  # header must already be what it generates.
  cargo build --quiet --lib &&
    git ls-files --error-unmatch include/wsengine.h >/dev/null &&
    git diff --exit-code -- include/wsengine.h
}

autobahn_all() {
  scripts/autobahn.sh server client &&
    ECHO_SERVER=target/c/examples-pkgconfig/echo_server LABEL=c scripts/autobahn.sh server &&
    ECHO_SERVER="target/py-venv/bin/python examples/python/echo_server.py" LABEL=python \
      scripts/autobahn.sh server
}

autobahn_tls() {
  # The client's groups 1-10 run beside the server's 12-13 (the longest part).
  TLS=1 scripts/autobahn.sh server &&
    TLS=1 scripts/autobahn.sh client &
  local core=$!
  TLS=1 SUITE=deflate scripts/autobahn.sh server
  local deflate=$?
  wait "$core" && [ "$deflate" = 0 ]
}

stage "cargo fmt --check" fmt_check
stage "cargo clippy" cargo clippy --workspace --all-targets --quiet -- -D warnings
stage "layering" layering
stage "C header is current" header_current
stage "cargo test" cargo test --quiet
stage "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
stage "Fuzz smoke: every cargo-fuzz target for 15 s (scripts/fuzz.sh --smoke)" \
  scripts/fuzz.sh --smoke 15
stage "release build of the examples" cargo build --release --examples --quiet
stage "Soak: 60 s of mixed load, then resources back and every message accounted for" \
  target/release/examples/soak --seconds 60
stage "C: install, examples, tests under ASan+UBSan and valgrind" scripts/c-tests.sh
stage "Python: pip install, stubtest, pytest" scripts/python-tests.sh
stage "Example clients with --reconnect across a server restart (Rust, C, Python)" \
  scripts/example-reconnect.py rust c python
stage "Browser: the chat demo (Rust, C, Python) in headless Chromium" scripts/browser-test.sh
stage "Interop: ws and websockets send 16 MiB compressed messages, one client floods (Rust, C, Python echo servers)" \
  scripts/interop-test.sh
stage "Autobahn TestSuite (Rust server and client, C and Python servers)" autobahn_all
stage "Autobahn permessage-deflate groups 12-13 (Rust server and client)" \
  env SUITE=deflate scripts/autobahn.sh server client
stage "Autobahn over TLS (Rust server groups 1-10 and 12-13, Rust client groups 1-10)" \
  autobahn_tls

echo
if [ "$failed" -gt 0 ]; then
  echo "failed stages: ${failures[*]}"
fi
echo "test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
