#!/usr/bin/env bash
# Run the notebook chain with papermill, in order, stopping at the first failure.
#
#   ./run_all.sh                          # set up .venv if needed, run every notebook on the embedded default data
#   ./run_all.sh --profile smoke          # the whole chain in a few minutes (what the tests run)
#   ./run_all.sh --profile full --data /kaggle/input/asl-signs
#   ./run_all.sh --from 02 --to 04        # a part of the chain (earlier stages' outputs must exist)
#   ./run_all.sh --overrides '{"split.full_data_transformers": true}'   # config overrides (JSON) for every notebook
#
# Executed copies go to outputs/notebooks/ (or $ISLR_OUTPUTS/notebooks/), figures to outputs/figures/.
# With islr installed (not from this checkout), ./outputs of the folder run from, or /kaggle/working/outputs on Kaggle.
# Set ISLR_PYTHON to use an existing interpreter instead of .venv (e.g. on Kaggle/Colab, after scripts/install.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROFILE=default
DATA=""
FROM=00
TO=99
RUN_NAME=""
OVERRIDES=""
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --from) FROM="$2"; shift 2 ;;
    --to) TO="$2"; shift 2 ;;
    --run-name) RUN_NAME="$2"; shift 2 ;;
    --overrides) OVERRIDES="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PROFILE" in smoke|default|full) ;; *) echo "run_all.sh: --profile must be smoke, default or full" >&2; exit 2 ;; esac
if [ -n "$DATA" ] && [ ! -f "$DATA/train.csv" ]; then
  echo "run_all.sh: --data $DATA has no train.csv (expected the asl-signs layout)" >&2; exit 2
fi

PY="${ISLR_PYTHON:-$("$ROOT/scripts/setup.sh" | tail -n 1)}"
# One outputs folder for this script and the package (islr.paths.outputs_dir: <checkout>/outputs for an editable
# install, /kaggle/working/outputs or ./outputs for an installed package), handed to every notebook.
OUTPUTS="${ISLR_OUTPUTS:-$(cd "$ROOT" && "$PY" -c 'from islr import paths; print(paths.outputs_dir())')}"
export ISLR_OUTPUTS="$OUTPUTS"
mkdir -p "$OUTPUTS/notebooks"
RUN_NAME="${RUN_NAME:-$PROFILE}"
EXTRA=()
if [ -n "$OVERRIDES" ]; then
  # Checked here so that a typo fails before the first notebook, not inside it.
  "$PY" -c 'import json, sys; from islr.config import get_config; get_config(sys.argv[1], json.loads(sys.argv[2]))' \
    "$PROFILE" "$OVERRIDES" || { echo "run_all.sh: bad --overrides $OVERRIDES" >&2; exit 2; }
  EXTRA=(-y "OVERRIDES: $OVERRIDES")
fi
export PYTHONUNBUFFERED=1

# Every kernel start logs "Kernel is running over TCP without encryption" (ipykernel, IPKernelApp.init_sockets).
# Papermill's kernel listens on localhost only, for the length of one notebook, and papermill's command line offers no
# IPC transport; so that one line is dropped from papermill's stderr. Every other line passes through unchanged.
without_kernel_tcp_warning() {
  grep -v -F --line-buffered "Kernel is running over TCP without encryption" || true
}

for nb in "$ROOT"/notebooks/[0-9][0-9]_*.ipynb; do
  name="$(basename "$nb")"
  num="${name:0:2}"
  if [ "$((10#$num))" -lt "$((10#$FROM))" ] || [ "$((10#$num))" -gt "$((10#$TO))" ]; then continue; fi
  out="$OUTPUTS/notebooks/$name"
  echo "=== $name (profile $PROFILE) -> $out"
  start=$(date +%s)
  if ! { "$PY" -m papermill "$nb" "$out" -p PROFILE "$PROFILE" -p DATA_DIR "$DATA" -p RUN_NAME "$RUN_NAME" \
         "${EXTRA[@]}" --cwd "$ROOT/notebooks" --no-progress-bar --log-level WARNING \
         2>&1 1>&3 3>&- | without_kernel_tcp_warning >&2; } 3>&1; then
    echo "run_all.sh: FAILED at $name; the executed copy with the error is $out" >&2
    exit 1
  fi
  echo "=== $name done in $(( $(date +%s) - start )) s"
done
echo "run_all.sh: chain finished (profile $PROFILE); notebooks in $OUTPUTS/notebooks, figures in $OUTPUTS/figures"
