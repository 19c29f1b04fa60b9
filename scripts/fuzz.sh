#!/usr/bin/env bash
# Coverage-guided fuzzing of the protocol core with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh TARGET MINUTES     # one target, for longer
#   scripts/fuzz.sh --smoke [SECONDS]  # every target briefly (default 15 s each; the test command)
#   scripts/fuzz.sh --list
#
# Targets are in fuzz/fuzz_targets (see fuzz/README.md); seeds in
# fuzz/corpus/TARGET (committed). What a run finds goes to
# target/fuzz/corpus/TARGET (not committed) and any crashing input to
# target/fuzz/artifacts/TARGET/; the script exits non-zero on a crash. Each
# run ends with a line: target, runs, executions per second, coverage
# (libFuzzer's edge count `cov`, and features `ft`), corpus size.
#
# Needs the nightly toolchain (installed beside stable on these machines);
# without it, stable with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
if rustup run nightly rustc --version >/dev/null 2>&1; then
  FUZZ=(cargo +nightly fuzz)
else
  echo "fuzz.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  FUZZ=(cargo fuzz)
fi

targets() { "${FUZZ[@]}" list; }

run() { # target seconds
  local target="$1" seconds="$2"
  local work="target/fuzz/corpus/$target" artifacts="target/fuzz/artifacts/$target/"
  local log="target/fuzz/$target.log"
  mkdir -p "$work" "$artifacts"
  local status=0
  # New inputs go to the first directory; the committed seeds are read only.
  "${FUZZ[@]}" run -O "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -artifact_prefix="$artifacts" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1 || status=$?
  local done_line
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
  if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
    echo "FAILED $target (exit $status): see $log and $artifacts"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -10 || true
    return 1
  fi
  # "#123 DONE cov: 456 ft: 789 corp: 12/3Kb lim: 4 exec/s: 4321 rss: 56Mb"
  local runs cov ft corp eps
  runs="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")"
  corp="$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")"
  eps="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")"
  printf '%-20s %6ss %12s runs %8s exec/s  cov %6s  ft %6s  corpus %6s\n' \
    "$target" "$seconds" "$runs" "$eps" "$cov" "$ft" "$corp"
}

case "${1:-}" in
  --list)
    targets
    ;;
  --smoke)
    seconds="${2:-15}"
    echo "==> building the fuzz targets"
    "${FUZZ[@]}" build -O >target/fuzz-build.log 2>&1 || { tail -30 target/fuzz-build.log; exit 1; }
    failed=0
    for target in $(targets); do
      run "$target" "$seconds" || failed=1
    done
    exit "$failed"
    ;;
  ""|-h|--help)
    sed -n '2,16p' "$0"
    exit 2
    ;;
  *)
    target="$1"
    minutes="${2:?minutes}"
    mkdir -p target/fuzz
    run "$target" "$((minutes * 60))"
    ;;
esac
