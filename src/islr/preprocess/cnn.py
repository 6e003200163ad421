"""CNN input: a landmark sequence as a (3, 160, 80) image (docs/method.md §1).

Steps, in this order (the reference's steps 9–10 of §3a; augmentations come before and live elsewhere):

0. :func:`left_dominant`: mirror the whole sample (every point to its twin, ``x → 1 − x``) when its right hand is
   present in more values than its left hand, so that every image shows the signing hand in the left-hand columns
   (ties are left as they are). The transformers choose their hand the same way (§2); the reference's CNN did not,
   and had to learn every sign twice from its flip augmentation (``benchmarks/cnn_real.py`` measures the effect on
   held-out real signers). This needs the mirror-closed point set :data:`islr.landmarks.CNN_AUG_POINTS` (86) or
   the full 543-row frame; ``dominant_hand=False`` skips it (the reference's rule).
1. :func:`select_cnn_points`: gather the 80 columns of :data:`islr.landmarks.CNN_POINTS` (lips 18, left hand 21,
   pose 20, right hand 21) from a 543-row frame; an input that already has 80 columns is taken as those.
2. :func:`normalize`: one scalar mean and one scalar std per sample over every non-NaN value of the real frames
   of the (T, 80, 3) array, x, y and z pooled; unbiased std (N−1) plus 1e-6; ``(v − mean) / std``; then NaN → 0.
   With fewer than two values the std is 0 + 1e-6, so a single value maps to 0 and an all-NaN sample to all zeros:
   the output is always finite.
3. :func:`resize_time`: nearest resize of the time axis to 160 with ``src = floor(i · T / 160)``
   (:func:`islr.preprocess.nearest_index`), for up- and down-sampling. This is the reference's *training* rule; its
   TF graph used half-pixel nearest (``Resizing``), a train/inference mismatch (docs/method.md §9) that we do not
   reproduce: the export builds the same integer index map and gathers with it.
4. Layout (B, 3, 160, 80): channels = x, y, z; height = time; width = points. (Keras/TFLite use NHWC, i.e. the
   same tensor transposed to (B, 160, 80, 3).)

Every step is a gather, a masked mean/std or an elementwise op, so the TF port is direct.
"""

from __future__ import annotations

import numpy as np
import torch

from islr.landmarks import CNN_AUG_FLIP, CNN_AUG_POINTS, CNN_AUG_TO_CNN, CNN_POINTS, part_columns
from islr.preprocess import as_batch, broadcast_to_batch, frame_mask, gather_frames, masked_scalar_stats, \
    nearest_index, select_points

N_FRAMES = 160
STD_EPS = 1e-6


_AUG_PARTS = part_columns(CNN_AUG_POINTS)
_INDEX = {"flip": CNN_AUG_FLIP, "to_cnn": CNN_AUG_TO_CNN}
_index_cache: dict[tuple[str, torch.device], torch.Tensor] = {}


def _index(name: str, device: torch.device) -> torch.Tensor:
    """A column index of :data:`_INDEX` on ``device``, copied there once (a host→GPU copy per batch would wait)."""
    key = (name, device)
    if key not in _index_cache:
        _index_cache[key] = torch.as_tensor(_INDEX[name], dtype=torch.long, device=device)
    return _index_cache[key]


def left_dominant(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mirror the samples whose right hand has more present values than their left hand (step 0).

    Args:
        x: (B, T, 86, 3) :data:`islr.landmarks.CNN_AUG_POINTS` or (B, T, 543, 3) full frames, NaN = missing;
            frames ``t >= lengths[b]`` are padding and not counted.
        lengths: (B,) int64.

    Returns:
        (B, T, 86, 3) CNN_AUG_POINTS columns; a mirrored sample has every point in its twin's column and
        ``x → 1 − x`` (the flip augmentation's mirror, :func:`islr.augment.flip`).
    """
    x = select_points(x, CNN_AUG_POINTS)
    present = ~torch.isnan(x) & frame_mask(lengths, x.shape[1])[:, :, None, None]
    n_left = present[:, :, _AUG_PARTS["left_hand"]].sum(dim=(1, 2, 3))
    n_right = present[:, :, _AUG_PARTS["right_hand"]].sum(dim=(1, 2, 3))
    mirrored = x.index_select(2, _index("flip", x.device))
    mirrored = torch.cat([1.0 - mirrored[..., :1], mirrored[..., 1:]], dim=-1)
    return torch.where((n_right > n_left)[:, None, None, None], mirrored, x)


def select_cnn_points(x: torch.Tensor) -> torch.Tensor:
    """The 80 CNN columns (docs/method.md §1) of a (..., 543, 3) tensor; a (..., 80, 3) tensor is returned as is."""
    return select_points(x, CNN_POINTS)


def normalize(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-sample scalar normalisation, then NaN → 0 (docs/method.md §1).

    Args:
        x: (B, T, P, 3) float32, NaN = missing; frames ``t >= lengths[b]`` are padding.
        lengths: (B,) int64.

    Returns:
        (B, T, P, 3) float32 ``(v − mean) / (std + 1e-6)`` with one mean and one unbiased std per sample over all
        non-NaN values of the real frames; NaN and padding frames are 0.
    """
    valid = ~torch.isnan(x) & frame_mask(lengths, x.shape[1])[:, :, None, None]  # (B, T, P, 3)
    mean, std, _ = masked_scalar_stats(x, valid)
    # std is 0 for fewer than two values, so the epsilon alone keeps the division finite there.
    out = (x - broadcast_to_batch(mean, x)) / broadcast_to_batch(std + STD_EPS, x)
    return torch.where(valid, out, torch.zeros((), dtype=x.dtype, device=x.device))


def resize_time(x: torch.Tensor, lengths: torch.Tensor, n: int = N_FRAMES,
                frame_index: torch.Tensor | None = None) -> torch.Tensor:
    """Resample the time axis of every sample to ``n`` frames by gathering.

    Args:
        x: (B, T, ...) tensor; frames ``t >= lengths[b]`` are padding.
        lengths: (B,) int64.
        n: output frames.
        frame_index: optional (B, n) or (n,) int64 source frames (e.g. the training augmentation "160 random
            sorted frames", docs/method.md §3a step 10); each must be < that sample's length. None = the nearest rule
            ``floor(i · L_b / n)`` of :func:`islr.preprocess.nearest_index`.

    Returns:
        (B, n, ...) tensor. A sample of length 0 gathers its (padding) frame 0, which :func:`normalize` has zeroed.
    """
    if frame_index is None:
        frame_index = nearest_index(lengths, n)
    if frame_index.shape[-1] != n:
        raise ValueError(f"frame_index has {frame_index.shape[-1]} frames, expected {n}")
    return gather_frames(x, frame_index)


def cnn_input(x: torch.Tensor, lengths: torch.Tensor | None = None, n_frames: int = N_FRAMES,
              frame_index: torch.Tensor | None = None, dominant_hand: bool = True) -> torch.Tensor:
    """CNN image of a padded batch (docs/method.md §1).

    Args:
        x: (B, T, 543, 3) or (B, T, 86, 3) (:data:`islr.landmarks.CNN_AUG_POINTS`) float landmarks, NaN = missing;
            (B, T, 80, 3) only with ``dominant_hand=False`` (80 columns cannot be mirrored).
        lengths: (B,) int64 real frames per sample; None = all T.
        n_frames: frames of the image (160 in the method).
        frame_index: optional source frames for :func:`resize_time`.
        dominant_hand: step 0, :func:`left_dominant` (the default; False = the reference's rule).

    Returns:
        (B, 3, n_frames, 80) float32, finite.
    """
    x, lengths = as_batch(x, lengths)
    if dominant_hand:
        if x.shape[2] == len(CNN_POINTS):
            raise ValueError("cnn_input: 80-column input cannot be mirrored to the dominant hand; pass the 86 "
                             "CNN_AUG_POINTS columns or the 543-row frame (or dominant_hand=False)")
        x = left_dominant(x, lengths).index_select(2, _index("to_cnn", x.device))
    elif x.shape[2] == len(CNN_AUG_POINTS):
        x = x.index_select(2, _index("to_cnn", x.device))
    x = normalize(select_cnn_points(x), lengths)  # (B, T, 80, 3)
    x = resize_time(x, lengths, n_frames, frame_index)  # (B, n_frames, 80, 3)
    return x.permute(0, 3, 1, 2).contiguous()  # (B, 3, n_frames, 80)


def cnn_input_single(array: np.ndarray, n_frames: int = N_FRAMES, dominant_hand: bool = True) -> torch.Tensor:
    """:func:`cnn_input` of one (T, 543|86, 3) numpy array; returns a (3, n_frames, 80) float32 CPU tensor."""
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    return cnn_input(x, None, n_frames, dominant_hand=dominant_hand)[0]
