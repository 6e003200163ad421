"""Ensemble weights on fold-0 out-of-fold logits (docs/method.md §7 "Ensemble weights").

Prediction = ``k·cnn + (1 − k)·(b·bert + (1 − b)·deberta)`` on **raw logits** (no softmax), with k in 0..1 step
0.01 and b in 0..1 step 0.05, chosen by accuracy — the reference's grid. :func:`compare_logits_vs_probs` measures
the write-up's claim that raw logits beat softmax probabilities (~+0.01) on the same OOF rows.

Real rows first (:func:`fit_weights`): when the data mixes real recordings with synthetic sequences, the weights
that ship are chosen by accuracy on REAL rows of held-out participants, and the other OOF rows (mostly synthetic)
only break the ties among grid points that score the same on the real rows (with a few dozen real rows, many do).
The reference had only real data, where both sets are real and the rule reduces to its grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import log_softmax, softmax

from islr.runs import load_oof

K_GRID = np.round(np.arange(0, 101) / 100, 2)
B_GRID = np.round(np.arange(0, 21) / 20, 2)


@dataclass
class EnsembleWeights:
    """The chosen weights, the accuracy they reach and the whole grid (rows = k, columns = b).

    ``accuracy`` and ``grid`` are on the rows that decide (the real rows when there are any, see
    :func:`fit_weights`); ``rows`` says in words which rows the weights were fitted on.
    """

    k: float
    b: float
    accuracy: float
    grid: np.ndarray
    rows: str = ""
    n_real: int = 0
    n_other: int = 0
    other_accuracy: float = float("nan")
    other_grid: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, float]:
        """Per-model weights of the weighted sum: cnn, bert, deberta."""
        return {"cnn": self.k, "bert": (1 - self.k) * self.b, "deberta": (1 - self.k) * (1 - self.b)}


def aligned_oof(run_dirs: dict[str, str | Path]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Load the OOF logits of several model folders (:func:`islr.runs.load_oof`) and keep the rows (sequence
    indices) they all share, in one order.

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


def accuracy_grid(cnn: np.ndarray, bert: np.ndarray, deberta: np.ndarray, labels: np.ndarray,
                  probabilities: bool = False) -> np.ndarray:
    """Number of rows right at every (k, b) of the grid: (len(K_GRID), len(B_GRID)) int.

    Args:
        cnn, bert, deberta: (N, C) logits of the same rows.
        labels: (N,) true labels.
        probabilities: combine softmax probabilities instead of raw logits (for the comparison only).
    """
    if probabilities:
        cnn, bert, deberta = (softmax(a, axis=1) for a in (cnn, bert, deberta))
    right = np.zeros((len(K_GRID), len(B_GRID)), dtype=np.int64)
    for j, b in enumerate(B_GRID):
        trans = b * bert + (1 - b) * deberta  # (N, C)
        for i, k in enumerate(K_GRID):
            right[i, j] = int(((k * cnn + (1 - k) * trans).argmax(1) == labels).sum())
    return right


def mean_log_likelihood(logits: dict[str, np.ndarray], labels: np.ndarray, k: float, b: float) -> float:
    """Mean log-softmax of the true label under the ensemble ``k·cnn + (1 − k)·(b·bert + (1 − b)·deberta)``."""
    z = k * logits["cnn"] + (1 - k) * (b * logits["bert"] + (1 - b) * logits["deberta"])
    return float(log_softmax(z, axis=1)[np.arange(len(labels)), labels].mean())


def grid_search(cnn: np.ndarray, bert: np.ndarray, deberta: np.ndarray, labels: np.ndarray,
                probabilities: bool = False) -> EnsembleWeights:
    """Accuracy of every (k, b) on the grid; the best (first in grid order on ties).

    Args:
        cnn, bert, deberta: (N, C) logits of the same rows.
        labels: (N,) true labels.
        probabilities: combine softmax probabilities instead of raw logits (for the comparison only).
    """
    grid = accuracy_grid(cnn, bert, deberta, labels, probabilities) / max(len(labels), 1)
    i, j = np.unravel_index(np.argmax(grid), grid.shape)
    return EnsembleWeights(float(K_GRID[i]), float(B_GRID[j]), float(grid[i, j]), grid,
                           rows=f"{len(labels)} OOF rows", n_other=len(labels), other_accuracy=float(grid[i, j]),
                           other_grid=grid)


def fit_weights(real: tuple[dict[str, np.ndarray], np.ndarray] | None,
                other: tuple[dict[str, np.ndarray], np.ndarray] | None,
                real_name: str = "real held-out rows", other_name: str = "other OOF rows") -> EnsembleWeights:
    """Real rows first: the grid point with the most real rows right; ties broken on the real rows, then the others.

    The score of a grid point is lexicographic: (real rows right, the real rows' mean log-probability of their true
    sign (:func:`mean_log_likelihood`, equal within float rounding counts as a tie), other rows right), then the
    first in grid order. A handful of real rows that every member gets right thus still choose by how sure the
    ensemble is of them, not by the synthetic rows. With no real rows it is the plain grid on the other rows
    (:func:`grid_search`).

    Args:
        real: ({"cnn", "bert", "deberta": (N_r, C) logits}, (N_r,) labels) of real recordings of participants the
            models did not train on, or None.
        other: the same for the remaining OOF rows (e.g. synthetic), or None.
        real_name, other_name: how ``rows`` names the two sets.

    Returns:
        :class:`EnsembleWeights` whose ``accuracy``/``grid`` are on the real rows (if any) and ``other_accuracy``/
        ``other_grid`` on the others.
    """
    def counts(part):
        if part is None or len(part[1]) == 0:
            return None, 0
        logits, y = part
        return accuracy_grid(logits["cnn"], logits["bert"], logits["deberta"], np.asarray(y)), len(y)

    real_right, n_real = counts(real)
    other_right, n_other = counts(other)
    if real_right is None and other_right is None:
        raise ValueError("no rows to fit the ensemble weights on")
    zero = np.zeros((len(K_GRID), len(B_GRID)), dtype=np.int64)
    r = real_right if real_right is not None else zero
    o = other_right if other_right is not None else zero
    tied = r == r.max()
    if n_real and tied.sum() > 1:
        # A few real rows often leave many grid points equally right (every member right on every row). Among
        # those, the one that gives the true signs of the real rows the highest mean log-probability decides; the
        # other rows only separate points equal on both (within float rounding).
        ll = np.full(r.shape, -np.inf)
        for i, j in zip(*np.nonzero(tied)):
            ll[i, j] = mean_log_likelihood(real[0], np.asarray(real[1]), K_GRID[i], B_GRID[j])
        tied &= ll >= ll.max() - 1e-6 * (1.0 + abs(ll.max()))
    score = np.where(tied, o, -1)
    i, j = np.unravel_index(np.argmax(score), score.shape)  # the first in grid order on ties
    real_grid = r / n_real if n_real else None
    other_grid = o / n_other if n_other else None
    if n_real:
        rows = (f"fitted on {n_real} {real_name}; ties broken by their mean log-probability of the true sign"
                + (f", then by {n_other} {other_name}" if n_other else ""))
    else:
        rows = f"fitted on {n_other} {other_name} (no real rows)"
    main = real_grid if n_real else other_grid
    return EnsembleWeights(float(K_GRID[i]), float(B_GRID[j]), float(main[i, j]), main, rows=rows, n_real=n_real,
                           n_other=n_other, other_accuracy=float(other_grid[i, j]) if n_other else float("nan"),
                           other_grid=other_grid)


def real_rows(prepared, source) -> np.ndarray:
    """(N,) bool over a prepared dataset: True where the sequence is a real recording (:func:`islr.data.real_ids_of`;
    every row of a real folder, the bundled-sample rows of the embedded default)."""
    from islr.data import real_ids_of

    ids = real_ids_of(source)
    seq = np.asarray(prepared.sequence_ids)
    return np.ones(len(seq), bool) if ids is None else np.isin(seq, np.fromiter(ids, np.int64))


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
    ax.figure.colorbar(im, ax=ax, label="real held-out accuracy" if weights.n_real else "OOF accuracy")
    ax.set_title(title or f"ensemble weight grid (raw logits), {weights.rows}", fontsize=9)
    return ax
