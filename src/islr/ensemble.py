"""Ensemble weights on fold-0 out-of-fold logits (METHOD_FACTS §7 "Ensemble weights").

Prediction = ``k·cnn + (1 − k)·(b·bert + (1 − b)·deberta)`` on **raw logits** (no softmax), with k in 0..1 step
0.01 and b in 0..1 step 0.05, chosen by accuracy — the reference's grid. :func:`compare_logits_vs_probs` measures
the write-up's claim that raw logits beat softmax probabilities (~+0.01) on the same OOF rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islr.evaluation import load_oof

K_GRID = np.round(np.arange(0, 101) / 100, 2)
B_GRID = np.round(np.arange(0, 21) / 20, 2)


@dataclass
class EnsembleWeights:
    """The chosen weights, the accuracy they reach and the whole grid (rows = k, columns = b)."""

    k: float
    b: float
    accuracy: float
    grid: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """Per-model weights of the weighted sum: cnn, bert, deberta."""
        return {"cnn": self.k, "bert": (1 - self.k) * self.b, "deberta": (1 - self.k) * (1 - self.b)}


def aligned_oof(run_dirs: dict[str, str | Path]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Load the OOF logits of several runs and keep the rows (sequence indices) they all share, in one order.

    Returns:
        ({name: (N, C) logits}, (N,) sequence indices).
    """
    loaded = {name: load_oof(run) for name, run in run_dirs.items()}
    common = sorted(set.intersection(*(set(idx.tolist()) for _, idx in loaded.values())))
    if not common:
        raise ValueError(f"the runs {sorted(run_dirs)} share no validation sequence (different folds/splits?)")
    common = np.asarray(common)
    out = {}
    for name, (logits, idx) in loaded.items():
        pos = {int(i): r for r, i in enumerate(idx)}
        out[name] = logits[[pos[int(i)] for i in common]]
    return out, common


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def grid_search(cnn: np.ndarray, bert: np.ndarray, deberta: np.ndarray, labels: np.ndarray,
                probabilities: bool = False) -> EnsembleWeights:
    """Accuracy of every (k, b) on the grid; the best (first in grid order on ties).

    Args:
        cnn, bert, deberta: (N, C) logits of the same rows.
        labels: (N,) true labels.
        probabilities: combine softmax probabilities instead of raw logits (for the comparison only).
    """
    if probabilities:
        cnn, bert, deberta = _softmax(cnn), _softmax(bert), _softmax(deberta)
    grid = np.zeros((len(K_GRID), len(B_GRID)))
    for j, b in enumerate(B_GRID):
        trans = b * bert + (1 - b) * deberta  # (N, C)
        for i, k in enumerate(K_GRID):
            grid[i, j] = ((k * cnn + (1 - k) * trans).argmax(1) == labels).mean()
    i, j = np.unravel_index(np.argmax(grid), grid.shape)
    return EnsembleWeights(float(K_GRID[i]), float(B_GRID[j]), float(grid[i, j]), grid)


def compare_logits_vs_probs(cnn, bert, deberta, labels) -> dict[str, float]:
    """Best grid accuracy when combining raw logits vs softmax probabilities, on the same rows."""
    return {"logits": grid_search(cnn, bert, deberta, labels).accuracy,
            "probabilities": grid_search(cnn, bert, deberta, labels, probabilities=True).accuracy}


def plot_grid(weights: EnsembleWeights, ax=None, title: str = ""):
    """Heat map of the accuracy grid (CNN share k vs BERT share b), the chosen point marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4.5))[1]
    im = ax.imshow(weights.grid, aspect="auto", origin="lower", cmap="viridis",
                   extent=(B_GRID[0] - 0.025, B_GRID[-1] + 0.025, K_GRID[0] - 0.005, K_GRID[-1] + 0.005))
    ax.plot(weights.b, weights.k, "r*", ms=12, label=f"k={weights.k:.2f}, b={weights.b:.2f}: {weights.accuracy:.4f}")
    ax.set_xlabel("b: BERT share of the transformer part")
    ax.set_ylabel("k: CNN share")
    ax.legend(fontsize=8, loc="upper right")
    ax.figure.colorbar(im, ax=ax, label="fold-0 accuracy")
    ax.set_title(title or "ensemble weight grid (raw logits)", fontsize=9)
    return ax
