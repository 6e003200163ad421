"""Every path of the project, from one place (STYLE.md pattern 10).

Layouts detected:

* local clone: the repository root holds ``src/islr``; outputs go to ``<repo>/outputs``.
* Kaggle: the competition data at ``/kaggle/input/asl-signs``; outputs to ``/kaggle/working/outputs`` unless the
  repository itself is writable.
* Colab / anywhere: set ``ISLR_DATA`` to an asl-signs-layout folder and, optionally, ``ISLR_OUTPUTS``.

No function here depends on the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
KAGGLE_DATA = Path("/kaggle/input/asl-signs")
#: The bundled real sample (a few asl-signs files, committed).
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
#: Reference per-class loss weights (METHOD_FACTS §5), shipped inside the package.
CLASS_WEIGHTS_CSV = PACKAGE_DIR / "resources" / "class_weights.csv"
#: The real 250-sign map of the competition, shipped inside the package.
SIGN_MAP_JSON = PACKAGE_DIR / "resources" / "sign_to_prediction_index_map.json"
#: Real per-sequence statistics (sign, participant, length) used by the synthetic generator.
TRAIN_STATS_CSV = PACKAGE_DIR / "resources" / "train_stats.csv"


def outputs_dir() -> Path:
    """Root of everything the project writes ($ISLR_OUTPUTS, else <repo>/outputs, else /kaggle/working/outputs)."""
    env = os.environ.get("ISLR_OUTPUTS")
    if env:
        return Path(env).expanduser().resolve()
    if os.access(REPO_ROOT, os.W_OK):
        return REPO_ROOT / "outputs"
    return Path("/kaggle/working/outputs")


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
