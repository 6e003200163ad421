"""The source-balanced training sampler (islr.data.SourceBalancedSampler): exact per-epoch proportions."""

import numpy as np
import pytest
import torch

from islr.config import get_config
from islr.data import LengthGroupedSampler, SourceBalancedSampler, is_real, training_sampler
from islr.synth import SYNTH_SEQUENCE_ID_BASE
from islr.train.loop import make_loader


def _real_mask(n_real: int, n_synth: int) -> np.ndarray:
    mask = np.zeros(n_real + n_synth, bool)
    mask[np.random.default_rng(0).choice(len(mask), n_real, replace=False)] = True  # real rows scattered
    return mask


def test_exact_share_and_even_oversampling_of_real_rows():
    real = _real_mask(7, 93)  # 100 items, 7 real
    sampler = SourceBalancedSampler(real, real_share=0.3, seed=5)
    draws = sampler.draws()
    counts = np.bincount(draws, minlength=100)
    assert len(draws) == len(sampler) == 100  # the epoch keeps its length
    assert counts[real].sum() == 30  # exactly round(0.3 * 100) real draws
    # 30 draws over 7 real rows: every real row 4 or 5 times (30 = 4·7 + 2), never clumped
    assert sorted(counts[real].tolist()) == [4, 4, 4, 4, 4, 5, 5]
    # 70 synthetic draws without replacement: 70 distinct synthetic rows, 23 of 93 unseen this epoch
    assert counts[~real].max() == 1 and counts[~real].sum() == 70


def test_order_depends_only_on_seed_and_epoch():
    real = _real_mask(10, 50)
    a, b = SourceBalancedSampler(real, 0.5, seed=1), SourceBalancedSampler(real, 0.5, seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(SourceBalancedSampler(real, 0.5, seed=2)) != list(SourceBalancedSampler(real, 0.5, seed=1))


def test_ranks_split_one_epoch_between_them():
    real = _real_mask(5, 26)  # 31 draws: padded to 32 by wrapping, 16 per rank
    ranks = [SourceBalancedSampler(real, 0.5, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    full = SourceBalancedSampler(real, 0.5, seed=3).draws()
    parts = [list(s) for s in ranks]
    assert [len(p) for p in parts] == [len(s) for s in ranks] == [16, 16]
    assert parts[0] == full[0::2].tolist() and parts[1] == full[1::2].tolist() + [full[0]]


def test_single_source_is_a_plain_shuffle():
    for mask in (np.ones(12, bool), np.zeros(12, bool)):
        draws = SourceBalancedSampler(mask, 0.3, seed=0).draws()
        assert sorted(draws.tolist()) == list(range(12))


def test_bad_share_is_an_error():
    with pytest.raises(ValueError, match="real_share"):
        SourceBalancedSampler(np.ones(3, bool), 1.5)


def test_training_sampler_from_config_and_loader_uses_it():
    class Fake:
        sequence_ids = np.array([5, 6, SYNTH_SEQUENCE_ID_BASE, SYNTH_SEQUENCE_ID_BASE + 1,
                                 SYNTH_SEQUENCE_ID_BASE + 2, SYNTH_SEQUENCE_ID_BASE + 3])

    assert is_real(Fake.sequence_ids).tolist() == [True, True, False, False, False, False]
    idx = np.array([0, 2, 3, 4, 5])  # one real, four synthetic training rows
    assert training_sampler(get_config("default", {"data.real_share": 0.0}), Fake, idx, seed=0) is None
    assert training_sampler(get_config("default"), Fake, np.array([2, 3]), seed=0) is None  # synthetic only
    sampler = training_sampler(get_config("default", {"data.real_share": 0.4}), Fake, idx, seed=0)
    assert sampler.real_rows.tolist() == [0] and sampler.n_real_draws == 2  # round(0.4 · 5)
    loader = make_loader(list(range(5)), 5, train=True, sampler=sampler, collate_fn=torch.tensor)
    (batch,) = list(loader)
    assert (batch == 0).sum().item() == 2  # the one real row, twice in the epoch's only batch


def test_length_grouping_keeps_the_epochs_draws_and_sorts_each_window():
    lengths = np.random.default_rng(0).integers(1, 120, size=200)
    real = np.zeros(200, bool)
    real[:20] = True
    base = SourceBalancedSampler(real, 0.3, seed=4)
    grouped = LengthGroupedSampler(SourceBalancedSampler(real, 0.3, seed=4), lengths, batch_size=16, group=4, seed=4)
    for epoch in (0, 1):
        base.set_epoch(epoch)
        grouped.set_epoch(epoch)  # forwarded to its base
        draws, order = base.draws(), np.array(list(grouped))
        assert len(order) == len(grouped) == 200
        assert np.array_equal(np.sort(order), np.sort(draws))  # the same draws: real share unchanged
        batches = grouped.batches()
        assert [len(b) for b in batches[:-1]] == [16] * 12 and len(batches[-1]) == 8  # the short one last
        # Every batch is a run of one length-sorted window of 64 draws of the base order.
        windows = [np.sort(lengths[draws[i:i + 64]])[::-1] for i in range(0, 200, 64)]
        runs = {tuple(w[j:j + 16]) for w in windows for j in range(0, len(w), 16)}
        assert {tuple(lengths[b]) for b in batches} == runs
    # Padding saved: the frames a batch padded to its longest sequence computes, grouped vs plain.
    plain = sum(lengths[draws[i:i + 16]].max() * 16 for i in range(0, 192, 16))
    sorted_ = sum(lengths[b].max() * len(b) for b in batches[:-1])
    assert sorted_ < 0.8 * plain
    assert list(grouped) == list(grouped)  # seeded by (seed, epoch)


def test_training_sampler_groups_by_length_with_or_without_source_balance():
    class Fake:
        sequence_ids = np.array([5, 6] + [SYNTH_SEQUENCE_ID_BASE + i for i in range(30)])
        lengths = np.arange(32) + 1

    idx = np.arange(32)
    cfg = get_config("default")
    sampler = training_sampler(cfg, Fake, idx, seed=0, batch_size=4, length_grouping=2)
    assert isinstance(sampler, LengthGroupedSampler) and isinstance(sampler.base, SourceBalancedSampler)
    plain = training_sampler(get_config("default", {"data.real_share": 0.0}), Fake, idx, seed=0, batch_size=4,
                             length_grouping=2)
    assert sorted(plain) == list(range(32))  # a shuffle of every row, grouped
    loader = make_loader(list(range(32)), 4, train=True, sampler=plain, collate_fn=torch.tensor)
    for batch in loader:  # windows of 8 sorted draws, longest first: each batch is 4 neighbours of the window
        assert (batch.diff() <= 0).all()
    default = get_config("default")
    assert default.transformer_train.length_grouping > 0 and default.cnn_train.length_grouping == 0
    assert get_config("full").transformer_train.length_grouping == 0  # the reference's plain shuffle
