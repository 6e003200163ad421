"""Every landmark index list of the method, written once (docs/method.md §1–§3).

A MediaPipe Holistic frame in the asl-signs data has 543 rows, in this order:

====================  ===========  =====
part                  frame rows   count
====================  ===========  =====
face                  0–467        468
left_hand             468–488      21
pose                  489–521      33
right_hand            522–542      21
====================  ===========  =====

All ids below are frame-row ids (0–542) unless a name says otherwise. The mirror map (:data:`MIRROR`) pairs each
left landmark with its right twin for the hands, the pose and the 40 lip points; flips anywhere in the project are
derived from it with :func:`mirror_permutation`, so a point set that is not closed under mirroring is an error
rather than a silent mis-flip (the reference's CNN flip paired the wrong eye points and left the hip and lips
unswapped: docs/method.md §10.5).
"""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 543

# (type name as written in the parquet `type` column, first frame row, count) in frame order.
PARTS: tuple[tuple[str, int, int], ...] = (
    ("face", 0, 468),
    ("left_hand", 468, 21),
    ("pose", 489, 33),
    ("right_hand", 522, 21),
)
PART_OFFSET = {name: start for name, start, _ in PARTS}
PART_SIZE = {name: size for name, _, size in PARTS}
PART_SLICE = {name: slice(start, start + size) for name, start, size in PARTS}

FACE = np.arange(0, 468)
LEFT_HAND = np.arange(468, 489)
POSE = np.arange(489, 522)
RIGHT_HAND = np.arange(522, 543)


def pose_id(i: int) -> int:
    """Frame row of MediaPipe pose landmark ``i`` (0–32)."""
    return PART_OFFSET["pose"] + i


# ---------------------------------------------------------------------------------------------------------------
# Lips (face mesh ids; the face block starts at row 0 so these are also frame rows).
# ---------------------------------------------------------------------------------------------------------------
#: 40 lip points of the transformer, in the reference's order (§2). 0–3 on the midline, 4–21 one side, 22–39 the
#: mirror side: position 4+k mirrors 22+k.
LIP = np.array([
    0, 13, 14, 17, 267, 269, 270, 409, 291, 312, 311, 310, 415, 308, 317, 402, 318, 324, 314, 405,
    321, 375, 37, 39, 40, 185, 61, 82, 81, 80, 191, 78, 87, 178, 88, 95, 84, 181, 91, 146,
])
LIP_MIDLINE = LIP[:4]
LIP_SIDE_A = LIP[4:22]
LIP_SIDE_B = LIP[22:40]

#: Lip-distance points: all i<j pairs among the first 20 LIP positions (§2.4; 190 pairs).
LIP_DIST_POSITIONS = np.arange(20)
#: Lip angle triples (a, b, c) as LIP positions; cosine at vertex b (§2.6).
LIP_ANGLES = np.array([
    [0, 9, 24], [9, 24, 6], [24, 6, 0], [6, 0, 9],
    [26, 34, 25], [34, 25, 37], [25, 37, 26], [37, 26, 34],
])
#: Hand angle triples (a, b, c) as hand-local ids 0–20; cosine at vertex b (§2.7).
HAND_ANGLES = np.array([
    [0, 1, 2], [1, 2, 3], [2, 3, 4], [0, 5, 6], [5, 6, 7], [6, 7, 8], [0, 9, 10], [9, 10, 11], [10, 11, 12],
    [0, 13, 14], [13, 14, 15], [14, 15, 16], [0, 17, 18], [17, 18, 19], [18, 19, 20],
])

# ---------------------------------------------------------------------------------------------------------------
# CNN: 80 points in the reference's column order (§1).
# ---------------------------------------------------------------------------------------------------------------
CNN_LIPS = np.array([291, 37, 40, 267, 270, 80, 17, 82, 308, 181, 405, 375, 312, 310, 87, 88, 317, 318])
CNN_POSE = np.array([pose_id(i) for i in (0, 1, 3, 4, 5, 9, 10, *range(11, 24))])
CNN_POINTS = np.concatenate([CNN_LIPS, LEFT_HAND[:21], CNN_POSE, RIGHT_HAND])
assert CNN_POINTS.shape == (80,)
#: Column slices of the four parts inside the 80 CNN columns.
CNN_PART_COLUMNS = {
    "lips": slice(0, 18),
    "left_hand": slice(18, 39),
    "pose": slice(39, 59),
    "right_hand": slice(59, 80),
}

# ---------------------------------------------------------------------------------------------------------------
# Transformer: 82 points = 40 lips, left hand, right hand (§0, §2).
# ---------------------------------------------------------------------------------------------------------------
TRANSFORMER_POINTS = np.concatenate([LIP, LEFT_HAND, RIGHT_HAND])
TRANSFORMER_PART_COLUMNS = {"lips": slice(0, 40), "left_hand": slice(40, 61), "right_hand": slice(61, 82)}

# ---------------------------------------------------------------------------------------------------------------
# Hands: finger routes and the 20 finger trees (§3a step 8).
# ---------------------------------------------------------------------------------------------------------------
FINGER_ROUTES = np.array([[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [0, 9, 10, 11, 12], [0, 13, 14, 15, 16],
                          [0, 17, 18, 19, 20]])
#: 20 trees as (root, children): root route[i], children route[i+1:], i = 0..3, for each of the 5 routes.
FINGER_TREES: tuple[tuple[int, tuple[int, ...]], ...] = tuple(
    (int(route[i]), tuple(int(c) for c in route[i + 1:])) for route in FINGER_ROUTES for i in range(4)
)
#: Hand bones (parent, child) in hand-local ids: the edges of the five routes.
HAND_BONES = np.array([(int(r[i]), int(r[i + 1])) for r in FINGER_ROUTES for i in range(4)])

# ---------------------------------------------------------------------------------------------------------------
# Mirror map.
# ---------------------------------------------------------------------------------------------------------------
#: MediaPipe pose left/right pairs (pose-local ids): eyes inner/centre/outer, ears, mouth, shoulders, elbows,
#: wrists, pinkies, index fingers, thumbs, hips, knees, ankles, heels, foot tips. 0 (nose) is on the midline.
POSE_MIRROR_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
                     (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))


def _build_mirror() -> dict[int, int]:
    pairs: list[tuple[int, int]] = []
    pairs += [(int(a), int(b)) for a, b in zip(LEFT_HAND, RIGHT_HAND)]
    pairs += [(pose_id(a), pose_id(b)) for a, b in POSE_MIRROR_PAIRS]
    pairs += [(int(a), int(b)) for a, b in zip(LIP_SIDE_A, LIP_SIDE_B)]
    mirror = {int(i): int(i) for i in LIP_MIDLINE}
    mirror[pose_id(0)] = pose_id(0)
    for a, b in pairs:
        mirror[a], mirror[b] = b, a
    return mirror


#: Frame row -> frame row of its left/right twin (self for midline points). Face points other than the 40 lips
#: have no entry: flips never touch them.
MIRROR: dict[int, int] = _build_mirror()


def mirror_closure(points) -> np.ndarray:
    """``points`` followed by every twin (in :data:`MIRROR`) that is missing from it, in first-seen order.

    Raises:
        ValueError: a point has no known twin.
    """
    out = [int(p) for p in points]
    seen = set(out)
    for p in list(out):
        if p not in MIRROR:
            raise ValueError(f"landmark {p} has no mirror twin in islr.landmarks.MIRROR")
        q = MIRROR[p]
        if q not in seen:
            out.append(q)
            seen.add(q)
    return np.array(out)


def mirror_permutation(points) -> np.ndarray:
    """Column permutation ``perm`` so that ``x[..., perm, :]`` swaps every point of ``points`` with its twin.

    Args:
        points: frame rows, closed under :data:`MIRROR`.

    Raises:
        ValueError: a point has no twin, or its twin is not in ``points``.
    """
    points = [int(p) for p in points]
    where = {p: i for i, p in enumerate(points)}
    perm = []
    for p in points:
        if p not in MIRROR:
            raise ValueError(f"landmark {p} has no mirror twin in islr.landmarks.MIRROR")
        if MIRROR[p] not in where:
            raise ValueError(f"landmark {p}'s twin {MIRROR[p]} is not in the point set; use mirror_closure()")
        perm.append(where[MIRROR[p]])
    return np.array(perm)


#: The CNN augments on the 80 points plus their missing twins (lips 61, 78, 146; pose 2, 6, 24) so that the flip
#: can swap every point; :data:`CNN_AUG_TO_CNN` selects the 80 columns back afterwards.
CNN_AUG_POINTS = mirror_closure(CNN_POINTS)
CNN_AUG_TO_CNN = np.arange(80)
CNN_AUG_FLIP = mirror_permutation(CNN_AUG_POINTS)
TRANSFORMER_FLIP = mirror_permutation(TRANSFORMER_POINTS)


def part_columns(points) -> dict[str, np.ndarray]:
    """Column indices of each body part (lips/face, left_hand, pose, right_hand) within a point list."""
    points = np.asarray(points)
    out = {}
    for name, start, size in PARTS:
        cols = np.nonzero((points >= start) & (points < start + size))[0]
        if len(cols):
            out["lips" if name == "face" else name] = cols
    return out


def scatter_to_543(x: np.ndarray, points) -> np.ndarray:
    """Place (..., P, 3) values of ``points`` into a (..., 543, 3) array (NaN elsewhere), e.g. for drawing."""
    out = np.full((*x.shape[:-2], N_LANDMARKS, x.shape[-1]), np.nan, dtype=np.float32)
    out[..., np.asarray(points), :] = x
    return out


# ---------------------------------------------------------------------------------------------------------------
# Is anything being signed? (`islr predict`, `islr live`)
# ---------------------------------------------------------------------------------------------------------------
#: A sequence in which both hands are missing (all NaN) in at least this fraction of its frames shows no signing.
NO_HANDS_FRACTION = 0.9
#: What `islr predict` and `islr live` say instead of a sign for such a sequence.
NO_HANDS_TEXT = "no hands in view"


def hand_frames(x: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames of ``x`` (T, 543, ≥2) in which at least one hand has a landmark."""
    x = np.asarray(x)
    return ~np.isnan(x[:, np.r_[LEFT_HAND, RIGHT_HAND], 0]).all(1)


def no_hands_in_view(x: np.ndarray, fraction: float = NO_HANDS_FRACTION) -> bool:
    """True when both hands are missing in at least ``fraction`` of the frames of ``x`` (T, 543, ≥2), or it has no
    frames: nothing is being signed, so no model should be asked (the one rule of `islr predict` and `islr live`)."""
    hands = hand_frames(x)
    return hands.size == 0 or float((~hands).mean()) >= fraction
