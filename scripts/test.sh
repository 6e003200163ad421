#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite, the smoke notebook chain included.
# Extra arguments go to pytest (e.g. scripts/test.sh -k io -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$("$ROOT/scripts/setup.sh" | tail -n 1)"
# The video-extraction environment (.venv-extract, tests/test_extract.py) is separate: mediapipe needs numpy<2.
"$ROOT/scripts/setup.sh" --extract >/dev/null
cd "$ROOT"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: a run that tests nothing is a failure.
if [ "$rc" -eq 5 ]; then echo "[test] no test was run: failing" >&2; exit 1; fi
exit "$rc"
