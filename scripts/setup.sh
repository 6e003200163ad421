#!/usr/bin/env bash
# Create (if missing) and update the project's virtual environment in .venv, then install islr in editable mode.
# Idempotent and fast when nothing changed: the install runs only when requirements.txt or pyproject.toml changed.
# Usage: scripts/setup.sh            (prints the venv's python path on its last line)
#        scripts/setup.sh --extract  the video-extraction environment instead (.venv-extract, from
#                                    requirements-extract.txt: mediapipe needs numpy<2 / protobuf<5); same contract
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "${1:-}" = "--extract" ]; then
  # Own venv, own stamp: the main environment is never touched. islr is not installed here (the worker script is run
  # by path and imports only numpy, cv2 and mediapipe).
  VENV="${ISLR_EXTRACT_VENV:-$ROOT/.venv-extract}"
  PY="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PY --version 2>&1)" >&2
    "$PY" -m venv "$VENV"
  fi
  STAMP="$VENV/.islr-extract-installed"
  WANT="$(sha256sum "$ROOT/requirements-extract.txt" | cut -d' ' -f1)"
  if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "[setup] installing requirements-extract.txt into $VENV (about a minute the first time)" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements-extract.txt" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
    "$VENV/bin/python" -m pip check >&2
    "$VENV/bin/python" -c "import cv2, mediapipe, numpy" >&2
    echo "$WANT" > "$STAMP"
  fi
  echo "$VENV/bin/python"
  exit 0
fi
VENV="${ISLR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version 2>&1)" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.islr-installed"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" "$ROOT/scripts/fix_cuda_wheels.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing requirements into $VENV (a few minutes the first time)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$ROOT" >&2
  # PyPI's torchvision/torchaudio are CUDA builds; next to a CPU-only torch they fail to import. The script below
  # checks and repairs only when that is the case (see its docstring); it is a no-op on a CUDA torch.
  "$VENV/bin/python" "$ROOT/scripts/fix_cuda_wheels.py" >&2
  "$VENV/bin/python" -m pip check >&2
  echo "$WANT" > "$STAMP"
fi
echo "$VENV/bin/python"
