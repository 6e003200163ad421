#!/usr/bin/env bash
# The simulated-image leg: what a Kaggle/Colab user does, on an environment built the way such an image is.
#
#   1. the image: a fresh venv with requirements-image.txt (torch 2.4.1 with its CUDA libraries, TensorFlow 2.18,
#      numpy 1.26, protobuf 5, opencv-python, ... and what pip resolves for them), built before islr and without it;
#   2. the README's Kaggle recipe, run literally (the block between its "recipe:kaggle" markers, "!" removed), in an
#      empty working folder with the image's python first on PATH; "<this repository>" is this checkout, so the recipe
#      clones its committed HEAD: it installs the package (not editable) and runs the smoke chain 00-07 from it;
#   3. checks: pip changed none of the image's packages (added ones are listed), islr is imported from site-packages,
#      every notebook of the recipe's chain ran without an error;
#   4. the unit tests (not the slow ones) of the clone, with the installed package and the image's versions.
#
# Usage: scripts/test_image.sh [PYTEST ARGS...]; ISLR_IMAGE_DIR=DIR keeps the working files there (default: a
# temporary folder, removed at the end). The MediaPipe environment is created from scratch in the folder's cache.
#   scripts/test_image.sh --build-only   only step 1, into $ISLR_IMAGE_DIR (.ci/run builds it while the main leg runs)
#   scripts/test_image.sh --prebuilt     steps 2-4 on the image --build-only left in $ISLR_IMAGE_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
MODE=all
case "${1:-}" in --build-only|--prebuilt) MODE="${1#--}"; shift ;; esac
if [ -n "${ISLR_IMAGE_DIR:-}" ]; then
  WORK="$ISLR_IMAGE_DIR"
  [ "$MODE" = prebuilt ] || { rm -rf "$WORK"; mkdir -p "$WORK"; }
elif [ "$MODE" = all ]; then
  WORK="$(mktemp -d -t islr-image.XXXXXX)"; trap 'rm -rf "$WORK"' EXIT
else
  echo "scripts/test_image.sh --$MODE needs ISLR_IMAGE_DIR" >&2; exit 2
fi
WORK="$(cd "$WORK" && pwd)"
IMG="$WORK/image/bin/python"
log() { echo "[image] $*" >&2; }
start=$SECONDS

if [ "$MODE" != prebuilt ]; then
  log "building the image in $WORK/image from requirements-image.txt"
  "$PY" -m venv "$WORK/image"
  "$IMG" -m pip install -q --disable-pip-version-check --no-compile -r "$ROOT/requirements-image.txt" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
  "$IMG" -m pip list --format=freeze > "$WORK/image-before.txt"
  log "image ready in $((SECONDS - start)) s: $("$IMG" -c 'from importlib.metadata import version as v
print(", ".join(f"{p} {v(p)}" for p in ("torch", "tensorflow", "keras", "numpy", "protobuf", "pandas", "transformers")))')"
  [ "$MODE" = build-only ] && exit 0
elif [ ! -s "$WORK/image-before.txt" ]; then
  log "no image in $WORK: run scripts/test_image.sh --build-only first"; exit 1
fi

# The recipe, exactly as the README shows it.
sed -n '/<!-- recipe:kaggle -->/,/<!-- \/recipe:kaggle -->/p' "$ROOT/README.md" | sed -n 's/^ *!//p' \
  | sed "s#<this repository>#$ROOT#" > "$WORK/recipe.sh"
[ -s "$WORK/recipe.sh" ] || { log "README.md has no recipe:kaggle block"; exit 1; }
log "running the README's recipe:"; sed 's/^/    /' "$WORK/recipe.sh" >&2
mkdir -p "$WORK/working"
recipe_start=$SECONDS
( cd "$WORK/working" && env -u ISLR_OUTPUTS -u ISLR_PYTHON -u PYTHONPATH PATH="$WORK/image/bin:$PATH" \
    VIRTUAL_ENV="$WORK/image" ISLR_CACHE="$WORK/cache" bash -euo pipefail "$WORK/recipe.sh" )
log "recipe done in $((SECONDS - recipe_start)) s"
CLONE="$WORK/working/islr"

# The test suite's own needs (pytest, the postgres extra of the shared-study tests), held like the recipe's.
( cd "$CLONE" && "$IMG" scripts/install.py postgres >&2 )
"$IMG" -m pip install -q --disable-pip-version-check -c "$WORK/image-before.txt" pytest >&2
"$IMG" -m pip list --format=freeze > "$WORK/image-after.txt"

# Checks: no image package changed; the installed (not editable) islr is the one imported.
"$IMG" - "$WORK/image-before.txt" "$WORK/image-after.txt" <<'PYCODE'
import sys
before, after = ({l.split("==")[0].lower(): l.strip() for l in open(p) if "==" in l} for p in sys.argv[1:])
changed = [f"{before[k]} -> {after.get(k, 'removed')}" for k in before if after.get(k) != before[k]]
added = sorted(after[k] for k in after.keys() - before.keys())
print(f"[image] {len(before)} image packages, {len(added)} added: {', '.join(added)}", file=sys.stderr)
if changed:
    sys.exit(f"[image] FAILED: the recipe changed the image's packages: {'; '.join(changed)}")
print("[image] none of the image's packages changed", file=sys.stderr)
PYCODE
where="$(cd "$WORK" && "$IMG" -c 'import islr; print(islr.__file__)')"
case "$where" in
  "$WORK/image/lib/"*/site-packages/islr/__init__.py) log "islr imported from $where" ;;
  *) log "FAILED: islr imported from $where, not from the image's site-packages"; exit 1 ;;
esac

cd "$CLONE"
set +e
ISLR_RECIPE_OUTPUTS="$CLONE/outputs" ISLR_CACHE="$WORK/cache" "$IMG" -m pytest -m "not slow" -p no:cacheprovider \
  tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then log "no test was run: failing"; rc=1; fi
log "leg done in $((SECONDS - start)) s (exit $rc)"
exit "$rc"
