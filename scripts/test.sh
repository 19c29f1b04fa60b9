#!/usr/bin/env bash
# Every test wsengine has: formatting, lints, layering, Rust unit/property/
# integration/doc tests, docs, and the Autobahn conformance suites.
#
#   scripts/test.sh
#
# Run from a fresh clone with ../shared beside it. Installs what it needs
# itself (the Autobahn venv under target/). Exit status 0 only if all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

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

layering() {
  # The protocol core is sans-IO: no sockets, threads or clocks.
  if grep -rnE 'std::(net|thread)|Instant::now|SystemTime' src/protocol; then
    echo "src/protocol must not use sockets, threads or clocks"
    return 1
  fi
}

stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
stage "layering" layering
stage "cargo test" cargo test --quiet
stage "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
stage "release build of the examples" cargo build --release --examples --quiet
stage "Autobahn TestSuite (server and client)" scripts/autobahn.sh

echo
if [ "$failed" -gt 0 ]; then
  echo "failed stages: ${failures[*]}"
fi
echo "test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
