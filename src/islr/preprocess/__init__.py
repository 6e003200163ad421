"""Model inputs from landmark sequences, written once in torch (docs/method.md §1, §2).

* :mod:`islr.preprocess.cnn`: (T, 543|80, 3) → the (3, 160, 80) "image" of the EfficientNet.
* :mod:`islr.preprocess.transformer`: (T, 543|82, 3) → (96, 972) per-frame features + attention mask.

Every function works on a padded batch ``x`` (B, T, P, 3) float32 with NaNs for missing landmarks, plus
``lengths`` (B,) int64: frames at or past a sample's length are padding and never influence a result. The same code
runs with B=1 on the CPU inside DataLoader workers and on whole batches on the GPU (nothing here is tied to a
device). Each step is deliberately one of: a gather with an index map, a masked mean/std, a pairwise difference or a
cosine, so that ``islr.export`` can write the same steps as a TF graph for the TFLite model.

This package module holds the primitives the two input builders share; it imports neither of them, so
``from islr.preprocess import nearest_index`` is safe inside them.
"""

from __future__ import annotations

import numpy as np
import torch


def as_batch(x: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 batch and int64 lengths, with at least one (padding) frame so that gathers are defined.

    Args:
        x: (B, T, P, 3) landmarks, NaN = missing.
        lengths: (B,) real frames per sample; None = every sample is T frames long.

    Returns:
        ``(x, lengths)``: x (B, max(T, 1), P, 3) float32 on x's device (a T=0 batch gets one NaN frame of padding),
        lengths (B,) int64 on the same device, clipped to [0, T].
    """
    x = torch.as_tensor(x)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected a (B, T, P, 3) batch, got shape {tuple(x.shape)}")
    x = x.to(torch.float32)
    b, t = x.shape[:2]
    if lengths is None:
        lengths = torch.full((b,), t, dtype=torch.int64, device=x.device)
    lengths = torch.as_tensor(lengths, device=x.device).to(torch.int64).clamp(0, t)
    if lengths.shape != (b,):
        raise ValueError(f"lengths must have shape ({b},), got {tuple(lengths.shape)}")
    if t == 0:
        x = torch.full((b, 1, *x.shape[2:]), float("nan"), dtype=torch.float32, device=x.device)
    return x, lengths


def frame_mask(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B, n_frames) bool: True for real frames (``t < lengths[b]``), False for padding."""
    return torch.arange(n_frames, device=lengths.device)[None, :] < lengths[:, None]


def nearest_index(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """Nearest-neighbour time map of every sample onto ``n`` frames: ``src[b, i] = floor(i · L_b / n)``.

    This is the rule of PyTorch ``interpolate(mode="nearest")`` on the time axis, which the reference trained its
    CNN with (docs/method.md §1), written in exact integer arithmetic so that the TF export (``tf.range(n) * T // n``,
    a gather) gives the same indices. It serves both up- and down-sampling. torch itself multiplies by a float32
    scale and so lands one frame early at a few exact multiples (T=84, i=120 gives 62, not 63; about 1.4% of the
    lengths up to 3000 have such a position); we keep the exact rule, which TF reproduces bit for bit. The
    reference's TF graph used half-pixel nearest (``Resizing``) instead, a train/inference mismatch we do not
    reproduce (docs/method.md §9).

    Args:
        lengths: (B,) int64 real frames per sample. A sample of length 0 maps every i to frame 0 (padding).
        n: number of output frames.

    Returns:
        (B, n) int64 source frame indices, each < max(L_b, 1).
    """
    i = torch.arange(n, device=lengths.device, dtype=torch.int64)
    return (i[None, :] * lengths[:, None]) // n


def gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, i]]`` for every b, i.

    Args:
        x: (B, T, ...) tensor.
        index: (B, n) or (n,) int64 frame indices into T.

    Returns:
        (B, n, ...) tensor.
    """
    if index.dim() == 1:
        index = index[None, :].expand(x.shape[0], -1)
    batch = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[batch, index.to(x.device)]


def masked_scalar_stats(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One mean and one unbiased (N−1) std per sample over the values where ``valid`` is True.

    All axes but the first are pooled (x, y and z together, as the reference does: docs/method.md §1, §2). Written
    as masked sums so that it maps onto TF ``reduce_sum`` over a boolean mask. Two passes (mean, then the sum of
    squared deviations) keep float32 close to numpy's ``nanstd(ddof=1)``.

    Args:
        x: (B, ...) float tensor; may hold NaN where ``valid`` is False.
        valid: bool tensor of x's shape.

    Returns:
        ``(mean, std, count)``, each (B,): count is the number of valid values; mean is 0 when count = 0 and std is
        0 when count < 2 (the caller decides how to guard the division).
    """
    dims = tuple(range(1, x.dim()))
    count = valid.sum(dim=dims)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    mean = torch.where(valid, x, zero).sum(dim=dims) / count.clamp(min=1)
    centred = torch.where(valid, x - mean.view(-1, *([1] * len(dims))), zero)
    var = (centred * centred).sum(dim=dims) / (count - 1).clamp(min=1)
    return mean, var.sqrt(), count


def broadcast_to_batch(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a (B,) tensor so it broadcasts against ``like`` (B, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def select_points(x: torch.Tensor, points: np.ndarray, n_all: int = 543) -> torch.Tensor:
    """Gather landmark columns ``points`` from a full frame; a tensor that already has them is returned as is.

    Args:
        x: (..., P, 3) with P = ``n_all`` (full MediaPipe frame) or P = len(points) (already selected).
        points: frame-row ids to take, in output order.
        n_all: number of rows of a full frame.

    Returns:
        (..., len(points), 3).
    """
    if x.shape[-2] == len(points):
        return x
    if x.shape[-2] != n_all:
        raise ValueError(f"expected {n_all} or {len(points)} points per frame, got {x.shape[-2]}")
    return x.index_select(x.dim() - 2, torch.as_tensor(points, device=x.device))
