"""Derive ``src/islr/resources/train_stats.csv``: the real statistics the synthetic generator samples from.

Run once (the output is committed; the generator reads only the committed table):

    python scripts/make_train_stats.py --meta TRAIN_CSV --sample DIR [--out CSV]

``--meta`` is the competition's full ``train.csv``; ``--sample`` a folder of real landmark files in the Kaggle layout
(e.g. the bundled sample ``src/islr/resources/sample`` or any larger real subset).

Inputs: the real 94,477-row ``train.csv`` of asl-signs (sign and participant counts) and a folder of real landmark
files in the Kaggle layout (lengths, missing-part rates, each participant's dominant hand, frame-number starts, the
pixel aspect of the videos). Output: one long table ``kind,key,value`` (a few hundred rows):

============================  ==================  ==========================================================
kind                          key                 value
============================  ==================  ==========================================================
sign_count                    sign name           sequences of the sign in the real train.csv
participant_count             participant id      sequences of the participant in the real train.csv
participant_right_share       participant id      share of hand-present frames that are ``right_hand`` (real)
participant_hand_scale        participant id      wrist→middle-MCP length / shoulder width, median (real)
length_quantile               q (0..1)            frames per sequence, quantile q over the real files
first_frame_quantile          q (0..1)            first frame number, quantile q over the real files
measured_rate                 part name           share of frames where the part is wholly missing (real files)
reference_751                 fact name           facts measured on 751 real sequences (see REFERENCE_751)
aspect                        width_over_height   frame width / height estimated from rigid hand bones
============================  ==================  ==========================================================
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from islr.io import read_landmarks, read_train_index
from islr.landmarks import HAND_BONES, PART_SLICE, pose_id
from islr.paths import TRAIN_STATS_CSV

QUANTILES = np.round(np.linspace(0.0, 1.0, 21), 2)
#: Measured on 751 real asl-signs sequences (frames per sequence; share of frames with the part wholly missing);
#: the generator targets these where they are better estimates than a measurement on a smaller sample.
REFERENCE_751 = {
    "length_min": 2, "length_median": 18, "length_mean": 31.7, "length_max": 272,
    "left_hand_missing": 0.71, "right_hand_missing": 0.62, "both_hands_missing": 0.34,
    "face_missing": 0.014, "pose_missing": 0.0,
}


def _missing(seq: np.ndarray, part: str) -> np.ndarray:
    """(T,) True where every landmark of ``part`` is NaN."""
    return np.isnan(seq[:, PART_SLICE[part], 0]).all(axis=1)


def _estimate_aspect(hands: list[np.ndarray]) -> float:
    """Width/height of the video frame: the x (and z) scale that makes hand bone proportions most rigid.

    x and z are normalised by the frame width, y by its height; a hand turning in the image then changes its bone
    proportions unless x is rescaled by the true width/height. Grid search over 0.4..2.0.
    """
    def spread(aspect: float) -> float:
        total = 0.0
        for hand in hands:  # (T, 21, 3)
            bone = hand[:, HAND_BONES[:, 1]] - hand[:, HAND_BONES[:, 0]]  # (T, 20, 3)
            length = np.sqrt((bone[..., 0] * aspect) ** 2 + bone[..., 1] ** 2 + (bone[..., 2] * aspect) ** 2)
            share = length / length.sum(axis=1, keepdims=True)
            total += float(np.var(share, axis=0).sum()) * len(hand)
        return total

    grid = np.round(np.arange(0.40, 2.001, 0.01), 2)
    return float(grid[np.argmin([spread(a) for a in grid])])


def measure(sample_dir: Path) -> tuple[pd.DataFrame, dict[str, float], float]:
    """Per-file measurements on a folder of real files.

    Returns:
        (per-file table, frame-weighted missing rates, aspect estimate).
    """
    index = read_train_index(sample_dir)
    rows, hands = [], []
    counts = {p: 0 for p in ("left_hand", "right_hand", "both_hands", "face", "pose")}
    n_frames = 0
    for item in index.itertuples():
        seq = read_landmarks(sample_dir / item.path)  # (T, 543, 3)
        first = int(pd.read_parquet(sample_dir / item.path, columns=["frame"])["frame"].min())
        left, right = _missing(seq, "left_hand"), _missing(seq, "right_hand")
        for part in ("left_hand", "right_hand", "face", "pose"):
            counts[part] += int(_missing(seq, part).sum())
        counts["both_hands"] += int((left & right).sum())
        n_frames += len(seq)
        shoulder = np.linalg.norm(seq[:, pose_id(11), :2] - seq[:, pose_id(12), :2], axis=1)  # (T,)
        for part, miss in (("left_hand", left), ("right_hand", right)):
            if (~miss).sum() >= 1:
                hand = seq[~miss, PART_SLICE[part]]
                hands.append(hand)
        rows.append({"participant_id": item.participant_id, "length": len(seq), "first_frame": first,
                     "left_present": int((~left).sum()), "right_present": int((~right).sum()),
                     "shoulder": float(np.median(shoulder))})
    per_file = pd.DataFrame(rows)
    rates = {f"{p}_missing": c / n_frames for p, c in counts.items()}
    return per_file, rates, _estimate_aspect(hands)


def hand_scale(sample_dir: Path, aspect: float) -> pd.Series:
    """Per participant: median wrist→middle-MCP length over shoulder width, in square (aspect-corrected) units."""
    index = read_train_index(sample_dir)
    values: dict[int, list[float]] = {}
    scale = np.array([aspect, 1.0])
    for item in index.itertuples():
        seq = read_landmarks(sample_dir / item.path)
        shoulder = np.linalg.norm((seq[:, pose_id(11), :2] - seq[:, pose_id(12), :2]) * scale, axis=1)
        for part in ("left_hand", "right_hand"):
            hand = seq[:, PART_SLICE[part]]
            palm = np.linalg.norm((hand[:, 9, :2] - hand[:, 0, :2]) * scale, axis=1)
            ok = ~np.isnan(palm)
            values.setdefault(item.participant_id, []).extend((palm[ok] / shoulder[ok]).tolist())
    return pd.Series({p: float(np.median(v)) for p, v in values.items() if v})


def build(meta_csv: Path, sample_dir: Path) -> pd.DataFrame:
    """The whole statistics table (see the module docstring)."""
    meta = pd.read_csv(meta_csv)
    per_file, rates, aspect = measure(sample_dir)
    records: list[tuple[str, str, float]] = []
    records += [("sign_count", s, float(n)) for s, n in meta["sign"].value_counts().sort_index().items()]
    records += [("participant_count", str(p), float(n))
                for p, n in meta["participant_id"].value_counts().sort_index().items()]
    present = per_file.groupby("participant_id")[["left_present", "right_present"]].sum()
    share = present["right_present"] / (present["left_present"] + present["right_present"])
    records += [("participant_right_share", str(p), round(float(v), 4)) for p, v in share.sort_index().items()]
    scales = hand_scale(sample_dir, aspect)
    records += [("participant_hand_scale", str(p), round(v, 4)) for p, v in scales.sort_index().items()]
    for q in QUANTILES:
        records.append(("length_quantile", f"{q:.2f}", float(np.quantile(per_file["length"], q))))
    for q in QUANTILES:
        records.append(("first_frame_quantile", f"{q:.2f}", float(np.quantile(per_file["first_frame"], q))))
    records += [("measured_rate", k, round(v, 4)) for k, v in rates.items()]
    records += [("reference_751", k, float(v)) for k, v in REFERENCE_751.items()]
    records.append(("aspect", "width_over_height", aspect))
    return pd.DataFrame(records, columns=["kind", "key", "value"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta", type=Path, required=True, help="the competition's full train.csv (94,477 rows)")
    parser.add_argument("--sample", type=Path, required=True,
                        help="folder of real landmark files in the Kaggle layout (train.csv + train_landmark_files)")
    parser.add_argument("--out", type=Path, default=TRAIN_STATS_CSV)
    args = parser.parse_args(argv)
    table = build(args.meta, args.sample)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(table)} rows, {args.out.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
