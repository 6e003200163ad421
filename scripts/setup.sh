#!/usr/bin/env bash
# Create (if missing) and update the project's virtual environment in .venv, then install islr in editable mode.
# Idempotent and fast when nothing changed: the install runs only when its inputs (requirements, pyproject.toml, the
# repair script) changed, recorded by a hash stamp inside the venv.
# Usage: scripts/setup.sh            (prints the venv's python path on its last line)
#        scripts/setup.sh --extract  the video-extraction environment instead (.venv-extract, from
#                                    src/islr/resources/requirements-extract.txt: mediapipe needs numpy<2 /
#                                    protobuf<5); same contract
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
# Package data, so that an installed islr creates the same environment (islr.extract.REQUIREMENTS).
EXTRACT_REQUIREMENTS="$ROOT/src/islr/resources/requirements-extract.txt"

# ensure_venv VENV STAMP_NAME INSTALL_FUNCTION INPUT_FILE...: create VENV, run the install when the inputs changed.
ensure_venv() {
  local venv="$1" stamp="$1/$2" install="$3"
  shift 3
  if [ ! -x "$venv/bin/python" ]; then
    echo "[setup] creating $venv with $($PY --version 2>&1)" >&2
    "$PY" -m venv "$venv"
  fi
  local want
  want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$install" "$venv"
    "$venv/bin/python" -m pip check >&2
    echo "$want" > "$stamp"
  fi
  echo "$venv/bin/python"
}

pip_install() {  # pip install into venv $1 with the remaining arguments; hides the local-index noise of this machine
  local venv="$1" rc
  shift
  set +e
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

install_main() {
  echo "[setup] installing requirements into $1 (a few minutes the first time)" >&2
  pip_install "$1" -r "$ROOT/requirements.txt"
  pip_install "$1" --no-deps -e "$ROOT"
  restore_pristine "$1"
}

restore_pristine() {
  # A venv made by an older version of this script had torchvision's files edited and torchaudio's libraries deleted
  # (the former scripts/fix_cuda_wheels.py). Nothing is edited any more (islr._compat handles a CPU-only torch at
  # import time; torchaudio is not needed): reinstall torchvision from its wheel and drop torchaudio, where present.
  local site
  site="$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  if grep -qs "islr: guarded" "$site/torchvision/_meta_registrations.py"; then
    echo "[setup] restoring torchvision's own files" >&2
    pip_install "$1" --no-deps --force-reinstall "$(grep -E '^torchvision==' "$ROOT/requirements.txt")"
  fi
  if [ -d "$site/torchaudio" ]; then
    "$1/bin/python" -m pip uninstall -y -q torchaudio >&2
  fi
}

install_extract() {
  # Own venv: the main environment is never touched. islr is not installed here (the worker script is run by path
  # and imports only numpy, cv2 and mediapipe).
  echo "[setup] installing requirements-extract.txt into $1 (about a minute the first time)" >&2
  pip_install "$1" -r "$EXTRACT_REQUIREMENTS"
  "$1/bin/python" -c "import cv2, mediapipe, numpy" >&2
}

if [ "${1:-}" = "--extract" ]; then
  ensure_venv "${ISLR_EXTRACT_VENV:-$ROOT/.venv-extract}" .islr-extract-installed install_extract \
    "$EXTRACT_REQUIREMENTS"
else
  ensure_venv "${ISLR_VENV:-$ROOT/.venv}" .islr-installed install_main \
    "$ROOT/requirements.txt" "$ROOT/pyproject.toml"
fi
