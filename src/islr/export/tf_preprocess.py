"""TF port of the torch preprocessing for the TFLite graph: one raw sequence → model inputs
(docs/method.md §1, §2, §7).

The same rules as :mod:`islr.preprocess.cnn` and :mod:`islr.preprocess.transformer`, one TF function per torch
step, for a single sequence ``x`` (T, 543, 3) float32 with NaNs (T may be 0; the Kaggle harness hands in one
sequence at a time). A parity test on every sample file (``tests/test_export.py``) holds the two copies together
(docs/architecture.md, pattern "Two copies held together by a parity test").

**Non-finite inputs.** ±inf is treated exactly like NaN (a missing value): :func:`valid_values` is
``|v| <= FLT_MAX``, which is False for NaN and ±inf, and every later step reads values only through that mask or
zeroes non-finite results. So any input gives finite logits. (The torch code treats only NaN as missing; the
training data holds no inf, so the two agree on every real input.) The check is written as a comparison rather than
``tf.math.is_nan`` because comparisons are TFLite builtins.

**Input settings.** Each function takes the sizes (and the CNN's mirror) as arguments, and every graph builds them
from the model's input settings (:mod:`islr.preprocess.settings`, in its spec: :func:`islr.models.model_inputs`)
through :func:`model_input`, so a model trained with another ``n_frames`` / ``max_len`` / ``dominant_hand`` is fed
as it was trained. Nothing here has a default size.

**Static shapes.** The CNN image is a gather with the static index list ``floor(i · T / n_frames)``, i < n_frames
(160 by default), so everything after it (the whole EfficientNet) has static shapes (1, n_frames, 80, 3) that
XNNPACK plans once. The transformer features are (1, min(T, max_len), 972) (max_len 96 by default): the
transformers run on the real frames only, batch 1, without a mask (see ``benchmarks/bench_export_latency.py`` for
the dynamic-length vs padded-to-96 measurement).
"""

from __future__ import annotations

import numpy as np

from islr.export._tf import tf
from islr.landmarks import CNN_AUG_FLIP, CNN_AUG_POINTS, CNN_POINTS, LIP, TRANSFORMER_PART_COLUMNS, \
    TRANSFORMER_POINTS
from islr.preprocess.cnn import STD_EPS
from islr.preprocess.settings import ModelInput
from islr.preprocess.transformer import HAND_ANGLE_POINTS, HAND_PAIRS, LIP_ANGLE_POINTS, LIP_PAIRS

_FLT_MAX = float(np.finfo(np.float32).max)
#: Frame rows of LIP, the left and the right hand inside the 543-row frame (the 82 transformer points).
_LIP_ROWS = TRANSFORMER_POINTS[TRANSFORMER_PART_COLUMNS["lips"]]
_LEFT_ROWS = TRANSFORMER_POINTS[TRANSFORMER_PART_COLUMNS["left_hand"]]
_RIGHT_ROWS = TRANSFORMER_POINTS[TRANSFORMER_PART_COLUMNS["right_hand"]]
assert np.array_equal(_LIP_ROWS, LIP)
#: Frame rows of the CNN's 80 columns after the dominant-hand mirror: each column's mirror twin.
_CNN_MIRRORED_ROWS = CNN_AUG_POINTS[CNN_AUG_FLIP[:len(CNN_POINTS)]]


def valid_values(x: tf.Tensor) -> tf.Tensor:
    """Bool mask of present values: not NaN and not ±inf (module docstring)."""
    return tf.abs(x) <= _FLT_MAX


def masked_scalar_stats(x: tf.Tensor, valid: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One mean and unbiased std over all values where ``valid`` (as :func:`islr.preprocess.masked_scalar_stats`).

    Args:
        x: float32 tensor of any shape; invalid entries may hold NaN/inf.
        valid: bool tensor of x's shape.

    Returns:
        ``(mean, std, count)`` scalars: mean 0 when count = 0; std 0 when count < 2.
    """
    zero = tf.zeros_like(x)
    count = tf.reduce_sum(tf.cast(valid, tf.float32))
    mean = tf.reduce_sum(tf.where(valid, x, zero)) / tf.maximum(count, 1.0)
    centred = tf.where(valid, x - mean, zero)
    var = tf.reduce_sum(centred * centred) / tf.maximum(count - 1.0, 1.0)
    return mean, tf.sqrt(var), count


def nearest_index(length: tf.Tensor, n: int) -> tf.Tensor:
    """(n,) int32 ``floor(i · length / n)``: the exact integer rule of :func:`islr.preprocess.nearest_index`."""
    return tf.range(n, dtype=tf.int32) * length // n


def _with_pad_frame(x: tf.Tensor) -> tf.Tensor:
    """Append one NaN frame so that a T = 0 sequence still has a frame 0 to gather (torch's ``as_batch``)."""
    return tf.concat([x, tf.fill([1, tf.shape(x)[1], 3], np.float32(np.nan))], axis=0)


def model_input(x: tf.Tensor, inputs: ModelInput) -> tf.Tensor:
    """The input of a model with input settings ``inputs`` (:mod:`islr.preprocess.settings`) for one raw sequence:
    :func:`cnn_input` with its ``n_frames`` and ``dominant_hand``, or :func:`transformer_input` with its ``max_len``.

    Args:
        x: (T, 543, 3) float32, NaN = missing.
        inputs: the model's input settings (:func:`islr.models.model_inputs`).
    """
    if inputs.kind == "cnn":
        return cnn_input(x, inputs.n_frames, inputs.dominant_hand)
    return transformer_input(x, inputs.max_len)


def cnn_input(x: tf.Tensor, n_frames: int, dominant_hand: bool) -> tf.Tensor:
    """CNN image of one sequence (docs/method.md §1; torch: :func:`islr.preprocess.cnn.cnn_input`).

    Args:
        x: (T, 543, 3) float32, NaN = missing.
        n_frames: frames of the image (the model's ``CNNInput.n_frames``).
        dominant_hand: mirror a sequence whose right hand is more present (the model's ``CNNInput.dominant_hand``).

    Returns:
        (1, n_frames, 80, 3) float32 NHWC, finite, static shape.
    """
    length = tf.shape(x)[0]
    points = tf.gather(x, CNN_POINTS, axis=1)  # (T, 80, 3)
    if dominant_hand:
        present_left, present_right = hand_presence(x)
        mirrored = tf.gather(x, _CNN_MIRRORED_ROWS, axis=1)  # (T, 80, 3): each column's twin, x → 1 − x below
        mirrored = tf.concat([1.0 - mirrored[..., :1], mirrored[..., 1:]], axis=-1)
        # Step 0 of islr.preprocess.cnn: the right hand more present than the left → the mirrored sequence.
        points = tf.where(present_right > present_left, mirrored, points)
    valid = valid_values(points)
    mean, std, _ = masked_scalar_stats(points, valid)
    image = tf.where(valid, (points - mean) / (std + STD_EPS), tf.zeros_like(points))  # NaN → 0
    image = _with_pad_frame(image)  # (T + 1, 80, 3); the pad frame is gathered only when T = 0
    image = tf.gather(image, nearest_index(length, n_frames), axis=0)  # (n_frames, 80, 3), static
    # The pad frame is NaN: a T = 0 sequence gathers it, and torch gives zeros there.
    image = tf.where(valid_values(image), image, tf.zeros_like(image))
    return tf.reshape(image, (1, n_frames, len(CNN_POINTS), 3))


def choose_left_hand(x: tf.Tensor) -> tf.Tensor:
    """Scalar bool: the left hand has strictly fewer missing values than the right over the whole sequence (§2).

    Both hands have the same number of values, so "fewer missing" is counted as "more present". (Counting
    ``logical_not(|v| <= max)`` instead is unsafe: TF's graph optimiser rewrites it to ``|v| > max``, which is
    False for NaN, and the count silently becomes 0.)
    """
    present_left, present_right = hand_presence(x)
    return present_left > present_right


def hand_presence(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Present (finite) values of the left and of the right hand over the whole (T, 543, 3) sequence, int32."""
    present_left = tf.reduce_sum(tf.cast(valid_values(tf.gather(x, _LEFT_ROWS, axis=1)), tf.int32))
    present_right = tf.reduce_sum(tf.cast(valid_values(tf.gather(x, _RIGHT_ROWS, axis=1)), tf.int32))
    return present_left, present_right


def subsample_index(length: tf.Tensor, max_len: int) -> tf.Tensor:
    """(min(T, max_len),) int32 frames kept: ``floor(i · T / max_len)`` when T > max_len, else every frame."""
    n = tf.minimum(length, max_len)
    i = tf.range(n, dtype=tf.int32)
    return tf.where(length > max_len, i * length // max_len, i)


def dominant_hand_points(x: tf.Tensor, use_left: tf.Tensor) -> tf.Tensor:
    """(T, 543, 3) → (T, 61, 3): 40 lips, then the left hand or the right hand mirrored ``x' = 2·c − x``.

    c is the x of LIP[0] (landmark 0) in the same frame; invalid values are turned into NaN first so that ±inf
    behaves as missing through the mirror.
    """
    x = tf.where(valid_values(x), x, tf.fill(tf.shape(x), np.float32(np.nan)))
    lips = tf.gather(x, _LIP_ROWS, axis=1)  # (T, 40, 3)
    left = tf.gather(x, _LEFT_ROWS, axis=1)  # (T, 21, 3)
    right = tf.gather(x, _RIGHT_ROWS, axis=1)
    mirrored_x = 2.0 * lips[:, :1, 0] - right[:, :, 0]  # (T, 21)
    right = tf.concat([mirrored_x[:, :, None], right[:, :, 1:]], axis=-1)
    hand = tf.where(use_left, left, right)
    return tf.concat([lips, hand], axis=1)  # (T, 61, 3)


def _pair_distance_xy(points: tf.Tensor, pairs: np.ndarray) -> tf.Tensor:
    """(T, P, 3) → (T, len(pairs)) xy distances of each pair."""
    xy = points[:, :, :2]
    diff = tf.gather(xy, pairs[:, 0], axis=1) - tf.gather(xy, pairs[:, 1], axis=1)  # (T, n, 2)
    return tf.sqrt(tf.reduce_sum(diff * diff, axis=-1))


def _angle_cosine(points: tf.Tensor, triples: np.ndarray) -> tf.Tensor:
    """(T, P, 3) → (T, len(triples)) cosine at b between (a − b) and (c − b); 0/0 gives NaN (zeroed later)."""
    b = tf.gather(points, triples[:, 1], axis=1)
    ba = tf.gather(points, triples[:, 0], axis=1) - b
    bc = tf.gather(points, triples[:, 2], axis=1) - b
    dot = tf.reduce_sum(ba * bc, axis=-1)
    norms = tf.sqrt(tf.reduce_sum(ba * ba, axis=-1)) * tf.sqrt(tf.reduce_sum(bc * bc, axis=-1))
    return dot / norms


def features(points: tf.Tensor) -> tf.Tensor:
    """The 972 features of every frame (torch: :func:`islr.preprocess.transformer.features`).

    Args:
        points: (n, 61, 3) raw points of the kept frames (NaN = missing).

    Returns:
        (n, 972) float32, finite.
    """
    n = tf.shape(points)[0]
    valid = valid_values(points)
    mean, std, count = masked_scalar_stats(points, valid)
    # As torch: std 0 or fewer than two values → divide by 1 (every value equals the mean, so the result is 0).
    std = tf.where((count >= 2.0) & (std > 0.0), std, tf.ones_like(std))
    pos = tf.reshape((points - mean) / std, (n, 183))  # point-major: x0, y0, z0, x1, ...
    # Shifting by one frame with the edge frame repeated makes the edge difference v − v: 0, or NaN → 0 below,
    # which is the torch rule "0 on the last (first) frame" without a special case for n ≤ 1.
    nxt = tf.concat([pos[1:], pos[-1:]], axis=0)
    prev = tf.concat([pos[:1], pos[:-1]], axis=0)
    out = tf.concat([
        pos, pos - nxt, pos - prev,
        _pair_distance_xy(points, LIP_PAIRS), _pair_distance_xy(points, HAND_PAIRS),
        _angle_cosine(points, LIP_ANGLE_POINTS), _angle_cosine(points, HAND_ANGLE_POINTS),
    ], axis=-1)  # (n, 972)
    return tf.where(valid_values(out), out, tf.zeros_like(out))


def transformer_input(x: tf.Tensor, max_len: int) -> tf.Tensor:
    """Transformer features of one sequence (docs/method.md §2; torch: :func:`islr.preprocess.transformer
    .transformer_input`): hand chosen on the full sequence, subsample first, then the 972 features.

    Args:
        x: (T, 543, 3) float32, NaN = missing.
        max_len: at most this many frames (the model's ``TransformerInput.max_len``).

    Returns:
        (1, min(T, max_len), 972) float32, finite (the real frames only; no padding, no mask).
    """
    use_left = choose_left_hand(x)
    kept = tf.gather(x, subsample_index(tf.shape(x)[0], max_len), axis=0)  # (n, 543, 3)
    return features(dominant_hand_points(kept, use_left))[None]
