"""Keras 3 inference graphs of the PyTorch models, built from the torch module tree (docs/method.md §7).

Each Keras layer is named after the torch module it replaces (its dotted path in ``model.state_dict()``), so that
:mod:`islr.export.transfer` can map every weight by name. The graphs are inference-only: BatchNorm uses its moving
statistics, dropout and stochastic depth are absent, the training-only hypercolumn head is not built.

* :func:`build_keras_effnet`: the timm EfficientNet of :class:`islr.models.effnet.HypercolumnEfficientNet`,
  read block by block (``DepthwiseSeparableConv`` / ``InvertedResidual``: kernel sizes, strides, paddings, SE,
  activations and skips come from the torch modules), so ``effnet_b0`` and ``effnet_test`` both work. Padding is
  timm's symmetric ``k // 2`` written as an explicit ``ZeroPadding2D`` before a ``'valid'`` conv, so the maps are
  80×40, 40×20, 20×10, 10×5 and 5×3 at a 160×80 input, as in torch. The depthwise convs are a switch:
  ``"shift_add"`` (the write-up's rewrite, :class:`ShiftAddDepthwiseConv2D`) or ``"keras"`` (stock
  ``DepthwiseConv2D``); see ``benchmarks/bench_depthwise.py`` for the measurement behind the default.
* :func:`build_keras_transformer`: :class:`islr.models.transformer.FrameTransformer` (BERT or DeBERTa-v2 with
  relative attention off) for batch 1 without a mask: inference only ever sees the real frames, so the torch mask is
  all ones and the CPE's zero "same" padding equals the torch masked CPE. In the last layer only the CLS row is
  used as the query, residual and FFN input (the other rows never reach the classifier; docs/method.md §7).
"""

from __future__ import annotations

import math

from torch import nn

from islr.export._tf import keras

layers, ops = keras.layers, keras.ops

#: Depthwise-conv implementations of :func:`build_keras_effnet`.
DEPTHWISE_MODES = ("shift_add", "keras")
#: Default chosen by ``benchmarks/bench_depthwise.py``: on LiteRT 2.3, 1 thread, 82×42×32 input, the stock
#: DepthwiseConv2D took 0.10 ms with XNNPACK (0.24 ms without) vs 0.44 ms (6.9 ms) for the shift-add rewrite, the
#: reverse of the write-up's tflite-runtime 2.11 table (3.70 vs 1.24 ms).
DEFAULT_DEPTHWISE = "keras"


class ShiftAddDepthwiseConv2D(layers.Layer):
    """Depthwise conv as a sum of strided slices times per-channel taps (docs/method.md §7 "Custom depthwise conv").

    For an already padded input ``x`` (B, H, W, C) and kernel ``w`` (kh, kw, C):
    ``out = Σ_(i,j) x[:, i :: s, j :: s, :][:, :Ho, :Wo] · w[i, j] (+ bias)`` with ``Ho = (H − kh) // s + 1``.
    Only slices, multiplies and adds: ops every TFLite delegate runs, and a cross-correlation like torch's conv.

    Args:
        kernel_size: (kh, kw).
        strides: Equal stride on both axes.
        use_bias: Add a per-channel bias.
    """

    def __init__(self, kernel_size: tuple[int, int], strides: int = 1, use_bias: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = int(strides)
        self.use_bias = use_bias

    def build(self, input_shape: tuple) -> None:
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, channels), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        h, w = int(x.shape[1]), int(x.shape[2])  # static: the CNN input is n_frames×80 (the model's settings)
        kh, kw = self.kernel_size
        s = self.strides
        ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
        out = None
        for i in range(kh):
            for j in range(kw):
                tap = x[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :] * self.kernel[i, j]  # (B,Ho,Wo,C)
                out = tap if out is None else out + tap
        return out + self.bias if self.bias is not None else out

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "use_bias": self.use_bias}


def _activation(module: nn.Module, where: str) -> str | None:
    """Keras activation name of a torch activation module (Identity → None)."""
    if isinstance(module, nn.Identity):
        return None
    if isinstance(module, nn.SiLU):
        return "silu"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    raise NotImplementedError(f"{where}: activation {type(module).__name__} has no Keras mapping")


def _pads(conv: nn.Conv2d, name: str) -> tuple[int, int]:
    if isinstance(conv.padding, str) or conv.dilation != (1, 1):
        raise NotImplementedError(f"{name}: only explicit symmetric padding without dilation is supported")
    return conv.padding


def _conv(x, conv: nn.Conv2d, name: str, depthwise: str):
    """Explicit zero padding (timm's symmetric k//2) + a 'valid' conv named ``name``."""
    if conv.stride[0] != conv.stride[1]:
        raise NotImplementedError(f"{name}: unequal strides {conv.stride}")
    ph, pw = _pads(conv, name)
    if ph or pw:
        x = layers.ZeroPadding2D(((ph, ph), (pw, pw)), name=f"{name}.pad")(x)
    is_depthwise = conv.groups == conv.in_channels == conv.out_channels and conv.groups > 1
    use_bias = conv.bias is not None
    if is_depthwise and depthwise == "shift_add":
        return ShiftAddDepthwiseConv2D(conv.kernel_size, conv.stride[0], use_bias=use_bias, name=name)(x)
    if is_depthwise:
        return layers.DepthwiseConv2D(conv.kernel_size, strides=conv.stride, padding="valid", use_bias=use_bias,
                                      name=name)(x)
    if conv.groups != 1:
        raise NotImplementedError(f"{name}: grouped conv with groups={conv.groups}")
    return layers.Conv2D(conv.out_channels, conv.kernel_size, strides=conv.stride, padding="valid",
                         use_bias=use_bias, name=name)(x)


def _bn_act(x, bn: nn.Module, name: str):
    """timm ``BatchNormAct2d``: BN with the torch eps, then its activation (``bn.act``)."""
    x = layers.BatchNormalization(epsilon=bn.eps, name=name)(x)
    act = _activation(getattr(bn, "act", nn.Identity()), name)
    return layers.Activation(act, name=f"{name}.act")(x) if act else x


def _squeeze_excite(x, se: nn.Module, name: str):
    """timm ``SqueezeExcite``: GAP → 1×1 conv → act → 1×1 conv → gate, as Dense layers on the pooled
    vector."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.pool")(x)  # (B, 1, 1, C)
    s = layers.Dense(se.conv_reduce.out_channels, activation=_activation(se.act1, name),
                     name=f"{name}.conv_reduce")(s)
    s = layers.Dense(se.conv_expand.out_channels, activation=_activation(se.gate, name), name=f"{name}.conv_expand")(s)
    return layers.Multiply(name=f"{name}.scale")([x, s])


def _block(x, block: nn.Module, name: str, depthwise: str):
    """One timm MBConv block (``DepthwiseSeparableConv`` or ``InvertedResidual``), inference path."""
    kind = type(block).__name__
    shortcut = x
    if kind == "InvertedResidual":
        x = _bn_act(_conv(x, block.conv_pw, f"{name}.conv_pw", depthwise), block.bn1, f"{name}.bn1")
        x = _bn_act(_conv(x, block.conv_dw, f"{name}.conv_dw", depthwise), block.bn2, f"{name}.bn2")
        x = _squeeze_excite(x, block.se, f"{name}.se") if not isinstance(block.se, nn.Identity) else x
        x = _bn_act(_conv(x, block.conv_pwl, f"{name}.conv_pwl", depthwise), block.bn3, f"{name}.bn3")
    elif kind == "DepthwiseSeparableConv":
        x = _bn_act(_conv(x, block.conv_dw, f"{name}.conv_dw", depthwise), block.bn1, f"{name}.bn1")
        x = _squeeze_excite(x, block.se, f"{name}.se") if not isinstance(block.se, nn.Identity) else x
        x = _bn_act(_conv(x, block.conv_pw, f"{name}.conv_pw", depthwise), block.bn2, f"{name}.bn2")
    else:
        raise NotImplementedError(f"{name}: block type {kind} has no Keras port")
    if not isinstance(getattr(block, "aa", nn.Identity()), nn.Identity):
        raise NotImplementedError(f"{name}: anti-aliasing layers are not supported")
    if block.has_skip:  # drop_path is identity at inference
        x = layers.Add(name=f"{name}.add")([x, shortcut])
    return x


def build_keras_effnet(model: nn.Module, depthwise: str = DEFAULT_DEPTHWISE,
                       input_shape: tuple[int, int, int] = (160, 80, 3)) -> keras.Model:
    """Keras NHWC inference graph of a :class:`~islr.models.effnet.HypercolumnEfficientNet` (weights not set).

    Args:
        model: The torch model (its ``backbone`` is a timm EfficientNet); only its structure is read.
        depthwise: "shift_add" or "keras" (see the module docstring).
        input_shape: (H, W, C) of the image: n_frames × 80 points × xyz (the model's input settings,
            :func:`islr.models.model_inputs`; 160 frames by default).

    Returns:
        ``keras.Model`` (1, H, W, C) → (1, num_classes) logits; layer names are the torch module paths.
    """
    if depthwise not in DEPTHWISE_MODES:
        raise ValueError(f"depthwise must be one of {DEPTHWISE_MODES}, got {depthwise!r}")
    bb = model.backbone
    if getattr(bb, "global_pool").pool_type != "avg":
        raise NotImplementedError("only average global pooling is ported")
    inputs = keras.Input(shape=input_shape, batch_size=1, name="image")
    x = _bn_act(_conv(inputs, bb.conv_stem, "backbone.conv_stem", depthwise), bb.bn1, "backbone.bn1")
    for si, stage in enumerate(bb.blocks):
        for bi, block in enumerate(stage):
            x = _block(x, block, f"backbone.blocks.{si}.{bi}", depthwise)
    x = _bn_act(_conv(x, bb.conv_head, "backbone.conv_head", depthwise), bb.bn2, "backbone.bn2")  # (1, 5, 3, 1280)
    x = layers.GlobalAveragePooling2D(name="backbone.global_pool")(x)
    logits = layers.Dense(bb.classifier.out_features, name="backbone.classifier")(x)
    return keras.Model(inputs, logits, name="effnet")


class PrependToken(layers.Layer):
    """Prepend a learned vector (the CLS token) to a (1, T, H) sequence → (1, 1 + T, H)."""

    def build(self, input_shape: tuple) -> None:
        self.token = self.add_weight(name="token", shape=(1, 1, int(input_shape[-1])), initializer="zeros")

    def call(self, x):
        return ops.concatenate([ops.cast(self.token, x.dtype), x], axis=1)


class AddEmbeddingRows(layers.Layer):
    """Add rows of an embedding table: rows 0..L−1 (absolute positions) or row 0 everywhere (token type 0).

    Args:
        rows: Table size (positions or token types).
        positional: True = row t for token t; False = row 0 for every token.
    """

    def __init__(self, rows: int, positional: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows = int(rows)
        self.positional = positional

    def build(self, input_shape: tuple) -> None:
        self.embeddings = self.add_weight(name="embeddings", shape=(self.rows, int(input_shape[-1])),
                                          initializer="zeros")

    def call(self, x):
        if self.positional:
            return x + self.embeddings[None, : ops.shape(x)[1]]
        return x + self.embeddings[None, :1]

    def get_config(self) -> dict:
        return {**super().get_config(), "rows": self.rows, "positional": self.positional}


class TokenConv1D(layers.Layer):
    """Depthwise Conv1d over tokens with zero "same" padding (the CPE, docs/method.md §4), as shifted adds.

    ``out[t] = Σ_k w[k] · h[t + k − k//2] + b`` with zeros outside the sequence: torch's cross-correlation with
    ``padding=k//2``. (1, L, H) → (1, L, H).

    Args:
        kernel_size: Odd number of taps (3 in the method).
    """

    def __init__(self, kernel_size: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape: tuple) -> None:
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, channels), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def call(self, h):
        half = self.kernel_size // 2
        length = ops.shape(h)[1]
        padded = ops.pad(h, ((0, 0), (half, half), (0, 0)))  # (1, L + 2·half, H)
        out = self.bias
        for k in range(self.kernel_size):
            out = out + padded[:, k:k + length] * self.kernel[k]
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size}


def _attention(h, query_input, prefix: str, names: tuple[str, str, str], heads: int, scale: float):
    """Multi-head scaled dot-product self-attention without a mask.

    Args:
        h: (1, L, H) keys/values input.
        query_input: (1, Lq, H) queries input (all tokens, or the CLS row only in the last layer).
        prefix: torch module path of the attention's ``self`` module.
        names: torch names of the query, key and value projections.
        heads: Number of heads.
        scale: Scores are divided by this.

    Returns:
        (1, Lq, H) context (before the output projection).
    """
    hidden = int(h.shape[-1])
    dh = hidden // heads
    q = layers.Dense(hidden, name=f"{prefix}.{names[0]}")(query_input)
    k = layers.Dense(hidden, name=f"{prefix}.{names[1]}")(h)
    v = layers.Dense(hidden, name=f"{prefix}.{names[2]}")(h)
    q = ops.transpose(ops.reshape(q, (1, -1, heads, dh)), (0, 2, 1, 3))  # (1, heads, Lq, dh)
    k = ops.transpose(ops.reshape(k, (1, -1, heads, dh)), (0, 2, 3, 1))  # (1, heads, dh, L)
    v = ops.transpose(ops.reshape(v, (1, -1, heads, dh)), (0, 2, 1, 3))  # (1, heads, L, dh)
    probs = ops.softmax(ops.matmul(q, k) / scale, axis=-1)  # (1, heads, Lq, L)
    context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))  # (1, Lq, heads, dh)
    return ops.reshape(context, (1, -1, hidden))


def _encoder_layer(h, prefix: str, cfg, arch: str, cls_only: bool):
    """One HF BERT / DeBERTa-v2 layer (post-LN): attention → add & LN → FFN (act) → add & LN."""
    eps = cfg.layer_norm_eps
    if arch == "bert":
        names, scale = ("query", "key", "value"), math.sqrt(cfg.hidden_size // cfg.num_attention_heads)
    else:
        names = ("query_proj", "key_proj", "value_proj")
        pos_att = cfg.pos_att_type or []
        scale_factor = 1 + ("c2p" in pos_att) + ("p2c" in pos_att)  # as HF DisentangledSelfAttention
        scale = math.sqrt(cfg.hidden_size // cfg.num_attention_heads * scale_factor)
    query_input = h[:, :1] if cls_only else h  # (1, 1, H): only the CLS row reaches the classifier
    context = _attention(h, query_input, f"{prefix}.attention.self", names, cfg.num_attention_heads, scale)
    attn = layers.Dense(cfg.hidden_size, name=f"{prefix}.attention.output.dense")(context)
    h = layers.LayerNormalization(epsilon=eps, name=f"{prefix}.attention.output.LayerNorm")(attn + query_input)
    ffn = layers.Dense(cfg.intermediate_size, activation=_hf_activation(cfg.hidden_act),
                       name=f"{prefix}.intermediate.dense")(h)
    ffn = layers.Dense(cfg.hidden_size, name=f"{prefix}.output.dense")(ffn)
    return layers.LayerNormalization(epsilon=eps, name=f"{prefix}.output.LayerNorm")(ffn + h)


def _hf_activation(name: str) -> str:
    if name in ("silu", "swish"):
        return "silu"
    if name == "relu":
        return "relu"
    if name == "gelu":
        return "gelu"  # keras' exact (erf) gelu = HF "gelu"
    raise NotImplementedError(f"HF activation {name!r} has no Keras mapping")


def build_keras_transformer(model: nn.Module, max_len: int | None = None) -> keras.Model:
    """Keras batch-1, mask-free inference graph of a :class:`~islr.models.transformer.FrameTransformer`.

    Args:
        model: The torch model; only its structure and config are read.
        max_len: Frames per input (None = dynamic, at most ``model.max_len``).

    Returns:
        ``keras.Model`` (1, T, 972) features → (1, num_classes) logits; layer names are torch state_dict prefixes.
    """
    cfg = model.hf_config
    arch = model.arch
    if arch == "deberta":
        if cfg.relative_attention:
            raise NotImplementedError("DeBERTa relative attention is not ported (see islr.models.transformer)")
        if model.embeddings.embed_proj is not None or not cfg.position_biased_input:
            raise NotImplementedError("DeBERTa embeddings must be position-biased with embedding_size = hidden")
    in_features = model.proj.in_features
    inputs = keras.Input(shape=(max_len, in_features), batch_size=1, name="features")
    h = layers.Dense(cfg.hidden_size, use_bias=False, name="proj")(inputs)  # (1, T, H)
    h = PrependToken(name="cls_token")(h)  # (1, 1 + T, H)
    h = AddEmbeddingRows(cfg.max_position_embeddings, True, name="embeddings.position_embeddings")(h)
    if getattr(model.embeddings, "token_type_embeddings", None) is not None:
        h = AddEmbeddingRows(model.embeddings.token_type_embeddings.num_embeddings, False,
                             name="embeddings.token_type_embeddings")(h)
    h = layers.LayerNormalization(epsilon=cfg.layer_norm_eps, name="embeddings.LayerNorm")(h)
    n_layers = model.num_layers
    for i in range(n_layers):
        if str(i) in model.cpe:
            conv = model.cpe[str(i)].conv
            h = h + TokenConv1D(conv.kernel_size[0], name=f"cpe.{i}.conv")(h)
        h = _encoder_layer(h, f"encoder.layer.{i}", cfg, arch, cls_only=i == n_layers - 1)
    logits = layers.Dense(model.fc.out_features, name="fc")(h[:, 0])  # (1, num_classes)
    return keras.Model(inputs, logits, name=arch)


def feature_map_sizes(keras_model: keras.Model) -> list[tuple[str, tuple[int, int]]]:
    """(module, (H, W)) of the stem, every block output and the head of a Keras EfficientNet, in forward order."""
    last: dict[str, layers.Layer] = {}
    for layer in keras_model.layers:
        parts = layer.name.split(".")
        if parts[:2] == ["backbone", "blocks"]:
            last[".".join(parts[:4])] = layer  # the block's last layer is its output
        elif layer.name in ("backbone.bn1", "backbone.bn2"):
            last[layer.name] = layer
    return [(name, (int(layer.output.shape[1]), int(layer.output.shape[2]))) for name, layer in last.items()]
