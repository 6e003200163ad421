"""A reference-style ensemble graph, kept ONLY as the latency baseline of ``benchmarks/bench_export_latency.py``.

It has the shapes of the reference's submission (docs/method.md §7), built from our models and converted with our
:func:`islr.export.tflite.convert`, so that the benchmark compares graph designs, not converters:

* CNN preprocessing: gather the 80 points, mean/std over ``tf.boolean_mask`` of the present values (ddof 1,
  +1e-6), NaN → 0, then ``tf.image.resize(..., "nearest")`` (half-pixel) of the *dynamic* T to 160 frames.
* CNN: EfficientNet with the write-up's shift-and-add depthwise rewrite
  (:class:`islr.export.keras_models.ShiftAddDepthwiseConv2D`).
* Transformer preprocessing, once for both transformers: the index subsample ``step = clip(97, −1, T + 1)``,
  ``idx = floor(i·T/(step − 1))`` for ``i < step − 1``; gather lips and hands, mirror the right hand, choose the
  hand by its NaN count on the kept frames, the 972 features with ``boolean_mask`` statistics (no epsilon).
* BERT and DeBERTa on the dynamic T ≤ 96, combined as ``0.58·CNN + 0.42·(0.85·BERT + 0.15·DeBERTa)``.

Its frame maps differ from our training rules (half-pixel resize, hand chosen after the subsample), so its logits
are not ours; it is never used for predictions.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from islr.export import tf_preprocess
from islr.export._tf import tf
from islr.export.tflite import REFERENCE_WEIGHTS, ServingModule, convert
from islr.export.transfer import to_keras
from islr.landmarks import CNN_POINTS
from islr.models import model_inputs
from islr.preprocess.cnn import STD_EPS
from islr.preprocess.settings import CNNInput, TransformerInput
from islr.preprocess.transformer import HAND_ANGLE_POINTS, HAND_PAIRS, LIP_ANGLE_POINTS, LIP_PAIRS


def _boolean_mask_stats(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and unbiased std of the non-NaN values, through ``tf.boolean_mask`` (a dynamic-size gather)."""
    values = tf.boolean_mask(x, tf.logical_not(tf.math.is_nan(x)))
    mean = tf.reduce_mean(values)
    n = tf.cast(tf.size(values), tf.float32)
    var = tf.reduce_sum(tf.square(values - mean)) / (n - 1.0)
    return mean, tf.sqrt(var)


def cnn_input(x: tf.Tensor, inputs: CNNInput) -> tf.Tensor:
    """(T, 543, 3) → (1, n_frames, 80, 3): reference-style CNN preprocessing (module docstring); of the model's
    input settings only ``n_frames`` is used (the reference had no dominant-hand mirror)."""
    points = tf.gather(x, CNN_POINTS, axis=1)  # (T, 80, 3)
    mean, std = _boolean_mask_stats(points)
    image = (points - mean) / (std + STD_EPS)
    image = tf.where(tf.math.is_nan(image), tf.zeros_like(image), image)
    return tf.image.resize(image[None], (inputs.n_frames, len(CNN_POINTS)), method="nearest")


def transformer_input(x: tf.Tensor, inputs: TransformerInput) -> tf.Tensor:
    """(T, 543, 3) → (1, n ≤ max_len, 972): reference-style transformer preprocessing (module docstring)."""
    length = tf.shape(x)[0]
    step = tf.clip_by_value(inputs.max_len + 1, -1, length + 1)
    idx = tf.range(step - 1) * length // tf.maximum(step - 1, 1)
    kept = tf.gather(x, idx, axis=0)
    use_left = tf_preprocess.choose_left_hand(kept)
    points = tf_preprocess.dominant_hand_points(kept, use_left)  # (n, 61, 3)
    n = tf.shape(points)[0]
    mean, std = _boolean_mask_stats(points)
    pos = tf.reshape((points - mean) / std, (n, 183))
    zero = tf.zeros_like(pos[:1])
    dpos = tf.concat([pos[:-1] - pos[1:], zero], axis=0)
    rdpos = tf.concat([zero, pos[1:] - pos[:-1]], axis=0)
    out = tf.concat([
        pos, dpos, rdpos,
        tf_preprocess._pair_distance_xy(points, LIP_PAIRS), tf_preprocess._pair_distance_xy(points, HAND_PAIRS),
        tf_preprocess._angle_cosine(points, LIP_ANGLE_POINTS), tf_preprocess._angle_cosine(points, HAND_ANGLE_POINTS),
    ], axis=-1)
    return tf.where(tf.math.is_nan(out), tf.zeros_like(out), out)[None]


PREPROCESSORS = {"cnn": cnn_input, "transformer": transformer_input}


def reference_style_module(models: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None
                           ) -> ServingModule:
    """The serving module of the reference-style graph (shift-add CNN, reference-style preprocessing).

    Args:
        models: ``{"cnn": …, "bert": …, "deberta": …}`` torch models (weights transferred as for ours).
        weights: logit weights (default :data:`islr.export.tflite.REFERENCE_WEIGHTS`).
    """
    keras_models = {k: to_keras(m, "shift_add") for k, m in models.items()}
    inputs = {k: model_inputs(m) for k, m in models.items()}
    return ServingModule(keras_models, inputs, dict(weights or REFERENCE_WEIGHTS), preprocessors=PREPROCESSORS)


def build_reference_style_tflite(models: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None
                                 ) -> bytes:
    """TFLite bytes of :func:`reference_style_module`, converted exactly like our submission."""
    return convert(reference_style_module(models, weights))
