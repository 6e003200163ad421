"""BERT / DeBERTa-v2 frame transformers on 972 features per frame, with conv position encoding
(docs/method.md §2, §4).

The model (both flavours), for ``x`` (B, T ≤ 96, 972) and a frame mask (B, T) with 1 = real frame:

1. ``Linear(972 → hidden, no bias)`` per frame, then a learned CLS vector (initialised to 0) is prepended with
   mask 1: (B, 1 + T, hidden).
2. The HF embeddings module via ``inputs_embeds``: + absolute learned position embedding (+ token-type 0 for BERT),
   LayerNorm, dropout. The word embedding (vocab 1) exists in the HF module but is never used.
3. The HF encoder layers, driven by our own loop so that **CPE** can run between them: in layers 1..L−1 (not
   layer 0) a depthwise ``Conv1d(hidden, k=3, pad 1, groups=hidden, bias)`` over the token axis is added as a
   residual *before* the layer's self-attention. We zero the padded tokens before the conv and re-zero its output,
   so a real token sees exactly what it would see unpadded (zero "same" padding at the sequence end, which is what
   the exported batch-1 graph computes). The reference did not mask here, so its padded training batches saw
   nonzero pad tokens (docs/method.md §9); we do not reproduce that mismatch.
4. The CLS output → Dropout → ``Linear(hidden → 250)``. The HF pooler is not built.

Shared config (docs/method.md §4): hidden 256, 4 layers, 4 heads, intermediate 512, SiLU, 97 positions, vocab 1,
dropout 0.1, init std 0.02; ~2.45 M parameters. BERT: LN eps 1e-12, 2 token types (all 0). Our own layers (input
projection, CPE convs, classifier) keep PyTorch's default init; the HF modules get HF's (normal, std 0.02).

**DeBERTa-v2 choice: relative-position attention OFF by default** (``relative_attention=False``,
``position_biased_input=True``, ``type_vocab_size=0``, LN eps 1e-7 — the ``DebertaV2Config`` defaults). That is
what the reference's Keras export actually computed (plain scaled dot-product attention, no token types, eps 1e-7,
docs/method.md §4), it ports to Keras/TFLite exactly and cheaply, and the export stage must reproduce it bit-for-bit.
So our "DeBERTa" is BERT with those small differences, as the reference's was. ``relative_attention=True`` builds
genuine disentangled attention in torch (c2p + p2c, relative distances up to 97, no absolute position input, as
DeBERTa-v2) for experiments; the Keras port does not support it.

Layer-copy helpers for distillation (docs/method.md §4 "Distillation"): :func:`truncate_layers` builds an n-layer
student from the first n layers of a teacher; :func:`init_from` copies every student tensor from a teacher.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
import islr._compat  # noqa: F401  (before transformers, which imports torchvision: see there)
from transformers import BertConfig, BertModel, DebertaV2Config, DebertaV2Model

from islr.models.registry import create_model, model_inputs, register_model

#: Per-frame features of the transformer input (docs/method.md §2).
N_FEATURES = 972
ARCHS = ("bert", "deberta")
_ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


def layer_states(out: torch.Tensor | tuple | list) -> torch.Tensor:
    """Hidden states from the return value of one HF encoder layer, whatever the transformers version.

    The single place that knows the layers' return types: transformers 5 ``BertLayer`` returns the states tensor,
    transformers 4.x ``BertLayer`` returns a tuple ``(states, ...)``, and ``DebertaV2Layer`` returns
    ``(states, attention or None)`` in both majors. ``tests/test_compat.py`` checks the layer loop against HF's own
    ``BertModel`` / ``DebertaV2Model`` forward under whichever version is installed (both CI legs run it).

    Args:
        out: what ``layer(hidden_states, ...)`` returned.

    Returns:
        (B, L, hidden) states.
    """
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"unexpected return type of a transformers encoder layer: {type(out).__name__}")


def _hf_config(arch: str, hidden: int, layers: int, heads: int, intermediate: int, dropout: float, max_len: int,
               relative_attention: bool, attn_implementation: str) -> BertConfig | DebertaV2Config:
    common = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=intermediate, hidden_act="silu", max_position_embeddings=max_len + 1,
                  vocab_size=1, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                  initializer_range=0.02)
    if arch == "bert":
        return BertConfig(**common, layer_norm_eps=1e-12, type_vocab_size=2, attn_implementation=attn_implementation)
    if relative_attention:
        # DeBERTa-v2 proper: content↔position terms, relative distances clipped at max_position_embeddings.
        extra = dict(relative_attention=True, pos_att_type=["c2p", "p2c"], position_biased_input=False,
                     max_relative_positions=-1)
    else:
        extra = dict(relative_attention=False, position_biased_input=True)
    return DebertaV2Config(**common, **extra, layer_norm_eps=1e-7, type_vocab_size=0)


class ConvPositionEncoding(nn.Module):
    """Depthwise Conv1d(k=3) over tokens, computed on masked tokens (a residual term; the caller adds it).

    Args:
        hidden: Channels (= hidden size); one 3-tap filter per channel.
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1, groups=hidden, bias=True)

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """(B, L, hidden) tokens and (B, L) bool keep-mask (None = all real) → (B, L, hidden) residual."""
        if keep is not None:
            h = h * keep.unsqueeze(-1).to(h.dtype)  # pads → 0, so they never leak into real neighbours
        out = self.conv(h.transpose(1, 2)).transpose(1, 2)
        if keep is not None:
            out = out * keep.unsqueeze(-1).to(out.dtype)
        return out


class FrameTransformer(nn.Module):
    """BERT or DeBERTa-v2 classifier over per-frame features (module docstring has the details).

    Args:
        arch: "bert" or "deberta".
        in_features: Features per frame.
        num_classes: Output classes.
        hidden: Hidden size.
        layers: Encoder layers.
        heads: Attention heads.
        intermediate: Feed-forward width.
        dropout: Hidden, attention and classifier dropout.
        max_len: Most frames per sample (positions = max_len + 1 for CLS).
        relative_attention: DeBERTa only: disentangled relative-position attention (default off, see module doc).
        attn_implementation: BERT only: HF attention kernel, "sdpa" (default) or "eager"; same maths.
    """

    def __init__(self, arch: str = "bert", in_features: int = N_FEATURES, num_classes: int = 250, hidden: int = 256,
                 layers: int = 4, heads: int = 4, intermediate: int = 512, dropout: float = 0.1, max_len: int = 96,
                 relative_attention: bool = False, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        if relative_attention and arch != "deberta":
            raise ValueError("relative_attention is a DeBERTa option")
        if attn_implementation not in _ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation must be one of {_ATTN_IMPLEMENTATIONS}")
        # Kept so that truncate_layers can rebuild the same model with fewer layers.
        self.init_kwargs = dict(arch=arch, in_features=in_features, num_classes=num_classes, hidden=hidden,
                                layers=layers, heads=heads, intermediate=intermediate, dropout=dropout,
                                max_len=max_len, relative_attention=relative_attention,
                                attn_implementation=attn_implementation)
        self.arch = arch
        self.max_len = max_len
        self.num_classes = num_classes
        self.hf_config = _hf_config(arch, hidden, layers, heads, intermediate, dropout, max_len,
                                    relative_attention, attn_implementation)
        hf = (BertModel(self.hf_config, add_pooling_layer=False) if arch == "bert"
              else DebertaV2Model(self.hf_config))
        self.proj = nn.Linear(in_features, hidden, bias=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.embeddings = hf.embeddings
        self.encoder = hf.encoder
        # Keyed by layer index: layer 0 has no CPE (docs/method.md §4).
        self.cpe = nn.ModuleDict({str(i): ConvPositionEncoding(hidden) for i in range(1, layers)})
        self.head_drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layer)

    def _layer_inputs(self, keep: torch.Tensor | None, h: torch.Tensor) -> dict:
        """Keyword arguments for every HF layer call: the mask in the format that layer type expects, etc.

        Args:
            keep: (B, L) bool, True = real token (None = all real).
            h: (B, L, hidden) embedded tokens.
        """
        if self.arch == "deberta":
            if keep is None:  # DisentangledSelfAttention always needs a mask
                keep = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
            # (B, 1, L, L) = keep_q · keep_k; relative terms are None unless relative_attention.
            return dict(attention_mask=self.encoder.get_attention_mask(keep.long()),
                        relative_pos=self.encoder.get_rel_pos(h), rel_embeddings=self.encoder.get_rel_embedding())
        if keep is None:
            return dict(attention_mask=None)  # no mask at all: the batch-1 inference path
        mask = keep[:, None, None, :]  # (B, 1, 1, L), broadcast over heads and queries
        if self.hf_config._attn_implementation == "eager":
            # eager adds the mask to the scores
            mask = torch.zeros(mask.shape, device=h.device).masked_fill(~mask, torch.finfo(torch.float32).min)
        return dict(attention_mask=mask)  # sdpa: bool, True = attend

    def _run_layer(self, i: int, h: torch.Tensor, layer_inputs: dict) -> torch.Tensor:
        return layer_states(self.encoder.layer[i](h, **layer_inputs))

    def forward_features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode frames.

        Args:
            x: (B, T, in_features) frame features, T ≤ max_len; padded frames may hold anything.
            mask: (B, T), 1/True = real frame (None = all real).

        Returns:
            (B, 1 + T, hidden) token states; index 0 is CLS.
        """
        batch, length, _ = x.shape
        if length > self.max_len:
            raise ValueError(f"at most {self.max_len} frames, got {length}")
        h = torch.cat([self.cls_token.expand(batch, -1, -1).to(x.dtype), self.proj(x)], dim=1)  # (B, 1+T, H)
        keep = None
        if mask is not None:
            keep = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=x.device), mask.bool()], dim=1)
        h = self.embeddings(inputs_embeds=h)
        layer_inputs = self._layer_inputs(keep, h)
        for i in range(self.num_layers):
            if str(i) in self.cpe:
                h = h + self.cpe[str(i)](h, keep)
            h = self._run_layer(i, h, layer_inputs)
        return h

    def forward_head(self, h: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """CLS token → dropout → linear: (B, 1 + T, hidden) → (B, num_classes) (or (B, hidden) if pre_logits)."""
        cls = self.head_drop(h[:, 0])
        return cls if pre_logits else self.fc(cls)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, 972) features and (B, T) frame mask → logits (B, num_classes)."""
        return self.forward_head(self.forward_features(x, mask))


def init_from(student: FrameTransformer, teacher: FrameTransformer) -> FrameTransformer:
    """Copy every tensor of ``student`` from the same-named tensor of ``teacher`` (in place).

    With a student of n ≤ L layers this takes the teacher's embeddings, input projection, CLS, the first n
    layers, their CPE convs and the classifier (docs/method.md §4 "Distillation", step 3).

    Args:
        student: Model to fill; every one of its state_dict entries must exist in ``teacher`` with the same shape.
        teacher: Source model (not modified).

    Returns:
        ``student``.

    Raises:
        ValueError: a student tensor has no same-shaped counterpart in the teacher (names listed).
    """
    source = teacher.state_dict()
    target = student.state_dict()
    bad = [k for k, v in target.items() if k not in source or source[k].shape != v.shape]
    if bad:
        raise ValueError(f"teacher lacks or mis-shapes {len(bad)} student tensors: {', '.join(bad[:5])}")
    student.load_state_dict({k: source[k].detach().clone() for k in target}, strict=True)
    return student


def truncate_layers(model: FrameTransformer, n: int) -> FrameTransformer:
    """A new model like ``model`` with its first ``n`` encoder layers (weights copied, ``model`` unchanged).

    Args:
        model: Teacher.
        n: Layers to keep, 1 ≤ n ≤ model.num_layers.

    Returns:
        The n-layer student, in the teacher's train/eval mode.
    """
    if not 1 <= n <= model.num_layers:
        raise ValueError(f"n must be in 1..{model.num_layers}, got {n}")
    # Built through the registry (the arch is the registry name) so the student carries its own model spec, with
    # the teacher's input settings.
    kwargs = {k: v for k, v in copy.deepcopy(model.init_kwargs).items() if k != "arch"}
    student = create_model(model.arch, input_config=model_inputs(model), **{**kwargs, "layers": n})
    init_from(student, model)
    return student.train(model.training)


def _factory(arch: str, **defaults):
    def build(**kwargs) -> FrameTransformer:
        return FrameTransformer(arch=arch, **{**defaults, **kwargs})

    build.__doc__ = (f"{arch} FrameTransformer; keyword overrides as :class:`FrameTransformer` "
                     f"(defaults: {defaults or 'the reference config'}).")
    return build


_TEST_SIZE = dict(hidden=32, layers=2, heads=2, intermediate=64)
bert = register_model("bert", family="bert")(_factory("bert"))
deberta = register_model("deberta", family="deberta")(_factory("deberta"))
bert_test = register_model("bert_test", family="bert")(_factory("bert", **_TEST_SIZE))
deberta_test = register_model("deberta_test", family="deberta")(_factory("deberta", **_TEST_SIZE))
