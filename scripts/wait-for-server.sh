# Sourced by the scripts that start an example server in the background.
#
# example_command LANG RUST C PYTHON: the command line of the example
# server written in LANG (rust, c or python), given its name in each
# language's examples; returns 1 for another LANG.
example_command() {
  case "$1" in
    rust) echo "target/release/examples/$2" ;;
    c) echo "target/c/examples-pkgconfig/$3" ;;
    python) echo "target/py-venv/bin/python examples/python/$4" ;;
    *) return 1 ;;
  esac
}
#
# wait_for_server PID LOG PATTERN: wait up to 10 s for the server PID to
# write a line matching the grep -o PATTERN to LOG; print the first match
# and return 0, or print the log, stop the server and return 1.
wait_for_server() {
  local pid="$1" log="$2" pattern="$3" found=""
  for _ in $(seq 100); do
    found="$(grep -o "$pattern" "$log" | head -n 1)"
    [ -n "$found" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$found" ]; then
    echo "the server did not start:"
    cat "$log"
    kill "$pid" 2>/dev/null
    return 1
  fi
  echo "$found"
}
