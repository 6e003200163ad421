#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, the smoke notebook chain included.
# Extra arguments go to pytest (e.g. scripts/test.sh -k io -x).
#
# scripts/test.sh --compat: the compatibility leg instead: .venv-compat (the oldest supported package set,
# requirements-compat.txt) runs the unit tests (not the slow ones) and the smoke notebook chain.
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
if [ "${1:-}" = "--compat" ]; then
  shift
  PY="$("$ROOT/scripts/setup.sh" --compat | tail -n 1)"
  echo "[test] compat leg: $("$PY" -c 'from importlib.metadata import version as v
print(", ".join(f"{p} {v(p)}" for p in ("torch", "transformers", "timm", "tensorflow-cpu", "keras", "numpy", "pandas",
                                        "optuna")))')" >&2
  rc=0
  run_pytest "$PY" -m "not slow" "$@" || rc=$?
  # The smoke chain, not the --profile full chain (that code path is version-independent and runs in the main leg).
  run_pytest "$PY" tests/test_notebooks.py -k "not full_profile" "$@" || rc=$?
  exit "$rc"
fi
PY="$("$ROOT/scripts/setup.sh" | tail -n 1)"
run_pytest "$PY" "$@"
