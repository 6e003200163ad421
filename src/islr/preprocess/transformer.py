"""Transformer input: 972 features per frame for at most 96 frames, plus an attention mask (docs/method.md §2).

Input: the 82 points of :data:`islr.landmarks.TRANSFORMER_POINTS` (40 lips in LIP order, left hand, right hand),
selected from a 543-row frame by :func:`select_transformer_points`. Steps, in this order:

1. :func:`choose_hand`: keep the left hand if its NaN count over the *whole* sequence (all real frames, x/y/z values
   counted) is strictly smaller than the right hand's; otherwise (ties included) take the right hand mirrored.
   The count uses the full sequence, before the length rule below, so that one input always gets the same hand
   whatever its length and however it is subsampled.
2. :func:`mirror_hand`: per frame ``x' = 2·c − x`` with c the x of LIP[0] (landmark 0) in that frame; y, z unchanged.
   If c is NaN in a frame, the mirrored x of that frame is NaN (and becomes 0 at the end), like the reference.
   Mirroring is per frame, so :func:`transformer_input` applies it after the subsampling of step 3 (same result,
   less work on long sequences).
3. :func:`subsample_index`: sequences longer than 96 frames keep frames ``floor(i · T / 96)``, i < 96; shorter
   ones are unchanged. **We subsample first, then compute the features on the kept frames.** The reference did this
   in its TF graph but subsampled *after* the features in training (docs/method.md §9), so its model saw motion
   features (dpos, rdpos) and a normalisation that its export did not reproduce. Subsampling first is what the export
   graph can do cheaply (one gather), and it makes dpos/rdpos the motion between the frames the model actually sees.
   Training and export both use this one rule.
4. :func:`features` on the (≤96, 61, 3) points = 40 lips then the chosen hand, in the order of
   :data:`FEATURE_SLICES`:

   ============  =====  ============================================================================================
   block         size   definition
   ============  =====  ============================================================================================
   pos           183    61 points normalised by one scalar mean/std per sample over all non-NaN values of the real
                        frames (xyz pooled, unbiased std, no epsilon as in the reference; a std of 0, or fewer than
                        two values, is replaced by 1 so the output stays finite); flattened point-major (x, y, z
                        interleaved)
   dpos          183    ``pos[t] − pos[t+1]``, 0 on the last real frame (the negative of the README's "future
                        motion", kept as the reference computes it)
   rdpos         183    ``pos[t] − pos[t−1]``, 0 on the first frame
   lip_dist      190    xy Euclidean distances of all pairs i<j of LIP[0:20], row-major upper triangle, raw coordinates
   hand_dist     210    the same for the 21 hand points
   lip_angle     8      cosine at b between (a−b) and (c−b), 3-D, raw coordinates, LIP_ANGLES as LIP positions
   hand_angle    15     the same with HAND_ANGLES
   ============  =====  ============================================================================================

   Finally every NaN (missing points, zero-length vectors in a cosine) and, defensively, ±inf becomes 0, and
   padding frames are 0.
5. Output: (B, 96, 972) float32 zero-padded and a (B, 96) int64 attention mask, 1 for real frames.

Every step is a gather with a constant index list, a masked mean/std, a shifted difference or a cosine, so the TF
export writes the same steps one to one. "Raw" coordinates are after augmentation and mirroring; mirroring the
right hand changes no distance or cosine.
"""

from __future__ import annotations

import numpy as np
import torch

from islr.landmarks import HAND_ANGLES, LIP, LIP_ANGLES, LIP_DIST_POSITIONS, TRANSFORMER_PART_COLUMNS, \
    TRANSFORMER_POINTS
from islr.preprocess import as_batch, broadcast_to_batch, frame_mask, gather_frames, masked_scalar_stats, \
    nearest_index, select_points

MAX_LEN = 96
N_LIPS = len(LIP)
N_HAND = 21
N_POS_POINTS = N_LIPS + N_HAND  # 61
#: Pair lists (row-major upper triangle, i<j) as positions inside the 61 feature points.
LIP_PAIRS = np.stack(np.triu_indices(len(LIP_DIST_POSITIONS), k=1)).T  # (190, 2), LIP positions
HAND_PAIRS = np.stack(np.triu_indices(N_HAND, k=1)).T + N_LIPS  # (210, 2)
LIP_ANGLE_POINTS = LIP_ANGLES  # (8, 3) positions among the 61 points (lips come first)
HAND_ANGLE_POINTS = HAND_ANGLES + N_LIPS  # (15, 3)


def _feature_slices() -> dict[str, slice]:
    sizes = (("pos", 3 * N_POS_POINTS), ("dpos", 3 * N_POS_POINTS), ("rdpos", 3 * N_POS_POINTS),
             ("lip_dist", len(LIP_PAIRS)), ("hand_dist", len(HAND_PAIRS)),
             ("lip_angle", len(LIP_ANGLE_POINTS)), ("hand_angle", len(HAND_ANGLE_POINTS)))
    out, start = {}, 0
    for name, size in sizes:
        out[name] = slice(start, start + size)
        start += size
    return out


#: The 7 feature blocks in the reference's concatenation order (docs/method.md §2).
FEATURE_SLICES: dict[str, slice] = _feature_slices()
N_FEATURES = FEATURE_SLICES["hand_angle"].stop
assert N_FEATURES == 972

_LIPS = TRANSFORMER_PART_COLUMNS["lips"]
_LEFT = TRANSFORMER_PART_COLUMNS["left_hand"]
_RIGHT = TRANSFORMER_PART_COLUMNS["right_hand"]


def select_transformer_points(x: torch.Tensor) -> torch.Tensor:
    """The 82 transformer columns of a (..., 543, 3) tensor; a (..., 82, 3) tensor is returned as is."""
    return select_points(x, TRANSFORMER_POINTS)


def choose_hand(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Which hand each sample keeps (docs/method.md §2).

    Args:
        x: (B, T, 82, 3) transformer points; frames ``t >= lengths[b]`` are padding and not counted.
        lengths: (B,) int64.

    Returns:
        (B,) bool, True = keep the left hand: its count of NaN values over all real frames is strictly smaller
        than the right hand's. A tie (e.g. both hands always missing) picks the right hand.
    """
    real = frame_mask(lengths, x.shape[1])[:, :, None, None]  # (B, T, 1, 1)
    missing = torch.isnan(x) & real
    n_left = missing[:, :, _LEFT].sum(dim=(1, 2, 3))
    n_right = missing[:, :, _RIGHT].sum(dim=(1, 2, 3))
    return n_left < n_right


def mirror_hand(hand: torch.Tensor, center_x: torch.Tensor) -> torch.Tensor:
    """Reflect a hand about the vertical line through ``center_x``, per frame: ``x' = 2·c − x``.

    Args:
        hand: (B, T, 21, 3).
        center_x: (B, T) the x of LIP[0] (landmark 0) in each frame; NaN makes that frame's x NaN.

    Returns:
        (B, T, 21, 3) with x mirrored, y and z unchanged.
    """
    mirrored_x = 2.0 * center_x[:, :, None] - hand[..., 0]  # (B, T, 21)
    return torch.cat([mirrored_x[..., None], hand[..., 1:]], dim=-1)


def dominant_hand_points(x: torch.Tensor, use_left: torch.Tensor) -> torch.Tensor:
    """The 61 feature points (40 lips, then the chosen hand, mirrored if it is the right) of every frame.

    Args:
        x: (B, T, 82, 3).
        use_left: (B,) bool from :func:`choose_hand` (computed on the full sequence).

    Returns:
        (B, T, 61, 3).
    """
    lips = x[:, :, _LIPS]  # (B, T, 40, 3)
    right = mirror_hand(x[:, :, _RIGHT], lips[:, :, 0, 0])
    hand = torch.where(use_left[:, None, None, None], x[:, :, _LEFT], right)  # (B, T, 21, 3)
    return torch.cat([lips, hand], dim=2)


def subsample_index(lengths: torch.Tensor, max_len: int = MAX_LEN, n_frames: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames each sample keeps under the length rule (docs/method.md §2).

    Args:
        lengths: (B,) int64 real frames per sample.
        max_len: at most this many frames are kept.
        n_frames: T of the padded batch (indices are clipped below it); None = max(lengths).

    Returns:
        ``(index, new_lengths)``: index (B, max_len) int64, ``floor(i · L / max_len)`` when L > max_len, else i
        (entries i >= L point at padding and are masked by new_lengths); new_lengths = min(L, max_len).
    """
    if n_frames is None:
        n_frames = int(lengths.max()) if lengths.numel() else 1
    i = torch.arange(max_len, device=lengths.device, dtype=torch.int64)[None, :]
    index = torch.where(lengths[:, None] > max_len, nearest_index(lengths, max_len), i)
    return index.clamp(max=max(n_frames - 1, 0)), lengths.clamp(max=max_len)


def _pair_distance_xy(points: torch.Tensor, pairs: np.ndarray) -> torch.Tensor:
    """(B, T, P, 3) → (B, T, len(pairs)) xy Euclidean distance of each pair (a gather of two index lists)."""
    pairs = torch.as_tensor(pairs, device=points.device)
    # Per-coordinate index_select on the point axis: several times faster on CPU than advanced indexing.
    x, y = points[..., 0], points[..., 1]  # (B, T, P)
    dx = x.index_select(2, pairs[:, 0]) - x.index_select(2, pairs[:, 1])
    dy = y.index_select(2, pairs[:, 0]) - y.index_select(2, pairs[:, 1])
    return torch.sqrt(dx * dx + dy * dy)


def _angle_cosine(points: torch.Tensor, triples: np.ndarray) -> torch.Tensor:
    """(B, T, P, 3) → (B, T, len(triples)) cosine at b between (a − b) and (c − b) in 3-D; 0/0 gives NaN."""
    triples = torch.as_tensor(triples, device=points.device)
    b = points.index_select(2, triples[:, 1])
    ba = points.index_select(2, triples[:, 0]) - b
    bc = points.index_select(2, triples[:, 2]) - b
    dot = (ba * bc).sum(dim=-1)
    return dot / (torch.linalg.vector_norm(ba, dim=-1) * torch.linalg.vector_norm(bc, dim=-1))


def _normalized_pos(points: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(B, T, 61, 3) → (B, T, 183): scalar-normalised positions, NaN kept; see the module docstring for the guard."""
    valid = ~torch.isnan(points) & real[:, :, None, None]
    mean, std, count = masked_scalar_stats(points, valid)
    # The reference divides by the bare std. With std 0 or < 2 values every value equals the mean, so dividing by
    # 1 gives the same 0 that the reference reaches through 0/0 = NaN → 0, without a NaN in between.
    std = torch.where((count >= 2) & (std > 0), std, torch.ones_like(std))
    pos = (points - broadcast_to_batch(mean, points)) / broadcast_to_batch(std, points)
    return pos.flatten(2)  # point-major: x0, y0, z0, x1, ...


def features(points: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The 972 per-frame features (docs/method.md §2; blocks in :data:`FEATURE_SLICES`).

    Args:
        points: (B, T, 61, 3) raw points, 40 lips then the dominant hand (:func:`dominant_hand_points`), already
            cut to the frames the model sees (:func:`subsample_index`).
        lengths: (B,) int64 real frames; padding frames do not enter the statistics or the differences.

    Returns:
        (B, T, 972) float32, finite; padding frames are 0.
    """
    t = points.shape[1]
    real = frame_mask(lengths, t)  # (B, T)
    pos = _normalized_pos(points, real)  # (B, T, 183)
    zero_frame = torch.zeros_like(pos[:, :1])
    nxt = torch.cat([pos[:, 1:], zero_frame], dim=1)
    prev = torch.cat([zero_frame, pos[:, :-1]], dim=1)
    steps = torch.arange(t, device=points.device)[None, :]
    has_next = (steps + 1 < lengths[:, None])[:, :, None]  # (B, T, 1)
    has_prev = ((steps >= 1) & real)[:, :, None]
    dpos = torch.where(has_next, pos - nxt, torch.zeros_like(pos))
    rdpos = torch.where(has_prev, pos - prev, torch.zeros_like(pos))
    out = torch.cat([
        pos, dpos, rdpos,
        _pair_distance_xy(points, LIP_PAIRS), _pair_distance_xy(points, HAND_PAIRS),
        _angle_cosine(points, LIP_ANGLE_POINTS), _angle_cosine(points, HAND_ANGLE_POINTS),
    ], dim=-1)  # (B, T, 972)
    keep = torch.isfinite(out) & real[:, :, None]
    return torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))


def transformer_input(x: torch.Tensor, lengths: torch.Tensor | None = None, max_len: int = MAX_LEN
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformer features of a padded batch (module docstring, steps 1–5).

    Args:
        x: (B, T, 543, 3) or (B, T, 82, 3) float landmarks, NaN = missing.
        lengths: (B,) int64 real frames per sample; None = all T.
        max_len: frames kept at most (96 in the method).

    Returns:
        ``(features, mask)``: (B, max_len, 972) float32 zero-padded, and (B, max_len) int64, 1 = real frame.
    """
    x, lengths = as_batch(x, lengths)
    x = select_transformer_points(x)  # (B, T, 82, 3)
    use_left = choose_hand(x, lengths)  # on the full sequence, before subsampling
    # Only min(T, max_len) frames can be real after subsampling: compute on those, zero-pad afterwards.
    n_out = min(max_len, x.shape[1])
    index, new_lengths = subsample_index(lengths, max_len, x.shape[1])
    x = gather_frames(x, index[:, :n_out])  # (B, n_out, 82, 3)
    feats = features(dominant_hand_points(x, use_left), new_lengths)  # (B, n_out, 972)
    feats = torch.nn.functional.pad(feats, (0, 0, 0, max_len - n_out))
    return feats, frame_mask(new_lengths, max_len).to(torch.int64)


def transformer_input_single(array: np.ndarray, max_len: int = MAX_LEN) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`transformer_input` of one (T, 543|82, 3) numpy array: ((max_len, 972) float32, (max_len,) int64)."""
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    feats, mask = transformer_input(x, None, max_len)
    return feats[0], mask[0]
