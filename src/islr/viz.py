"""Plots shared by the notebooks. Every figure carries a footer naming its data (synthetic / bundled real sample /
full Kaggle set) via :func:`finish`, and is saved under ``outputs/figures/<stage>/``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from islr import landmarks as L
from islr import paths

PART_COLORS = {"face": "0.65", "lips": "tab:red", "left_hand": "tab:blue", "pose": "tab:green",
               "right_hand": "tab:orange"}

#: MediaPipe pose connections drawn for the upper body (pose-local ids).
POSE_EDGES = ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (13, 15),
              (12, 14), (14, 16), (15, 17), (15, 19), (15, 21), (17, 19), (16, 18), (16, 20), (16, 22), (18, 20),
              (11, 23), (12, 24), (23, 24))
#: Hand connections: the five finger routes plus the palm (hand-local ids).
HAND_EDGES = tuple(map(tuple, L.HAND_BONES)) + ((5, 9), (9, 13), (13, 17))


def draw_skeleton(ax, frame: np.ndarray, title: str | None = None, alpha: float = 1.0,
                  colors: dict[str, str] | None = None, face: bool = True) -> None:
    """Draw one 543-point frame (x right, y down as in the image); NaN points are simply absent.

    Args:
        ax: matplotlib axes.
        frame: (543, 3) landmarks of one frame.
        title: axes title.
        alpha: opacity (draw two frames on one axes to compare).
        colors: per-part colour overrides (keys of :data:`PART_COLORS`).
        face: draw the 468 face-mesh points (lips are always drawn).
    """
    colors = {**PART_COLORS, **(colors or {})}
    xy = frame[:, :2]
    if face:
        ax.scatter(*xy[L.FACE].T, s=0.5, c=colors["face"], alpha=alpha)
    ax.scatter(*xy[L.LIP].T, s=3, c=colors["lips"], alpha=alpha)
    for a, b in POSE_EDGES:
        p, q = xy[L.pose_id(a)], xy[L.pose_id(b)]
        ax.plot([p[0], q[0]], [p[1], q[1]], c=colors["pose"], lw=1.5, alpha=alpha)
    for part in ("left_hand", "right_hand"):
        base = L.PART_OFFSET[part]
        for a, b in HAND_EDGES:
            p, q = xy[base + a], xy[base + b]
            ax.plot([p[0], q[0]], [p[1], q[1]], c=colors[part], lw=1.2, alpha=alpha)
        ax.scatter(*xy[base:base + 21].T, s=4, c=colors[part], alpha=alpha)
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def frame_strip(seq: np.ndarray, n: int = 8, title: str = "", face: bool = True):
    """Skeletons of ``n`` frames spread evenly over a (T, 543, 3) sequence, on shared axes limits."""
    t_idx = np.unique(np.linspace(0, len(seq) - 1, min(n, len(seq))).round().astype(int))
    fig, axes = plt.subplots(1, len(t_idx), figsize=(1.9 * len(t_idx), 3.2), squeeze=False)
    finite = seq[..., :2][np.isfinite(seq[..., :2]).all(-1)]
    lo, hi = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2), np.ones(2))
    pad = 0.05 * (hi - lo).max()
    for ax, t in zip(axes[0], t_idx):
        draw_skeleton(ax, seq[t], title=f"frame {t}", face=face)
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(hi[1] + pad, lo[1] - pad)
    fig.suptitle(title, fontsize=10)
    return fig


def finish(fig, source_label: str, stage: str | None = None, name: str | None = None) -> Path | None:
    """Add the data footer, tighten the layout and save to ``outputs/figures/<stage>/<name>.png`` if named."""
    fig.text(0.5, 0.005, f"data: {source_label}", ha="center", va="bottom", fontsize=8, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    if stage and name:
        out = paths.figures_dir(stage) / f"{name}.png"
        fig.savefig(out, dpi=110)
        return out
    return None


def plot_image(img: np.ndarray, title: str = "", axes=None, vmax: float = 3.0):
    """The CNN's (3, 160, 80) input as three panels (x, y, z): rows = time, columns = the 80 points."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(7.5, 4.2))
    for c, (ax, name) in enumerate(zip(axes, "xyz")):
        im = ax.imshow(img[c], aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{title} — {name}" if title else name, fontsize=8)
        ax.set_xlabel("point (lips | left hand | pose | right hand)", fontsize=7)
        for edge in (18, 39, 59):
            ax.axvline(edge - 0.5, color="k", lw=0.5)
        if c == 0:
            ax.set_ylabel("frame (resized to 160)")
    cax = axes[-1].inset_axes([1.04, 0.0, 0.06, 1.0])  # beside the z panel, outside tight_layout's reach
    axes[-1].figure.colorbar(im, cax=cax, label="normalised value")
    return axes


def compare_skeletons(ax, before: np.ndarray, after: np.ndarray, title: str = "") -> None:
    """One 543-point frame before (grey) and after (colour) an augmentation, on one axes."""
    grey = {k: "0.75" for k in PART_COLORS}
    draw_skeleton(ax, before, alpha=0.8, colors=grey, face=False)
    draw_skeleton(ax, after, title=title, face=False)


def plot_features(features: np.ndarray, mask: np.ndarray, title: str = "", ax=None):
    """The transformer's feature matrix of one sequence: real frames only, each of the 7 blocks scaled by its own
    99th-percentile magnitude (so distances and angles are as visible as positions), blocks labelled."""
    from islr.preprocess.transformer import FEATURE_SLICES

    ax = ax or plt.subplots(figsize=(12, 4))[1]
    n = max(int(mask.sum()), 1)
    shown = features[:n].astype(np.float64).copy()
    for sl in FEATURE_SLICES.values():
        scale = np.quantile(np.abs(shown[:, sl]), 0.99) if shown[:, sl].size else 0.0
        shown[:, sl] /= scale if scale > 0 else 1.0
    ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for k, (name, sl) in enumerate(FEATURE_SLICES.items()):
        ax.axvline(sl.start - 0.5, color="k", lw=0.6)
        ax.text((sl.start + sl.stop) / 2, -0.6 - 0.9 * (k % 2 and sl.stop - sl.start < 50), name, ha="center",
                va="bottom", fontsize=7)
    ax.set_xlabel("feature (972), each block scaled to its own 99th percentile")
    ax.set_ylabel(f"frame ({n} real of ≤ 96)")
    ax.set_title(title, fontsize=9, pad=22)
    return ax
