"""Cross-validation folds (docs/method.md §5 "Folds").

* :func:`random_folds` — the reference split: ``StratifiedKFold(8, shuffle=True, random_state=42)`` stratified on the
  sign, over the samples in the order given (train.csv order for the real data). On the full 94,477 sequences fold 0
  holds 11,810 samples and folds 5–7 hold 11,809, as in the reference.
* :func:`participant_folds` — folds grouped by participant (no participant in two folds), stratified on the sign as
  far as the groups allow. A harder, leak-free estimate of generalisation to new signers.
* :func:`fold_indices` — train / valid index arrays of one fold; fold ``-1`` (or ``"all"``) means full-data
  training with an **empty** validation set: the reference trained its transformers on all data (§0), and any
  holdout carved out of "all" would no longer be all. A caller that wants a progress signal during a full-data run
  may evaluate on a fold that is inside the training data, but must not select checkpoints on it.

Tiny data (the smoke profile has 1–2 sequences per sign): when every class has fewer members than ``n_folds``,
sklearn refuses to stratify. :func:`random_folds` then warns and falls back to a round-robin stratification of its
own (each class shuffled with ``seed``, its members dealt to consecutive folds), which keeps fold sizes within one
sample of each other and never puts two members of a class in the same fold while folds remain.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

FULL_DATA = -1


#: The split kinds :func:`make_folds` builds.
KINDS = ("random", "participant")


def random_folds(labels: np.ndarray | list, n_folds: int = 8, seed: int = 42) -> np.ndarray:
    """Fold id of every sample from a stratified shuffled K-fold split (the reference split).

    Args:
        labels: (N,) class of every sample (sign strings or label ids; stratifying on either gives the same folds).
        n_folds: number of folds.
        seed: ``random_state`` of the shuffle.

    Returns:
        (N,) int64 fold ids in ``[0, n_folds)``, in the order of ``labels``.

    Raises:
        ValueError: fewer samples than folds.
    """
    labels = np.asarray(labels)
    _check_size(len(labels), n_folds, "samples")
    _, counts = np.unique(labels, return_counts=True)
    if counts.max() < n_folds:
        warnings.warn(f"random_folds: every class has fewer than n_folds={n_folds} samples (largest class: "
                      f"{counts.max()}); sklearn cannot stratify this, using a round-robin stratified split instead",
                      UserWarning, stacklevel=2)
        return _round_robin_folds(labels, n_folds, seed)
    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only k members": expected on small data, the split is still valid.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, valid_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            folds[valid_idx] = fold
    return folds


def participant_folds(participant_ids: np.ndarray | list, labels: np.ndarray | list, n_folds: int = 8,
                      seed: int = 42) -> np.ndarray:
    """Fold id of every sample, with all samples of one participant in the same fold.

    Uses ``StratifiedGroupKFold`` (groups = participants, stratified on ``labels`` as far as the groups allow).

    Args:
        participant_ids: (N,) participant of every sample.
        labels: (N,) class of every sample.
        n_folds: number of folds; must not exceed the number of participants.
        seed: ``random_state`` of the shuffle.

    Returns:
        (N,) int64 fold ids in ``[0, n_folds)``.

    Raises:
        ValueError: fewer participants than folds (a fold would be empty), or mismatched lengths.
    """
    groups = np.asarray(participant_ids)
    labels = np.asarray(labels)
    if len(groups) != len(labels):
        raise ValueError(f"participant_folds: {len(groups)} participant ids but {len(labels)} labels")
    _check_size(len(np.unique(groups)), n_folds, "participants")
    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, valid_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            folds[valid_idx] = fold
    return folds


def make_folds(kind: str, labels: np.ndarray | list, participant_ids: np.ndarray | list | None = None,
               n_folds: int = 8, seed: int = 42) -> np.ndarray:
    """Dispatch on ``SplitConfig.kind``: ``"random"`` → :func:`random_folds`, ``"participant"`` →
    :func:`participant_folds`.

    Args:
        kind: "random" | "participant".
        labels: (N,) class of every sample.
        participant_ids: (N,) participant of every sample (required for "participant").
        n_folds: number of folds.
        seed: shuffle seed.

    Returns:
        (N,) int64 fold ids.
    """
    if kind == "random":
        return random_folds(labels, n_folds, seed)
    if kind == "participant":
        if participant_ids is None:
            raise ValueError("make_folds: kind='participant' needs participant_ids")
        return participant_folds(participant_ids, labels, n_folds, seed)
    raise ValueError(f"unknown split kind {kind!r}; choose one of {KINDS}")


def fold_indices(folds: np.ndarray, fold: int | str) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation sample indices of one fold.

    Args:
        folds: (N,) fold id of every sample (from :func:`random_folds` / :func:`participant_folds`).
        fold: the validation fold; ``-1`` or ``"all"`` = full-data training (valid is empty, see module docstring).

    Returns:
        ``(train_idx, valid_idx)``, sorted int64 arrays.
    """
    folds = np.asarray(folds)
    if fold == "all" or fold == FULL_DATA:
        return np.arange(len(folds), dtype=np.int64), np.zeros(0, dtype=np.int64)
    if isinstance(fold, str) or not 0 <= int(fold) <= int(folds.max()):
        raise ValueError(f"fold {fold!r} out of range: folds are 0..{int(folds.max())}, or -1 / 'all' for full data")
    valid = folds == int(fold)
    return np.flatnonzero(~valid).astype(np.int64), np.flatnonzero(valid).astype(np.int64)


def _check_size(n: int, n_folds: int, what: str) -> None:
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"cannot split {n} {what} into {n_folds} non-empty folds; use fewer folds")


def _round_robin_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Stratified folds for classes smaller than ``n_folds``.

    Classes are visited in a seeded random order, each class's members in a seeded random order, and the members
    are dealt to folds 0, 1, 2, … continuing where the previous class stopped: fold sizes differ by at most one and a
    class of k ≤ n_folds members lands in k different folds.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    folds = np.empty(len(labels), dtype=np.int64)
    cursor = 0
    for cls in rng.permutation(classes):
        members = rng.permutation(np.flatnonzero(labels == cls))
        folds[members] = (cursor + np.arange(len(members))) % n_folds
        cursor += len(members)
    return folds


def chain_kinds(split_cfg) -> tuple[str, ...]:
    """The split kinds whose fold 0 the notebook chain trains (02/03): ``split.kind`` first, then the other kind
    when ``split.compare``.

    Args:
        split_cfg: :class:`islr.config.SplitConfig`.
    """
    if split_cfg.kind not in KINDS:
        raise ValueError(f"unknown split kind {split_cfg.kind!r}; choose one of {KINDS}")
    other = tuple(k for k in KINDS if k != split_cfg.kind)
    return (split_cfg.kind,) + (other if split_cfg.compare else ())
