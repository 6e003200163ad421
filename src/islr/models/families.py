"""The three model families (CNN, BERT, DeBERTa): how each is fed and which config block trains it.

:data:`FAMILIES` is the one table that training (:func:`islr.train.run.train_fold`, distillation, throughput),
evaluation of a checkpoint (:mod:`islr.evaluate`) and the benchmarks read; a family's models are registered under its
name (:func:`islr.models.register_model`), so a checkpoint's stored spec names its family
(:func:`islr.models.model_family`).
"""

from __future__ import annotations

from dataclasses import dataclass

from islr.pipeline import CNNPipeline, TransformerPipeline


@dataclass(frozen=True)
class Family:
    """How one model family is built and fed."""

    pipeline: type  # the device pipeline class (islr.pipeline): its points and its train / eval transforms
    train_block: str  # Config attribute with its TrainConfig
    donors: bool  # the replace augmentation needs same-class donors


FAMILIES = {
    "cnn": Family(CNNPipeline, "cnn_train", donors=True),
    "bert": Family(TransformerPipeline, "transformer_train", donors=False),
    "deberta": Family(TransformerPipeline, "transformer_train", donors=False),
}
