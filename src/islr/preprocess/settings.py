"""The input settings of a model: the preprocessing it was trained with, carried in its spec (docs/method.md §1, §2).

As a timm model carries its input config (``input_size``, …), every model islr builds carries the settings of its
input: :func:`islr.models.create_model` records them in the model spec (``spec["input"]``), the training loop saves
the spec in each checkpoint, and everything that feeds the model — the training pipelines (:mod:`islr.pipeline`),
the TF graph of the TFLite export (:mod:`islr.export.tf_preprocess`), the ONNX export and its torch preprocessing,
the export parity checks, ``islr evaluate`` on a checkpoint — builds its input from them (read with
:func:`islr.models.model_inputs`), never from a module constant or a fresh config.

* :class:`CNNInput` — ``n_frames`` (time length of the image, ``cnn.n_frames``), ``points`` (image width: the
  :data:`islr.landmarks.CNN_POINTS` columns) and ``dominant_hand`` (the mirror of ``cnn.dominant_hand``).
* :class:`TransformerInput` — ``max_len`` (frames kept at most, ``transformer.max_len``) and ``features`` (per
  frame, the 972 of :data:`islr.preprocess.transformer.FEATURE_SLICES`). The hand choice and the feature
  definition have no setting: they are the method's.

``points`` and ``features`` are not choices: they record what the model was trained on, so that a spec written by
an islr with another point set or feature list is refused by name instead of being fed the wrong input. The
defaults are those of the config (:class:`islr.config.CNNConfig`, :class:`islr.config.TransformerConfig`); a
checkpoint written before specs held input settings gets them from the run config it stores
(:func:`islr.models.stored_inputs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from islr.config import CNNConfig, Config, TransformerConfig
from islr.landmarks import CNN_POINTS
from islr.preprocess.transformer import N_FEATURES


def _positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")
    return value


class _Settings:
    """Shared helpers of the input settings classes (plain-JSON round trip, from a run config)."""

    kind: ClassVar[str]

    def to_dict(self) -> dict:
        """The settings as plain JSON values (what the model spec stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        """Settings from :meth:`to_dict` output; missing keys take the defaults, unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class CNNInput(_Settings):
    """Input settings of a CNN: the (3, ``n_frames``, ``points``) image (docs/method.md §1).

    Attributes:
        n_frames: frames of the image (its height): the nearest time resize goes to this length.
        points: landmark columns of the image (its width); must be ``len(CNN_POINTS)`` (80).
        dominant_hand: mirror each sequence so that its more-present hand is in the left-hand columns.
    """

    n_frames: int = CNNConfig.n_frames
    points: int = len(CNN_POINTS)
    dominant_hand: bool = CNNConfig.dominant_hand
    kind: ClassVar[str] = "cnn"

    def __post_init__(self):
        _positive_int(self.n_frames, "n_frames", "CNNInput")
        if self.points != len(CNN_POINTS):
            raise ValueError(f"CNNInput.points = {self.points!r}: the model was trained on images of another width; "
                             f"this islr builds {len(CNN_POINTS)}-column images (islr.landmarks.CNN_POINTS)")
        if not isinstance(self.dominant_hand, bool):
            raise ValueError(f"CNNInput.dominant_hand must be a bool, got {self.dominant_hand!r}")

    @classmethod
    def from_config(cls, cfg: Config) -> "CNNInput":
        """The settings a run config trains a CNN with (``cnn.n_frames``, ``cnn.dominant_hand``)."""
        return cls(n_frames=cfg.cnn.n_frames, dominant_hand=cfg.cnn.dominant_hand)


@dataclass(frozen=True)
class TransformerInput(_Settings):
    """Input settings of BERT / DeBERTa: at most ``max_len`` frames of ``features`` values (docs/method.md §2).

    Attributes:
        max_len: frames kept at most; a longer sequence keeps frames ``floor(i·T/max_len)``.
        features: values per frame; must be :data:`islr.preprocess.transformer.N_FEATURES` (972).
    """

    max_len: int = TransformerConfig.max_len
    features: int = N_FEATURES
    kind: ClassVar[str] = "transformer"

    def __post_init__(self):
        _positive_int(self.max_len, "max_len", "TransformerInput")
        if self.features != N_FEATURES:
            raise ValueError(f"TransformerInput.features = {self.features!r}: the model was trained on another "
                             f"feature list; this islr computes {N_FEATURES} features per frame")

    @classmethod
    def from_config(cls, cfg: Config) -> "TransformerInput":
        """The settings a run config trains a transformer with (``transformer.max_len``)."""
        return cls(max_len=cfg.transformer.max_len)


#: Input kind ("cnn" | "transformer") → its settings class.
INPUT_TYPES: dict[str, type] = {"cnn": CNNInput, "transformer": TransformerInput}
ModelInput = CNNInput | TransformerInput
