"""Tests of islr.augment: determinism, identities, geometry kept, padding untouched, masks and label maths."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from islr import augment as A
from islr import landmarks as L
from islr.config import CNNAugConfig, Config, TransformerAugConfig
from islr.pipeline import CNNPipeline

CNN_PARTS = L.part_columns(L.CNN_AUG_POINTS)
CNN_HANDS = [CNN_PARTS["left_hand"], CNN_PARTS["right_hand"]]
P_FIELDS_CNN = ("affine_prob", "interpol_prob", "flip_prob", "shift_prob", "scale_prob", "rotate_prob",
                "tree_rot_prob")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n_points: int, lengths=(30, 17, 1, 12), seed: int = 0, pad_value: float = -7.0):
    """Random points in [0, 1) with a NaN hand block and NaN frames; padding frames hold ``pad_value``."""
    rng = np.random.default_rng(seed)
    b, t = len(lengths), max(lengths)
    x = rng.random((b, t, n_points, 3), dtype=np.float32)
    x[0, :, 18:39] = np.nan  # a whole missing hand
    x[1, 3] = np.nan  # a missing frame
    for i, n in enumerate(lengths):
        x[i, n:] = pad_value
    return torch.from_numpy(x), torch.tensor(lengths)


def all_cnn(p: float) -> CNNAugConfig:
    return dataclasses.replace(CNNAugConfig(), **{f: p for f in P_FIELDS_CNN})


def all_transformer(p: float) -> TransformerAugConfig:
    return TransformerAugConfig(affine_prob=p, interpol_prob=p, tree_rot_hand_prob=p, flip_prob=p)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(torch.nan_to_num(a, nan=123.0), torch.nan_to_num(b, nan=123.0)) and torch.equal(
        torch.isnan(a), torch.isnan(b))


# ---------------------------------------------------------------------------------------------------------------
# Pipelines: determinism, p = 0, padding, degenerate inputs.
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cnn", "transformer"])
def test_pipeline_same_seed_same_output_and_p0_identity(kind):
    n = 86 if kind == "cnn" else 82
    run = A.augment_cnn_points if kind == "cnn" else A.augment_transformer_points
    on = all_cnn(1.0) if kind == "cnn" else all_transformer(1.0)
    off = all_cnn(0.0) if kind == "cnn" else all_transformer(0.0)
    x, lengths = batch(n)
    a, la = run(x, lengths, on, gen(3))
    b, lb = run(x, lengths, on, gen(3))
    c, _ = run(x, lengths, on, gen(4))
    assert same(a, b) and torch.equal(la, lb)
    assert not same(a, c)
    assert not (a.shape == x.shape and same(a, x))
    y, ly = run(x, lengths, off, gen(3))
    assert same(y, x) and torch.equal(ly, lengths)


def test_each_aug_leaves_padding_and_unselected_samples_untouched():
    x, lengths = batch(86)
    valid = torch.arange(x.shape[1])[None] < lengths[:, None]  # (B, T)
    augs = [
        lambda x, g: A.global_affine(x, lengths, g, 1.0, (0.8, 1.5), 0.1, True, 15.0),
        lambda x, g: A.flip(x, lengths, g, 1.0, L.CNN_AUG_FLIP),
        lambda x, g: A.part_shift(x, lengths, g, 1.0, CNN_PARTS),
        lambda x, g: A.part_scale(x, lengths, g, 1.0, CNN_PARTS),
        lambda x, g: A.part_rotate(x, lengths, g, 1.0, CNN_PARTS),
        lambda x, g: A.finger_tree_rotate(x, lengths, g, 1.0, CNN_HANDS, 1.0, 5.0),
    ]
    for aug in augs:
        y = aug(x, gen(1))
        assert torch.equal(y[~valid], x[~valid])  # padding (value −7) bit-for-bit
        assert not same(y[valid], x[valid])
        assert same(aug(x, gen(1)), y)


def test_selection_is_per_sample_bernoulli():
    x, lengths = batch(86, lengths=(20,) * 400)
    y = A.part_shift(x, lengths, gen(5), 0.3, CNN_PARTS)
    changed = (y != x).flatten(1).any(1).float().mean().item()
    assert 0.22 < changed < 0.38


@pytest.mark.parametrize("kind", ["cnn", "transformer"])
def test_degenerate_inputs_do_not_crash(kind):
    n = 86 if kind == "cnn" else 82
    run = A.augment_cnn_points if kind == "cnn" else A.augment_transformer_points
    cfg = all_cnn(1.0) if kind == "cnn" else all_transformer(1.0)
    nan = torch.full((2, 15, n, 3), float("nan"))
    y, ly = run(nan, torch.tensor([15, 15]), cfg, gen())
    assert torch.isnan(y[:, : int(ly.min())]).all()
    one = torch.rand(3, 1, n, 3)
    y, ly = run(one, torch.tensor([1, 1, 1]), cfg, gen())
    assert y.shape[0] == 3 and (ly == 1).all() and torch.isfinite(y[:, 0]).all()


# ---------------------------------------------------------------------------------------------------------------
# Flip.
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("points,perm", [(L.CNN_AUG_POINTS, L.CNN_AUG_FLIP), (L.TRANSFORMER_POINTS,
                                                                             L.TRANSFORMER_FLIP)])
def test_flip_is_involution_and_maps_to_twin(points, perm):
    x, lengths = batch(len(points))
    f = A.flip(x, lengths, gen(), 1.0, perm)
    ff = A.flip(f, lengths, gen(), 1.0, perm)
    torch.testing.assert_close(ff, x, equal_nan=True, rtol=0, atol=1e-6)
    where = {int(p): i for i, p in enumerate(points)}
    for i, p in enumerate(points):
        j = where[L.MIRROR[int(p)]]  # the twin's column
        torch.testing.assert_close(f[1, :17, j, 0], 1 - x[1, :17, i, 0], equal_nan=True)
        torch.testing.assert_close(f[1, :17, j, 1:], x[1, :17, i, 1:], equal_nan=True)


def test_flip_left_hand_wrist_lands_on_right_hand_column():
    x, lengths = batch(86)
    f = A.flip(x, lengths, gen(), 1.0, L.CNN_AUG_FLIP)
    left_wrist = int(np.nonzero(L.CNN_AUG_POINTS == 468)[0][0])
    right_wrist = int(np.nonzero(L.CNN_AUG_POINTS == 522)[0][0])
    assert (left_wrist, right_wrist) == (18, 59)
    assert torch.allclose(f[1, 0, right_wrist], torch.stack([1 - x[1, 0, 18, 0], x[1, 0, 18, 1], x[1, 0, 18, 2]]))
    # Pose eye outer (pose 3) ↔ right eye outer (pose 6), not pose 5 (docs/method.md §10.5).
    c3, c6 = (int(np.nonzero(L.CNN_AUG_POINTS == L.pose_id(k))[0][0]) for k in (3, 6))
    assert torch.allclose(f[1, 0, c6, 1:], x[1, 0, c3, 1:])


# ---------------------------------------------------------------------------------------------------------------
# Geometry of the part-level augmentations.
# ---------------------------------------------------------------------------------------------------------------
def _bone_lengths_xy(x: torch.Tensor, hand_cols) -> torch.Tensor:
    cols = np.asarray(hand_cols)
    parent, child = cols[L.HAND_BONES[:, 0]], cols[L.HAND_BONES[:, 1]]
    return (x[:, :, child, :2] - x[:, :, parent, :2]).norm(dim=-1)


def test_finger_tree_rotation_keeps_bone_lengths_and_z():
    x, lengths = batch(86, lengths=(25, 25, 25, 25))
    y = A.finger_tree_rotate(x, lengths, gen(2), 1.0, CNN_HANDS, tree_p=1.0, max_deg=30.0)
    for hand in CNN_HANDS:
        torch.testing.assert_close(_bone_lengths_xy(y, hand), _bone_lengths_xy(x, hand), equal_nan=True,
                                   atol=1e-5, rtol=0)
        assert not torch.allclose(y[1:, :, hand], x[1:, :, hand])
        # The wrist is the root of every level-0 tree: it never moves.
        assert same(y[:, :, hand[0]], x[:, :, hand[0]])
    assert same(y[..., 2], x[..., 2])
    other = np.setdiff1d(np.arange(86), np.concatenate(CNN_HANDS))
    assert same(y[:, :, other], x[:, :, other])


def test_finger_tree_rotation_single_tree_matches_brute_force():
    # All 20 trees rotate, root to tip; compare with one rotation at a time in float64.
    x = torch.from_numpy(np.random.default_rng(3).random((1, 10, 86, 3), dtype=np.float32))
    hand = np.asarray(CNN_HANDS[0])
    y = A.finger_tree_rotate(x, torch.tensor([10]), gen(7), 1.0, [hand], tree_p=1.0, max_deg=20.0)
    # Re-draw the parameters in the function's order to get the angles.
    g2 = gen(7)
    torch.rand(1, generator=g2)  # apply
    torch.rand((1, 1), generator=g2)  # hand_on
    torch.rand((1, 1, 5, 4), generator=g2)  # tree_on
    ang = (torch.rand((1, 1, 5, 4), generator=g2) * 40 - 20) * math.pi / 180
    ref = x.clone().double()
    for level in range(4):
        for finger in range(5):
            route = L.FINGER_ROUTES[finger]
            root, kids = hand[route[level]], hand[route[level + 1:]]
            th = ang[0, 0, finger, level].double()
            rel = ref[0, :, kids, :2] - ref[0, :, root, None, :2]
            rot = torch.stack([torch.cos(th) * rel[..., 0] - torch.sin(th) * rel[..., 1],
                               torch.sin(th) * rel[..., 0] + torch.cos(th) * rel[..., 1]], -1)
            ref[0, :, kids, :2] = ref[0, :, root, None, :2] + rot
    torch.testing.assert_close(y, ref.float(), atol=1e-5, rtol=0)


def test_part_scale_keeps_per_frame_centre():
    x, lengths = batch(86, lengths=(20, 20, 20, 20))
    y = A.part_scale(x, lengths, gen(), 1.0, CNN_PARTS)
    for cols in CNN_PARTS.values():
        torch.testing.assert_close(torch.nanmean(y[:, :, cols], 2), torch.nanmean(x[:, :, cols], 2),
                                   equal_nan=True, atol=1e-5, rtol=0)
        ratio = (y[:, :, cols] - torch.nanmean(y[:, :, cols], 2, keepdim=True)) / (
            x[:, :, cols] - torch.nanmean(x[:, :, cols], 2, keepdim=True))
        r = ratio[~torch.isnan(ratio)]
        assert 0.879 < r.min() and r.max() < 1.141


def test_part_shift_is_constant_per_part_within_bounds():
    x, lengths = batch(86, lengths=(20, 20, 20, 20))
    y = A.part_shift(x, lengths, gen(), 1.0, CNN_PARTS)
    for name, cols in CNN_PARTS.items():
        d = (y - x)[1:, :, cols]  # sample 0 has a NaN hand
        per_sample = d[:, :1, :1]
        d = torch.where(torch.isnan(d), per_sample.expand_as(d), d)  # sample 1 has a NaN frame
        torch.testing.assert_close(d, per_sample.expand_as(d), atol=1e-6, rtol=0)
        std = torch.tensor(A.PART_STD[name])
        lo = torch.tensor([r[0] for r in A.PART_SHIFT_DIVISOR[name]]) / 10
        hi = torch.tensor([r[1] for r in A.PART_SHIFT_DIVISOR[name]]) / 10
        mag = per_sample.abs()[:, 0, 0]  # (B, 3)
        assert (mag <= std / lo + 1e-6).all() and (mag >= std / hi - 1e-6).all()


def test_part_rotate_is_rigid_about_origin_and_moves_whole_parts():
    x, lengths = batch(86, lengths=(20,) * 8)
    y = A.part_rotate(x, lengths, gen(9), 1.0, CNN_PARTS)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), equal_nan=True, atol=1e-5, rtol=0)
    for s in range(1, 8):
        def kept(cols, axes=slice(None)):
            return torch.allclose(y[s, :, cols, axes], x[s, :, cols, axes], equal_nan=True)

        moved = [name for name, c in CNN_PARTS.items() if not kept(c)]
        assert 1 <= len(moved) <= 4
        # One axis per sample: exactly one coordinate is unchanged for all moved parts.
        fixed = [a for a in range(3) if all(kept(CNN_PARTS[n], a) for n in moved)]
        assert len(fixed) == 1


def test_global_affine_cnn_single_shift():
    x, lengths = batch(86, lengths=(10,) * 4)
    y = A.global_affine(x, lengths, gen(), 1.0, (0.8, 1.3), 0.1, per_axis_shift=False)
    # v' = s·v + d with the same d on every axis: fit s, d per sample from two points.
    for s in range(1, 4):
        a, b = x[s, 0, 0], x[s, 0, 1]
        scale = (y[s, 0, 0, 0] - y[s, 0, 1, 0]) / (a[0] - b[0])
        shift = y[s, 0, 0] - scale * a
        assert 0.8 <= scale <= 1.3
        torch.testing.assert_close(shift, shift[:1].expand(3), atol=1e-5, rtol=0)
        assert shift.abs().max() <= 0.1 + 1e-6


# ---------------------------------------------------------------------------------------------------------------
# Temporal interpolation.
# ---------------------------------------------------------------------------------------------------------------
def test_time_interpolate_factor_one_offset_zero_is_identity():
    x, lengths = batch(86)
    y, ly = A.time_interpolate(x, lengths, gen(), 1.0, factor=(1.0, 1.0), offset=0.0)
    assert torch.equal(ly, lengths)
    valid = torch.arange(x.shape[1])[None] < lengths[:, None]
    assert same(y[valid], x[valid])


def test_time_interpolate_matches_numpy_and_extrapolates():
    t = 13
    x = torch.from_numpy(np.random.default_rng(1).random((1, t, 4, 3), dtype=np.float32))
    lengths = torch.tensor([t])
    g = gen(11)
    y, ly = A.time_interpolate(x, lengths, g, 1.0)
    g2 = gen(11)
    torch.rand(1, generator=g2)
    f = float(torch.rand(1, generator=g2, dtype=torch.float64)) * 0.7 + 0.8
    o = (float(torch.rand(1, generator=g2, dtype=torch.float64)) * 2 - 1) * 0.5
    n = int(round(t * f))
    assert int(ly[0]) == n
    times = np.linspace(o, t - 1 + o, n)
    src = x[0].numpy().astype(np.float64)
    i0 = np.clip(np.floor(times), 0, t - 2).astype(int)
    w = (times - i0)[:, None, None]
    ref = src[i0] + w * (src[i0 + 1] - src[i0])  # linear inside, linear extrapolation outside
    np.testing.assert_allclose(y[0, :n].numpy(), ref, atol=1e-5)
    assert torch.isnan(y[0, n:]).all()


def test_time_interpolate_respects_min_length_and_nan_neighbours():
    x, lengths = batch(86)
    y, ly = A.time_interpolate(x, lengths, gen(), 1.0, min_length=11)
    assert int(ly[2]) == 1 and same(y[2, :1], x[2, :1])  # length 1 < 11: untouched
    assert int(ly[0]) != 30 or int(ly[3]) != 12
    # Sample 0's left hand is NaN in every frame: it stays NaN, nothing is invented.
    assert torch.isnan(y[0, : int(ly[0]), 18:39]).all()


# ---------------------------------------------------------------------------------------------------------------
# Random frame choice for the time resize.
# ---------------------------------------------------------------------------------------------------------------
def test_random_frame_indices_sorted_distinct_in_range():
    lengths = torch.tensor([400, 161, 100, 160])
    idx = A.random_frame_indices(lengths, gen(), 1.0)
    assert idx.shape == (4, 160) and idx.dtype == torch.long
    for b in range(2):
        assert (idx[b, 1:] > idx[b, :-1]).all() and idx[b].max() < lengths[b]
    nearest = torch.div(torch.arange(160)[None] * lengths[2:, None], 160, rounding_mode="floor")
    assert torch.equal(idx[2:], nearest)
    assert torch.equal(A.random_frame_indices(lengths, gen(), 0.0)[:1],
                       torch.div(torch.arange(160) * 400, 160, rounding_mode="floor")[None])


# ---------------------------------------------------------------------------------------------------------------
# Image-level steps.
# ---------------------------------------------------------------------------------------------------------------
def _runs(mask: torch.Tensor) -> tuple[int, int]:
    """(count, number of contiguous runs) of True in a 1-D bool tensor."""
    m = mask.int()
    return int(m.sum()), int(((m[1:] - m[:-1]) == 1).sum() + m[0])


def test_masks_land_on_the_named_axes_within_bounds():
    img = torch.randn(64, 3, 160, 80) + 10  # no natural zeros
    fr = A.mask_frames(img, gen(), 1.0, 80)
    pt = A.mask_points(img, gen(), 1.0, 18)
    for b in range(64):
        zf = fr[b] == 0  # (3, 160, 80)
        assert (zf == zf[:1]).all()  # one mask for all channels
        rows = zf[0].all(1)
        assert torch.equal(zf[0], rows[:, None].expand(160, 80))  # whole frames (time rows)
        n, runs = _runs(rows)
        assert n < 80 and runs <= 1
        zp = pt[b] == 0
        cols = zp[0].all(0)
        assert (zp == zp[:1]).all() and torch.equal(zp[0], cols[None].expand(160, 80))
        n, runs = _runs(cols)
        assert n < 18 and runs <= 1
    assert (fr == 0).any() and (pt == 0).any()
    assert torch.equal(A.mask_frames(img, gen(), 1.0, 80), fr)  # seedable
    assert torch.equal(A.mask_frames(img, gen(), 0.0, 80), img)
    # The global RNG is left as it was.
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    A.mask_points(img, gen(), 1.0)
    assert torch.equal(torch.rand(3), a)


def _masked_probability(size: int, max_width: int, grid: int = 4000) -> np.ndarray:
    """P(position j is masked) for torchaudio's iid axis masking, computed from its definition (no sampling).

    v ~ U(0, W), v0 ~ U(0, size − v), masked = [⌊v0⌋, ⌊v0⌋ + ⌊v⌋): integrate over v on a midpoint grid
    and, for each
    v, take the exact probability of each start s = ⌊v0⌋.
    """
    prob = np.zeros(size)
    for v in (np.arange(grid) + 0.5) * max_width / grid:
        hi = size - v
        s = np.arange(size)
        p_start = np.clip(np.minimum(s + 1, hi) - s, 0, None) / hi  # P(⌊v0⌋ = s)
        w = int(np.floor(v))
        cover = np.convolve(p_start, np.ones(w))[:size] if w else np.zeros(size)  # Σ P(start = s), j−w < s ≤ j
        prob += cover / grid
    return prob


@pytest.mark.parametrize(("size", "max_width"), [(160, 80), (80, 18), (24, 24)])
def test_span_mask_follows_torchaudio_iid_masking_in_distribution(size, max_width):
    n = 40000
    m = A.span_mask(n, size, max_width, gen(3))
    assert m.shape == (n, size) and m.dtype == torch.bool
    widths = m.sum(1)
    runs = (m[:, 1:] & ~m[:, :-1]).sum(1) + m[:, 0]
    assert (runs <= 1).all()  # one contiguous run
    # the width floor(v) is uniform on {0, ..., W-1}
    counts = torch.bincount(widths, minlength=max_width).double() / n
    expected = torch.full((max_width,), 1.0 / max_width, dtype=torch.float64)
    assert torch.allclose(counts, expected, atol=4 * math.sqrt(expected[0] / n))
    # per-position masking probability matches the definition's exact value
    want = _masked_probability(size, max_width)
    got = m.double().mean(0).numpy()
    assert np.abs(got - want).max() < 4 * math.sqrt(0.25 / n)


def test_span_mask_draws_v_then_v0_from_the_generator():
    """Exactly the definition's two uniform draws per sample (all v first, then all v0), floors as torchaudio's."""
    b, size, w = 257, 160, 80
    g = gen(11)
    u = torch.rand(b, generator=g)
    u0 = torch.rand(b, generator=g)
    v = u * w
    start = (u0 * (size - v)).long()
    want = torch.zeros(b, size, dtype=torch.bool)
    for i in range(b):
        want[i, start[i]:start[i] + int(v[i])] = True
    assert torch.equal(A.span_mask(b, size, w, gen(11)), want)
    assert not A.span_mask(4, size, 0, gen()).any()


def test_mask_image_applies_both_with_probability():
    img = torch.randn(200, 3, 160, 80) + 10
    out = A.mask_image(img, gen(), CNNAugConfig(masking_prob=0.5))
    hit = (out == 0).flatten(1).any(1).float().mean()
    assert 0.35 < hit < 0.65


def test_mixup_labels_sum_to_one_and_shared_class_gets_one():
    x = torch.randn(6, 3, 160, 80)
    y = torch.tensor([1, 1, 2, 3, 4, 5])
    x_b = torch.randn(6, 3, 160, 80)
    y_b = torch.tensor([1, 7, 2, 9, 4, 0])
    mixed, soft = A.mixup(x, y, gen(), 1.2592, x_b=x_b, y_b=y_b)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    for b in (0, 2, 4):  # same class on both sides
        assert soft[b, y[b]] == pytest.approx(1.0)
    lam = soft[1, 1]
    assert 0 < lam < 1 and soft[1, 7] == pytest.approx(1 - float(lam))
    torch.testing.assert_close(mixed[1], lam * x[1] + (1 - lam) * x_b[1])
    # Batched form: a permutation partner; unselected samples keep their image and a one-hot label.
    apply = torch.tensor([True, False, True, False, True, False])
    mixed, soft = A.mixup(x, y, gen(1), 1.2592, apply=apply)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    for b in (1, 3, 5):
        assert torch.equal(mixed[b], x[b]) and soft[b, y[b]] == 1
    m2, s2 = A.mixup(x, y, gen(1), 1.2592, apply=apply)
    assert torch.equal(m2, mixed) and torch.equal(s2, soft)


def test_mixup_or_replace_never_both():
    mix, rep = A.mixup_or_replace_mask(10000, 0.4875, 0.239, gen())
    assert not (mix & rep).any()
    assert abs(mix.float().mean() - 0.4875) < 0.03
    assert abs(rep.float().mean() - 0.239 * (1 - 0.4875)) < 0.03


def test_replace_only_overwrites_chosen_blocks_and_rescales():
    b = 64
    img = torch.randn(b, 3, 160, 80)
    donor = torch.randn(b, 3, 160, 80) * 3 + 1
    out = A.replace_blocks(img, donor, gen())
    blocks = L.CNN_PART_COLUMNS
    for s in range(b):
        changed = [n for n, c in blocks.items() if not torch.equal(out[s, ..., c], img[s, ..., c])]
        assert 1 <= len(changed) <= 2
        assert not {"left_hand", "right_hand"} <= set(changed)  # one hand at most
        for n in changed:
            c = blocks[n]
            t, d, o = img[s, ..., c], donor[s, ..., c], out[s, ..., c]
            # Per channel: the donor block min–max rescaled into the target block's range.
            for ch in range(3):
                ref = (d[ch] - d[ch].min()) / (d[ch].max() - d[ch].min()) * (t[ch].max() - t[ch].min()) + t[ch].min()
                torch.testing.assert_close(o[ch], ref, atol=1e-5, rtol=1e-5)
    apply = torch.zeros(b, dtype=torch.bool)
    assert torch.equal(A.replace_blocks(img, donor, gen(), apply=apply), img)


def test_replace_hand_rules_zero_target_and_mirrored_donor():
    b = 200
    img = torch.randn(b, 3, 160, 80)
    img[..., L.CNN_PART_COLUMNS["left_hand"]] = 0  # target has no left hand
    donor = torch.randn(b, 3, 160, 80)
    donor[..., L.CNN_PART_COLUMNS["right_hand"]] = 0  # donor has no right hand
    out = A.replace_blocks(img, donor, gen(2))
    left = L.CNN_PART_COLUMNS["left_hand"]
    right = L.CNN_PART_COLUMNS["right_hand"]
    wrote_left = (out[..., left] != 0).flatten(1).any(1)
    wrote_right = (out[..., right] != img[..., right]).flatten(1).any(1)
    # Left target is all zero, so a left pick writes zeros (no visible change); right picks are most hand picks.
    assert not wrote_left.any()
    assert wrote_right.sum() > 0.5 * b * 0.93 * 0.5  # ≈ P(hand picked) · 0.93, loosely
    for s in torch.nonzero(wrote_right)[:5, 0]:
        d = donor[s][..., left].clone()
        d[0] = -d[0]  # the donor's left hand, mirrored over all frames
        t = img[s][..., right]
        for ch in range(3):
            ref = (d[ch] - d[ch].min()) / (d[ch].max() - d[ch].min()) * (t[ch].max() - t[ch].min()) + t[ch].min()
            torch.testing.assert_close(out[s][ch][..., right], ref, atol=1e-5, rtol=1e-5)


def test_cnn_training_pipeline_with_every_augmentation_gives_finite_image():
    # Every point augmentation on, a 1-frame and a > 160-frame sequence, a missing hand, a missing frame.
    x, lengths = batch(86, lengths=(200, 40, 1, 12), pad_value=float("nan"))
    cfg = dataclasses.replace(Config(), cnn_aug=all_cnn(1.0))
    raw = {"seq": x, "lengths": lengths, "y": torch.arange(4), "index": torch.arange(4)}
    out = CNNPipeline(cfg, train=True)(raw, gen())["x"]
    assert out.shape == (4, 3, 160, 80) and torch.isfinite(out).all()
    plain = CNNPipeline(cfg, train=False)(raw)["x"]
    assert plain.shape == out.shape and not torch.equal(out, plain)
