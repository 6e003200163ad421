"""Synthetic asl-signs data in the exact Kaggle layout, for running and testing the whole project offline.

``python -m islr synth --out DIR --per-sign K --seed S [--with-sample]`` (or :func:`synthesize`) writes
``train.csv`` (path, participant_id, sequence_id, sign), the real 250-sign ``sign_to_prediction_index_map.json``
and ``train_landmark_files/<participant_id>/<sequence_id>.parquet`` through :func:`islr.io.write_landmarks`, so
every file has the real schema. ``--with-sample`` adds the bundled real sample (``islr/resources/sample``) to the same
folder and ``train.csv``: that is the ``default`` profile's dataset.

What is taken from real data (``resources/train_stats.csv``, made by ``scripts/make_train_stats.py``, and the
bundled sample; no other file is read at run time):

* signs and participants: the 250 real signs and the 21 real participant ids; each sign gets ``K`` sequences
  on average, apportioned by its real frequency (every sign gets at least one); participants are drawn with
  their real frequencies.
* lengths: log-normal matched to the real median 18 / mean 31.7 frames, clipped to the real range 2–272, split
  into a sign effect, a participant (signing speed) effect and per-sequence noise.
* bodies: a real frame's face mesh and pose (the per-file median of a bundled real file) is each participant's
  template (the bundled sample has all 21 participants; a participant without a bundled file would borrow one with
  a per-participant scale and shift). The hand is the participant's real hand (median over real frames) in a hand-local
  frame, scaled to the real
  hand/shoulder ratio of that participant. Coordinates are built in aspect-corrected units (x scaled by the real
  frame width/height, estimated from rigid hand bones) and mapped back to MediaPipe's normalised x, y.
* dominant hand: the hand each real participant uses (the ``right_hand`` share of hand-present frames); the
  non-dominant hand is missing except in two-handed signs.
* missing parts: the dominant hand is missing in idle frames at the start and end and in bursty drop-outs, tuned
  so that both hands are missing in ~34% of frames (the real share); face drop-outs at the real 1.4%; pose never.
* first frame numbers from the real distribution.

What each sign is (deterministic from its index in the sign map, the same for every seed): a hand shape (flexion
of the 15 finger joints and the finger spread, from a few prototypical curls, optionally changing during the
sign), a palm orientation (start and end), a wrist path through 2–4 control points placed relative to real body
anchors (forehead, eyes, nose, mouth, chin, cheek, shoulders, chest, neutral space), an optional repeated
oscillation, optional mouth opening, and for a quarter of the signs a second hand (mirrored path, or a static
base hand). Each sequence varies it: time warping and speed, path noise and amplitude, orientation and joint-angle
noise, per-participant style (joint-angle bias, amplitude, jitter), body sway, camera shift and scale, landmark
jitter. Left-dominant participants sign the mirror image (the body basis is reflected, which also turns the right
hand model into a left hand).

Signs that real recordings exist for can instead be **fitted** to them (:func:`fit_sign_specs`,
``synthesize(fit_participants=...)``): the median wrist path, joint bends and palm orientation of the chosen
participants' recordings replace the random definition, so the synthetic hello is a variation of the real hello on
every participant's body rather than an unrelated motion that shares its label.

Not modelled: co-articulation and real sign phonology; hand kinematics beyond planar joint flexion and spread
(no wrist/finger twist, no collisions); perspective (apparent hand size does not change with depth); z only
approximated (hand z relative to the wrist from the 3D hand model; face z rigid; pose z from the template, arm z
a linear function of hand height); the face mesh is rigid apart from an in-plane head roll and a jaw/lower-lip
drop; the pose moves only the arms (2-link inverse kinematics in the image plane, fixed bone lengths); the
non-dominant arm rests below the frame in one-handed signs; MediaPipe's own failure modes (swapped or
mis-detected hands) are not imitated.

Sequence ids: synthetic sequence ``i`` (0-based row of the synthetic part of train.csv) gets id
``SYNTH_SEQUENCE_ID_BASE + i`` = 10,000,000,000 + i; real ids are below 2**32 = 4,294,967,296, so the two never
collide.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from islr.io import SIGN_MAP_NAME, TRAIN_COLUMNS, read_landmarks, read_sign_map, read_train_index, write_landmarks
from islr.landmarks import FINGER_ROUTES, N_LANDMARKS, PART_SLICE
from islr.paths import SAMPLE_DIR, SIGN_MAP_JSON, TRAIN_STATS_CSV

#: Synthetic sequence ids start here (real asl-signs ids are < 2**32).
SYNTH_SEQUENCE_ID_BASE = 10_000_000_000
#: Written next to train.csv; marks a folder this module may overwrite.
INFO_NAME = "synth_info.json"
GENERATOR_VERSION = 1

_SIGN_SALT = 0x5167  # sign definitions: rng([_SIGN_SALT, sign_index]), independent of the seed
_PARTICIPANT_SALT = 0x9A27  # participant style: rng([_PARTICIPANT_SALT, participant_id])
_SEQUENCE_SALT = 0x5E0  # sequence variation: rng([seed, _SEQUENCE_SALT, row])

# Length model: log T = log(median) + sign effect + participant effect + noise (sds below; total sd from the
# real median/mean).
_SIGN_LENGTH_SD = 0.30
_PARTICIPANT_LENGTH_SD = 0.25
# Idle frames (hand not yet / no longer detected) at the start/end: uniform shares of T up to these.
_LEAD_MAX, _TRAIL_MAX = 0.30, 0.20
# Mean share of idle frames: (_LEAD_MAX + _TRAIL_MAX) / 2 less the rounding down of short sequences (measured).
_EXPECTED_IDLE = 0.19
_DROPOUT_STAY = 0.6  # P(missing at t+1 | missing at t): drop-outs come in bursts
_NONDOMINANT_VISIBLE = 0.6  # share of active frames in which a two-handed sign's second hand is detected
_TWO_HANDED_SHARE = 0.25
# Per-sequence variation of a sign (tuned so that simple classifiers are well above chance but far from perfect):
# control-point noise (shoulder widths), joint-angle noise and palm-orientation noise (degrees).
_PATH_NOISE, _ANGLE_NOISE, _ORIENT_NOISE = 0.15, 12.0, 20.0

# Finger flexion prototypes (MCP/CMC, PIP/MCP, DIP/IP) in degrees.
_FINGER_CURLS = np.array([[0, 0, 0], [10, 80, 60], [75, 5, 5], [40, 45, 30], [85, 100, 65]], dtype=float)
_FINGER_CURL_P = np.array([0.35, 0.15, 0.15, 0.15, 0.20])
_THUMB_CURLS = np.array([[-10, 0, 0], [15, 10, 10], [40, 35, 30], [55, 55, 45]], dtype=float)
# Arm geometry in shoulder widths (adult proportions: upper arm ~0.9, forearm ~0.8 of the biacromial width).
_UPPER_ARM, _FOREARM = 0.9, 0.8
_REST = np.array([0.55, 2.2])  # wrist at rest, body coords (u outward, v down), below most frames


# ---------------------------------------------------------------------------------------------------------------
# Real statistics and templates
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainStats:
    """What the generator takes from ``train_stats.csv`` (see scripts/make_train_stats.py)."""

    sign_counts: dict[str, float]
    participant_counts: dict[int, float]
    right_share: dict[int, float]
    hand_scale: dict[int, float]
    reference: dict[str, float]
    first_frame_q: np.ndarray  # (Q, 2) quantile level, value
    aspect: float


def load_train_stats(path: str | Path = TRAIN_STATS_CSV) -> TrainStats:
    """Read the committed statistics table.

    Args:
        path: a ``kind,key,value`` CSV written by scripts/make_train_stats.py.
    """
    table = pd.read_csv(path, dtype={"kind": str, "key": str, "value": float})

    def part(kind: str) -> pd.Series:
        rows = table[table["kind"] == kind]
        return pd.Series(rows["value"].to_numpy(), index=rows["key"].to_numpy())

    first = part("first_frame_quantile")
    return TrainStats(
        sign_counts=part("sign_count").to_dict(),
        participant_counts={int(k): v for k, v in part("participant_count").items()},
        right_share={int(k): v for k, v in part("participant_right_share").items()},
        hand_scale={int(k): v for k, v in part("participant_hand_scale").items()},
        reference=part("reference_751").to_dict(),
        first_frame_q=np.stack([first.index.astype(float), first.to_numpy()], axis=1),
        aspect=float(part("aspect").iloc[0]),
    )


@dataclass
class Body:
    """One participant's template, in aspect-corrected image units (x·aspect, y; hand z·aspect).

    Attributes:
        face: (468, 3) face mesh (x, y corrected; z as MediaPipe wrote it).
        pose: (33, 3) pose, same convention.
        hand: (21, 3) the real dominant hand in the hand-local frame (x toward the index MCP, y wrist→middle MCP,
            z toward the palm; right-hand chirality), in shoulder widths.
        origin: (2,) shoulder midpoint. width: shoulder width. ex: (2,) unit vector toward the dominant shoulder.
        ey: (2,) unit vector perpendicular to ex, pointing down the body.
        dominant: "left_hand" or "right_hand" (the MediaPipe type of the signing hand).
        anchors: name -> (2,) body coordinates (u along ex, v along ey, in shoulder widths).
    """

    face: np.ndarray
    pose: np.ndarray
    hand: np.ndarray
    origin: np.ndarray
    width: float
    ex: np.ndarray
    ey: np.ndarray
    dominant: str
    anchors: dict[str, np.ndarray] = field(default_factory=dict)


ANCHOR_NAMES = ("forehead", "eye", "nose", "mouth", "chin", "cheek", "neck", "shoulder", "other_shoulder",
                "chest", "stomach", "neutral", "side")


def _hand_local(hand: np.ndarray, is_left: bool) -> np.ndarray:
    """(F, 21, 3) corrected hand points -> (F, 21, 3) hand-local coordinates (right-hand chirality, palm +z)."""
    rel = hand - hand[:, :1]
    y = rel[:, 9] / np.linalg.norm(rel[:, 9], axis=1, keepdims=True)  # (F, 3) wrist -> middle MCP
    x = rel[:, 5] - rel[:, 17]
    x -= (x * y).sum(axis=1, keepdims=True) * y
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = np.cross(x, y)
    local = np.stack([(rel * a[:, None]).sum(-1) for a in (x, y, z)], axis=-1)
    if is_left:
        # A left hand's palm is on -z in this frame; reflecting z gives the right-hand model (checked on the real
        # files: relaxed fingertips then lie on +z for both hands).
        local[..., 2] *= -1
    return local


def _body_from_frames(seq: np.ndarray, hands: np.ndarray, hand_is_left: bool, dominant: str, aspect: float,
                      hand_scale: float) -> Body:
    """Template from one real file (T, 543, 3) and the participant's real dominant-hand frames (F, 21, 3)."""
    scale = np.array([aspect, 1.0, 1.0])
    face = np.nanmedian(seq[:, PART_SLICE["face"]], axis=0) * scale  # (468, 3)
    pose = np.nanmedian(seq[:, PART_SLICE["pose"]], axis=0) * scale  # (33, 3)
    local = _hand_local(hands * np.array([aspect, 1.0, aspect]), hand_is_left)
    hand = np.median(local / local[:, 9:10, 1:2], axis=0)  # (21, 3), |wrist -> middle MCP| = 1
    dom_sh, other_sh = (12, 11) if dominant == "right_hand" else (11, 12)
    a, b = pose[dom_sh, :2], pose[other_sh, :2]
    width = float(np.linalg.norm(a - b))
    ex = (a - b) / width
    ey = np.array([-ex[1], ex[0]])
    ey = ey if ey[1] > 0 else -ey
    body = Body(face=face, pose=pose, hand=hand * hand_scale, origin=(a + b) / 2, width=width, ex=ex, ey=ey,
                dominant=dominant)
    body.anchors = _anchors(body)
    return body


def _to_body(body: Body, point: np.ndarray) -> np.ndarray:
    rel = (point[..., :2] - body.origin) / body.width
    return np.stack([rel @ body.ex, rel @ body.ey], axis=-1)


def _anchors(body: Body) -> dict[str, np.ndarray]:
    """Named places on the real template, in body coordinates."""
    face = body.face
    # The face point on the dominant side of each left/right pair (MediaPipe mesh ids: cheeks 234/454, eye
    # corners 33/263).
    def dom_side(i: int, j: int) -> np.ndarray:
        pi, pj = _to_body(body, face[i]), _to_body(body, face[j])
        return pi if pi[0] > pj[0] else pj

    mouth = _to_body(body, (face[13] + face[14]) / 2)
    chin = _to_body(body, face[152])
    return {
        "forehead": _to_body(body, face[10]) + [0.0, 0.1],
        "eye": dom_side(33, 263),
        "nose": _to_body(body, face[1]),
        "mouth": mouth,
        "chin": chin,
        "cheek": dom_side(234, 454),
        "neck": chin + [0.0, 0.3],
        "shoulder": np.array([0.5, 0.05]),
        "other_shoulder": np.array([-0.5, 0.05]),
        "chest": np.array([0.0, 0.55]),
        "stomach": np.array([0.05, 1.2]),
        "neutral": np.array([0.45, 0.8]),
        "side": np.array([0.9, 0.5]),
    }


def _transformed(body: Body, scale: float, shift: np.ndarray) -> Body:
    """``body`` scaled about its shoulder midpoint and shifted (for participants without a real file)."""
    def move(points: np.ndarray) -> np.ndarray:
        out = points.copy()
        out[:, :2] = (points[:, :2] - body.origin) * scale + body.origin + shift
        return out

    return Body(face=move(body.face), pose=move(body.pose), hand=body.hand.copy(), origin=body.origin + shift,
                width=body.width * scale, ex=body.ex.copy(), ey=body.ey.copy(), dominant=body.dominant,
                anchors=dict(body.anchors))


@dataclass
class _Context:
    stats: TrainStats
    bodies: dict[int, Body]
    signs: list[str]  # the sign map's signs, by label


@functools.lru_cache(maxsize=1)
def _context() -> _Context:
    """Statistics + one template per real participant (built from the bundled sample once per process)."""
    stats = load_train_stats()
    index = read_train_index(SAMPLE_DIR)
    dominant = {p: ("right_hand" if s >= 0.5 else "left_hand") for p, s in stats.right_share.items()}
    real: dict[int, tuple[np.ndarray, str]] = {}
    bodies: dict[int, Body] = {}
    for pid, files in index.groupby("participant_id", sort=True):
        seqs = [read_landmarks(SAMPLE_DIR / p) for p in files["path"]]
        # The participant's signing hand in the real files (the stats' dominant hand when it appears there).
        present = {part: sum(int((~np.isnan(s[:, PART_SLICE[part], 0]).all(1)).sum()) for s in seqs)
                   for part in ("left_hand", "right_hand")}
        hand_part = dominant[pid] if present[dominant[pid]] else max(present, key=present.get)
        hands = np.concatenate([s[:, PART_SLICE[hand_part]] for s in seqs])
        hands = hands[~np.isnan(hands[:, :, 0]).any(axis=1)]
        real[int(pid)] = (hands, hand_part)
        bodies[int(pid)] = _body_from_frames(seqs[0], hands, hand_part == "left_hand", dominant[pid],
                                             stats.aspect, stats.hand_scale[pid])
    donors = sorted(bodies)
    for pid in sorted(stats.participant_counts):
        if pid in bodies:
            continue
        rng = np.random.default_rng([_PARTICIPANT_SALT, pid, 1])
        donor = donors[int(rng.integers(len(donors)))]
        hands, hand_part = real[donor]
        seq = read_landmarks(SAMPLE_DIR / index[index["participant_id"] == donor]["path"].iloc[0])
        base = _body_from_frames(seq, hands, hand_part == "left_hand", dominant[pid], stats.aspect,
                                 stats.hand_scale[pid])
        bodies[pid] = _transformed(base, float(rng.uniform(0.85, 1.15)), rng.normal(0.0, [0.05, 0.04]))
    sign_map = json.loads(SIGN_MAP_JSON.read_text())
    return _Context(stats=stats, bodies=bodies, signs=sorted(sign_map, key=sign_map.get))


# ---------------------------------------------------------------------------------------------------------------
# Signs and participants
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandSpec:
    """A hand's part of a sign: joint angles (degrees) and palm orientation (roll, yaw, pitch; degrees)."""

    angles: np.ndarray  # (2, 5, 3) start/end flexion per finger (thumb first) and joint
    spread: np.ndarray  # (2,) start/end finger spread, radians
    orient: np.ndarray  # (2, 3) start/end (roll, yaw, pitch)


@dataclass(frozen=True)
class SignSpec:
    """Everything that defines one synthetic sign (see the module docstring)."""

    index: int
    path: np.ndarray  # (K, 2) wrist control points, body coords
    oscillation: np.ndarray  # (4,) amplitude, cycles, direction angle, phase (amplitude 0 = none)
    hand: HandSpec
    second: str  # "none", "mirror" or "base"
    second_hand: HandSpec | None
    second_place: np.ndarray  # (2,) body coords of a static base hand
    mouth: np.ndarray  # (2,) opening amplitude (mouth widths), bumps (0 = no mouthing)
    length_effect: float


def _hand_spec(rng: np.random.Generator, change_p: float) -> HandSpec:
    def shape() -> np.ndarray:
        base = rng.choice(len(_FINGER_CURLS), p=_FINGER_CURL_P)
        fingers = [base if rng.random() < 0.6 else rng.choice(len(_FINGER_CURLS), p=_FINGER_CURL_P)
                   for _ in range(4)]
        angles = np.concatenate([_THUMB_CURLS[rng.integers(len(_THUMB_CURLS))][None], _FINGER_CURLS[fingers]])
        return angles + rng.normal(0.0, 5.0, angles.shape)

    start = shape()
    end = shape() if rng.random() < change_p else start + rng.normal(0.0, 5.0, start.shape)
    spread = rng.uniform(-0.1, 0.25, 2)
    orient0 = np.array([rng.uniform(-100, 40), rng.uniform(-70, 70), rng.uniform(-50, 50)])
    orient1 = orient0 + (rng.normal(0.0, 35.0, 3) if rng.random() < 0.5 else rng.normal(0.0, 5.0, 3))
    return HandSpec(angles=np.stack([start, end]), spread=spread, orient=np.stack([orient0, orient1]))


def _anchor_offset(rng: np.random.Generator) -> tuple[int, np.ndarray]:
    # Biased toward the dominant side (+u), where most one-handed signing happens.
    return int(rng.integers(len(ANCHOR_NAMES))), rng.normal([0.1, 0.0], 0.12)


@functools.lru_cache(maxsize=None)
def sign_spec(sign_index: int) -> SignSpec:
    """The definition of sign ``sign_index`` (its label in the real sign map); the same for every seed.

    Control points are stored as (anchor id, offset) pairs resolved against each participant's anchors, so the
    path is anchored to that participant's real face and shoulders; here they are packed as (K, 3) rows
    (anchor id, du, dv) into ``path``.
    """
    rng = np.random.default_rng([_SIGN_SALT, sign_index])
    n_points = int(rng.choice([2, 3, 4], p=[0.35, 0.4, 0.25]))
    anchor, offset = _anchor_offset(rng)
    rows = [[anchor, *offset]]
    for _ in range(n_points - 1):
        if rng.random() < 0.3:
            anchor, offset = _anchor_offset(rng)
        else:
            angle, step = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.6)
            offset = offset + step * np.array([np.cos(angle), np.sin(angle)])
        rows.append([anchor, *offset])
    oscillation = np.zeros(4)
    if rng.random() < 0.3:
        oscillation = np.array([rng.uniform(0.04, 0.12), rng.uniform(1.5, 3.5), rng.uniform(0, np.pi),
                                rng.uniform(0, 2 * np.pi)])
    hand = _hand_spec(rng, change_p=0.35)
    second = "none"
    if rng.random() < _TWO_HANDED_SHARE:
        second = "mirror" if rng.random() < 0.5 else "base"
    second_hand = _hand_spec(rng, change_p=0.0) if second != "none" else None
    second_place = np.array([rng.uniform(0.0, 0.3), rng.uniform(0.4, 0.9)])
    mouth = np.array([rng.uniform(0.2, 0.6), rng.integers(1, 3)]) if rng.random() < 0.4 else np.zeros(2)
    return SignSpec(index=sign_index, path=np.array(rows), oscillation=oscillation, hand=hand, second=second,
                    second_hand=second_hand, second_place=second_place, mouth=mouth,
                    length_effect=float(rng.normal(0.0, _SIGN_LENGTH_SD)))


@dataclass(frozen=True)
class Style:
    """Per-participant signing style."""

    length_effect: float
    amplitude: float
    jitter: float
    angle_bias: np.ndarray  # (5, 3) degrees
    path_bias: np.ndarray  # (2,) body coords: where this participant places signs


@functools.lru_cache(maxsize=None)
def participant_style(participant_id: int) -> Style:
    """The style of a participant (deterministic from the id)."""
    rng = np.random.default_rng([_PARTICIPANT_SALT, participant_id])
    return Style(length_effect=float(rng.normal(0.0, _PARTICIPANT_LENGTH_SD)), amplitude=float(rng.uniform(0.85, 1.15)),
                 jitter=float(rng.uniform(0.6, 1.4)), angle_bias=rng.normal(0.0, 8.0, (5, 3)),
                 path_bias=rng.normal(0.0, 0.08, 2))


# ---------------------------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------------------------
def _rotate(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation of (T, N, 3) points about a (3,) axis through (T, 3) pivots by (T,) angles (radians)."""
    rel = points - pivot[:, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    cross = np.cross(axis, rel)
    dot = (rel @ axis)[..., None]
    return pivot[:, None] + rel * cos + cross * sin + axis * dot * (1 - cos)


def pose_hand(rest: np.ndarray, angles: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Bend a hand model.

    Args:
        rest: (21, 3) hand-local rest hand (palm +z).
        angles: (T, 5, 3) flexion in degrees per finger (thumb, index, middle, ring, pinky) and joint.
        spread: (T,) radians; index spreads toward +x, ring and pinky toward -x.

    Returns:
        (T, 21, 3) hand-local points; each finger flexes in one plane about its own axis (perpendicular to its
        proximal bone, in the palm plane), distal joints after proximal ones.
    """
    n = len(angles)
    hand = np.repeat(rest[None], n, axis=0).astype(float)  # (T, 21, 3)
    normal = np.array([0.0, 0.0, 1.0])
    for f, route in enumerate(FINGER_ROUTES):
        bone = rest[route[2]] - rest[route[1]]
        axis = np.cross(bone, normal)
        axis /= np.linalg.norm(axis)
        if f > 0:
            # spread about the palm normal at the MCP: index +1, middle 0, ring -1, pinky -2 (units of spread)
            chain = route[2:]
            hand[:, chain] = _rotate(hand[:, chain], hand[:, route[1]], normal, -spread * (2 - f))
        for j in range(3):
            chain = route[j + 2:]
            hand[:, chain] = _rotate(hand[:, chain], hand[:, route[j + 1]], axis, np.radians(angles[:, f, j]))
    return hand


def _rotation(angles: np.ndarray) -> np.ndarray:
    """(T, 3) roll (about w), yaw (about v), pitch (about u) in degrees -> (T, 3, 3) body-frame rotations."""
    r, y, p = np.radians(angles).T
    zeros, ones = np.zeros_like(r), np.ones_like(r)
    rz = np.stack([np.cos(r), -np.sin(r), zeros, np.sin(r), np.cos(r), zeros, zeros, zeros, ones], 1)
    ry = np.stack([np.cos(y), zeros, np.sin(y), zeros, ones, zeros, -np.sin(y), zeros, np.cos(y)], 1)
    rx = np.stack([ones, zeros, zeros, zeros, np.cos(p), -np.sin(p), zeros, np.sin(p), np.cos(p)], 1)
    return rz.reshape(-1, 3, 3) @ ry.reshape(-1, 3, 3) @ rx.reshape(-1, 3, 3)


def _place_hand(body: Body, side: float, wrist_uv: np.ndarray, local: np.ndarray, orient: np.ndarray) -> np.ndarray:
    """Hand-local points -> corrected image points.

    Args:
        side: +1 for the dominant side, -1 for the other (reflects the body basis: the same spec, mirrored, and a
            right-hand model becomes a left hand).
        wrist_uv: (T, 2) wrist, body coords. local: (T, 21, 3). orient: (T, 3) degrees.

    Returns:
        (T, 21, 3): x, y corrected image coordinates; z relative to the wrist (corrected units).
    """
    # Rest orientation: fingers up (-v), thumb toward the midline (-u), palm toward the camera (-w).
    body_pts = -np.einsum("tij,tnj->tni", _rotation(orient), local) * body.width  # (T, 21, 3)
    ex, ey = body.ex * side, body.ey
    wrist = body.origin + body.width * (wrist_uv[:, :1] * ex + wrist_uv[:, 1:] * ey)  # (T, 2)
    xy = wrist[:, None] + body_pts[..., :1] * ex + body_pts[..., 1:2] * ey
    return np.concatenate([xy, body_pts[..., 2:]], axis=-1)


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, width: float, down: np.ndarray) -> np.ndarray:
    """2-link inverse kinematics in the image plane: (T, 2) elbows, bent away from the body's vertical."""
    l1, l2 = _UPPER_ARM * width, _FOREARM * width
    d = wrist - shoulder
    dist = np.clip(np.linalg.norm(d, axis=1), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    cos_a = np.clip((l1 ** 2 + dist ** 2 - l2 ** 2) / (2 * l1 * dist), -1.0, 1.0)
    a = np.arccos(cos_a)
    candidates = []
    for s in (1.0, -1.0):
        c, si = np.cos(s * a), np.sin(s * a)
        candidates.append(shoulder + l1 * np.stack([unit[:, 0] * c - unit[:, 1] * si,
                                                    unit[:, 0] * si + unit[:, 1] * c], axis=1))
    lower = (candidates[0] @ down) >= (candidates[1] @ down)
    return np.where(lower[:, None], candidates[0], candidates[1])


def _smooth_noise(rng: np.random.Generator, n: int, dims: int, sd: float) -> np.ndarray:
    """(n, dims) slow random drift: two random sinusoids per dimension."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    freq = rng.uniform(0.3, 1.5, (2, dims))
    phase = rng.uniform(0, 2 * np.pi, (2, dims))
    return sd * (np.sin(2 * np.pi * freq[0] * t + phase[0]) + 0.5 * np.sin(2 * np.pi * freq[1] * t + phase[1]))


def _bursts(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """(n,) bool Markov chain with stationary share ``rate`` and mean burst length 1/(1-_DROPOUT_STAY)."""
    if rate <= 0:
        return np.zeros(n, bool)
    enter = min(rate * (1 - _DROPOUT_STAY) / (1 - rate), 1.0)
    out = np.empty(n, bool)
    state = rng.random() < rate
    for t in range(n):
        out[t] = state
        state = rng.random() < (_DROPOUT_STAY if state else enter)
    return out


# ---------------------------------------------------------------------------------------------------------------
# One sequence
# ---------------------------------------------------------------------------------------------------------------
def _length(rng: np.random.Generator, stats: TrainStats, spec: SignSpec, style: Style) -> int:
    ref = stats.reference
    total_sd = np.sqrt(2 * np.log(ref["length_mean"] / ref["length_median"]))  # log-normal: mean/median
    noise_sd = np.sqrt(max(total_sd ** 2 - _SIGN_LENGTH_SD ** 2 - _PARTICIPANT_LENGTH_SD ** 2, 0.01))
    log_t = np.log(ref["length_median"]) + spec.length_effect + style.length_effect + rng.normal(0, noise_sd)
    return int(np.clip(round(np.exp(log_t)), ref["length_min"], ref["length_max"]))


def _timeline(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: progress s through the sign (T,) in [0, 1] and the phase (T,) -1 lead idle, 0 active, 1 trail."""
    lead = int(n * rng.uniform(0, _LEAD_MAX))
    trail = int(n * rng.uniform(0, _TRAIL_MAX))
    if lead + trail >= n:
        lead, trail = (n - 1) // 2, 0
    active = n - lead - trail
    gamma = float(np.exp(rng.normal(0.0, 0.2)))
    s = np.linspace(0.0, 1.0, active) ** gamma if active > 1 else np.array([0.5])
    phase = np.concatenate([-np.ones(lead), np.zeros(active), np.ones(trail)])
    # Idle frames: progress <0 / >1 measures how far the arm still is from (or already back toward) rest.
    before = -(lead - np.arange(lead)) / max(lead, 1)
    after = 1 + (np.arange(trail) + 1) / max(trail, 1)
    return np.concatenate([before, s, after]), phase


def _wrist_path(rng: np.random.Generator, body: Body, spec: SignSpec, style: Style, s: np.ndarray) -> np.ndarray:
    """(T, 2) dominant wrist in body coords; idle frames travel between rest and the path's ends."""
    anchors = np.stack([body.anchors[ANCHOR_NAMES[int(a)]] for a in spec.path[:, 0]])
    points = anchors + spec.path[:, 1:] + style.path_bias + rng.normal(0.0, _PATH_NOISE, (len(spec.path), 2))
    amplitude = style.amplitude * rng.uniform(0.85, 1.15)
    points = points[:1] + (points - points[:1]) * amplitude  # (K, 2)
    spline = CubicSpline(np.linspace(0.0, 1.0, len(points)), points, bc_type="natural")
    inside = np.clip(s, 0.0, 1.0)
    path = spline(inside)  # (T, 2)
    amp, cycles, direction, phase = spec.oscillation
    if amp > 0:
        wave = amp * amplitude * np.sin(2 * np.pi * cycles * inside + phase)
        path += wave[:, None] * np.array([np.cos(direction), np.sin(direction)])
    # Idle: ease between rest and the nearest end of the path (s<0: before the sign, s>1: after it).
    away = np.clip(np.where(s < 0, -s, s - 1), 0.0, 1.0)
    ease = (0.5 - 0.5 * np.cos(np.pi * away))[:, None]
    return path * (1 - ease) + _REST * ease


def _hand_frames(rng: np.random.Generator, body: Body, spec: HandSpec, style: Style, s: np.ndarray,
                 side: float, wrist_uv: np.ndarray) -> np.ndarray:
    """(T, 21, 3) one hand over the sequence, corrected image units (z relative to the wrist)."""
    inside = np.clip(s, 0.0, 1.0)[:, None, None]
    angles = spec.angles[0] * (1 - inside) + spec.angles[1] * inside  # (T, 5, 3)
    angles = angles + style.angle_bias + rng.normal(0.0, _ANGLE_NOISE, (5, 3))
    spread = spec.spread[0] * (1 - inside[:, 0, 0]) + spec.spread[1] * inside[:, 0, 0]
    orient = spec.orient[0] * (1 - inside[:, 0]) + spec.orient[1] * inside[:, 0] + rng.normal(0.0, _ORIENT_NOISE, 3)
    local = pose_hand(body.hand, angles, spread)
    return _place_hand(body, side, wrist_uv, local, orient)


def _arm(pose: np.ndarray, body: Body, side: float, hand: np.ndarray, wrist_uv: np.ndarray) -> None:
    """Write one arm of ``pose`` (T, 33, 3) in place from that side's hand (T, 21, 3)."""
    is_dominant_side = side > 0
    right = (body.dominant == "right_hand") == is_dominant_side
    shoulder, elbow, wrist, pinky, index, thumb = (12, 14, 16, 18, 20, 22) if right else (11, 13, 15, 17, 19, 21)
    pose[:, elbow, :2] = _elbow(pose[:, shoulder, :2], hand[:, 0, :2], body.width, body.ey)
    for dst, src in ((wrist, 0), (pinky, 18), (index, 6), (thumb, 3)):
        pose[:, dst, :2] = hand[:, src, :2]
    # Raised hands are nearer the camera: pose z falls with hand height (v, shoulder widths below the shoulders).
    z = pose[:, shoulder, 2] + 0.5 * (np.minimum(wrist_uv[:, 1], 2.0) - 2.0)
    for dst in (elbow, wrist, pinky, index, thumb):
        pose[:, dst, 2] = z * (0.6 if dst == elbow else 1.0)


def _mouth(face: np.ndarray, body: Body, spec: SignSpec, s: np.ndarray, rng: np.random.Generator) -> None:
    """Lower lip and jaw drop in place on (T, 468, 3) faces for signs with mouthing."""
    amp, bumps = spec.mouth
    if amp <= 0:
        return
    tmpl = body.face
    top, bottom = tmpl[13, 1], tmpl[14, 1]
    half_width = abs(tmpl[291, 0] - tmpl[61, 0]) / 2
    centre_x = (tmpl[291, 0] + tmpl[61, 0]) / 2
    # Weight 1 from the lower inner lip downward (jaw and chin follow), Gaussian falloff across the face.
    weight = np.clip((tmpl[:, 1] - top) / max(bottom - top, 1e-4), 0.0, 1.0)
    weight *= np.exp(-((tmpl[:, 0] - centre_x) / (1.5 * half_width)) ** 2)
    inside = np.clip(s, 0.0, 1.0)
    opening = amp * rng.uniform(0.7, 1.3) * np.sin(np.pi * bumps * inside) ** 2 * (s >= 0) * (s <= 1)  # (T,)
    face[:, :, 1] += (opening[:, None] * 2 * half_width) * weight[None]


def make_sequence(sign_index: int, participant_id: int, seed: int, row: int, spec: SignSpec | None = None
                  ) -> tuple[np.ndarray, int]:
    """One synthetic sequence.

    Args:
        sign_index: the sign's label in the real sign map.
        participant_id: one of the 21 real participant ids.
        seed: dataset seed. row: the sequence's row in the synthetic train.csv (with ``seed``, seeds its variation).
        spec: the sign's definition (default :func:`sign_spec`; e.g. one fitted by :func:`fit_sign_specs`).

    Returns:
        ((T, 543, 3) float32 landmarks in MediaPipe's normalised coordinates, NaN where missing; first frame
        number).
    """
    ctx = _context()
    body, style = ctx.bodies[participant_id], participant_style(participant_id)
    spec = spec if spec is not None else sign_spec(sign_index)
    rng = np.random.default_rng([seed, _SEQUENCE_SALT, row])
    n = _length(rng, ctx.stats, spec, style)
    s, phase = _timeline(rng, n)

    wrist = _wrist_path(rng, body, spec, style, s)
    hand = _hand_frames(rng, body, spec.hand, style, s, 1.0, wrist)
    pose = np.repeat(body.pose[None], n, axis=0)  # (T, 33, 3)
    _arm(pose, body, 1.0, hand, wrist)
    if spec.second == "none":
        other_uv = np.repeat(_REST[None], n, axis=0)
        second_spec = HandSpec(angles=np.zeros((2, 5, 3)), spread=np.zeros(2), orient=np.array([[180, 0, 0]] * 2))
    else:
        other_uv = wrist if spec.second == "mirror" else np.repeat(spec.second_place[None], n, axis=0)
        other_uv = other_uv + rng.normal(0.0, 0.05, 2)
        second_spec = spec.hand if spec.second == "mirror" else spec.second_hand
    other = _hand_frames(rng, body, second_spec, style, s, -1.0, other_uv)
    _arm(pose, body, -1.0, other, other_uv)

    face = np.repeat(body.face[None], n, axis=0)  # (T, 468, 3)
    _mouth(face, body, spec, s, rng)
    # Head roll about the nose, in the image plane (corrected units keep it a true rotation).
    roll = _smooth_noise(rng, n, 1, np.radians(2.0))[:, 0]
    nose = body.face[1, :2]
    rel = face[..., :2] - nose
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    face[..., 0] = nose[0] + rel[..., 0] * cos - rel[..., 1] * sin
    face[..., 1] = nose[1] + rel[..., 0] * sin + rel[..., 1] * cos

    jitter = style.jitter * body.width
    frames = np.empty((n, N_LANDMARKS, 3))
    frames[:, PART_SLICE["face"]] = face + rng.normal(0.0, 0.002 * jitter, face.shape)
    frames[:, PART_SLICE["pose"]] = pose + rng.normal(0.0, 0.006 * jitter, pose.shape)
    dominant, non_dominant = body.dominant, ("left_hand" if body.dominant == "right_hand" else "right_hand")
    frames[:, PART_SLICE[dominant]] = hand + rng.normal(0.0, 0.008 * jitter, hand.shape)
    frames[:, PART_SLICE[non_dominant]] = other + rng.normal(0.0, 0.008 * jitter, other.shape)
    for part in ("left_hand", "right_hand"):
        frames[:, PART_SLICE[part].start, 2] = 0.0  # MediaPipe hand z is relative to the wrist

    # Whole-body sway and a per-sequence camera shift/scale, then back to MediaPipe's normalised x.
    sway = _smooth_noise(rng, n, 2, 0.01 * body.width)  # (T, 2)
    zoom, shift = rng.uniform(0.95, 1.05), rng.normal(0.0, 0.02, 2)
    frames[..., :2] = (frames[..., :2] + sway[:, None] - body.origin) * zoom + body.origin + shift
    frames[..., 0] /= ctx.stats.aspect
    hand_rows = np.r_[PART_SLICE["left_hand"], PART_SLICE["right_hand"]]
    frames[:, hand_rows, 2] /= ctx.stats.aspect

    _drop_parts(rng, frames, phase, ctx.stats, dominant, non_dominant, spec.second != "none")
    first = int(round(np.interp(rng.random(), *ctx.stats.first_frame_q.T)))
    return frames.astype(np.float32), first


def _drop_parts(rng: np.random.Generator, frames: np.ndarray, phase: np.ndarray, stats: TrainStats,
                dominant: str, non_dominant: str, two_handed: bool) -> None:
    """Blank (NaN) undetected parts in place: idle frames, bursty hand drop-outs, rare face drop-outs."""
    n = len(frames)
    active = phase == 0
    expected_idle = _EXPECTED_IDLE
    # Dominant hand missing ~ the real both-hands-missing share (the other hand is mostly absent anyway).
    target = stats.reference["both_hands_missing"]
    drop = np.clip((target - expected_idle) / (1 - expected_idle), 0.0, 0.9)
    dom_missing = ~active | _bursts(rng, n, drop)
    if dom_missing.all():
        dom_missing[int(np.flatnonzero(active)[len(np.flatnonzero(active)) // 2])] = False
    frames[dom_missing, PART_SLICE[dominant]] = np.nan
    if two_handed:
        other_missing = ~active | _bursts(rng, n, 1 - _NONDOMINANT_VISIBLE)
    else:
        other_missing = np.ones(n, bool)
    frames[other_missing, PART_SLICE[non_dominant]] = np.nan
    frames[_bursts(rng, n, stats.reference["face_missing"]), PART_SLICE["face"]] = np.nan


# ---------------------------------------------------------------------------------------------------------------
# Sign definitions fitted to real recordings
# ---------------------------------------------------------------------------------------------------------------
#: Wrist control points of a fitted sign (at equal shares of the hand-present frames).
_FIT_POINTS = 4


def _joint_angles(local: np.ndarray) -> np.ndarray:
    """(..., 21, 3) hand points -> (..., 5, 3) unsigned bend (degrees) at each finger's three joints."""
    out = []
    for route in FINGER_ROUTES:
        bones = np.diff(local[..., route, :], axis=-2)  # (..., 4, 3)
        a, b = bones[..., :-1, :], bones[..., 1:, :]
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-9)
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(out, axis=-2)


def _orientation(hand: np.ndarray, body: Body, side: float, is_left: bool) -> np.ndarray:
    """(F, 21, 3) corrected hand points -> (F, 3) (roll, yaw, pitch) of :func:`_place_hand`'s convention."""
    rel = hand - hand[:, :1]
    y = rel[:, 9] / np.linalg.norm(rel[:, 9], axis=1, keepdims=True)
    x = rel[:, 5] - rel[:, 17]
    x -= (x * y).sum(axis=1, keepdims=True) * y
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = np.cross(x, y) * (-1.0 if is_left else 1.0)

    def to_body(v: np.ndarray) -> np.ndarray:  # image-corrected vector -> (u, v, w)
        return np.stack([v[:, :2] @ (body.ex * side), v[:, :2] @ body.ey, v[:, 2]], axis=1)

    # _place_hand: body = -R · local, so R's columns are minus the local axes in body coordinates.
    rot = -np.stack([to_body(x), to_body(y), to_body(z)], axis=2)  # (F, 3, 3)
    yaw = -np.arcsin(np.clip(rot[:, 2, 0], -1.0, 1.0))
    roll = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
    pitch = np.arctan2(rot[:, 2, 1], rot[:, 2, 2])
    return np.degrees(np.stack([roll, yaw, pitch], axis=1))


def _mean_angles(angles: np.ndarray) -> np.ndarray:
    """Circular mean of (N, 3) angles in degrees."""
    rad = np.radians(angles)
    return np.degrees(np.arctan2(np.sin(rad).mean(0), np.cos(rad).mean(0)))


def _fit_one(seq: np.ndarray, body: Body, aspect: float) -> dict | None:
    """Wrist path (body coords, relative to the chin), joint bends and orientation of one real recording."""
    counts = {part: int((~np.isnan(seq[:, PART_SLICE[part], 0]).any(1)).sum()) for part in ("left_hand", "right_hand")}
    part = max(counts, key=counts.get)
    if counts[part] < 2:
        return None
    is_left = part == "left_hand"
    side = 1.0 if part == body.dominant else -1.0  # the other hand signs the mirror image
    hand = seq[:, PART_SLICE[part]]
    hand = hand[~np.isnan(hand[:, :, 0]).any(1)].astype(float) * np.array([aspect, 1.0, aspect])  # (F, 21, 3)
    uv = _to_body(body, hand[:, 0])
    uv[:, 0] *= side
    at = np.linspace(0, len(hand) - 1, _FIT_POINTS)
    path = np.stack([np.interp(at, np.arange(len(hand)), uv[:, k]) for k in range(2)], axis=1)
    rest = _joint_angles(body.hand)
    bend = _joint_angles(_hand_local(hand, is_left)) - rest  # (F, 5, 3)
    orient = _orientation(hand, body, side, is_left)
    third = max(1, len(hand) // 3)
    first, last = slice(0, third), slice(len(hand) - third, len(hand))
    return {"path": path - body.anchors["chin"], "length": len(seq),
            "bend": np.stack([np.median(bend[first], 0), np.median(bend[last], 0)]),
            "orient": np.stack([_mean_angles(orient[first]), _mean_angles(orient[last])])}


def fit_sign_specs(real_dir: str | Path = SAMPLE_DIR, participants: Sequence[int] | None = None
                   ) -> dict[int, SignSpec]:
    """Sign definitions fitted to real recordings, for every sign that ``real_dir`` has.

    Per recording, on the frames where the signing hand (the one seen more often) is present: the wrist path in
    the participant's body coordinates (relative to the chin; mirrored for the non-dominant hand) at
    ``_FIT_POINTS`` equal shares of those frames, the bend of every finger joint relative to the participant's
    rest hand and the palm orientation, each in the first and last third. A sign's definition is the median path
    and bends and the circular mean orientation over its recordings; one-handed, no oscillation or mouthing; its
    length effect from the median recording length. Everything else (timing, noise, participant style, drop-outs)
    is the generator's, so each synthetic sequence is a new variation of the real sign on any participant's body.

    Args:
        real_dir: asl-signs-layout folder of real recordings (default: the bundled sample).
        participants: use only these participants' recordings (e.g. the training participants of a fold);
            None = all.

    Returns:
        {sign index in the sign map: SignSpec}.
    """
    ctx = _context()
    index = read_train_index(real_dir)
    if participants is not None:
        index = index[index["participant_id"].isin([int(p) for p in participants])]
    chin = ANCHOR_NAMES.index("chin")
    specs = {}
    for sign, rows in index.groupby("sign", sort=True):
        fits = [f for pid, rel in zip(rows["participant_id"], rows["path"])
                if (f := _fit_one(read_landmarks(Path(real_dir) / rel), ctx.bodies[int(pid)], ctx.stats.aspect))]
        if not fits:
            continue
        label = ctx.signs.index(sign)
        path = np.median(np.stack([f["path"] for f in fits]), axis=0)  # (K, 2)
        bend = np.median(np.stack([f["bend"] for f in fits]), axis=0)  # (2, 5, 3)
        orient = np.stack([_mean_angles(np.stack([f["orient"][k] for f in fits])) for k in (0, 1)])
        median_len = float(np.median([f["length"] for f in fits]))
        base = sign_spec(label)
        specs[label] = SignSpec(
            index=label, path=np.column_stack([np.full(len(path), chin), path]), oscillation=np.zeros(4),
            hand=HandSpec(angles=bend, spread=np.zeros(2), orient=orient), second="none", second_hand=None,
            second_place=base.second_place, mouth=np.zeros(2),
            length_effect=float(np.log(median_len / ctx.stats.reference["length_median"])))
    return specs


# ---------------------------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------------------------
def plan(per_sign: int, seed: int, signs: Sequence[str] | None = None) -> pd.DataFrame:
    """The synthetic rows of train.csv (before any real sample), with the sign's label.

    Each sign gets ``1 + ` its share of ``(per_sign - 1) * n_signs`` by real frequency (largest remainders), so
    the total is exactly ``per_sign * n_signs``; participants are drawn with their real frequencies.

    Args:
        per_sign: mean sequences per sign (>= 1; 0 gives an empty plan).
        seed: dataset seed. signs: restrict to these signs (default: all 250, in label order).
    """
    ctx = _context()
    chosen = list(ctx.signs if signs is None else signs)
    unknown = sorted(set(chosen) - set(ctx.signs))
    if unknown:
        raise ValueError(f"unknown sign(s) {unknown}: not in the sign map")
    columns = [*TRAIN_COLUMNS, "label"]
    if per_sign <= 0 or not chosen:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("path", "sign") else np.int64) for c in columns})
    weight = np.array([ctx.stats.sign_counts[s] for s in chosen])
    quota = weight / weight.sum() * (per_sign - 1) * len(chosen)
    counts = np.floor(quota).astype(int)
    extra = (per_sign - 1) * len(chosen) - counts.sum()
    counts[np.argsort(-(quota - counts), kind="stable")[:extra]] += 1
    counts += 1
    rng = np.random.default_rng([seed, _SEQUENCE_SALT])
    pids = np.array(sorted(ctx.stats.participant_counts))
    p = np.array([ctx.stats.participant_counts[i] for i in pids])
    participant = rng.choice(pids, size=int(counts.sum()), p=p / p.sum())
    sign = np.repeat(chosen, counts)
    sequence = SYNTH_SEQUENCE_ID_BASE + np.arange(len(sign), dtype=np.int64)
    return pd.DataFrame({
        "path": [f"train_landmark_files/{a}/{b}.parquet" for a, b in zip(participant, sequence)],
        "participant_id": participant.astype(np.int64),
        "sequence_id": sequence,
        "sign": sign,
        "label": [ctx.signs.index(s) for s in sign],
    })


def _write_row(task: tuple) -> int:
    path, label, participant, seed, row, spec = task
    array, first = make_sequence(label, participant, seed, row, spec)
    write_landmarks(path, array, first_frame=first)
    return len(array)


def _prepare_out(out_dir: Path) -> None:
    """Refuse to write into a non-empty folder that this module did not make; clear one that it did."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / INFO_NAME).exists():
            raise FileExistsError(f"{out_dir} is not empty and has no {INFO_NAME}: not overwriting it")
        shutil.rmtree(out_dir / "train_landmark_files", ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def synthesize(out_dir: str | Path, per_sign: int, seed: int, include_sample: bool = False,
               show_progress: bool = True, signs: Sequence[str] | None = None,
               num_workers: int = 0, fit_participants: Sequence[int] | None = None) -> Path:
    """Write a synthetic asl-signs folder (optionally + the bundled real sample).

    Args:
        out_dir: output folder; created; a folder previously written by this function is replaced.
        per_sign: mean synthetic sequences per sign (see :func:`plan`); 0 = none.
        seed: dataset seed (sign definitions and participant styles do not depend on it).
        include_sample: also copy the bundled real sample (islr.paths.SAMPLE_DIR) and list it in train.csv.
        show_progress: tqdm progress bar.
        signs: restrict the synthetic part to these signs (default: all 250).
        num_workers: writer processes (0 = all cores).
        fit_participants: fit the signs that the bundled real sample has to these participants' real recordings
            (:func:`fit_sign_specs`) instead of the random definitions; None = no fitting.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    _prepare_out(out_dir)
    rows = plan(per_sign, seed, signs)
    fitted = fit_sign_specs(participants=fit_participants) if fit_participants is not None else {}
    tasks = [(str(out_dir / p), int(lab), int(pid), seed, i, fitted.get(int(lab)))
             for i, (p, lab, pid) in enumerate(zip(rows["path"], rows["label"], rows["participant_id"]))]
    workers = min(num_workers or os.cpu_count() or 1, max(len(tasks), 1))
    progress = _progress(len(tasks), show_progress)
    if workers <= 1:
        for task in tasks:
            _write_row(task)
            progress.update()
    else:
        _context()  # built once here, inherited by forked workers
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_row, tasks, chunksize=8):
                progress.update()
    progress.close()

    table = rows[list(TRAIN_COLUMNS)]
    if include_sample:
        sample = read_train_index(SAMPLE_DIR)
        for path in sample["path"]:
            target = out_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLE_DIR / path, target)
        table = pd.concat([table, sample[list(TRAIN_COLUMNS)]], ignore_index=True)
    table.to_csv(out_dir / "train.csv", index=False)
    shutil.copyfile(SIGN_MAP_JSON, out_dir / SIGN_MAP_NAME)
    read_sign_map(out_dir)  # the copy must be a valid map
    info = {"generator_version": GENERATOR_VERSION, "per_sign": per_sign, "seed": seed,
            "include_sample": include_sample, "signs": None if signs is None else list(signs),
            "fitted_signs": sorted(_context().signs[k] for k in fitted),
            "fit_participants": None if fit_participants is None else [int(x) for x in fit_participants],
            "n_synthetic": len(rows), "n_sequences": len(table)}
    (out_dir / INFO_NAME).write_text(json.dumps(info, indent=1))
    return out_dir


def _progress(total: int, show: bool):
    from islr.progress import progress_bar

    return progress_bar(total=total, desc="synth", unit="file", disable=not show)


def main(argv: list[str] | None = None) -> int:
    """``python -m islr synth``."""
    parser = argparse.ArgumentParser(prog="islr synth", description="Write a synthetic asl-signs dataset "
                                     "(exact Kaggle layout) from real statistics and the bundled sample.")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--per-sign", type=int, default=6, help="mean sequences per sign (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-sample", action="store_true", help="also include the bundled real sample")
    parser.add_argument("--signs", nargs="+", default=None, help="only these signs (default: all 250)")
    parser.add_argument("--workers", type=int, default=0, help="writer processes (0 = all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    out = synthesize(args.out, args.per_sign, args.seed, include_sample=args.with_sample,
                     show_progress=not args.quiet, signs=args.signs, num_workers=args.workers)
    n = len(pd.read_csv(out / "train.csv"))
    print(f"wrote {n} sequences to {out}")
    return 0
