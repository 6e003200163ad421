"""Exploratory statistics of a prepared dataset (notebook 00_eda): one row per sequence, then plots from it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from islr import landmarks as L
from islr.progress import progress_bar

PART_NAMES = ("face", "left_hand", "pose", "right_hand")


def sequence_table(prepared, real_ids: set[int] | None = None, show_progress: bool = True) -> pd.DataFrame:
    """One row per sequence: ids, sign, length and the share of frames in which each part is entirely missing.

    Args:
        prepared: an :class:`islr.prepare.Prepared`.
        real_ids: sequence ids of real recordings (the rest are labelled "synthetic"); None = all real.
        show_progress: tqdm bar.

    Returns:
        DataFrame with sequence_id, participant_id, sign, label, length, source and ``missing_<part>`` columns.
    """
    stored = np.asarray(prepared.point_ids)
    part_cols = {}
    for name in PART_NAMES:
        sl = L.PART_SLICE[name]
        cols = np.nonzero((stored >= sl.start) & (stored < sl.stop))[0]
        if len(cols):
            part_cols[name] = cols
    rows = {f"missing_{p}": np.zeros(len(prepared)) for p in part_cols}
    for i in progress_bar(range(len(prepared)), desc="sequence stats", disable=not show_progress):
        seq = prepared.sequence(i)  # (T, P, 3)
        nan_point = np.isnan(seq).all(-1)  # (T, P)
        for p, cols in part_cols.items():
            rows[f"missing_{p}"][i] = nan_point[:, cols].all(1).mean()
    df = pd.DataFrame({
        "sequence_id": np.asarray(prepared.sequence_ids),
        "participant_id": np.asarray(prepared.participant_ids),
        "sign": np.asarray(prepared.signs),
        "label": np.asarray(prepared.labels),
        "length": np.asarray(prepared.lengths),
        **rows,
    })
    df["source"] = "real" if real_ids is None else np.where(df.sequence_id.isin(real_ids), "real", "synthetic")
    return df


def frame_missing_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Share of FRAMES (not sequences) with each part entirely missing, per source (frames weighted by length)."""
    cols = [c for c in table.columns if c.startswith("missing_")]
    out = {}
    for source, grp in table.groupby("source"):
        w = grp["length"].to_numpy(float)
        out[source] = {c.removeprefix("missing_"): float((grp[c] * w).sum() / w.sum()) for c in cols}
    return pd.DataFrame(out)


def plot_counts(counts: pd.Series, title: str, top: int = 40, ax=None):
    """Bar chart of the ``top`` largest counts, with the min/median/max of all counts in the title."""
    ax = ax or plt.subplots(figsize=(12, 3.2))[1]
    shown = counts.sort_values(ascending=False).head(top)
    ax.bar(range(len(shown)), shown.to_numpy(), color="tab:blue")
    ax.set_xticks(range(len(shown)), [str(s) for s in shown.index], rotation=90, fontsize=7)
    ax.set_ylabel("sequences")
    ax.set_title(f"{title} — {len(counts)} values; min {counts.min()}, median {counts.median():g}, "
                 f"max {counts.max()} (top {len(shown)} shown)", fontsize=9)
    return ax


def plot_lengths(table: pd.DataFrame, ax=None, max_len: int = 300):
    """Histogram of sequence lengths per source, with the 96/160 frame limits of the models marked."""
    ax = ax or plt.subplots(figsize=(7, 3.2))[1]
    bins = np.arange(0, max_len + 5, 5)
    for source, grp in table.groupby("source"):
        ax.hist(grp["length"].clip(upper=max_len), bins=bins, alpha=0.6, density=True,
                label=f"{source} (n={len(grp)}, median {grp['length'].median():g})")
    for x, name in ((96, "transformer 96"), (160, "CNN 160")):
        ax.axvline(x, color="k", ls="--", lw=0.8)
        ax.text(x, ax.get_ylim()[1] * 0.9, f" {name}", fontsize=7)
    ax.set_xlabel("frames per sequence")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_missing(rates: pd.DataFrame, ax=None):
    """Grouped bars: share of frames with each part missing, per source."""
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    rates.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("share of frames with the part missing")
    ax.set_ylim(0, 1)
    return ax


def full_sequence(prepared, i: int) -> np.ndarray:
    """Sequence ``i`` as (T, 543, 3), NaN where a landmark was not stored (prepared with points="model")."""
    seq = prepared.sequence(i)
    if seq.shape[1] == L.N_LANDMARKS:
        return seq
    out = np.full((seq.shape[0], L.N_LANDMARKS, 3), np.nan, np.float32)
    out[:, np.asarray(prepared.point_ids)] = seq
    return out


def pick_sequence(table: pd.DataFrame, sign: str | None = None, source: str = "real") -> int:
    """Row index of a representative sequence: of ``sign`` and ``source`` where the table has such rows (else any),
    with the median length among them."""
    rows = table
    if sign is not None and (rows.sign == sign).any():
        rows = rows[rows.sign == sign]
    if (rows.source == source).any():
        rows = rows[rows.source == source]
    order = (rows["length"] - rows["length"].median()).abs().sort_values()
    return int(order.index[0])
