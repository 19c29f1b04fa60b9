#!/usr/bin/env bash
# The Python side: `pip install ./bindings/python` into a fresh-enough venv
# (target/py-venv), check the type stubs against the native module with
# mypy.stubtest, and run the pytest suite (including interop with the
# `websockets` library in both directions).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/target/py-venv"
PY="$VENV/bin/python"
[ -x "$PY" ] || python3 -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install -q "maturin==1.16.0" "pytest==9.2.0" "websockets==17.4" "mypy==2.4.1"
echo "==> pip install ./bindings/python"
"$PY" -m pip install -q --force-reinstall --no-deps ./bindings/python
echo "==> mypy.stubtest wsengine._wsengine"
(cd "$VENV" && "$PY" -m mypy.stubtest wsengine._wsengine)
echo "==> pytest bindings/python/tests"
# A test stuck for two minutes gets every thread's traceback printed (and
# the run is stopped after ten), so a hang shows where it is.
timeout 600 "$PY" -m pytest -q -p no:cacheprovider -o faulthandler_timeout=120 bindings/python/tests
