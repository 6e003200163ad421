"""Derive the committed fixture of ``tests/test_splits.py``: the reference's fold split of the real train.csv.

Run once (the outputs are committed; the test reads only them):

    python scripts/make_split_fixture.py --train-csv TRAIN_CSV [--out-dir tests/fixtures]

``--train-csv`` is the competition's full ``train.csv`` (94,477 rows). Writes:

* ``reference_split.npz`` — ``labels``: (94477,) uint8, the sign of every row in train.csv order, as its id in the
  sign map (``src/islr/resources/sign_to_prediction_index_map.json``). About 95 kB: the labels are the only input of
  the split, and their order matters.
* ``reference_split.json`` — where the labels came from, the fold sizes, and the SHA-256 of the (94477,) int64 fold
  ids that the reference's own call gives: ``StratifiedKFold(8, shuffle=True, random_state=42)`` on the sign, over
  train.csv order (docs/method.md §5 "Folds"). The ids are computed here with scikit-learn directly, not with
  :mod:`islr.splits`, so the test checks islr's split against the reference's call.

Fold *sizes* alone would be a weak check: a stratified (or plain) K-fold of N samples gives the same sizes for any
labels (8 folds of 94,477 → five of 11,810, three of 11,809). The digest pins the assignment itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from islr import io, paths

N_FOLDS, SEED = 8, 42


def fold_digest(folds: np.ndarray) -> str:
    """SHA-256 of fold ids as little-endian int64 (the dtype :func:`islr.splits.random_folds` returns)."""
    return hashlib.sha256(np.asarray(folds, dtype="<i8").tobytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-csv", type=Path, required=True, help="the competition's full train.csv")
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures")
    args = ap.parse_args()
    signs = pd.read_csv(args.train_csv, usecols=["sign"])["sign"]
    sign_map = io.read_sign_map(paths.SIGN_MAP_JSON.parent)
    unknown = sorted(set(signs) - set(sign_map))
    if unknown:
        raise SystemExit(f"{args.train_csv}: signs not in the sign map: {unknown[:10]}")
    labels = signs.map(sign_map).to_numpy().astype(np.uint8)
    folds = np.full(len(signs), -1, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=SEED)
    for fold, (_, valid_idx) in enumerate(splitter.split(np.zeros(len(signs)), signs.to_numpy())):
        folds[valid_idx] = fold
    args.out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out_dir / "reference_split.npz", labels=labels)
    meta = {
        "source": "train.csv of the Kaggle competition asl-signs (Google - Isolated Sign Language Recognition), "
                  "all rows in file order",
        "made_by": "scripts/make_split_fixture.py",
        "rows": int(len(signs)),
        "split": f"StratifiedKFold(n_splits={N_FOLDS}, shuffle=True, random_state={SEED}) on the sign",
        "fold_sizes": np.bincount(folds, minlength=N_FOLDS).tolist(),
        "fold_ids_sha256": fold_digest(folds),
    }
    (args.out_dir / "reference_split.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
