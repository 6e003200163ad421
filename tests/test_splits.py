"""Cross-validation folds: sizes, stratification, participant disjointness, determinism, tiny data."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from islr.splits import fold_indices, make_folds, participant_folds, random_folds

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _toy_labels(n_classes=10, per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(n_classes), per_class))


def test_random_folds_sizes_and_stratification():
    labels = _toy_labels()
    folds = random_folds(labels, n_folds=8, seed=42)
    assert folds.shape == labels.shape and folds.dtype == np.int64
    assert np.bincount(folds).tolist() == [50] * 8
    # 40 members per class over 8 folds: exactly 5 of each class in each fold.
    for cls in range(10):
        assert np.bincount(folds[labels == cls], minlength=8).tolist() == [5] * 8


def test_random_folds_deterministic_and_seed_dependent():
    labels = _toy_labels()
    assert np.array_equal(random_folds(labels, 8, 42), random_folds(labels, 8, 42))
    assert not np.array_equal(random_folds(labels, 8, 42), random_folds(labels, 8, 7))


def test_random_folds_reproduce_the_reference_split_of_the_real_train_csv():
    # The labels of the real train.csv (94,477 rows, file order) and the digest of the fold ids that the reference's
    # StratifiedKFold(8, shuffle=True, random_state=42) gives on them; made by scripts/make_split_fixture.py.
    labels = np.load(FIXTURES / "reference_split.npz")["labels"]
    reference = json.loads((FIXTURES / "reference_split.json").read_text())
    assert len(labels) == reference["rows"] == 94477
    folds = random_folds(labels, 8, 42)
    # docs/method.md §5: fold 0 holds 11,810 samples (train 82,667), folds 5-7 hold 11,809.
    assert np.bincount(folds).tolist() == reference["fold_sizes"] == [11810] * 5 + [11809] * 3
    train_idx, valid_idx = fold_indices(folds, 0)
    assert (len(train_idx), len(valid_idx)) == (82667, 11810)
    # The assignment itself, not only the sizes (any K-fold of 94,477 samples has these sizes).
    assert hashlib.sha256(folds.astype("<i8").tobytes()).hexdigest() == reference["fold_ids_sha256"]
    # Stratified: every sign is spread over the folds within one sample.
    per_fold = np.stack([np.bincount(labels[folds == k], minlength=250) for k in range(8)])  # (8, 250)
    assert (per_fold.max(0) - per_fold.min(0)).max() <= 1


def test_random_folds_tiny_data_falls_back_with_warning():
    labels = np.repeat(np.arange(250), 2)[:-3]  # 1-2 sequences per sign, like the smoke data
    with pytest.warns(UserWarning, match="round-robin"):
        folds = random_folds(labels, 8, 42)
    counts = np.bincount(folds, minlength=8)
    assert counts.max() - counts.min() <= 1 and counts.sum() == len(labels)
    for cls in range(250):  # a class of two never has both members in one fold
        members = folds[labels == cls]
        assert len(set(members.tolist())) == len(members)
    with pytest.warns(UserWarning):
        assert np.array_equal(folds, random_folds(labels, 8, 42))


def test_random_folds_rejects_fewer_samples_than_folds():
    with pytest.raises(ValueError, match="non-empty folds"):
        random_folds(np.arange(5), 8)


def test_participant_folds_are_disjoint_and_cover_everything():
    rng = np.random.default_rng(1)
    participants = rng.integers(0, 21, size=600)
    labels = rng.integers(0, 12, size=600)
    folds = participant_folds(participants, labels, n_folds=8, seed=42)
    assert set(folds.tolist()) == set(range(8))
    for p in np.unique(participants):
        assert len(np.unique(folds[participants == p])) == 1, f"participant {p} is in two folds"
    assert np.array_equal(folds, participant_folds(participants, labels, 8, 42))
    assert np.array_equal(folds, make_folds("participant", labels, participants, 8, 42))


def test_participant_folds_need_enough_participants():
    with pytest.raises(ValueError, match="participants"):
        participant_folds(np.array([1, 1, 2, 2, 3, 3]), np.array([0, 1, 0, 1, 0, 1]), n_folds=4)


def test_fold_indices_partition_and_full_data():
    folds = random_folds(_toy_labels(), 8, 42)
    train_idx, valid_idx = fold_indices(folds, 3)
    assert np.array_equal(np.sort(np.concatenate([train_idx, valid_idx])), np.arange(len(folds)))
    assert np.all(folds[valid_idx] == 3) and np.all(folds[train_idx] != 3)
    for full in (-1, "all"):
        train_idx, valid_idx = fold_indices(folds, full)
        assert np.array_equal(train_idx, np.arange(len(folds))) and len(valid_idx) == 0
    with pytest.raises(ValueError):
        fold_indices(folds, 8)
    with pytest.raises(ValueError):
        make_folds("by_moon", _toy_labels())


def test_chain_kinds_follow_split_kind_and_compare():
    from islr.config import get_config
    from islr.splits import chain_kinds

    assert chain_kinds(get_config("full").split) == ("random", "participant")  # the reference's split ships
    assert chain_kinds(get_config("default").split) == ("participant",)  # held-out real signers choose the weights
    assert chain_kinds(get_config("default", {"split.compare": True}).split) == ("participant", "random")
    with pytest.raises(ValueError, match="unknown split kind"):
        chain_kinds(get_config("default", {"split.kind": "signer"}).split)
