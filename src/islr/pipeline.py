"""Batched input pipelines: raw padded landmarks → augmented, preprocessed model inputs (docs/method.md §1–§3).

The DataLoader only reads raw sequences (:class:`islr.data.SequenceDataset`); these callables run on whole batches
on the training device (the GPU when there is one), as the loop's ``batch_transform`` / ``eval_transform``:

* :class:`CNNPipeline` — 86 points → point augmentations → mirror to the dominant hand → 80 CNN columns
  → normalise → time resize to n_frames (160 by default; random frame choice in training)
  → replace-from-same-class / mixup → time and point masking → ``(B, 3, n_frames, 80)``.
* :class:`TransformerPipeline` — 82 points → point augmentations → dominant hand, subsample to ≤ max_len frames
  (96 by default), 972 features → ``{"x": (B, T, 972), "mask": (B, T)}``, T = the batch's longest sequence
  (≤ max_len).

With ``train=False`` both are the deterministic inference preprocessing, the same steps the TF export graph ports.
The sizes and the CNN's mirror come from the model's input settings (:mod:`islr.preprocess.settings`, read from its
spec with :func:`islr.models.model_inputs`); only a pipeline given none takes them from the run config.
:func:`eval_input` is that inference preprocessing for one raw sequence (the torch reference of the export checks).
"""

from __future__ import annotations

import numpy as np
import torch

from islr import augment, landmarks
from islr.config import Config
from islr.preprocess.cnn import cnn_input
from islr.preprocess.settings import CNNInput, ModelInput, TransformerInput
from islr.preprocess.transformer import transformer_input


class CNNPipeline:
    """Batch transform of the CNN. Batches hold ``seq`` (B, T, 86, 3) = :data:`~islr.landmarks.CNN_AUG_POINTS`,
    ``lengths``, ``y`` and, for the replace augmentation, ``donor``/``donor_lengths``.

    Args:
        cfg: the run config (``cnn_aug``); None for an inference pipeline (``train=False``) given ``inputs``.
        train: augment (True) or only preprocess (False).
        inputs: the model's input settings (``n_frames``, ``dominant_hand``); None = those of ``cfg``
            (``cnn.n_frames``, ``cnn.dominant_hand``).
    """

    points = landmarks.CNN_AUG_POINTS
    input_type = CNNInput

    def __init__(self, cfg: Config | None, train: bool, inputs: CNNInput | None = None):
        self.inputs = _input_settings(self.input_type, cfg, train, inputs)
        self.aug = cfg.cnn_aug if cfg is not None else None
        self.n_frames = self.inputs.n_frames
        self.dominant_hand = self.inputs.dominant_hand
        self.train = train

    def image(self, seq: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """(B, T, 86, 3) raw points → (B, 3, n_frames, 80) image; augmented when ``gen`` is given."""
        frame_index = None
        if gen is not None:
            seq, lengths = augment.augment_cnn_points(seq, lengths, self.aug, gen)
            frame_index = augment.random_frame_indices(lengths, gen, self.aug.random_frame_pick_prob, self.n_frames)
        return cnn_input(seq, lengths, self.n_frames, frame_index=frame_index, dominant_hand=self.dominant_hand)

    def __call__(self, batch: dict, gen: torch.Generator | None = None) -> dict:
        if not self.train:
            return {"x": self.image(batch["seq"], batch["lengths"], None), "y": batch["y"], "index": batch["index"]}
        img = self.image(batch["seq"], batch["lengths"], gen)  # (B, 3, n_frames, 80)
        mix, rep = augment.mixup_or_replace_mask(img.shape[0], self.aug.mixup_prob, self.aug.replace_prob, gen)
        rep = rep.to(img.device)
        if "donor" in batch and bool(rep.any()):
            # Donors go through the full augmentation + normalisation too (§3a "Replace"); only those used.
            donor = self.image(batch["donor"][rep], batch["donor_lengths"][rep], gen)
            img[rep] = augment.replace_blocks(img[rep], donor, gen)
        img, target = augment.mixup(img, batch["y"], gen, self.aug.mixup_alpha, apply=mix.to(img.device))
        img = augment.mask_image(img, gen, self.aug)
        return {"x": img, "y": batch["y"], "target": target, "index": batch["index"]}


class TransformerPipeline:
    """Batch transform of BERT/DeBERTa. Batches hold ``seq`` (B, T, 82, 3) =
    :data:`~islr.landmarks.TRANSFORMER_POINTS`, ``lengths`` and ``y``.

    Args:
        cfg: the run config (``transformer_aug``); None for an inference pipeline (``train=False``) given ``inputs``.
        train: augment (True) or only preprocess (False).
        inputs: the model's input settings (``max_len``); None = those of ``cfg`` (``transformer.max_len``).
    """

    points = landmarks.TRANSFORMER_POINTS
    input_type = TransformerInput

    def __init__(self, cfg: Config | None, train: bool, inputs: TransformerInput | None = None):
        self.inputs = _input_settings(self.input_type, cfg, train, inputs)
        self.aug = cfg.transformer_aug if cfg is not None else None
        self.max_len = self.inputs.max_len
        self.train = train

    def __call__(self, batch: dict, gen: torch.Generator | None = None) -> dict:
        seq, lengths = batch["seq"], batch["lengths"]
        if self.train:
            seq, lengths = augment.augment_transformer_points(seq, lengths, self.aug, gen)
        feats, mask = transformer_input(seq, lengths, self.max_len)  # (B, max_len, 972), (B, max_len)
        # Trimmed to the batch's longest sequence: the models give real frames the same outputs with or without
        # trailing pads (masked attention and conv position encoding), and compute less.
        n = max(1, int(mask.sum(1).max()))
        feats, mask = feats[:, :n], mask[:, :n]
        return {"x": {"x": feats, "mask": mask}, "y": batch["y"], "index": batch["index"]}


def _input_settings(input_type: type, cfg: Config | None, train: bool, inputs: ModelInput | None) -> ModelInput:
    """The pipeline's input settings: ``inputs`` (the model's), else those of the run config."""
    if train and cfg is None:
        raise ValueError("a training pipeline needs the run config (its augmentation settings)")
    if inputs is None:
        if cfg is None:
            raise ValueError("an inference pipeline needs the model's input settings (inputs) or a run config")
        return input_type.from_config(cfg)
    if not isinstance(inputs, input_type):
        raise TypeError(f"expected {input_type.__name__} settings, got {type(inputs).__name__}")
    return inputs


#: Input kind ("cnn" | "transformer", :attr:`islr.preprocess.settings.CNNInput.kind`) → its pipeline class.
PIPELINES = {"cnn": CNNPipeline, "transformer": TransformerPipeline}


def eval_input(inputs: ModelInput, sequence: np.ndarray) -> torch.Tensor | dict:
    """The model input of one raw (T, 543, 3) sequence as the training loop's validation builds it: the eval
    transform of the pipeline of ``inputs.kind`` with these settings, on a batch of one.

    Args:
        inputs: the model's input settings (:func:`islr.models.model_inputs`).
        sequence: (T, 543, 3) float landmarks, NaN = missing (T may be 0).

    Returns:
        CNN: the (1, 3, n_frames, 80) image; transformers: ``{"x": (1, n, 972), "mask": (1, n)}`` with n =
        max(1, min(T, max_len)).
    """
    pipe = PIPELINES[inputs.kind](None, train=False, inputs=inputs)
    seq = torch.from_numpy(np.ascontiguousarray(np.asarray(sequence)[:, pipe.points], dtype=np.float32))[None]
    zero = torch.zeros(1, dtype=torch.int64)
    return pipe({"seq": seq, "lengths": torch.tensor([seq.shape[1]]), "y": zero, "index": zero})["x"]
