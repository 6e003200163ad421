#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, the smoke notebook chain included.
# Extra arguments go to pytest (e.g. scripts/test.sh -k io -x).
# The oldest supported set, on a simulated Kaggle image with the README's recipe, is CI's other leg:
# scripts/test_image.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# run_pytest PYTHON ARGS...: pytest's exit status, except that 5 (it collected no test) is a failure.
run_pytest() {
  local py="$1" rc
  shift
  set +e
  "$py" -m pytest "$@"
  rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then echo "[test] no test was run: failing" >&2; return 1; fi
  return "$rc"
}

# The video-extraction environment (.venv-extract, tests/test_extract.py) is separate: mediapipe needs numpy<2.
"$ROOT/scripts/setup.sh" --extract >/dev/null
cd "$ROOT"
PY="$("$ROOT/scripts/setup.sh" | tail -n 1)"
run_pytest "$PY" "$@"
