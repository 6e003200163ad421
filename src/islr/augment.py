"""Training augmentations of the CNN and the transformers (docs/method.md §3a, §3b), batched and seedable.

Conventions shared by every point-level function:

* ``x`` is a float tensor ``(B, T, P, 3)`` (x, y, z; NaN = landmark missing) and ``lengths`` a ``(B,)`` integer
  tensor: frames ``t >= lengths[b]`` are padding. Padding frames are never read into real frames and are returned
  bit-for-bit unchanged (except by :func:`time_interpolate`, which re-pads; see there).
* Every random number comes from the ``torch.Generator`` passed in. Parameters are drawn on the generator's device
  (normally the CPU) and then moved to ``x.device``, so the same seed gives the same parameters whether the data
  lives on the CPU (DataLoader workers, ``B = 1``) or on a GPU (whole batches).
* Each augmentation is applied per sample with probability ``p``: a Bernoulli draw per sample, vectorised. The
  parameters of all samples are drawn whether or not a sample is selected, so the random stream consumed depends on
  ``B`` only, not on which samples were selected.
* Point sets are frame-row id arrays from :mod:`islr.landmarks`; parts come from
  :func:`islr.landmarks.part_columns`. The CNN works on :data:`~islr.landmarks.CNN_AUG_POINTS` (86 columns: the 80
  CNN points plus the mirror twins its flip needs), the transformers on :data:`~islr.landmarks.TRANSFORMER_POINTS`.

The image-level steps (mixup, replace-from-same-class, time/point masking) act on the normalised CNN image
``(B, 3, 160, 80)`` and are called by the data pipeline after preprocessing; :func:`random_frame_indices` gives the
training-only random frame choice of the CNN time resize (§3a step 10).

Bugs of the reference that are fixed here (docs/method.md §10): the flip swaps every point with its true twin and
mirrors x as ``1 - x`` (§10.1, §10.5); the mixup label adds λ and 1 − λ, so a pair of one class gets label 1
(§10.3); the replace-aug mirror reflects x over all frames (§10.4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from islr import landmarks
from islr.config import CNNAugConfig, TransformerAugConfig

#: Per-part landmark std (x, y, z) used by the part shift (docs/method.md §3a table).
PART_STD: dict[str, tuple[float, float, float]] = {
    "lips": (0.032161612, 0.012530263, 0.010506421),
    "left_hand": (0.089548111, 0.085243039, 0.045476798),
    "pose": (0.308612764, 0.338997424, 0.662393212),
    "right_hand": (0.085256897, 0.080050945, 0.045487866),
}
#: Divisor ranges ``randint(a, b) / 10`` (upper bound exclusive) per part and axis for the part shift (§3a).
PART_SHIFT_DIVISOR: dict[str, tuple[tuple[int, int], ...]] = {
    "lips": ((60, 150), (80, 150), (120, 200)),
    "left_hand": ((60, 150), (80, 150), (120, 200)),
    "pose": ((110, 200), (110, 200), (160, 250)),
    "right_hand": ((60, 150), (80, 150), (120, 200)),
}
#: Order of the four parts for the part-level augmentations.
PART_NAMES = ("lips", "left_hand", "pose", "right_hand")
#: Probability of moving a replace pick to the other hand when the target's hand block is all zeros (§3a).
REPLACE_SWITCH_HAND_P = 0.93


# ---------------------------------------------------------------------------------------------------------------
# Small helpers: random draws on the generator's device, per-sample selection, padding-safe commit.
# ---------------------------------------------------------------------------------------------------------------
def _rand(gen: torch.Generator, shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
    """U[0, 1) float32 of ``shape`` drawn from ``gen`` on its own device, then moved to ``device``."""
    return torch.rand(tuple(shape), generator=gen, device=gen.device).to(device)


def _uniform(gen: torch.Generator, shape: Sequence[int], low: float, high: float,
             device: torch.device | str) -> torch.Tensor:
    return _rand(gen, shape, device) * (high - low) + low


def _randint(gen: torch.Generator, low: int, high: int, shape: Sequence[int],
             device: torch.device | str) -> torch.Tensor:
    """Integers in ``[low, high)`` (numpy ``randint`` convention)."""
    return torch.randint(low, high, tuple(shape), generator=gen, device=gen.device).to(device)


def _bernoulli(gen: torch.Generator, batch: int, p: float) -> torch.Tensor:
    """(B,) bool on the generator's device; kept there so ``.any()`` needs no GPU sync."""
    return torch.rand(batch, generator=gen, device=gen.device) < p


def _frame_mask(lengths: torch.Tensor, n_frames: int, device: torch.device | str) -> torch.Tensor:
    """(B, T) bool: True on real frames."""
    return torch.arange(n_frames, device=device)[None, :] < lengths.to(device)[:, None]


def _commit(x: torch.Tensor, new: torch.Tensor, apply: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``new`` on the real frames of the selected samples, ``x`` everywhere else (padding untouched)."""
    keep = apply.to(x.device)[:, None] & _frame_mask(lengths, x.shape[1], x.device)  # (B, T)
    return torch.where(keep[:, :, None, None], new, x)


def _check_points(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected x of shape (B, T, P, 3), got {tuple(x.shape)}")


def _rotation_matrices(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Right-handed rotation matrices about a coordinate axis.

    Args:
        axis: integer tensor (any shape S) with values 0 (x), 1 (y) or 2 (z).
        angle: float tensor of shape S, radians.

    Returns:
        (*S, 3, 3) matrices, from Rodrigues' formula ``I + sin·K + (1 − cos)·K²`` for the unit axis.
    """
    e = torch.nn.functional.one_hot(axis.long(), 3).to(angle.dtype)  # (*S, 3)
    zero = torch.zeros_like(e[..., 0])
    k = torch.stack([
        torch.stack([zero, -e[..., 2], e[..., 1]], -1),
        torch.stack([e[..., 2], zero, -e[..., 0]], -1),
        torch.stack([-e[..., 1], e[..., 0], zero], -1),
    ], -2)  # (*S, 3, 3) cross-product matrix of the axis
    eye = torch.eye(3, dtype=angle.dtype, device=angle.device).expand_as(k)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return eye + s * k + (1 - c) * (k @ k)


# ---------------------------------------------------------------------------------------------------------------
# Point-level augmentations.
# ---------------------------------------------------------------------------------------------------------------
def global_affine(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
                  scale: tuple[float, float], shift: float, per_axis_shift: bool,
                  rotate_deg: float = 0.0) -> torch.Tensor:
    """Random global scale, shift and xy-rotation of every point (§3a step 1, §3b step 1).

    Order (as listed in docs/method.md): ``v ← s·v``; ``v ← v + d``; then rotate x, y about the origin by θ.

    Args:
        x: (B, T, P, 3) points, NaN = missing.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        scale: range of the single scale factor s (applied to x, y and z).
        shift: shift range ±shift.
        per_axis_shift: False: ONE scalar d added to x, y and z (CNN); True: d drawn per axis (transformer).
        rotate_deg: rotation range ±deg in the xy-plane; 0 = no rotation (and no draw).

    Returns:
        (B, T, P, 3) augmented points.
    """
    _check_points(x)
    b, dev = x.shape[0], x.device
    apply = _bernoulli(gen, b, p)
    s = _uniform(gen, (b,), scale[0], scale[1], dev)
    d = _uniform(gen, (b, 3 if per_axis_shift else 1), -shift, shift, dev)
    theta = _uniform(gen, (b,), -rotate_deg, rotate_deg, dev) * (math.pi / 180) if rotate_deg > 0 else None
    if not bool(apply.any()):
        return x
    new = x * s[:, None, None, None].to(x.dtype) + d[:, None, None, :].to(x.dtype)
    if theta is not None:
        c, sn = torch.cos(theta)[:, None, None].to(x.dtype), torch.sin(theta)[:, None, None].to(x.dtype)
        px, py = new[..., 0], new[..., 1]
        new = torch.stack([c * px - sn * py, sn * px + c * py, new[..., 2]], -1)
    return _commit(x, new, apply, lengths)


def time_interpolate(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
                     factor: tuple[float, float] = (0.8, 1.5), offset: float = 0.5,
                     min_length: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random temporal re-sampling with linear interpolation (§3a step 3, §3b step 2).

    For a selected sample of length L: ``f ~ U(factor)``, ``o ~ U(−offset, offset)``, new length
    ``n = round(L·f)`` (at least 1), sample times ``t_j = o + j·(L − 1)/(n − 1)`` (evenly from o to L − 1 + o),
    and
    ``x'[j] = x[i] + (t_j − i)·(x[i+1] − x[i])`` with ``i = clamp(floor(t_j), 0, L − 2)``: linear interpolation
    inside, linear extrapolation from the first/last two frames outside. A frame that falls exactly on a source
    frame copies it; otherwise a NaN in either neighbour makes the result NaN (a missing landmark stays missing
    instead of being invented). L = 1 repeats the only frame.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        factor: range of the length factor f.
        offset: range ±offset of the time offset o.
        min_length: only samples with ``L >= min_length`` are eligible (the CNN uses 11: "only if T > 10").

    Returns:
        ``(x_new, lengths_new)``: x_new is (B, T', P, 3) with T' = max(T, max new length); frames past a
        sample's new length are NaN for resampled samples, and for the others their old frames (padding included)
        followed by NaN.
    """
    _check_points(x)
    b, t_in, dev = x.shape[0], x.shape[1], x.device
    apply = _bernoulli(gen, b, p) & (lengths.to(gen.device) >= min_length)
    f = torch.rand(b, generator=gen, device=gen.device, dtype=torch.float64) * (factor[1] - factor[0]) + factor[0]
    o = (torch.rand(b, generator=gen, device=gen.device, dtype=torch.float64) * 2 - 1) * offset
    if not bool(apply.any()):
        return x, lengths
    src_len = lengths.to(gen.device).to(torch.float64)
    new_len = torch.where(apply, torch.round(src_len * f).clamp(min=1), src_len).long()  # (B,) on gen device
    t_out = max(t_in, int(new_len.max()))
    # Sample times in float64 so that factor 1, offset 0 lands exactly on the source frames.
    j = torch.arange(t_out, dtype=torch.float64, device=dev)[None, :]  # (1, T')
    step = ((src_len - 1) / (new_len - 1).clamp(min=1).to(torch.float64)).to(dev)[:, None]
    times = o.to(dev)[:, None] + j * step  # (B, T')
    i0 = times.floor().clamp(min=0)
    i0 = torch.minimum(i0, (src_len.to(dev)[:, None] - 2).clamp(min=0)).long()  # (B, T')
    i1 = torch.minimum(i0 + 1, (lengths.to(dev)[:, None] - 1).clamp(min=0)).long()
    w = (times - i0).to(x.dtype)[:, :, None, None]  # (B, T', 1, 1)
    rows = torch.arange(b, device=dev)[:, None]
    x0, x1 = x[rows, i0.clamp(max=t_in - 1)], x[rows, i1.clamp(max=t_in - 1)]  # (B, T', P, 3)
    blend = torch.where(w == 0, x0, torch.where(w == 1, x1, x0 + w * (x1 - x0)))  # (B, T', P, 3)
    valid_new = _frame_mask(new_len, t_out, dev)  # (B, T')
    out = torch.full((b, t_out, x.shape[2], 3), float("nan"), dtype=x.dtype, device=dev)
    out[:, :t_in] = x
    sel = apply.to(dev)[:, None, None, None]
    out = torch.where(sel & valid_new[:, :, None, None], blend, torch.where(sel, torch.nan, out))
    return out, new_len.to(lengths.device, lengths.dtype)


def flip(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
         perm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mirror the body left↔right (§3a step 4, §3b step 4; fixes §10.1 and §10.5).

    Every point moves to its twin's column (``perm`` from :func:`islr.landmarks.mirror_permutation`, e.g.
    :data:`~islr.landmarks.CNN_AUG_FLIP`) and x becomes ``1 − x``: the normalised image coordinate a mirrored camera
    would give. The reference used ``x_max − x`` (CNN) and ``−x`` (transformer); both differ from ``1 − x`` only
    by a
    per-sample offset that the later normalisation removes. ``flip∘flip`` is the identity (up to float rounding of
    ``1 − (1 − x)``) because ``perm`` is an involution.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        perm: (P,) column permutation, an involution.

    Returns:
        (B, T, P, 3) points.
    """
    _check_points(x)
    perm = torch.as_tensor(np.asarray(perm), dtype=torch.long, device=x.device)
    if perm.shape != (x.shape[2],):
        raise ValueError(f"flip permutation has {perm.shape[0]} entries for {x.shape[2]} points")
    apply = _bernoulli(gen, x.shape[0], p)
    if not bool(apply.any()):
        return x
    new = x[:, :, perm]
    new = torch.cat([1 - new[..., :1], new[..., 1:]], -1)
    return _commit(x, new, apply, lengths)


def _column_part_index(parts: Mapping[str, np.ndarray], n_points: int, device) -> tuple[torch.Tensor, list[str]]:
    """(P,) part number of each column (−1 = in no part) and the part names in that numbering."""
    names = [n for n in PART_NAMES if n in parts]
    owner = torch.full((n_points,), -1, dtype=torch.long)
    for k, name in enumerate(names):
        owner[torch.as_tensor(np.asarray(parts[name]), dtype=torch.long)] = k
    return owner.to(device), names


def _per_column(values: torch.Tensor, owner: torch.Tensor, fill: float) -> torch.Tensor:
    """Spread per-part values (B, K, ...) to columns (B, P, ...); columns in no part get ``fill``."""
    padded = torch.cat([values, torch.full_like(values[:, :1], fill)], 1)  # index −1 → the fill row
    return padded[:, torch.where(owner < 0, values.shape[1], owner)]


def part_shift(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
               parts: Mapping[str, np.ndarray]) -> torch.Tensor:
    """Shift each body part by a random per-axis amount (§3a step 5).

    For part k and axis a: ``Δ = ±PART_STD[k][a] / (randint(lo, hi) / 10)`` with an independent random sign and
    ``(lo, hi)`` from :data:`PART_SHIFT_DIVISOR` (upper bound exclusive), the same Δ for every frame.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        parts: part name → column indices (:func:`islr.landmarks.part_columns`); names from :data:`PART_NAMES`.

    Returns:
        (B, T, P, 3) points.
    """
    _check_points(x)
    b, dev = x.shape[0], x.device
    owner, names = _column_part_index(parts, x.shape[2], dev)
    apply = _bernoulli(gen, b, p)
    lo = torch.tensor([[r[0] for r in PART_SHIFT_DIVISOR[n]] for n in names], dtype=torch.float32)
    hi = torch.tensor([[r[1] for r in PART_SHIFT_DIVISOR[n]] for n in names], dtype=torch.float32)
    # randint(lo, hi) with per-entry bounds: floor(lo + U·(hi − lo)).
    div = torch.floor(lo + _rand(gen, (b, len(names), 3), "cpu") * (hi - lo)) / 10  # (B, K, 3)
    sign = torch.where(_rand(gen, (b, len(names), 3), "cpu") < 0.5, -1.0, 1.0)
    std = torch.tensor([PART_STD[n] for n in names], dtype=torch.float32)
    delta = (sign * std / div).to(dev, x.dtype)  # (B, K, 3)
    if not bool(apply.any()):
        return x
    new = x + _per_column(delta, owner, 0.0)[:, None]  # (B, 1, P, 3) broadcast over frames
    return _commit(x, new, apply, lengths)


def part_scale(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
               parts: Mapping[str, np.ndarray], scale: tuple[float, float] = (0.88, 1.14)) -> torch.Tensor:
    """Scale each body part about its per-frame centre (§3a step 6).

    Factor ``randint(100·lo, 100·hi + 1) / 100`` (0.88…1.14 by default) drawn independently per part; the centre is
    the nan-mean of the part's points in that frame, so it is kept. A frame where the part is all NaN stays NaN.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        parts: part name → column indices.
        scale: factor range (inclusive, in steps of 0.01).

    Returns:
        (B, T, P, 3) points.
    """
    _check_points(x)
    b, dev = x.shape[0], x.device
    names = [n for n in PART_NAMES if n in parts]
    apply = _bernoulli(gen, b, p)
    factor = _randint(gen, round(scale[0] * 100), round(scale[1] * 100) + 1, (b, len(names)), dev) / 100
    if not bool(apply.any()):
        return x
    new = x.clone()
    for k, name in enumerate(names):
        cols = torch.as_tensor(np.asarray(parts[name]), dtype=torch.long, device=dev)
        part = x[:, :, cols]  # (B, T, Pk, 3)
        centre = torch.nanmean(part, dim=2, keepdim=True)  # (B, T, 1, 3)
        new[:, :, cols] = centre + factor[:, k, None, None, None].to(x.dtype) * (part - centre)
    return _commit(x, new, apply, lengths)


def part_rotate(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
                parts: Mapping[str, np.ndarray], max_deg: float = 10.0) -> torch.Tensor:
    """Rotate 1–4 random body parts about the origin around one random axis (§3a step 7).

    One axis per sample from {x, y, z}; ``randint(1, K + 1)`` distinct parts; each its own angle U(−max, max)°.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability.
        parts: part name → column indices.
        max_deg: angle range in degrees.

    Returns:
        (B, T, P, 3) points.
    """
    _check_points(x)
    b, dev = x.shape[0], x.device
    owner, names = _column_part_index(parts, x.shape[2], dev)
    k = len(names)
    apply = _bernoulli(gen, b, p)
    axis = _randint(gen, 0, 3, (b,), dev)
    n_parts = _randint(gen, 1, k + 1, (b,), dev)
    rank = torch.argsort(_rand(gen, (b, k), dev), dim=1).argsort(dim=1)  # random order of the parts
    chosen = rank < n_parts[:, None]  # (B, K): n_parts distinct parts per sample
    angle = _uniform(gen, (b, k), -max_deg, max_deg, dev) * (math.pi / 180)
    if not bool(apply.any()):
        return x
    rot = _rotation_matrices(axis[:, None].expand(b, k), torch.where(chosen, angle, 0.0)).to(x.dtype)
    rot_cols = _per_column(rot, owner, 0.0)  # (B, P, 3, 3); unused for columns of no part
    new = torch.einsum("bpij,btpj->btpi", rot_cols, x)
    moved = _per_column(chosen[:, :, None], owner, 0.0)[:, None, :, :].bool()  # (B, 1, P, 1)
    new = torch.where(moved, new, x)
    return _commit(x, new, apply, lengths)


def finger_tree_rotate(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
                       hands: Sequence[np.ndarray], tree_p: float, max_deg: float,
                       hand_p: float = 1.0) -> torch.Tensor:
    """Bend fingers: rotate finger sub-trees in the xy-plane about their root joint (§3a step 8, §3b step 3).

    Each of the 20 trees of :data:`~islr.landmarks.FINGER_TREES` (root ``route[i]``, children ``route[i+1:]``) is
    rotated with probability ``tree_p`` by U(−max_deg, max_deg)° about the root's position in each frame. Trees are
    applied root to tip (level i = 0..3, the five fingers of a level at once), so a child tree turns about its
    already-moved root and children follow their parents. Every step is rigid in xy and leaves z alone, so all bone
    lengths in xy and all z are kept. Where the root is NaN the children are left as they are.

    Args:
        x: (B, T, P, 3) points.
        lengths: (B,) real frame counts.
        gen: random generator.
        p: per-sample probability of the whole augmentation (CNN: ``tree_rot_prob``; transformer: 1).
        hands: column indices of each hand's 21 points, in hand-local order 0–20.
        tree_p: probability per tree.
        max_deg: angle range in degrees.
        hand_p: probability per hand (transformer: 0.9; CNN: 1).

    Returns:
        (B, T, P, 3) points.
    """
    _check_points(x)
    b, dev = x.shape[0], x.device
    n_h = len(hands)
    apply = _bernoulli(gen, b, p)
    hand_on = _rand(gen, (b, n_h), dev) < hand_p
    tree_on = _rand(gen, (b, n_h, 5, 4), dev) < tree_p  # (B, hand, finger, level)
    angle = _uniform(gen, (b, n_h, 5, 4), -max_deg, max_deg, dev) * (math.pi / 180)
    if not bool(apply.any()):
        return x
    angle = torch.where(tree_on & hand_on[:, :, None, None], angle, 0.0).to(x.dtype)
    hand_cols = torch.as_tensor(np.stack([np.asarray(h) for h in hands]), dtype=torch.long, device=dev)  # (H, 21)
    routes = torch.as_tensor(landmarks.FINGER_ROUTES, dtype=torch.long, device=dev)  # (5, 5) hand-local ids
    new = x.clone()
    for level in range(4):
        root_cols = hand_cols[:, routes[:, level]]  # (H, 5)
        child_cols = hand_cols[:, routes[:, level + 1:]]  # (H, 5, C)
        root = new[:, :, root_cols][:, :, :, :, None, :2]  # (B, T, H, 5, 1, 2)
        child = new[:, :, child_cols]  # (B, T, H, 5, C, 3)
        th = angle[:, None, :, :, level, None]  # (B, 1, H, 5, 1)
        c, s = torch.cos(th), torch.sin(th)
        rel = child[..., :2] - root
        xy = root + torch.stack([c * rel[..., 0] - s * rel[..., 1], s * rel[..., 0] + c * rel[..., 1]], -1)
        moved = torch.cat([xy, child[..., 2:]], -1)
        keep = torch.isnan(root).any(-1, keepdim=True) | (th == 0)[..., None]
        new[:, :, child_cols] = torch.where(keep, child, moved)
    return _commit(x, new, apply, lengths)


# ---------------------------------------------------------------------------------------------------------------
# Pipelines on points.
# ---------------------------------------------------------------------------------------------------------------
_CNN_PARTS = landmarks.part_columns(landmarks.CNN_AUG_POINTS)
_TRANSFORMER_PARTS = landmarks.part_columns(landmarks.TRANSFORMER_POINTS)


def augment_cnn_points(x: torch.Tensor, lengths: torch.Tensor, cfg: CNNAugConfig,
                       gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """CNN point augmentations in the reference's order (§3a steps 1, 3–8).

    Step 2 (selecting points) happens before: ``x`` holds :data:`~islr.landmarks.CNN_AUG_POINTS` (86 columns); take
    ``x[:, :, landmarks.CNN_AUG_TO_CNN]`` afterwards for the 80 CNN columns.

    Args:
        x: (B, T, 86, 3) points, NaN = missing.
        lengths: (B,) real frame counts.
        cfg: probabilities and ranges.
        gen: random generator.

    Returns:
        ``(x, lengths)``; the time interpolation may change T and the lengths.
    """
    if x.shape[2] != len(landmarks.CNN_AUG_POINTS):
        raise ValueError(f"CNN augmentation expects {len(landmarks.CNN_AUG_POINTS)} points, got {x.shape[2]}")
    x = global_affine(x, lengths, gen, cfg.affine_prob, cfg.affine_scale, cfg.affine_shift, per_axis_shift=False)
    x, lengths = time_interpolate(x, lengths, gen, cfg.interpol_prob, cfg.interpol_factor, cfg.interpol_offset,
                                  min_length=11)
    x = flip(x, lengths, gen, cfg.flip_prob, landmarks.CNN_AUG_FLIP)
    x = part_shift(x, lengths, gen, cfg.shift_prob, _CNN_PARTS)
    x = part_scale(x, lengths, gen, cfg.scale_prob, _CNN_PARTS, cfg.scale_range)
    x = part_rotate(x, lengths, gen, cfg.rotate_prob, _CNN_PARTS, cfg.rotate_deg)
    x = finger_tree_rotate(x, lengths, gen, cfg.tree_rot_prob,
                           [_CNN_PARTS["left_hand"], _CNN_PARTS["right_hand"]],
                           tree_p=cfg.tree_rot_tree_prob, max_deg=cfg.tree_rot_deg)
    return x, lengths


def augment_transformer_points(x: torch.Tensor, lengths: torch.Tensor, cfg: TransformerAugConfig,
                               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformer point augmentations in the reference's order (§3b steps 1–4).

    Args:
        x: (B, T, 82, 3) points in :data:`~islr.landmarks.TRANSFORMER_POINTS` order, NaN = missing.
        lengths: (B,) real frame counts.
        cfg: probabilities and ranges.
        gen: random generator.

    Returns:
        ``(x, lengths)``; the time interpolation may change T and the lengths.
    """
    if x.shape[2] != len(landmarks.TRANSFORMER_POINTS):
        raise ValueError(f"transformer augmentation expects {len(landmarks.TRANSFORMER_POINTS)} points, "
                         f"got {x.shape[2]}")
    x = global_affine(x, lengths, gen, cfg.affine_prob, cfg.affine_scale, cfg.affine_shift, per_axis_shift=True,
                      rotate_deg=cfg.affine_rotate_deg)
    x, lengths = time_interpolate(x, lengths, gen, cfg.interpol_prob, cfg.interpol_factor, cfg.interpol_offset)
    x = finger_tree_rotate(x, lengths, gen, 1.0,
                           [_TRANSFORMER_PARTS["left_hand"], _TRANSFORMER_PARTS["right_hand"]],
                           tree_p=cfg.tree_rot_tree_prob, max_deg=cfg.tree_rot_deg, hand_p=cfg.tree_rot_hand_prob)
    x = flip(x, lengths, gen, cfg.flip_prob, landmarks.TRANSFORMER_FLIP)
    return x, lengths


def random_frame_indices(lengths: torch.Tensor, gen: torch.Generator, p: float,
                         n_frames: int = 160) -> torch.Tensor:
    """Frame indices for the CNN time resize with the training-only random choice (§3a step 10).

    A sample with ``L > n_frames`` gets, with probability ``p``, ``n_frames`` distinct random frames in increasing
    order; every other sample gets the nearest-resize indices ``floor(i·L / n_frames)`` (§1), so the result can
    always be passed to ``islr.preprocess.cnn.resize_time(..., frame_index=...)``.

    Args:
        lengths: (B,) real frame counts (≥ 1).
        gen: random generator.
        p: per-sample probability.
        n_frames: output length.

    Returns:
        (B, n_frames) long, on ``lengths.device``.
    """
    dev = gen.device
    lens = lengths.to(dev).long()
    b = lens.shape[0]
    apply = _bernoulli(gen, b, p) & (lens > n_frames)
    t_max = max(int(lens.max()), n_frames) if b else n_frames
    keys = torch.rand((b, t_max), generator=gen, device=dev)
    i = torch.arange(n_frames, device=dev)
    nearest = torch.div(i[None, :] * lens[:, None], n_frames, rounding_mode="floor")  # (B, n)
    if not bool(apply.any()):
        return nearest.to(lengths.device)
    keys = torch.where(torch.arange(t_max, device=dev)[None, :] < lens[:, None], keys, 2.0)  # padding never picked
    picked = torch.topk(keys, n_frames, dim=1, largest=False).indices.sort(dim=1).values
    return torch.where(apply[:, None], picked, nearest).to(lengths.device)


# ---------------------------------------------------------------------------------------------------------------
# Image-level augmentations on the normalised CNN image (B, 3, 160, 80).
# ---------------------------------------------------------------------------------------------------------------
def mixup_or_replace_mask(batch: int, p_mixup: float, p_replace: float,
                          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Which samples get mixup and which get replace; never both (§3a: replace only in the non-mixup branch).

    Returns:
        ``(mixup, replace)``: (B,) bool each, on the generator's device; replace has probability
        ``(1 − p_mixup)·p_replace``.
    """
    mix = _bernoulli(gen, batch, p_mixup)
    rep = _bernoulli(gen, batch, p_replace) & ~mix
    return mix, rep


def mixup(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, alpha: float, apply: torch.Tensor | None = None,
          x_b: torch.Tensor | None = None, y_b: torch.Tensor | None = None,
          n_classes: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup with soft labels (§3a; the label fix of §10.3).

    ``x' = λ·x + (1 − λ)·x_b`` and label ``λ·onehot(y) + (1 − λ)·onehot(y_b)``, λ ~ Beta(α, α) per
    sample. The two
    one-hots are added, so a pair of the same class gets label 1 on that class. λ comes from a numpy Generator
    seeded from ``gen`` (torch's Beta sampler takes no generator).

    Args:
        x: (B, ...) model inputs (any shape after the batch axis).
        y: (B,) integer class labels.
        gen: random generator.
        alpha: Beta parameter.
        apply: (B,) bool, samples to mix (the others keep their image and a one-hot label); None = all.
        x_b: partner inputs, same shape as ``x``; None = ``x`` under a random permutation of the batch.
        y_b: partner labels (required with ``x_b``).
        n_classes: label width.

    Returns:
        ``(x_mixed, soft_labels)`` with soft_labels (B, n_classes) float32 summing to 1 per row.
    """
    b, dev = x.shape[0], x.device
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    lam = torch.as_tensor(np.random.default_rng(seed).beta(alpha, alpha, size=b), dtype=torch.float32)
    if x_b is None:
        perm = torch.randperm(b, generator=gen, device=gen.device).to(dev)
        x_b, y_b = x[perm], y.to(dev)[perm]
    elif y_b is None:
        raise ValueError("mixup: y_b is required with x_b")
    if apply is not None:
        lam = torch.where(apply.to(lam.device), lam, torch.ones_like(lam))
    lam = lam.to(dev)
    lam_x = lam.view(b, *([1] * (x.dim() - 1))).to(x.dtype)
    mixed = lam_x * x + (1 - lam_x) * x_b
    soft = torch.zeros(b, n_classes, dtype=torch.float32, device=dev)
    soft.scatter_add_(1, y.to(dev).long()[:, None], lam[:, None])
    soft.scatter_add_(1, y_b.to(dev).long()[:, None], (1 - lam)[:, None])
    return mixed, soft


def replace_blocks(img: torch.Tensor, donors: torch.Tensor, gen: torch.Generator,
                   apply: torch.Tensor | None = None) -> torch.Tensor:
    """Replace 1–2 body-part blocks of each image by the same block of a same-class donor (§3a "Replace").

    Candidates are [lips, one random hand, pose]; 1 or 2 distinct ones are picked. A hand pick whose block in the
    target is all zeros moves to the other hand with p = 0.93. If the donor's block of that hand is all zeros, the
    donor's other hand is used, mirrored: its x channel is negated over all frames (fixes §10.4). The donor image
    is already normalised, so a raw ``1 − x`` cannot be applied; negation is a reflection about the sample mean,
    and the per-axis min–max rescale that follows removes any reflection offset, while NaN-filled zeros stay zero.
    Each donor block is then rescaled per channel into the target block's [min, max] (over all frames and columns,
    zeros included) and written in. A donor block of zero range becomes the target's minimum; a pick whose donor
    hands are both all zeros is skipped.

    Args:
        img: (B, 3, T, 80) normalised CNN images (columns as :data:`~islr.landmarks.CNN_PART_COLUMNS`).
        donors: (B, 3, T, 80) one same-class donor per sample, or (B, K, 3, T, 80) with K ≥ 2: the j-th pick of a
            sample uses donor j (the reference draws one donor per pick).
        gen: random generator.
        apply: (B,) bool, samples to modify; None = all.

    Returns:
        (B, 3, T, 80) images; only the chosen blocks differ from ``img``.
    """
    b, dev = img.shape[0], img.device
    if donors.dim() == img.dim():
        donors = donors[:, None]
    n_donors = donors.shape[1]
    g = gen.device
    apply = torch.ones(b, dtype=torch.bool, device=g) if apply is None else apply.to(g)
    n_picks = torch.randint(1, 3, (b,), generator=gen, device=g)
    rank = torch.argsort(torch.rand((b, 3), generator=gen, device=g), 1).argsort(1)  # order of [lips, hand, pose]
    chosen = (rank < n_picks[:, None]) & apply[:, None]  # (B, 3)
    hand = torch.randint(0, 2, (b,), generator=gen, device=g)  # 0 = left, 1 = right
    switch = torch.rand(b, generator=gen, device=g) < REPLACE_SWITCH_HAND_P
    chosen, rank, hand, switch = chosen.to(dev), rank.to(dev), hand.to(dev), switch.to(dev)

    cols = landmarks.CNN_PART_COLUMNS
    blocks = {name: img[..., cols[name]] for name in PART_NAMES}  # each (B, 3, T, w)
    zero = {name: (blocks[name] == 0).flatten(1).all(1) for name in ("left_hand", "right_hand")}  # (B,)
    target_zero = torch.where(hand == 0, zero["left_hand"], zero["right_hand"])
    hand = torch.where(target_zero & switch, 1 - hand, hand)

    donor_of = rank.clamp(max=n_donors - 1)  # (B, 3) donor used by each candidate
    out = img.clone()
    for cand, dest_names in ((0, ("lips",)), (1, ("left_hand", "right_hand")), (2, ("pose",))):
        donor = donors[torch.arange(b, device=dev), donor_of[:, cand]]  # (B, 3, T, 80)
        for dest in dest_names:
            write = chosen[:, cand]
            if cand == 1:
                side = 0 if dest == "left_hand" else 1
                other = "right_hand" if dest == "left_hand" else "left_hand"
                write = write & (hand == side)
                same, mirrored = donor[..., cols[dest]], donor[..., cols[other]].clone()
                mirrored[:, 0] = -mirrored[:, 0]
                same_zero = (same == 0).flatten(1).all(1)
                src = torch.where(same_zero[:, None, None, None], mirrored, same)
                write = write & ~(src == 0).flatten(1).all(1)
            else:
                src = donor[..., cols[dest]]
            if not bool(write.any()):
                continue
            tgt = blocks[dest]
            t_min, t_max = tgt.amin((2, 3), keepdim=True), tgt.amax((2, 3), keepdim=True)  # (B, 3, 1, 1)
            s_min, s_max = src.amin((2, 3), keepdim=True), src.amax((2, 3), keepdim=True)
            span = s_max - s_min
            unit = torch.where(span > 0, (src - s_min) / torch.where(span > 0, span, 1), 0)
            new = t_min + unit * (t_max - t_min)
            out[..., cols[dest]] = torch.where(write[:, None, None, None], new, out[..., cols[dest]])
    return out


def span_mask(batch: int, size: int, max_width: int, gen: torch.Generator) -> torch.Tensor:
    """One random run of masked positions per sample: torchaudio's iid axis masking, drawn from ``gen`` (§3a).

    The definition of ``torchaudio.functional.mask_along_axis_iid`` (what ``FrequencyMasking`` /
    ``TimeMasking(mask_param, iid_masks=True)`` call, p = 1): per sample ``v = U·max_width`` and
    ``v0 = U'·(size − v)`` with U, U' ~ U[0, 1) (all the v first, then all the v0), and positions
    ``[⌊v0⌋, ⌊v0⌋ + ⌊v⌋)`` are masked. So the width is uniform on {0, …, max_width − 1} and, given v,
    the start is
    ⌊U'·(size − v)⌋ (for max_width ≤ size; a wider mask_param lets the run start before 0 and be cut, as in
    torchaudio). ``max_width < 1`` masks nothing. Drawn here instead of through torchaudio so that the method
    needs no torchaudio install and no global RNG (tests/test_augment.py checks the definition).

    Args:
        batch: number of samples B.
        size: length of the masked axis.
        max_width: mask_param (widths are < max_width).
        gen: random generator; the draws happen on its device.

    Returns:
        (B, size) bool on the generator's device, True = masked.
    """
    dev = gen.device
    value = torch.rand(batch, generator=gen, device=dev) * max_width
    min_value = torch.rand(batch, generator=gen, device=dev) * (size - value)
    if max_width < 1:
        return torch.zeros(batch, size, dtype=torch.bool, device=dev)
    start = min_value.long()[:, None]
    end = start + value.long()[:, None]
    pos = torch.arange(size, device=dev)[None, :]
    return (pos >= start) & (pos < end)


def _mask_axis(img: torch.Tensor, gen: torch.Generator, p: float, max_width: int, axis: int) -> torch.Tensor:
    """Zero one :func:`span_mask` run along ``axis`` (−2 or −1) of each selected sample, all channels."""
    if img.dim() != 4:
        raise ValueError(f"expected an image batch (B, C, T, P), got {tuple(img.shape)}")
    b = img.shape[0]
    apply = _bernoulli(gen, b, p)
    masked = span_mask(b, img.shape[axis], max_width, gen) & apply[:, None]  # (B, size)
    masked = masked.to(img.device)
    masked = masked[:, None, :, None] if axis == -2 else masked[:, None, None, :]  # broadcast over C and the other
    return torch.where(masked, torch.zeros((), dtype=img.dtype, device=img.device), img)


def mask_frames(img: torch.Tensor, gen: torch.Generator, p: float = 0.98, max_width: int = 80) -> torch.Tensor:
    """Zero a random run of frames (rows of the time axis, dim −2) per sample, all channels (§3a "Masking").

    The reference's torchaudio ``FrequencyMasking(80)``: it masks dim −2 of a (..., freq, time) spectrogram, which
    on our (B, 3, 160, 80) image is the time axis. One iid mask per sample (:func:`span_mask`): width
    ``⌊U·max_width⌋`` (< max_width), start ``⌊U'·(T − U·max_width)⌋``.

    Args:
        img: (B, C, T, P) images.
        gen: random generator.
        p: per-sample probability.
        max_width: mask_param of the transform.

    Returns:
        (B, C, T, P) images, masked entries 0.
    """
    return _mask_axis(img, gen, p, max_width, axis=-2)


def mask_points(img: torch.Tensor, gen: torch.Generator, p: float = 0.98, max_width: int = 18) -> torch.Tensor:
    """Zero a random run of point columns (dim −1) per sample, all channels (§3a "Masking").

    The reference's torchaudio ``TimeMasking(18)``: it masks dim −1 of a (..., freq, time) spectrogram, which on
    our (B, 3, 160, 80) image is the points axis. One iid mask per sample (:func:`span_mask`).

    Args:
        img: (B, C, T, P) images.
        gen: random generator.
        p: per-sample probability.
        max_width: mask_param of the transform (width < max_width).

    Returns:
        (B, C, T, P) images, masked entries 0.
    """
    return _mask_axis(img, gen, p, max_width, axis=-1)


def mask_image(img: torch.Tensor, gen: torch.Generator, cfg: CNNAugConfig) -> torch.Tensor:
    """The reference's masking step: frames then points, each sample with ``cfg.masking_prob`` (§3a).

    One Bernoulli per sample decides both masks, as in the reference (both sit under one probability).
    """
    apply = _bernoulli(gen, img.shape[0], cfg.masking_prob)
    masked = mask_points(mask_frames(img, gen, 1.0, cfg.frame_mask_max), gen, 1.0, cfg.point_mask_max)
    return torch.where(apply.to(img.device)[:, None, None, None], masked, img)
