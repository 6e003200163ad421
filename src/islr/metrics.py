"""Scores from logits: top-k, accuracies of out-of-fold logits, per-class accuracy, confused pairs, training curves.

:func:`topk_indices` is the one top-k of the project (ties broken towards the lower class id, so ``k = 1`` agrees
with ``argmax``): :func:`topk_accuracy` is built on it, and so are ``islr predict``'s and ``islr evaluate``'s top-5
and the benchmarks' accuracies. :func:`topk_accuracy` is the one top-k accuracy: the training loop's per-epoch
``top1`` / ``top3`` and every table computed from a run's OOF logits use it. Runs are read through
:mod:`islr.runs`, imported by the functions that read them (so ``islr predict`` can use the top-k without torch);
matplotlib is imported by the plotting functions only, so the training loop can use this module without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Class ids of the ``k`` largest scores, best first; equal scores in class-id order, NaN scores last.

    Args:
        scores: (C,) or (N, C) scores (logits or probabilities).
        k: how many (at most C).

    Returns:
        (k,) or (N, k) int64.
    """
    scores = np.asarray(scores)
    # A stable sort of the negated scores: equal scores keep their class order, NaN (unordered) goes last.
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k].astype(np.int64, copy=False)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of rows whose label is among the ``k`` largest logits (:func:`topk_indices`; NaN for no rows).

    A row with a NaN score is wrong (a diverged model must not score).

    Args:
        logits: (N, C) scores.
        labels: (N,) true class ids.
        k: how many of the largest scores count.
    """
    logits, labels = np.asarray(logits), np.asarray(labels).astype(np.int64)
    if len(labels) == 0:
        return float("nan")
    hit = (topk_indices(logits, k) == labels[:, None]).any(1)
    return float((hit & ~np.isnan(logits).any(1)).mean())


def per_class_accuracy(logits: np.ndarray, labels: np.ndarray, sign_names: dict[int, str]) -> pd.DataFrame:
    """Top-1 accuracy and support per class present in ``labels``, worst first."""
    pred = logits.argmax(1)
    df = pd.DataFrame({"label": labels, "correct": pred == labels})
    out = df.groupby("label")["correct"].agg(accuracy="mean", n="size").reset_index()
    out["sign"] = out["label"].map(sign_names)
    return out.sort_values(["accuracy", "n"], ascending=[True, False]).reset_index(drop=True)


def confused_pairs(logits: np.ndarray, labels: np.ndarray, sign_names: dict[int, str], top: int = 15
                   ) -> pd.DataFrame:
    """The most frequent (true → predicted) mistakes, counted in both directions per unordered pair."""
    pred = logits.argmax(1)
    wrong = pred != labels
    a, b = np.minimum(labels[wrong], pred[wrong]), np.maximum(labels[wrong], pred[wrong])
    if not len(a):
        return pd.DataFrame(columns=["sign_a", "sign_b", "mistakes"])
    pairs = pd.DataFrame({"a": a, "b": b}).value_counts().head(top).reset_index(name="mistakes")
    pairs["sign_a"] = pairs["a"].map(sign_names)
    pairs["sign_b"] = pairs["b"].map(sign_names)
    return pairs[["sign_a", "sign_b", "mistakes"]]


def summarize(run_dir: str | Path, labels_all: np.ndarray) -> dict[str, float]:
    """Top-1/top-3 accuracy of a run's OOF logits, the chance level, and the number of validation sequences."""
    from islr import runs

    logits, index = runs.load_oof(run_dir)
    y = np.asarray(labels_all)[index]
    n_classes_seen = len(np.unique(np.asarray(labels_all)))
    return {"top1": topk_accuracy(logits, y, 1), "top3": topk_accuracy(logits, y, 3), "n_valid": int(len(y)),
            "chance_top1": 1.0 / max(n_classes_seen, 1)}


def plot_curves(folders: dict[str, str | Path], axes=None):
    """Training loss, validation loss and validation top-1 per epoch for several runs (from metrics.csv)."""
    import matplotlib.pyplot as plt

    from islr import runs

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for name, folder in folders.items():
        m = runs.load_metrics(folder)
        axes[0].plot(m["epoch"], m["train_loss"], marker=".", label=name)
        axes[1].plot(m["epoch"], m["valid_loss"], marker=".", label=name)
        axes[2].plot(m["epoch"], m["top1"], marker=".", label=name)
    for ax, title in zip(axes, ("training loss (weighted, smoothed)", "validation CE", "validation top-1")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    return axes


def plot_per_class(per_class: pd.DataFrame, n: int = 25, ax=None):
    """Bars of the ``n`` worst and ``n`` best classes by top-1 accuracy."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(12, 3.4))[1]
    shown = pd.concat([per_class.head(n), per_class.tail(n)]).drop_duplicates("label")
    ax.bar(range(len(shown)), shown["accuracy"], color=np.where(shown["accuracy"] < 0.5, "tab:red", "tab:blue"))
    ax.set_xticks(range(len(shown)), [f"{s} ({k})" for s, k in zip(shown["sign"], shown["n"])], rotation=90,
                  fontsize=6)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"per-class accuracy: {min(n, len(per_class))} worst and best of {len(per_class)} classes "
                 "(validation count in brackets)", fontsize=9)
    return ax


def plot_confused(pairs: pd.DataFrame, ax=None):
    """Horizontal bars of the most confused sign pairs."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    labels = [f"{a} ↔ {b}" for a, b in zip(pairs["sign_a"], pairs["sign_b"])]
    ax.barh(range(len(pairs)), pairs["mistakes"], color="tab:orange")
    ax.set_yticks(range(len(pairs)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mistakes (both directions)")
    ax.set_title("most confused sign pairs", fontsize=9)
    return ax


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Rows binned by the confidence of their top answer (``bins`` equal-width bins over [0, 1]): per non-empty
    bin its count, mean confidence and accuracy — the points of a reliability diagram."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, bool)
    which = np.clip((confidence * bins).astype(int), 0, bins - 1)
    rows = [{"bin": b, "lo": b / bins, "hi": (b + 1) / bins, "n": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()), "accuracy": float(correct[which == b].mean())}
            for b in range(bins) if (which == b).any()]
    return pd.DataFrame(rows, columns=["bin", "lo", "hi", "n", "confidence", "accuracy"])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over the :func:`reliability` bins (0 =
    perfectly calibrated; NaN for no rows)."""
    table = reliability(confidence, correct, bins)
    if table.empty:
        return float("nan")
    return float((table["n"] * (table["confidence"] - table["accuracy"]).abs()).sum() / table["n"].sum())
