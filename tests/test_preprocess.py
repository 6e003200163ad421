"""islr.preprocess: CNN image and transformer features against brute-force numpy on real sample files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from islr.io import read_landmarks
from islr.landmarks import CNN_AUG_POINTS, CNN_POINTS, HAND_ANGLES, LIP_ANGLES, MIRROR, TRANSFORMER_POINTS
from islr.preprocess import cnn, nearest_index
from islr.preprocess import transformer as tr


# ---------------------------------------------------------------------------------------------------------------
# Brute-force references (numpy + python loops, written independently of the torch code).
# ---------------------------------------------------------------------------------------------------------------
def ref_mirror(frames: np.ndarray) -> np.ndarray:
    """The whole (T, 543, 3) frame mirrored point by point from islr.landmarks.MIRROR (x → 1 − x); rows without a
    twin stay NaN."""
    out = np.full_like(frames, np.nan)
    for i, j in MIRROR.items():
        out[:, i] = frames[:, j]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def ref_cnn(frames: np.ndarray, n: int = 160) -> np.ndarray:
    left = np.sum(~np.isnan(frames[:, 468:489]))
    right = np.sum(~np.isnan(frames[:, 522:543]))
    if right > left:  # the signing hand goes to the left-hand columns
        frames = ref_mirror(frames)
    sel = frames[:, CNN_POINTS].astype(np.float64)
    if np.isnan(sel).all():
        out = np.zeros_like(sel)
    else:
        std = np.nanstd(sel, ddof=1) if np.sum(~np.isnan(sel)) > 1 else 0.0
        out = np.nan_to_num((sel - np.nanmean(sel)) / (std + 1e-6), nan=0.0)
    t = len(frames)
    idx = [i * t // n for i in range(n)]
    return out[idx].transpose(2, 0, 1)


def ref_cosine(a, b, c) -> float:
    u, v = np.subtract(a, b), np.subtract(c, b)
    nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
    if nu * nv == 0 or math.isnan(nu * nv):
        return 0.0
    return float(np.dot(u, v) / (nu * nv))


def ref_transformer(frames: np.ndarray, max_len: int = 96) -> np.ndarray:
    pts = frames[:, TRANSFORMER_POINTS].astype(np.float64)
    lips, left, right = pts[:, :40], pts[:, 40:61], pts[:, 61:82]
    if np.isnan(left).sum() < np.isnan(right).sum():
        hand = left
    else:
        hand = right.copy()
        for t in range(len(hand)):
            hand[t, :, 0] = 2 * lips[t, 0, 0] - right[t, :, 0]
    p = np.concatenate([lips, hand], axis=1)
    t_all = len(p)
    if t_all > max_len:
        p = p[[i * t_all // max_len for i in range(max_len)]]
    pos = ((p - np.nanmean(p)) / np.nanstd(p, ddof=1)).reshape(len(p), -1)
    rows = []
    for t in range(len(p)):
        dpos = pos[t] - pos[t + 1] if t + 1 < len(p) else np.zeros(183)
        rdpos = pos[t] - pos[t - 1] if t > 0 else np.zeros(183)
        lipd = [math.hypot(p[t, i, 0] - p[t, j, 0], p[t, i, 1] - p[t, j, 1])
                for i in range(20) for j in range(i + 1, 20)]
        handd = [math.hypot(p[t, 40 + i, 0] - p[t, 40 + j, 0], p[t, 40 + i, 1] - p[t, 40 + j, 1])
                 for i in range(21) for j in range(i + 1, 21)]
        lipa = [ref_cosine(p[t, a], p[t, b], p[t, c]) for a, b, c in LIP_ANGLES]
        handa = [ref_cosine(p[t, 40 + a], p[t, 40 + b], p[t, 40 + c]) for a, b, c in HAND_ANGLES]
        rows.append(np.concatenate([pos[t], dpos, rdpos, lipd, handd, lipa, handa]))
    return np.nan_to_num(np.array(rows), nan=0.0)


@pytest.fixture(scope="module")
def real(sample_dir) -> list[np.ndarray]:
    """The first 24 files of the bundled sample's train.csv, in path order: the tests below pick files by position
    for their known contents (e.g. ``real[7]``: 10 frames, right hand present throughout)."""
    import pandas as pd

    first = sorted(pd.read_csv(sample_dir / "train.csv")["path"].iloc[:24])
    return [read_landmarks(sample_dir / p) for p in first]


def pad_batch(arrays: list[np.ndarray], fill: float = 7.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded batch whose padding is a finite junk value, so any leak of padding shows up in the results."""
    t = max(len(a) for a in arrays)
    x = np.full((len(arrays), t, *arrays[0].shape[1:]), fill, dtype=np.float32)
    for i, a in enumerate(arrays):
        x[i, :len(a)] = a
    return torch.from_numpy(x), torch.tensor([len(a) for a in arrays])


# ---------------------------------------------------------------------------------------------------------------
# CNN
# ---------------------------------------------------------------------------------------------------------------
def test_cnn_matches_numpy_on_real_files(real):
    for frames in real:
        got = cnn.cnn_input_single(frames)
        assert got.shape == (3, 160, 80) and got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), ref_cnn(frames), atol=2e-5, rtol=1e-5)


def test_cnn_accepts_86_points_and_543_points_alike(real):
    frames = real[0]
    assert torch.equal(cnn.cnn_input_single(frames), cnn.cnn_input_single(frames[:, CNN_AUG_POINTS]))
    assert torch.equal(cnn.cnn_input_single(frames, dominant_hand=False),
                       cnn.cnn_input_single(frames[:, CNN_POINTS], dominant_hand=False))
    with pytest.raises(ValueError, match="cannot be mirrored"):
        cnn.cnn_input_single(frames[:, CNN_POINTS])
    with pytest.raises(ValueError):
        cnn.cnn_input_single(frames[:, :100])


def test_cnn_image_is_the_same_for_either_signing_hand(real):
    """A recording and its mirror image (the same sign made with the other hand) give one CNN image."""
    checked = 0
    for frames in real:
        left, right = (np.sum(~np.isnan(frames[:, part])) for part in (slice(468, 489), slice(522, 543)))
        if left == right:
            continue  # a tie is not mirrored, so the two images differ by the mirror
        mirrored = ref_mirror(frames)
        torch.testing.assert_close(cnn.cnn_input_single(mirrored), cnn.cnn_input_single(frames), atol=1e-5,
                                   rtol=1e-5)
        assert not torch.allclose(cnn.cnn_input_single(mirrored, dominant_hand=False),
                                  cnn.cnn_input_single(frames, dominant_hand=False), atol=1e-3)
        checked += 1
    assert checked >= 20


def test_cnn_normalize_is_one_scalar_over_real_values(real):
    frames = real[0][:, CNN_POINTS]
    x = torch.from_numpy(frames)[None]
    got = cnn.normalize(x, torch.tensor([len(frames)]))[0].numpy()
    expect = np.nan_to_num((frames - np.nanmean(frames)) / (np.nanstd(frames, ddof=1) + 1e-6))
    np.testing.assert_allclose(got, expect, atol=2e-5)
    assert np.all(got[np.isnan(frames)] == 0)


def test_cnn_batched_equals_single_and_padding_is_ignored(real):
    arrays = [real[0], real[1], real[7], real[13]]  # 105, 6, 10, 17 frames
    x, lengths = pad_batch(arrays)
    batched = cnn.cnn_input(x, lengths)
    assert batched.shape == (4, 3, 160, 80)
    for i, a in enumerate(arrays):
        torch.testing.assert_close(batched[i], cnn.cnn_input_single(a), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("t", [0, 1, 1000])
def test_cnn_degenerate_lengths_are_finite(real, t):
    all_nan = np.full((t, 543, 3), np.nan, np.float32)
    assert torch.equal(cnn.cnn_input_single(all_nan), torch.zeros(3, 160, 80))
    if t:
        tiled = np.concatenate([real[0]] * (t // len(real[0]) + 1))[:t]
        np.testing.assert_allclose(cnn.cnn_input_single(tiled).numpy(), ref_cnn(tiled), atol=2e-5, rtol=1e-5)


def test_cnn_single_value_gives_zero_not_inf():
    frames = np.full((3, 543, 3), np.nan, np.float32)
    frames[1, 5, 0] = 0.4
    out = cnn.cnn_input_single(frames)
    assert torch.isfinite(out).all() and out.abs().max() == 0


@pytest.mark.parametrize("t", [1, 2, 7, 84, 96, 159, 160, 161, 168, 320, 333, 1000])
def test_resize_rule_is_exact_floor(t):
    idx = nearest_index(torch.tensor([t]), 160)[0]
    assert idx.tolist() == [i * t // 160 for i in range(160)]
    # torch "nearest" computes floor(i * float32(T/160)) and so lands one frame early at a few exact multiples
    # (e.g. T=84, i=120: 62 instead of 63); our integer rule is the exact one, and the TF gather reproduces it.
    ramp = torch.arange(t, dtype=torch.float32)[None, None, :]
    torch_nearest = torch.nn.functional.interpolate(ramp, size=160, mode="nearest")[0, 0]
    assert (idx.to(torch.float32) - torch_nearest).abs().max() <= 1


def test_resize_time_with_caller_frame_index():
    x = torch.arange(200, dtype=torch.float32).view(1, 200, 1, 1).expand(2, 200, 80, 3)
    chosen = torch.sort(torch.randperm(200, generator=torch.Generator().manual_seed(0))[:160]).values
    out = cnn.resize_time(x, torch.tensor([200, 200]), 160, frame_index=chosen)
    assert torch.equal(out[:, :, 0, 0], chosen.to(torch.float32).expand(2, 160))


# ---------------------------------------------------------------------------------------------------------------
# Transformer
# ---------------------------------------------------------------------------------------------------------------
def test_feature_slices_cover_972_in_order():
    sizes = [s.stop - s.start for s in tr.FEATURE_SLICES.values()]
    assert list(tr.FEATURE_SLICES) == ["pos", "dpos", "rdpos", "lip_dist", "hand_dist", "lip_angle", "hand_angle"]
    assert sizes == [183, 183, 183, 190, 210, 8, 15] and sum(sizes) == 972


def test_transformer_matches_brute_force_on_real_files(real):
    hands = set()
    for frames in real:
        feats, mask = tr.transformer_input_single(frames)
        assert feats.shape == (96, 972) and feats.dtype == torch.float32
        assert mask.dtype == torch.int64 and int(mask.sum()) == min(len(frames), 96)
        n = int(mask.sum())
        expect = ref_transformer(frames)
        np.testing.assert_allclose(feats[:n].numpy(), expect, atol=1e-4, rtol=1e-4)
        assert torch.all(feats[n:] == 0)
        pts = frames[:, TRANSFORMER_POINTS]
        hands.add(bool(np.isnan(pts[:, 40:61]).sum() < np.isnan(pts[:, 61:82]).sum()))
    assert hands == {True, False}  # the sample exercises both hands


def test_transformer_blocks_on_real_file(real):
    frames = real[7]  # 10 frames, right hand present throughout
    feats = tr.transformer_input_single(frames)[0][:10].numpy().astype(np.float64)
    s = tr.FEATURE_SLICES
    lips = frames[:, TRANSFORMER_POINTS[:20]].astype(np.float64)
    for t in range(10):
        k = 0
        for i in range(20):
            for j in range(i + 1, 20):
                d = math.dist(lips[t, i, :2], lips[t, j, :2])
                assert feats[t, s["lip_dist"]][k] == pytest.approx(0.0 if math.isnan(d) else d, abs=1e-5)
                k += 1
    pos = feats[:, s["pos"]]
    np.testing.assert_allclose(feats[:-1, s["dpos"]], pos[:-1] - pos[1:], atol=1e-5)
    np.testing.assert_allclose(feats[1:, s["rdpos"]], pos[1:] - pos[:-1], atol=1e-5)
    assert np.all(feats[-1, s["dpos"]] == 0) and np.all(feats[0, s["rdpos"]] == 0)


def test_transformer_batched_equals_single_and_padding_is_ignored(real):
    long = np.concatenate([real[0], real[13], real[0]])  # 227 real frames → subsampled
    arrays = [real[1], long, real[8], real[0]]
    x, lengths = pad_batch(arrays)
    feats, mask = tr.transformer_input(x, lengths)
    assert feats.shape == (4, 96, 972) and mask.shape == (4, 96)
    for i, a in enumerate(arrays):
        f1, m1 = tr.transformer_input_single(a)
        torch.testing.assert_close(feats[i], f1, atol=1e-5, rtol=1e-5)
        assert torch.equal(mask[i], m1)


@pytest.mark.parametrize("t", [0, 1, 1000])
def test_transformer_degenerate_lengths_are_finite(real, t):
    feats, mask = tr.transformer_input_single(np.full((t, 543, 3), np.nan, np.float32))
    assert torch.equal(feats, torch.zeros(96, 972)) and int(mask.sum()) == min(t, 96)
    if t:
        tiled = np.concatenate([real[0]] * (t // len(real[0]) + 1))[:t]
        feats, mask = tr.transformer_input_single(tiled)
        assert torch.isfinite(feats).all() and int(mask.sum()) == min(t, 96)
        if t == 1:
            s = tr.FEATURE_SLICES
            assert torch.all(feats[:, s["dpos"]] == 0) and torch.all(feats[:, s["rdpos"]] == 0)
        else:
            np.testing.assert_allclose(feats.numpy(), ref_transformer(tiled), atol=1e-4, rtol=1e-4)


def _hands(n_left_nan: int, n_right_nan: int, t: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.random((t, 82, 3)).astype(np.float32)
    x[:n_left_nan, 40:61] = np.nan
    x[:n_right_nan, 61:82] = np.nan
    return x


@pytest.mark.parametrize("n_left,n_right,left", [(0, 1, True), (1, 0, False), (2, 2, False), (4, 4, False)])
def test_hand_rule_strictly_smaller_tie_is_right(n_left, n_right, left):
    x = _hands(n_left, n_right)
    assert bool(tr.choose_hand(torch.from_numpy(x)[None], torch.tensor([4]))[0]) == left
    use_left = tr.choose_hand(torch.from_numpy(x)[None], torch.tensor([4]))
    pts = tr.dominant_hand_points(torch.from_numpy(x)[None], use_left)[0].numpy()
    if left:
        np.testing.assert_array_equal(pts[:, 40:], x[:, 40:61])
    else:
        np.testing.assert_allclose(pts[:, 40:, 0], 2 * x[:, 0:1, 0] - x[:, 61:82, 0], atol=1e-6)
        np.testing.assert_array_equal(pts[:, 40:, 1:], x[:, 61:82, 1:])
    np.testing.assert_array_equal(pts[:, :40], x[:, :40])


def test_hand_rule_counts_only_real_frames():
    x = _hands(0, 1, t=4)
    x = np.concatenate([x, np.full((3, 82, 3), np.nan, np.float32)])  # 3 padding frames
    x[4:, 61:82] = 0.5  # padding: right hand "present", left missing
    assert bool(tr.choose_hand(torch.from_numpy(x)[None], torch.tensor([4]))[0])


def test_mirror_with_nan_centre_gives_nan_x():
    hand = torch.rand(1, 2, 21, 3)
    out = tr.mirror_hand(hand, torch.tensor([[0.5, float("nan")]]))
    torch.testing.assert_close(out[0, 0, :, 0], 1.0 - hand[0, 0, :, 0])
    assert torch.isnan(out[0, 1, :, 0]).all() and torch.equal(out[..., 1:], hand[..., 1:])


def test_subsample_index_rule():
    index, new_len = tr.subsample_index(torch.tensor([200, 50, 96, 97]), 96, n_frames=200)
    assert index[0].tolist() == [i * 200 // 96 for i in range(96)]
    assert index[1, :50].tolist() == list(range(50))
    assert index[2].tolist() == list(range(96)) and index[3].tolist() == [i * 97 // 96 for i in range(96)]
    assert new_len.tolist() == [96, 50, 96, 96]


def test_subsample_happens_before_features(real):
    long = np.concatenate([real[0], real[13], real[0]])  # 227 frames
    kept = long[[i * len(long) // 96 for i in range(96)]]
    torch.testing.assert_close(tr.transformer_input_single(long)[0], tr.transformer_input_single(kept)[0])


def test_pos_normalisation_equals_numpy(real):
    frames = real[3]
    feats = tr.transformer_input_single(frames)[0][:len(frames)].numpy()
    pts = frames[:, TRANSFORMER_POINTS]
    hand = pts[:, 40:61] if np.isnan(pts[:, 40:61]).sum() < np.isnan(pts[:, 61:82]).sum() else None
    assert hand is None  # this file keeps the right hand; rebuild the mirrored hand
    hand = pts[:, 61:82].copy()
    hand[..., 0] = 2 * pts[:, :1, 0] - hand[..., 0]
    p = np.concatenate([pts[:, :40], hand], axis=1).astype(np.float64)
    expect = np.nan_to_num((p - np.nanmean(p)) / np.nanstd(p, ddof=1)).reshape(len(p), -1)
    np.testing.assert_allclose(feats[:, tr.FEATURE_SLICES["pos"]], expect, atol=1e-5)


def test_runs_on_inputs_as_given_dtype_and_device(real):
    x64 = torch.from_numpy(real[1].astype(np.float64))[None]
    x32 = x64.float()
    image = cnn.cnn_input(x64)
    assert image.dtype == torch.float32
    torch.testing.assert_close(image, cnn.cnn_input(x32), atol=1e-5, rtol=1e-5)
    feats, mask = tr.transformer_input(x64)
    assert feats.dtype == torch.float32 and feats.device == x64.device and mask.dtype == torch.int64
    feats32, mask32 = tr.transformer_input(x32)
    torch.testing.assert_close(feats, feats32, atol=1e-4, rtol=1e-4)
    assert torch.equal(mask, mask32)


def test_hand_choice_uses_the_full_sequence_not_the_kept_frames(real):
    # 192 frames keep the even ones. The left hand is missing on every kept frame and present on the dropped ones;
    # the right hand is missing on every dropped frame plus one kept frame. Over the full sequence the left hand
    # has fewer NaNs (and is chosen); over the kept frames alone the right hand would be.
    x = np.concatenate([real[7]] * 20)[:192, TRANSFORMER_POINTS].copy()  # right hand present in every frame
    x[:, 40:61] = x[:, 61:82]
    x[0::2, 40:61] = np.nan
    x[1::2, 61:82] = np.nan
    x[10, 61:82] = np.nan
    feats, mask = tr.transformer_input_single(x)
    assert int(mask.sum()) == 96
    assert torch.all(feats[:, tr.FEATURE_SLICES["hand_dist"]] == 0)  # left hand chosen: NaN on all kept frames
    assert bool(tr.choose_hand(torch.from_numpy(x[0::2])[None], torch.tensor([96]))[0]) is False
