"""Explicit PyTorch → Keras weight transfer, key by key (docs/method.md §7 "Weight transfer").

The Keras graphs of :mod:`islr.export.keras_models` name every layer after its torch module path, so each Keras
variable has exactly one torch key: ``"{layer name}.{torch parameter}"``. The transfer

1. lists, for every Keras variable, its torch key and the layout conversion (table below);
2. asserts that the key exists and that the converted shape equals the Keras shape;
3. fails on every torch key that was not used, except the explicit :data:`IGNORED_KEYS` rules (training-only or
   never-read tensors), and on every Keras variable without a source.

Nothing is matched by position or order (docs/architecture.md, pattern "Explicit weight transfer").

=======================  ====================  ============================  ===================================
Keras layer              Keras variable        torch key                     conversion
=======================  ====================  ============================  ===================================
Conv2D                   kernel / bias         .weight / .bias               (O, I, kh, kw) → (kh, kw, I, O)
DepthwiseConv2D          kernel                .weight                       (C, 1, kh, kw) → (kh, kw, C, 1)
ShiftAddDepthwiseConv2D  kernel                .weight                       (C, 1, kh, kw) → (kh, kw, C)
Dense                    kernel / bias         .weight / .bias               (O, I[, 1, 1]) → (I, O)
BatchNormalization       gamma / beta          .weight / .bias               as is
                         moving_mean / _var    .running_mean / .running_var  as is (eps is set by the builder)
LayerNormalization       gamma / beta          .weight / .bias               as is
TokenConv1D (CPE)        kernel / bias         .weight / .bias               (C, 1, k) → (k, C)
AddEmbeddingRows         embeddings            .weight                       as is (rows, H)
PrependToken             token                 ``cls_token`` (the name)      as is (1, 1, H)
=======================  ====================  ============================  ===================================
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import torch

from islr.export._tf import keras
from islr.export.keras_models import AddEmbeddingRows, PrependToken, ShiftAddDepthwiseConv2D, TokenConv1D

layers = keras.layers

#: Torch keys that are allowed to stay unused, with the reason (regex on the full key).
IGNORED_KEYS: dict[str, str] = {
    r"^hypercolumn\.": "training-only hypercolumn head (docs/method.md §4, §7)",
    r"\.num_batches_tracked$": "BatchNorm bookkeeping, not used at inference",
    r"^embeddings\.word_embeddings\.weight$": "HF word embedding (vocab 1): the model feeds inputs_embeds",
}


class WeightTransferError(ValueError):
    """A weight could not be transferred; the message lists every problem found."""


def _conv_kernel(t: np.ndarray) -> np.ndarray:
    return t.transpose(2, 3, 1, 0)  # (O, I, kh, kw) → (kh, kw, I, O)


def _depthwise_kernel(t: np.ndarray) -> np.ndarray:
    return t.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) → (kh, kw, C, 1)


def _shift_add_kernel(t: np.ndarray) -> np.ndarray:
    return t[:, 0].transpose(1, 2, 0)  # (C, 1, kh, kw) → (kh, kw, C)


def _dense_kernel(t: np.ndarray) -> np.ndarray:
    return t.reshape(t.shape[0], t.shape[1]).T  # (O, I) or 1×1 conv (O, I, 1, 1) → (I, O)


def _conv1d_kernel(t: np.ndarray) -> np.ndarray:
    return t[:, 0].T  # (C, 1, k) → (k, C)


def _same(t: np.ndarray) -> np.ndarray:
    return t


Conversion = Callable[[np.ndarray], np.ndarray]


def _sources(layer: layers.Layer) -> dict[str, tuple[str, Conversion]]:
    """Keras variable name → (torch key, conversion) for one layer; {} for layers without weights."""
    p = layer.name
    if isinstance(layer, layers.DepthwiseConv2D):
        # Keras 3.15 names the variable "kernel"; older Keras 3 releases "depthwise_kernel".
        out = {name: (f"{p}.weight", _depthwise_kernel) for name in ("kernel", "depthwise_kernel")}
    elif isinstance(layer, layers.Conv2D):
        out = {"kernel": (f"{p}.weight", _conv_kernel)}
    elif isinstance(layer, ShiftAddDepthwiseConv2D):
        out = {"kernel": (f"{p}.weight", _shift_add_kernel)}
    elif isinstance(layer, layers.Dense):
        out = {"kernel": (f"{p}.weight", _dense_kernel)}
    elif isinstance(layer, layers.BatchNormalization):
        return {"gamma": (f"{p}.weight", _same), "beta": (f"{p}.bias", _same),
                "moving_mean": (f"{p}.running_mean", _same), "moving_variance": (f"{p}.running_var", _same)}
    elif isinstance(layer, layers.LayerNormalization):
        return {"gamma": (f"{p}.weight", _same), "beta": (f"{p}.bias", _same)}
    elif isinstance(layer, TokenConv1D):
        return {"kernel": (f"{p}.weight", _conv1d_kernel), "bias": (f"{p}.bias", _same)}
    elif isinstance(layer, AddEmbeddingRows):
        return {"embeddings": (f"{p}.weight", _same)}
    elif isinstance(layer, PrependToken):
        return {"token": (p, _same)}
    elif layer.weights:
        raise WeightTransferError(f"layer {p!r} ({type(layer).__name__}) has weights but no transfer rule")
    else:
        return {}
    if getattr(layer, "use_bias", False):
        out["bias"] = (f"{p}.bias", _same)
    return out


def _ignored(key: str) -> bool:
    return any(re.search(pattern, key) for pattern in IGNORED_KEYS)


def transfer_weights(keras_model: keras.Model, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Copy a torch state_dict into a Keras model built by :mod:`islr.export.keras_models`.

    Args:
        keras_model: Target; every variable must have a source.
        state_dict: Torch tensors, e.g. ``model.state_dict()`` (a ``backbone.``-prefixed CNN state_dict, with or
            without the ``hypercolumn.`` keys).

    Returns:
        The torch keys that were ignored under :data:`IGNORED_KEYS`.

    Raises:
        WeightTransferError: missing key, wrong shape, a Keras variable without a rule, or unused torch keys; the
            message lists all of them. Nothing is assigned unless every check passes.
    """
    arrays = {k: v.detach().cpu().float().numpy() for k, v in state_dict.items()}
    problems, assignments, used = [], [], set()
    for layer in keras_model.layers:
        rules = _sources(layer)
        for var in layer.weights:
            if var.name not in rules:
                problems.append(f"keras variable {var.path} has no torch source")
                continue
            key, convert = rules[var.name]
            if key not in arrays:
                problems.append(f"missing torch key {key} (for {var.path})")
                continue
            value = convert(arrays[key])
            if tuple(value.shape) != tuple(var.shape):
                problems.append(f"shape mismatch {key}: torch {arrays[key].shape} → {value.shape}, "
                                f"keras {var.path} {tuple(var.shape)}")
                continue
            used.add(key)
            assignments.append((var, value))
    ignored = sorted(k for k in arrays if k not in used and _ignored(k))
    leftovers = sorted(k for k in arrays if k not in used and not _ignored(k))
    if leftovers:
        problems.append(f"{len(leftovers)} unused torch keys: {', '.join(leftovers[:8])}"
                        f"{' …' if len(leftovers) > 8 else ''}")
    if problems:
        raise WeightTransferError(f"{len(problems)} weight transfer problem(s):\n  " + "\n  ".join(problems))
    for var, value in assignments:
        var.assign(value.astype(np.float32))
    return ignored


def to_keras(model: torch.nn.Module, depthwise: str | None = None, inputs=None) -> keras.Model:
    """Build the Keras graph of a torch model and transfer its weights (CNN or transformer).

    Args:
        model: :class:`~islr.models.effnet.HypercolumnEfficientNet` or
            :class:`~islr.models.transformer.FrameTransformer`.
        depthwise: CNN only: "shift_add" or "keras" (None = :data:`~islr.export.keras_models.DEFAULT_DEPTHWISE`).
        inputs: the model's input settings (None = :func:`islr.models.model_inputs`); a CNN's graph takes the
            (1, n_frames, 80, 3) image of its ``n_frames``.

    Returns:
        The Keras model with the torch weights.
    """
    from islr.export.keras_models import DEFAULT_DEPTHWISE, build_keras_effnet, build_keras_transformer
    from islr.models import model_inputs

    kind = model_kind(model)
    inputs = inputs if inputs is not None else model_inputs(model)
    if kind == "cnn":
        keras_model = build_keras_effnet(model, depthwise or DEFAULT_DEPTHWISE,
                                         input_shape=(inputs.n_frames, inputs.points, 3))
        state = model.inference_state_dict()
    else:
        keras_model = build_keras_transformer(model)
        state = model.state_dict()
    transfer_weights(keras_model, state)
    return keras_model


def model_kind(model: torch.nn.Module) -> str:
    """"cnn" for a HypercolumnEfficientNet, "transformer" for a FrameTransformer."""
    from islr.models.effnet import HypercolumnEfficientNet
    from islr.models.transformer import FrameTransformer

    if isinstance(model, HypercolumnEfficientNet):
        return "cnn"
    if isinstance(model, FrameTransformer):
        return "transformer"
    raise TypeError(f"no Keras port for {type(model).__name__}")
