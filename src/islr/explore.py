"""Augmentations a person can see (notebook 01): every augmentation of the method applied alone to a real sequence
and drawn large, and an interactive explorer of them all.

* :func:`augmentation_demos` applies each augmentation of docs/method.md §3a (CNN) and §3b (transformers) alone,
  with probability 1, to a real sequence of the bundled sample, with the functions training calls
  (:mod:`islr.augment`, the CNN image of :mod:`islr.preprocess.cnn`). Each result is a :class:`Demo`: what the
  augmentation does, its training strength and probability, and the :class:`View` s to draw — before and after as
  arrays, for hand-level augmentations a close-up of each hand, for time augmentations a fingertip trajectory against
  the frame index, for masking what disappears. An augmentation that cannot act in the config (probability 0, zero
  strength) gets a note instead of views. :func:`islr.viz.plot_demos` draws them; :meth:`View.change` measures what
  the figure shows, so a test can check that every panel shows a change.
* :func:`augmentation_explorer` is an ipywidgets UI (sequence, frame, seed, a checkbox and sliders per
  augmentation) over :class:`AugmentationExplorer`, which holds the logic and the figure; without ipywidgets it
  prints how to get it and shows the static figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from islr import augment, io
from islr import landmarks as L
from islr.preprocess.cnn import cnn_input

#: A view "shows a change" when something drawn moves by at least this share of the view's extent (about 7 pixels
#: in a close-up of the saved figures), or disappears.
VISIBLE = 0.03
#: Seeds tried per augmentation: the figure shows the first draw whose smallest view change reaches TARGET, else the
#: draw with the largest smallest change (at training strength).
SEED_TRIES = 200
TARGET = 0.08
#: Hand-local landmark drawn against time: the index fingertip.
FINGERTIP = 8
#: Source frames drawn in the random frame pick's "frames used" view (a tick per frame stays readable).
FRAMES_SHOWN = 64
HANDS = ("left_hand", "right_hand")
_CNN_PARTS = L.part_columns(L.CNN_AUG_POINTS)
_TRANSFORMER_PARTS = L.part_columns(L.TRANSFORMER_POINTS)
HAND_NAMES = {"left_hand": "left hand", "right_hand": "right hand"}
#: Figure name → its title, in the order notebook 01 shows them.
FIGURES = {
    "augment_cnn_points": "CNN point augmentations (docs/method.md §3a steps 1, 4–8), each alone with p = 1",
    "augment_time": "Augmentations in time (§3a steps 3 and 10, masking): a fingertip against the frame index",
    "augment_cnn_image": "CNN image augmentations (§3a replace, mixup, masking) in the normalised image's coordinates",
    "augment_transformer": "Transformer point augmentations (§3b steps 1, 3, 4): lips and hands only",
}


# ---------------------------------------------------------------------------------------------------------------
# What a figure panel shows.
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class View:
    """One axes of a demo: the same thing before (grey) and after (colour) the augmentation.

    Attributes:
        title: axes title.
        kind: ``"skeleton"`` (``before``/``after`` are (543, 3) frames, ``rows`` the landmark rows drawn: the region
            shown), ``"series"`` (``before``/``after`` are 1-D values against their index) or ``"frames"``
            (``before``/``after`` are (T,) bool: which source frames are used).
        before, after: what is drawn.
        rows: skeleton rows drawn.
        partner: a third frame drawn dashed (mixup's partner).
        masked: series: (len(after),) bool, the masked positions (drawn as a shaded band, values absent);
            skeleton: rows that disappeared (drawn as black crosses where they were).
        xlabel, ylabel: series axis labels.
    """

    title: str
    kind: str
    before: np.ndarray
    after: np.ndarray
    rows: np.ndarray | None = None
    partner: np.ndarray | None = None
    masked: np.ndarray | None = None
    xlabel: str = ""
    ylabel: str = ""

    def change(self) -> float:
        """How much the drawn ``after`` differs from ``before``, as a share of the view's extent: the largest
        displacement of a point (skeleton) or value (series); 1 where something drawn before disappears (or
        appears); a series: the largest change of a value at the same index as a share of the values' span, 1 where
        a value disappears at a masked position, and the relative change of length."""
        if self.kind == "frames":  # a source frame used by one and not the other appears / disappears
            return 1.0 if (np.asarray(self.before, bool) != np.asarray(self.after, bool)).any() else 0.0
        if self.kind == "skeleton":
            b, a = self.before[self.rows, :2], self.after[self.rows, :2]
            fb, fa = np.isfinite(b).all(1), np.isfinite(a).all(1)
            pts = np.concatenate([b[fb], a[fa]])
            if not len(pts):
                return 0.0
            extent = max(float(np.ptp(pts, 0).max()), 1e-9)
            both = fb & fa
            moved = float(np.linalg.norm(a[both] - b[both], axis=1).max()) / extent if both.any() else 0.0
            return max(moved, 1.0 if (fb != fa).any() else 0.0)
        b, a = np.asarray(self.before, float), np.asarray(self.after, float)
        n = min(len(a), len(b))
        vals = np.concatenate([b[np.isfinite(b)], a[np.isfinite(a)]])
        span = max(float(np.ptp(vals)), 1e-9) if len(vals) else 1.0
        both = np.isfinite(a[:n]) & np.isfinite(b[:n])
        moved = float(np.abs(a[:n] - b[:n])[both].max()) / span if both.any() else 0.0
        gone = 0.0
        if self.masked is not None:
            m = np.asarray(self.masked, bool)[:n]
            gone = 1.0 if (np.isfinite(b[:n]) & ~np.isfinite(a[:n]) & m).any() else 0.0
        return max(moved, gone, abs(len(a) - len(b)) / max(len(b), 1))


@dataclass
class Demo:
    """One augmentation, applied alone: a row of a figure.

    Attributes:
        name: the augmentation, e.g. ``"finger-tree rotation"``.
        does: what it does, in one sentence.
        strength: its training strength and probability (with the config keys).
        shown: what this draw did (seed, parameters read back from the result).
        views: the axes to draw; empty when ``note`` is set.
        note: why the augmentation cannot act in this config (then no views are drawn), else "".
    """

    name: str
    does: str
    strength: str
    shown: str = ""
    views: list[View] = field(default_factory=list)
    note: str = ""

    @property
    def active(self) -> bool:
        return not self.note

    def change(self) -> float:
        """The smallest :meth:`View.change` of the views (0 without views)."""
        return min((v.change() for v in self.views), default=0.0)


@dataclass
class DemoInputs:
    """The sequences the demos are drawn on, with the names the figures give them.

    Attributes:
        seq: (T, 543, 3) the main real sequence.
        label: its description (sign, participant, frames, data).
        donor: a sequence of the same sign (replace); None = the replace panel says so.
        partner: a sequence of another sign (mixup), of sign ``partner_sign``.
        long_seq: a sequence longer than the CNN's n_frames (random frame pick), with ``long_label``; None = the
            panel says that this augmentation needs one.
    """

    seq: np.ndarray
    label: str
    sign: str = ""
    donor: np.ndarray | None = None
    partner: np.ndarray | None = None
    partner_sign: str = ""
    long_seq: np.ndarray | None = None
    long_label: str = ""

    @classmethod
    def from_prepared(cls, prepared, sign: str, n_frames: int = 160, data_label: str = "bundled real sample"
                      ) -> "DemoInputs":
        """The ``sign`` sequence of ``prepared`` with the most frames with a complete hand, a second one of that sign
        (donor), one of another sign (partner) and a sequence longer than ``n_frames``: from ``prepared`` if it has
        one, else a synthetic one (:func:`long_synthetic`)."""
        i = pick_sequence(prepared, sign)
        if i is None:
            raise ValueError(f"no {sign!r} sequence in the data; its signs: {sorted(set(map(str, prepared.signs)))}")
        j = pick_sequence(prepared, sign, exclude=(i,))
        k = pick_sequence(prepared, set(map(str, prepared.signs)) - {sign})
        long_rows = np.nonzero(np.asarray(prepared.lengths) > n_frames)[0]
        if len(long_rows):
            m = int(long_rows[0])
            long_seq, long_label = prepared.sequence(m), f"{describe(prepared, m)} ({data_label})"
        else:
            long_seq, long_label = long_synthetic(n_frames, int(prepared.participant_ids[i]))
        return cls(seq=prepared.sequence(i), label=f"{describe(prepared, i)} ({data_label})", sign=sign,
                   donor=None if j is None else prepared.sequence(j),
                   partner=None if k is None else prepared.sequence(k),
                   partner_sign="" if k is None else str(prepared.signs[k]),
                   long_seq=long_seq, long_label=long_label)


# ---------------------------------------------------------------------------------------------------------------
# Picking sequences and frames.
# ---------------------------------------------------------------------------------------------------------------
def hand_rows(hand: str) -> np.ndarray:
    return np.arange(L.PART_OFFSET[hand], L.PART_OFFSET[hand] + 21)


def hand_frames(seq: np.ndarray) -> int:
    """Frames of a (T, 543, 3) sequence with at least one complete hand."""
    return int(max(np.isfinite(seq[:, hand_rows(h), 0]).all(1).sum() for h in HANDS)) if len(seq) else 0


def pick_sequence(prepared, signs, exclude=()) -> int | None:
    """Index of the sequence of ``signs`` (one sign or several) best for drawing hands: a complete hand in at least
    90 % of its frames if any has one, then the most such frames, then the longest; None if there is none."""
    signs = {signs} if isinstance(signs, str) else set(signs)
    rows = [int(r) for r in np.nonzero(np.isin(np.asarray(prepared.signs), list(signs)))[0] if int(r) not in exclude]
    if not rows:
        return None

    def key(r):
        n, length = hand_frames(prepared.sequence(r)), int(prepared.lengths[r])
        return n >= 0.9 * length, n, length, -r
    return max(rows, key=key)


def describe(prepared, i: int) -> str:
    return (f"{prepared.signs[i]}, participant {prepared.participant_ids[i]}, sequence {prepared.sequence_ids[i]}, "
            f"{prepared.lengths[i]} frames")


def long_synthetic(n_frames: int, participant_id: int, seed: int = 0, max_rows: int = 5000
                   ) -> tuple[np.ndarray | None, str]:
    """The first synthetic sequence (:func:`islr.synth.make_sequence`, signs in label order) longer than
    ``n_frames`` with a complete hand in at least 70 % of its frames, and its description; (None, "") if none within
    ``max_rows``."""
    from islr import synth

    for row in range(max_rows):
        sign = row % 250
        seq, _ = synth.make_sequence(sign, participant_id, seed, row)
        if len(seq) > n_frames and hand_frames(seq) >= 0.7 * len(seq):
            name = io.sign_names()[sign]
            return seq, f"synthetic {name!r} (islr.synth, participant {participant_id}, seed {seed}), {len(seq)} frames"
    return None, ""


def best_frame(seq: np.ndarray, rows: np.ndarray | None = None) -> int:
    """The middle one of the frames with the most present points of ``rows`` (default: both hands)."""
    rows = np.r_[hand_rows("left_hand"), hand_rows("right_hand")] if rows is None else rows
    count = np.isfinite(seq[:, rows, 0]).sum(1)
    best = np.nonzero(count == count.max())[0]
    return int(best[len(best) // 2])


def _present_hands(frame: np.ndarray) -> list[str]:
    return [h for h in HANDS if np.isfinite(frame[hand_rows(h), :2]).all()]


def _main_hand(seq: np.ndarray) -> str:
    return max(HANDS, key=lambda h: int(np.isfinite(seq[:, hand_rows(h), 0]).sum()))


# ---------------------------------------------------------------------------------------------------------------
# Running one augmentation on one sequence.
# ---------------------------------------------------------------------------------------------------------------
def _batch(seq: np.ndarray, points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(seq[:, points], dtype=np.float32))[None]
    return x, torch.tensor([len(seq)])


def _full(x: torch.Tensor, points: np.ndarray, n: int | None = None) -> np.ndarray:
    """(1, T, P, 3) tensor → (T, 543, 3) array (NaN outside ``points``), the first ``n`` frames."""
    arr = x[0].numpy() if n is None else x[0, :n].numpy()
    return L.scatter_to_543(arr, points)


def _rows(points: np.ndarray, part: str) -> np.ndarray:
    pts = np.asarray(points)
    if part == "lips":
        return pts[pts < L.PART_OFFSET["left_hand"]]
    lo = L.PART_OFFSET[part]
    return pts[(pts >= lo) & (pts < lo + L.PART_SIZE[part])]


def _moved_parts(before: np.ndarray, after: np.ndarray, points: np.ndarray) -> list[str]:
    out = []
    for part in ("lips", "left_hand", "pose", "right_hand"):
        rows = _rows(points, part)
        if not len(rows):
            continue
        d = np.abs(np.nan_to_num(after[:, rows] - before[:, rows]))
        if d.max(initial=0.0) > 1e-6:
            out.append(HAND_NAMES.get(part, part))
    return out


def _p(value: float) -> str:
    return f"p {value:.2f}".rstrip("0").rstrip(".") if value not in (0, 1) else f"p {value:g}"


def _search(make: Callable[[torch.Generator], tuple[list[View], str]], seed: int,
            score: Callable[[list[View]], float] | None = None, need: float = TARGET) -> tuple[list[View], str]:
    """The views of the first seed from ``seed`` on whose draw every view shows a clear change (``score``, default
    the smallest :meth:`View.change`, reaches ``need``), else those of the draw with the highest score."""
    best = None
    for s in range(seed, seed + SEED_TRIES):
        views, shown = make(torch.Generator().manual_seed(s))
        value = min(min((v.change() for v in views), default=0.0), score(views) if score else np.inf)
        if best is None or value > best[0]:
            best = (value, views, f"seed {s}" + (f"; {shown}" if shown else ""))
        if value >= need:
            break
    return best[1], best[2]


def _spatial_views(before: np.ndarray, after: np.ndarray, points: np.ndarray, t: int, which=("body", "hands", "lips")
                   ) -> list[View]:
    """Skeleton views at frame ``t``: the whole point set, a close-up of each hand present, the lips."""
    views = []
    if "body" in which:
        views.append(View(f"all {len(points)} points, frame {t}", "skeleton", before[t], after[t], rows=points))
    if "hands" in which:
        for h in _present_hands(before[t]):
            views.append(View(f"{HAND_NAMES[h]} (close-up), frame {t}", "skeleton", before[t], after[t],
                              rows=_rows(points, h)))
    if "lips" in which:
        views.append(View(f"lips (close-up), frame {t}", "skeleton", before[t], after[t], rows=_rows(points, "lips")))
    return views


def _point_demo(name: str, does: str, strength: str, note: str, inputs: DemoInputs, points: np.ndarray,
                fn: Callable, seed: int, which=("body", "hands", "lips"), report_parts: bool = True) -> Demo:
    demo = Demo(name, does, strength, note=note)
    if note:
        return demo
    seq = inputs.seq
    t = best_frame(seq)

    def make(gen):
        x, lengths = _batch(seq, points)
        y = fn(x, lengths, gen)
        before, after = _full(x, points), _full(y, points)
        moved = _moved_parts(before, after, points) if report_parts else []
        return _spatial_views(before, after, points, t, which), ("moved: " + ", ".join(moved)) if moved else ""

    demo.views, demo.shown = _search(make, seed)
    if not demo.views:
        demo.shown, demo.note = "", (f"no frame of {inputs.label} has a complete hand, so there is nothing to show; "
                                     "pick a sequence with hands")
    return demo


def _off(**values) -> str:
    """A note when an augmentation cannot act: the first ``key=value`` that switches it off."""
    for key, (value, off) in values.items():
        if off:
            return f"not active in this config: {key.replace('__', '.')} = {value} — training never applies it, " \
                   "so there is nothing to show"
    return ""


# ---------------------------------------------------------------------------------------------------------------
# The demos of each figure.
# ---------------------------------------------------------------------------------------------------------------
def cnn_point_demos(cfg, inputs: DemoInputs, seed: int = 0) -> list[Demo]:
    """The CNN's point augmentations (§3a steps 1, 4–8) one by one (temporal interpolation: :func:`time_demos`)."""
    a, pts = cfg.cnn_aug, L.CNN_AUG_POINTS
    parts = _CNN_PARTS
    hands = [parts["left_hand"], parts["right_hand"]]
    s0, s1 = a.affine_scale
    return [
        _point_demo(
            "global affine", "scales every point about the image origin, then shifts x, y and z by one value",
            f"scale ×U({s0:g}, {s1:g}), shift ±{a.affine_shift:g}; {_p(a.affine_prob)} (cnn_aug.affine_prob)",
            _off(cnn_aug__affine_prob=(a.affine_prob, a.affine_prob == 0),
                 cnn_aug__affine_scale=(a.affine_scale, tuple(a.affine_scale) == (1, 1) and a.affine_shift == 0)),
            inputs, pts, lambda x, n, g: augment.global_affine(x, n, g, 1.0, a.affine_scale, a.affine_shift, False),
            seed, report_parts=False),
        _point_demo(
            "flip", "mirrors the body: every point moves to its left/right twin's column and x → 1 − x",
            f"{_p(a.flip_prob)} (cnn_aug.flip_prob)", _off(cnn_aug__flip_prob=(a.flip_prob, a.flip_prob == 0)),
            inputs, pts, lambda x, n, g: augment.flip(x, n, g, 1.0, L.CNN_AUG_FLIP), seed, which=("body", "lips"),
            report_parts=False),
        _point_demo(
            "part shift", "shifts lips, each hand and the pose by their own random offset per axis, the same in "
                          "every frame",
            "±σ_part / U(6, 15) per axis (pose / U(11, 20)); hands ≈ ±0.006–0.015; "
            f"{_p(a.shift_prob)} (cnn_aug.shift_prob)", _off(cnn_aug__shift_prob=(a.shift_prob, a.shift_prob == 0)),
            inputs, pts, lambda x, n, g: augment.part_shift(x, n, g, 1.0, parts), seed),
        _point_demo(
            "part scale", "scales lips, each hand and the pose about their own centre in each frame",
            f"×U({a.scale_range[0]:g}, {a.scale_range[1]:g}) per part; {_p(a.scale_prob)} (cnn_aug.scale_prob)",
            _off(cnn_aug__scale_prob=(a.scale_prob, a.scale_prob == 0),
                 cnn_aug__scale_range=(a.scale_range, tuple(a.scale_range) == (1, 1))),
            inputs, pts, lambda x, n, g: augment.part_scale(x, n, g, 1.0, parts, a.scale_range), seed),
        _point_demo(
            "part rotation", "turns 1–4 random parts about the image origin, around the x, y or z axis",
            f"±{a.rotate_deg:g}° per part; {_p(a.rotate_prob)} (cnn_aug.rotate_prob)",
            _off(cnn_aug__rotate_prob=(a.rotate_prob, a.rotate_prob == 0),
                 cnn_aug__rotate_deg=(a.rotate_deg, a.rotate_deg == 0)),
            inputs, pts, lambda x, n, g: augment.part_rotate(x, n, g, 1.0, parts, a.rotate_deg), seed),
        _point_demo(
            "finger-tree rotation", "bends fingers: each finger sub-tree turns in xy about its root joint, bone "
                                    "lengths kept",
            f"each of the 20 trees with p {a.tree_rot_tree_prob:g}, ±{a.tree_rot_deg:g}°; {_p(a.tree_rot_prob)} "
            "(cnn_aug.tree_rot_prob)",
            _off(cnn_aug__tree_rot_prob=(a.tree_rot_prob, a.tree_rot_prob == 0),
                 cnn_aug__tree_rot_tree_prob=(a.tree_rot_tree_prob, a.tree_rot_tree_prob == 0),
                 cnn_aug__tree_rot_deg=(a.tree_rot_deg, a.tree_rot_deg == 0)),
            inputs, pts, lambda x, n, g: augment.finger_tree_rotate(x, n, g, 1.0, hands, a.tree_rot_tree_prob,
                                                                    a.tree_rot_deg), seed, which=("hands",)),
    ]


def transformer_point_demos(cfg, inputs: DemoInputs, seed: int = 0) -> list[Demo]:
    """The transformers' point augmentations (§3b steps 1, 3, 4) on their 82 points; interpolation: time_demos."""
    a, pts = cfg.transformer_aug, L.TRANSFORMER_POINTS
    parts = _TRANSFORMER_PARTS
    hands = [parts["left_hand"], parts["right_hand"]]
    s0, s1 = a.affine_scale
    return [
        _point_demo(
            "global affine", "scales every point about the image origin, shifts each axis by its own value, then "
                             "rotates x, y about the origin",
            f"scale ×U({s0:g}, {s1:g}), shift ±{a.affine_shift:g} per axis, rotation ±{a.affine_rotate_deg:g}°; "
            f"{_p(a.affine_prob)} (transformer_aug.affine_prob)",
            _off(transformer_aug__affine_prob=(a.affine_prob, a.affine_prob == 0)),
            inputs, pts, lambda x, n, g: augment.global_affine(x, n, g, 1.0, a.affine_scale, a.affine_shift, True,
                                                               a.affine_rotate_deg), seed, report_parts=False),
        _point_demo(
            "finger-tree rotation", "bends fingers: each finger sub-tree turns in xy about its root joint",
            f"each hand with p {a.tree_rot_hand_prob:g}, each of its trees with p {a.tree_rot_tree_prob:g}, "
            f"±{a.tree_rot_deg:g}°; applied to every sample (p 1)",
            _off(transformer_aug__tree_rot_hand_prob=(a.tree_rot_hand_prob, a.tree_rot_hand_prob == 0),
                 transformer_aug__tree_rot_tree_prob=(a.tree_rot_tree_prob, a.tree_rot_tree_prob == 0),
                 transformer_aug__tree_rot_deg=(a.tree_rot_deg, a.tree_rot_deg == 0)),
            inputs, pts, lambda x, n, g: augment.finger_tree_rotate(x, n, g, 1.0, hands, a.tree_rot_tree_prob,
                                                                    a.tree_rot_deg, a.tree_rot_hand_prob),
            seed, which=("hands",)),
        _point_demo(
            "flip", "mirrors lips and hands: every point moves to its twin's column and x → 1 − x",
            f"{_p(a.flip_prob)} (transformer_aug.flip_prob)",
            _off(transformer_aug__flip_prob=(a.flip_prob, a.flip_prob == 0)),
            inputs, pts, lambda x, n, g: augment.flip(x, n, g, 1.0, L.TRANSFORMER_FLIP), seed, which=("body", "lips"),
            report_parts=False),
    ]


def _image(cfg, seq: np.ndarray, frame_index: torch.Tensor | None = None) -> torch.Tensor:
    """(1, 3, n_frames, 80) CNN image of a (T, 543, 3) sequence, with the run's n_frames and dominant-hand mirror."""
    x, lengths = _batch(seq, L.CNN_AUG_POINTS)
    return cnn_input(x, lengths, cfg.cnn.n_frames, frame_index=frame_index, dominant_hand=cfg.cnn.dominant_hand)


def _image_hand(img: torch.Tensor) -> str:
    """The hand block of the CNN image with more non-zero values (the dominant hand after the mirror)."""
    cols = L.CNN_PART_COLUMNS
    return max(HANDS, key=lambda h: int((img[0, :, :, cols[h]] != 0).sum()))


def _image_frame(img: np.ndarray, row: int) -> np.ndarray:
    """Row ``row`` of a (3, T, 80) CNN image as a (543, 3) frame (exact zeros — missing or masked — are NaN)."""
    vals = img[:, row, :].T.astype(np.float32).copy()  # (80, 3)
    vals[(vals == 0).all(1)] = np.nan
    return L.scatter_to_543(vals, L.CNN_POINTS)


def _image_row(*imgs: torch.Tensor) -> int:
    """The middle image row among those with the most non-zero hand columns (summed over ``imgs``)."""
    cols = np.r_[np.arange(18, 39), np.arange(59, 80)]
    count = sum((img[0, 0][:, cols] != 0).sum(1).numpy() for img in imgs)
    best = np.nonzero(count == count.max())[0]
    return int(best[len(best) // 2])


def _column_names(cols: np.ndarray) -> str:
    """``[20, 21, …]`` CNN columns → "left hand 2–13, pose 0–3"."""
    out = []
    for part, sl in L.CNN_PART_COLUMNS.items():
        inside = [c - sl.start for c in cols if sl.start <= c < sl.stop]
        if inside:
            out.append(f"{HAND_NAMES.get(part, part)} {inside[0]}–{inside[-1]}" if len(inside) > 1
                       else f"{HAND_NAMES.get(part, part)} {inside[0]}")
    return ", ".join(out)


def _nan0(values: torch.Tensor) -> np.ndarray:
    """Image values with the zeros (missing: NaN → 0 in the image) as NaN, for drawing."""
    out = values.numpy().astype(float).copy()
    out[out == 0] = np.nan
    return out


def _tip_column(img: torch.Tensor) -> tuple[int, str]:
    hand = _image_hand(img)
    return L.CNN_PART_COLUMNS[hand].start + FINGERTIP, HAND_NAMES[hand]


def time_demos(cfg, inputs: DemoInputs, seed: int = 0) -> list[Demo]:
    """Temporal interpolation (§3a step 3, §3b step 2), the random frame pick (§3a step 10) and time masking."""
    a, ta = cfg.cnn_aug, cfg.transformer_aug
    n_frames = cfg.cnn.n_frames
    demos = []

    # Temporal interpolation: the fingertip's x and y against the frame index.
    pts = L.CNN_AUG_POINTS
    hand = _main_hand(inputs.seq)
    tip = L.PART_OFFSET[hand] + FINGERTIP
    f0, f1 = a.interpol_factor
    demo = Demo("temporal interpolation",
                "re-samples the sequence to round(T·f) frames by linear interpolation from a random start offset",
                f"length factor f ~ U({f0:g}, {f1:g}), offset ±{a.interpol_offset:g} frame; CNN {_p(a.interpol_prob)} "
                f"(cnn_aug.interpol_prob, only T > 10), transformers {_p(ta.interpol_prob)} "
                "(transformer_aug.interpol_prob)",
                note=_off(cnn_aug__interpol_prob=(a.interpol_prob, a.interpol_prob == 0 and ta.interpol_prob == 0),
                          cnn_aug__interpol_factor=(a.interpol_factor, tuple(a.interpol_factor) == (1, 1)
                                                    and a.interpol_offset == 0)))
    if demo.active:
        def make(gen):
            x, lengths = _batch(inputs.seq, pts)
            y, n = augment.time_interpolate(x, lengths, gen, 1.0, a.interpol_factor, a.interpol_offset)
            before, after = _full(x, pts), _full(y, pts, int(n[0]))
            views = [View(f"{HAND_NAMES[hand]} index fingertip {ax}", "series", before[:, tip, k], after[:, tip, k],
                          xlabel="frame", ylabel=f"{ax} (image coordinates)") for k, ax in enumerate("xy")]
            return views, f"{len(before)} → {len(after)} frames (f ≈ {len(after) / len(before):.2f})"
        # a length change of at least 25 %, so that the stretch is plain to see
        demo.views, demo.shown = _search(make, seed, lambda v: abs(len(v[0].after) / len(v[0].before) - 1), 0.25)
    demos.append(demo)

    # Random frame pick: only sequences longer than n_frames.
    demo = Demo("random frame pick",
                f"a sequence longer than {n_frames} frames becomes the image from {n_frames} random frames kept in "
                f"order, instead of the nearest resize floor(i·T/{n_frames})",
                f"{_p(a.random_frame_pick_prob)} (cnn_aug.random_frame_pick_prob); sequences of ≤ {n_frames} "
                "frames never change",
                note=_off(cnn_aug__random_frame_pick_prob=(a.random_frame_pick_prob, a.random_frame_pick_prob == 0)))
    if demo.active and inputs.long_seq is None:
        demo.note = (f"acts only on sequences longer than {n_frames} frames (cnn.n_frames) and none was given, so "
                     "there is nothing to show")
    if demo.active:
        long_seq = inputs.long_seq

        def make(gen):
            lengths = torch.tensor([len(long_seq)])
            picked = augment.random_frame_indices(lengths, gen, 1.0, n_frames)
            nearest = augment.random_frame_indices(lengths, gen, 0.0, n_frames)
            t = len(long_seq)
            used_b, used_a = np.zeros(t, bool), np.zeros(t, bool)
            used_b[nearest[0].numpy()] = True
            used_a[picked[0].numpy()] = True
            shown_frames = min(t, FRAMES_SHOWN)
            even = np.arange(n_frames) * t / n_frames
            views = [View(f"source frames used (the first {shown_frames} of {t})", "frames", used_b[:shown_frames],
                          used_a[:shown_frames], xlabel="source frame"),
                     View("source frame − row·T/n, per image row", "series", nearest[0].numpy() - even,
                          picked[0].numpy() - even, xlabel="image row", ylabel="frames off the even spacing")]
            shift = np.abs(picked[0].numpy() - nearest[0].numpy())
            return views, (f"on {inputs.long_label}; {t - n_frames} frames dropped at random instead of evenly; "
                           f"rows moved by up to {shift.max()} frames")
        demo.views, demo.shown = _search(make, seed)
    demos.append(demo)

    # Time masking: a run of image rows zeroed (= missing for the model).
    demo = Demo("time masking", "zeroes a run of image rows (frames), all points and channels: those frames look "
                                "missing to the model",
                f"width U{{0, …, {a.frame_mask_max - 1}}} of {n_frames} rows; {_p(a.masking_prob)} "
                "(cnn_aug.masking_prob, together with point masking)",
                note=_off(cnn_aug__masking_prob=(a.masking_prob, a.masking_prob == 0),
                          cnn_aug__frame_mask_max=(a.frame_mask_max, a.frame_mask_max <= 1)))
    if demo.active:
        img = _image(cfg, inputs.seq)
        col, hand_name = _tip_column(img)

        def make(gen):
            out = augment.mask_frames(img, gen, 1.0, a.frame_mask_max)
            masked = ((out[0] == 0).all(0).all(1) & ~(img[0] == 0).all(0).all(1)).numpy()  # (n_frames,)
            views = []
            for k, ax in ((0, "x"), (1, "y")):
                after = _nan0(out[0, k, :, col])
                after[masked] = np.nan
                views.append(View(f"{hand_name} index fingertip {ax} in the image", "series",
                                  _nan0(img[0, k, :, col]), after, masked=masked, xlabel="image row",
                                  ylabel=f"{ax} (normalised; gaps: no hand)"))
            rows = np.nonzero(masked)[0]
            return views, f"rows {rows[0]}–{rows[-1]} masked" if len(rows) else "nothing masked"
        demo.views, demo.shown = _search(make, seed)
    demos.append(demo)
    return demos


def cnn_image_demos(cfg, inputs: DemoInputs, seed: int = 0) -> list[Demo]:
    """Point masking, replace-from-same-class and mixup on the normalised CNN image (§3a)."""
    a = cfg.cnn_aug
    img = _image(cfg, inputs.seq)
    other = _image(cfg, inputs.partner) if inputs.partner is not None else None
    row = _image_row(img) if other is None else _image_row(img, other)  # mixup: a row where both have hands
    before = _image_frame(img[0].numpy(), row)
    all_rows = np.asarray(L.CNN_POINTS)
    demos = []

    demo = Demo("point masking", "zeroes a run of neighbouring point columns in every frame: those points look "
                                 "missing to the model",
                f"width U{{0, …, {a.point_mask_max - 1}}} of 80 columns; {_p(a.masking_prob)} "
                "(cnn_aug.masking_prob, together with time masking)",
                note=_off(cnn_aug__masking_prob=(a.masking_prob, a.masking_prob == 0),
                          cnn_aug__point_mask_max=(a.point_mask_max, a.point_mask_max <= 1)))
    if demo.active:
        def make(gen):
            out = augment.mask_points(img, gen, 1.0, a.point_mask_max)
            cols = np.nonzero(((out[0] == 0).all(0).all(0) & ~(img[0] == 0).all(0).all(0)).numpy())[0]
            after = _image_frame(out[0].numpy(), row)
            gone = all_rows[cols]
            views = [View(f"image row {row}: all 80 points", "skeleton", before, after, rows=all_rows, masked=gone)]
            if len(cols):
                part = max(L.CNN_PART_COLUMNS, key=lambda p: np.isin(cols, np.arange(80)[L.CNN_PART_COLUMNS[p]]).sum())
                prows = all_rows[L.CNN_PART_COLUMNS[part]]
                views.append(View(f"{HAND_NAMES.get(part, part)} (close-up)", "skeleton", before, after, rows=prows,
                                  masked=gone))
            return views, f"masked columns: {_column_names(cols)}" if len(cols) else "nothing masked"
        demo.views, demo.shown = _search(make, seed)
    demos.append(demo)

    p_replace = (1 - a.mixup_prob) * a.replace_prob
    demo = Demo("replace", "replaces 1–2 of [lips, a hand, pose] by that block of another sequence of the same sign, "
                           "rescaled into this block's range",
                f"{_p(p_replace)} = (1 − cnn_aug.mixup_prob)·cnn_aug.replace_prob",
                note=_off(cnn_aug__replace_prob=(a.replace_prob, a.replace_prob == 0),
                          cnn_aug__mixup_prob=(a.mixup_prob, a.mixup_prob == 1)))
    if demo.active and inputs.donor is None:
        demo.note = f"needs a second sequence of {inputs.sign!r} and the data has none, so there is nothing to show"
    if demo.active:
        donor = _image(cfg, inputs.donor)

        def make(gen):
            out = augment.replace_blocks(img, donor, gen)
            after = _image_frame(out[0].numpy(), row)
            changed = [p for p, sl in L.CNN_PART_COLUMNS.items() if not torch.equal(out[0, :, :, sl], img[0, :, :, sl])]
            views = [View(f"image row {row}: all 80 points", "skeleton", before, after, rows=all_rows)]
            views += [View(f"{HAND_NAMES.get(p, p)} (close-up)", "skeleton", before, after,
                           rows=all_rows[L.CNN_PART_COLUMNS[p]]) for p in changed if p != "pose"]
            names = ", ".join(HAND_NAMES.get(p, p) for p in changed)
            return views, f"replaced: {names} (donor: another {inputs.sign!r} sequence)" if changed else "nothing"
        demo.views, demo.shown = _search(make, seed)
    demos.append(demo)

    demo = Demo("mixup", "blends the image with another sample's, λ·this + (1 − λ)·other, and the labels alike",
                f"λ ~ Beta({a.mixup_alpha:.2f}, {a.mixup_alpha:.2f}); {_p(a.mixup_prob)} (cnn_aug.mixup_prob)",
                note=_off(cnn_aug__mixup_prob=(a.mixup_prob, a.mixup_prob == 0)))
    if demo.active and inputs.partner is None:
        demo.note = "needs a sequence of another sign and the data has none, so there is nothing to show"
    if demo.active:
        drawn = {}

        def make(gen):
            y, y_b = torch.tensor([0]), torch.tensor([1])
            out, soft = augment.mixup(img, y, gen, a.mixup_alpha, x_b=other, y_b=y_b, n_classes=2)
            lam = drawn["lambda"] = float(soft[0, 0])
            after, partner = _image_frame(out[0].numpy(), row), _image_frame(other[0].numpy(), row)
            views = [View(f"image row {row}: all 80 points (dashed: the other sample)", "skeleton", before, after,
                          rows=all_rows, partner=partner)]
            hand = _image_hand(img)
            views.append(View(f"{HAND_NAMES[hand]} (close-up)", "skeleton", before, after,
                              rows=all_rows[L.CNN_PART_COLUMNS[hand]], partner=partner))
            return views, (f"λ = {lam:.2f}: {lam:.2f}·{inputs.sign!r} + {1 - lam:.2f}·{inputs.partner_sign!r}, "
                           "label likewise")
        # a draw of λ in [0.3, 0.7], where both samples are plain to see
        demo.views, demo.shown = _search(make, seed, lambda v: TARGET if 0.3 <= drawn["lambda"] <= 0.7 else 0.0)
    demos.append(demo)
    return demos


def augmentation_demos(cfg, inputs: DemoInputs, seed: int = 0) -> dict[str, list[Demo]]:
    """Every augmentation of the method, alone, on ``inputs``: {figure name (:data:`FIGURES`): its demos}.

    Args:
        cfg: run config (``cnn_aug``, ``transformer_aug``, ``cnn.n_frames``, ``cnn.dominant_hand``).
        inputs: the sequences (:meth:`DemoInputs.from_prepared`).
        seed: first seed tried per augmentation (each shows the first draw visible in all its views).
    """
    return {"augment_cnn_points": cnn_point_demos(cfg, inputs, seed),
            "augment_time": time_demos(cfg, inputs, seed),
            "augment_cnn_image": cnn_image_demos(cfg, inputs, seed),
            "augment_transformer": transformer_point_demos(cfg, inputs, seed)}


# ---------------------------------------------------------------------------------------------------------------
# The explorer: every point augmentation together, each switchable, with its parameters.
# ---------------------------------------------------------------------------------------------------------------
#: The explorer's augmentations in training order: (switch key, label, [(parameter key, label, kind, (min, max,
#: step))]); kind is "range" (a (lo, hi) pair), "float" or "int". Defaults come from the run config.
CONTROLS = (
    ("affine", "global affine", [("affine_scale", "scale", "range", (0.5, 2.0, 0.05)),
                                 ("affine_shift", "shift ±", "float", (0.0, 0.3, 0.01)),
                                 ("affine_rotate_deg", "rotation ±°", "float", (0.0, 45.0, 1.0))]),
    ("interpolation", "temporal interpolation", [("interpol_factor", "length factor", "range", (0.3, 3.0, 0.05)),
                                                 ("interpol_offset", "offset ± frames", "float", (0.0, 2.0, 0.1))]),
    ("flip", "flip", []),
    ("part_shift", "part shift", []),
    ("part_scale", "part scale", [("scale_range", "factor", "range", (0.5, 1.5, 0.01))]),
    ("part_rotation", "part rotation", [("rotate_deg", "angle ±°", "float", (0.0, 45.0, 1.0))]),
    ("finger_trees", "finger-tree rotation", [("tree_rot_tree_prob", "p per tree", "float", (0.0, 1.0, 0.05)),
                                              ("tree_rot_deg", "angle ±°", "float", (0.0, 45.0, 1.0))]),
    ("frame_mask", "time masking", [("frame_mask_max", "max image rows", "int", (1, 160, 1))]),
    ("point_mask", "point masking", [("point_mask_max", "max columns", "int", (1, 80, 1))]),
)


#: Switched on when the explorer opens: the augmentations that keep the body in place (flip, the time
#: augmentations and the masks are a click away).
DEFAULT_ON = ("affine", "part_shift", "part_scale", "part_rotation", "finger_trees")


def explorer_defaults(cfg) -> dict:
    """The switches of :data:`DEFAULT_ON` on, every parameter at its training value (``cfg.cnn_aug``; the rotation of
    the global affine at the transformers' ``transformer_aug.affine_rotate_deg``: the CNN's has none)."""
    a = cfg.cnn_aug
    settings = {key: key in DEFAULT_ON for key, _, _ in CONTROLS}
    settings.update(affine_scale=tuple(a.affine_scale), affine_shift=a.affine_shift,
                    affine_rotate_deg=cfg.transformer_aug.affine_rotate_deg, interpol_factor=tuple(a.interpol_factor),
                    interpol_offset=a.interpol_offset, scale_range=tuple(a.scale_range), rotate_deg=a.rotate_deg,
                    tree_rot_tree_prob=a.tree_rot_tree_prob, tree_rot_deg=a.tree_rot_deg,
                    frame_mask_max=a.frame_mask_max, point_mask_max=a.point_mask_max)
    return settings


@dataclass
class ExplorerState:
    """What the explorer draws: the sequence before and after, the frames shown, what was masked."""

    before: np.ndarray  # (T, 543, 3)
    after: np.ndarray  # (T', 543, 3), masked frames and points NaN
    frame: int  # frame of ``before`` shown
    frame_after: int  # the matching frame of ``after``
    hidden_frames: np.ndarray  # (T',) bool, frames removed by time masking
    hidden_rows: np.ndarray  # landmark rows removed by point masking
    applied: list[str]
    flipped: bool = False  # the flip moved each hand to the other hand's rows


def apply_augmentations(seq: np.ndarray, settings: Mapping, seed: int, n_frames: int = 160
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The switched-on CNN point augmentations of ``settings`` (:data:`CONTROLS` keys), each with p = 1, in training
    order, on a (T, 543, 3) sequence; then time and point masking as the image masks would hide frames and points
    (the run of image rows mapped back to frames through the nearest resize to ``n_frames`` rows).

    Returns:
        (after (T', 543, 3) with hidden frames and points NaN, hidden frames (T',) bool, hidden rows, names applied).
    """
    pts = L.CNN_AUG_POINTS
    parts = _CNN_PARTS
    s = settings
    gen = torch.Generator().manual_seed(int(seed))
    x, lengths = _batch(seq, pts)
    done = []
    if s["affine"]:
        x = augment.global_affine(x, lengths, gen, 1.0, tuple(s["affine_scale"]), float(s["affine_shift"]), False,
                                  float(s["affine_rotate_deg"]))
        done.append("global affine")
    if s["interpolation"]:
        x, lengths = augment.time_interpolate(x, lengths, gen, 1.0, tuple(s["interpol_factor"]),
                                              float(s["interpol_offset"]))
        x = x[:, :int(lengths[0])]
        done.append("temporal interpolation")
    if s["flip"]:
        x = augment.flip(x, lengths, gen, 1.0, L.CNN_AUG_FLIP)
        done.append("flip")
    if s["part_shift"]:
        x = augment.part_shift(x, lengths, gen, 1.0, parts)
        done.append("part shift")
    if s["part_scale"]:
        x = augment.part_scale(x, lengths, gen, 1.0, parts, tuple(s["scale_range"]))
        done.append("part scale")
    if s["part_rotation"]:
        x = augment.part_rotate(x, lengths, gen, 1.0, parts, float(s["rotate_deg"]))
        done.append("part rotation")
    if s["finger_trees"]:
        x = augment.finger_tree_rotate(x, lengths, gen, 1.0, [parts["left_hand"], parts["right_hand"]],
                                       float(s["tree_rot_tree_prob"]), float(s["tree_rot_deg"]))
        done.append("finger-tree rotation")
    after = _full(x, pts)
    t = len(after)
    hidden_frames = np.zeros(t, bool)
    hidden_rows = np.zeros(0, np.int64)
    if s["frame_mask"] and t:
        rows = augment.span_mask(1, n_frames, int(s["frame_mask_max"]), gen)[0].numpy()  # (n_frames,) image rows
        source = (np.arange(n_frames) * t) // n_frames  # the nearest resize: image row → frame
        shown = np.zeros(t, bool)
        shown[source[~rows]] = True
        hidden_frames = ~shown & np.isin(np.arange(t), source)
        after[hidden_frames] = np.nan
        done.append("time masking")
    if s["point_mask"]:
        cols = augment.span_mask(1, len(L.CNN_POINTS), int(s["point_mask_max"]), gen)[0].numpy()
        hidden_rows = np.asarray(L.CNN_POINTS)[cols]
        after[:, hidden_rows] = np.nan
        done.append("point masking")
    return after, hidden_frames, hidden_rows, done


class AugmentationExplorer:
    """The explorer without widgets: settings → augmented sequence → figure. The widgets of
    :func:`augmentation_explorer` only call :meth:`update`; tests call it directly.

    Args:
        sequences: {label: (T, 543, 3) sequence} to pick from.
        cfg: run config (training strengths: :func:`explorer_defaults`; ``cnn.n_frames``).
        seed: first seed.
    """

    def __init__(self, sequences: Mapping[str, np.ndarray], cfg, seed: int = 0):
        from matplotlib.figure import Figure

        if not sequences:
            raise ValueError("the explorer needs at least one sequence")
        self.sequences = dict(sequences)
        self.n_frames = cfg.cnn.n_frames
        first = next(iter(self.sequences))
        self.settings = {**explorer_defaults(cfg), "sequence": first, "frame": best_frame(self.sequences[first]),
                         "seed": int(seed)}
        self.figure = Figure(figsize=(12, 6.8))  # not pyplot's: shown only where the explorer displays it
        self.state: ExplorerState | None = None
        self.update()

    def update(self, **changes) -> ExplorerState:
        """Apply new settings (any of :attr:`settings`' keys), recompute and redraw :attr:`figure`.

        A new ``sequence`` without a ``frame`` shows that sequence's frame with the most hand points.
        """
        unknown = set(changes) - set(self.settings)
        if unknown:
            raise KeyError(f"unknown explorer setting(s) {sorted(unknown)}; known: {sorted(self.settings)}")
        if "sequence" in changes and changes["sequence"] not in self.sequences:
            raise KeyError(f"no sequence {changes['sequence']!r}")
        if "sequence" in changes and "frame" not in changes:
            changes["frame"] = best_frame(self.sequences[changes["sequence"]])
        self.settings.update(changes)
        seq = self.sequences[self.settings["sequence"]]
        frame = int(np.clip(self.settings["frame"], 0, len(seq) - 1))
        self.settings["frame"] = frame
        after, hidden_frames, hidden_rows, done = apply_augmentations(seq, self.settings, self.settings["seed"],
                                                                      self.n_frames)
        frame_after = int(round(frame * (len(after) - 1) / max(len(seq) - 1, 1))) if len(after) else 0
        self.state = ExplorerState(seq, after, frame, frame_after, hidden_frames, hidden_rows, done,
                                   flipped=bool(self.settings["flip"]))
        self.draw()
        return self.state

    def draw(self) -> None:
        from islr import viz

        viz.draw_explorer(self.figure, self.state, self.settings["sequence"], self.settings["seed"])


def example_sequences(prepared, first: str | None = None, data_label: str = "bundled real sample",
                      synthetic_signs=("hello", "thankyou"), participant_id: int | None = None, n_frames: int = 160
                      ) -> dict[str, np.ndarray]:
    """Sequences for the explorer's picker: per sign of ``prepared`` (``first`` first) the one best for drawing hands
    (:func:`pick_sequence`), a few synthetic signs (:func:`islr.synth.make_sequence`) and a synthetic sequence
    longer than ``n_frames``."""
    from islr import synth

    out = {}
    signs = sorted(set(map(str, prepared.signs)))
    if first in signs:
        signs.remove(first)
        signs.insert(0, first)
    for sign in signs:
        i = pick_sequence(prepared, sign)
        out[f"{data_label}: {describe(prepared, i)}"] = prepared.sequence(i)
    pid = int(prepared.participant_ids[0]) if participant_id is None else participant_id
    signs = io.sign_names()
    for row, sign in enumerate(synthetic_signs):
        if sign in signs:
            seq, _ = synth.make_sequence(signs.index(sign), pid, 0, row)
            out[f"synthetic: {sign}, participant {pid}, {len(seq)} frames"] = seq
    long_seq, long_label = long_synthetic(n_frames, pid)
    if long_seq is not None:
        out[long_label] = long_seq
    return out


def augmentation_explorer(sequences: Mapping[str, np.ndarray], cfg, seed: int = 0):
    """An ipywidgets UI over :class:`AugmentationExplorer`: sequence picker, frame slider with a play button, seed,
    and per augmentation a checkbox and its parameter sliders; every change redraws the before (grey) / after
    (colour) skeleton, hands in close-up, and the fingertip over time.

    Returns:
        the widget (display it, or leave it as a cell's last expression); None when ipywidgets is missing, after
        printing how to get it and displaying the static figure of the default settings.
    """
    from IPython.display import clear_output, display

    explorer = AugmentationExplorer(sequences, cfg, seed)
    try:
        import ipywidgets as w
    except ImportError:
        print("the interactive explorer needs ipywidgets (pip install ipywidgets, then restart the kernel); "
              "below: the static figure of its default settings")
        display(explorer.figure)
        return None

    out = w.Output()
    first = explorer.sequences[explorer.settings["sequence"]]
    picker = w.Dropdown(options=list(explorer.sequences), value=explorer.settings["sequence"], description="sequence",
                        layout=w.Layout(width="640px"))
    frame = w.IntSlider(value=explorer.settings["frame"], min=0, max=len(first) - 1, description="frame",
                        continuous_update=False)
    play = w.Play(value=frame.value, min=0, max=frame.max, interval=250)
    w.jslink((play, "value"), (frame, "value"))
    seed_box = w.BoundedIntText(value=explorer.settings["seed"], min=0, max=2**31 - 1, description="seed",
                                layout=w.Layout(width="180px"))

    def redraw(**changes):
        explorer.update(**changes)
        with out:
            clear_output(wait=True)
            display(explorer.figure)

    def on_sequence(change):
        seq = explorer.sequences[change["new"]]
        explorer.update(sequence=change["new"])
        with frame.hold_trait_notifications():
            frame.max = play.max = len(seq) - 1
            frame.value = play.value = explorer.settings["frame"]
        redraw()

    picker.observe(on_sequence, names="value")
    frame.observe(lambda c: redraw(frame=c["new"]), names="value")
    seed_box.observe(lambda c: redraw(seed=c["new"]), names="value")

    rows = []
    for key, label, params in CONTROLS:
        box = w.Checkbox(value=explorer.settings[key], description=label, indent=False, layout=w.Layout(width="200px"))
        box.observe(lambda c, k=key: redraw(**{k: c["new"]}), names="value")
        sliders = []
        for pkey, plabel, kind, (lo, hi, step) in params:
            value = explorer.settings[pkey]
            style = {"description_width": "initial"}
            if kind == "range":
                s = w.FloatRangeSlider(value=tuple(value), min=lo, max=hi, step=step, description=plabel, style=style,
                                       continuous_update=False)
            elif kind == "int":
                s = w.IntSlider(value=int(value), min=lo, max=hi, step=step, description=plabel, style=style,
                                continuous_update=False)
            else:
                s = w.FloatSlider(value=float(value), min=lo, max=hi, step=step, description=plabel, style=style,
                                  continuous_update=False)
            s.observe(lambda c, k=pkey: redraw(**{k: tuple(c["new"]) if isinstance(c["new"], (tuple, list))
                                                   else c["new"]}), names="value")
            sliders.append(s)
        rows.append(w.HBox([box, *sliders]))
    with out:
        display(explorer.figure)
    ui = w.VBox([w.HBox([picker, seed_box]), w.HBox([play, frame]), *rows, out])
    ui.explorer = explorer  # for inspection (and tests)
    return ui

