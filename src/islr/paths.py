"""Every path of the project, from one place (docs/architecture.md, pattern "One module owns every path").

Layouts detected:

* local clone: the repository root holds ``src/islr``; outputs go to ``<repo>/outputs``.
* installed package (``pip install .`` or a wheel): the sign map, the class weights and the bundled real sample are
  package data under ``islr/resources``; outputs go to ``$ISLR_OUTPUTS``, else ``./outputs``.
* Kaggle: the competition data at ``/kaggle/input/asl-signs``; outputs to ``/kaggle/working/outputs`` unless the
  repository itself is writable.
* Colab / anywhere: set ``ISLR_DATA`` to an asl-signs-layout folder and, optionally, ``ISLR_OUTPUTS``.

Only the last fallback of :func:`outputs_dir` (an installed package with no ``$ISLR_OUTPUTS``) depends on the
current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def _checkout_root() -> Path | None:
    """The repository root when islr runs from a source checkout (``src/islr`` layout), else None (installed)."""
    root = PACKAGE_DIR.parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "islr").is_dir() else None


#: Root of the source checkout, or None when islr is installed from a wheel / ``pip install .``.
REPO_ROOT = _checkout_root()
KAGGLE_DATA = Path("/kaggle/input/asl-signs")
KAGGLE_WORKING = Path("/kaggle/working")
#: The bundled real sample: real asl-signs sequences in the competition layout, shipped as package data.
SAMPLE_DIR = RESOURCES_DIR / "sample"
#: Reference per-class loss weights (docs/method.md §5), shipped inside the package.
CLASS_WEIGHTS_CSV = RESOURCES_DIR / "class_weights.csv"
#: The real 250-sign map of the competition, shipped inside the package.
SIGN_MAP_JSON = RESOURCES_DIR / "sign_to_prediction_index_map.json"
#: Real per-sequence statistics (sign, participant, length) used by the synthetic generator.
TRAIN_STATS_CSV = RESOURCES_DIR / "train_stats.csv"


def outputs_dir() -> Path:
    """Root of everything the project writes.

    In order: ``$ISLR_OUTPUTS``; ``<checkout>/outputs`` when running from a writable source checkout;
    ``/kaggle/working/outputs`` on Kaggle; else ``./outputs`` under the current directory (an installed package).
    """
    env = os.environ.get("ISLR_OUTPUTS")
    if env:
        return Path(env).expanduser().resolve()
    if REPO_ROOT is not None and os.access(REPO_ROOT, os.W_OK):
        return REPO_ROOT / "outputs"
    if KAGGLE_WORKING.is_dir() and os.access(KAGGLE_WORKING, os.W_OK):
        return KAGGLE_WORKING / "outputs"
    return Path.cwd().resolve() / "outputs"


def run_dir(run_name: str) -> Path:
    """Folder of one run: config.json, checkpoints, metrics, OOF logits."""
    return outputs_dir() / "runs" / run_name


def figures_dir(stage: str) -> Path:
    """Folder for the figures of one notebook stage (e.g. "00_eda")."""
    path = outputs_dir() / "figures" / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def generated_data_dir() -> Path:
    """Where the embedded default dataset (synthetic + bundled sample) is written."""
    return outputs_dir() / "data"


def find_kaggle_data() -> Path | None:
    """The asl-signs folder if one is known: $ISLR_DATA, then /kaggle/input/asl-signs; None otherwise."""
    env = os.environ.get("ISLR_DATA")
    if env:
        return Path(env).expanduser().resolve()
    if (KAGGLE_DATA / "train.csv").exists():
        return KAGGLE_DATA
    return None
