"""Losses of the training loop (docs/method.md §5 "loss", §4 "Distillation").

Every loss object here follows the loop's protocol ``loss_fn(outputs, batch, teacher_logits=None) -> scalar``:

* ``outputs``: what the model returned — logits (B, C), or ``(main, aux)`` for a model with an auxiliary head
  (the CNN's hypercolumn head, deep supervision);
* ``batch``: the batch dict; the target is ``batch["target"]`` (soft, (B, C), e.g. after mixup) when present,
  else ``batch["y"]`` (hard labels, (B,));
* ``teacher_logits``: (B, C) logits of a frozen teacher on the same inputs (distillation), else None.

Convention (the reference's): the loss is **averaged over the batch**, also with class weights —
``−1/B Σ_i Σ_c w_c·y'_ic·log p_ic`` with ``y' = (1−ε)·y + ε/C``.
This is what torch's ``cross_entropy`` does for
*probability* targets (the path the reference used, it always fed soft targets). torch's ``reduction="mean"`` for
*class-index* targets divides by ``Σ_i w_{y_i}`` instead of B; we do not follow that, so hard and soft (one-hot)
labels give the same loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from islr import paths
from islr.config import DistillConfig, TrainConfig


def class_weights(power_poor: float = 0.82197, power_similar: float = 1.39792,
                  csv: str | Path = paths.CLASS_WEIGHTS_CSV) -> torch.Tensor:
    """Per-class loss weights ``w_c = poor_c^power_poor + similar_c^power_similar``
    (docs/method.md §5 "Class weights").

    Args:
        power_poor: power of the weights of poorly predicted classes, CSV column ``bad_weight`` (best_CFG: 0.82197;
            the reference's ``pw_bad``).
        power_similar: power of the weights of classes in semantically similar pairs, CSV column ``common_weight``
            (best_CFG: 1.39792; the reference's ``pw_com``).
        csv: table with columns ``label_index``, ``bad_weight``, ``common_weight`` (250 rows).

    Returns:
        (250,) float32 tensor indexed by label id.
    """
    table = pd.read_csv(csv).sort_values("label_index")
    if not np.array_equal(table["label_index"].to_numpy(), np.arange(len(table))):
        raise ValueError(f"{csv}: label_index must be 0..{len(table) - 1} exactly once")
    weights = table["bad_weight"].to_numpy() ** power_poor + table["common_weight"].to_numpy() ** power_similar
    return torch.tensor(weights, dtype=torch.float32)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Weighted, label-smoothed cross-entropy with hard or soft targets, averaged over the batch.

    ``loss = −1/B Σ_i Σ_c w_c · y'_ic · log softmax(logits)_ic`` with ``y' = (1−ε)·y + ε/C``
    (docs/method.md §5).
    For hard labels this equals ``F.cross_entropy(..., reduction="none").mean()``; it differs from torch's
    ``reduction="mean"`` with ``weight``, which divides by ``Σ_i w_{y_i}`` (see module docstring).

    Args:
        logits: (B, C) raw scores.
        target: (B,) int labels, or (B, C) probabilities (rows sum to 1, e.g. mixup).
        weight: (C,) per-class weights, or None.
        label_smoothing: ε in [0, 1].

    Returns:
        Scalar loss (float32 even under autocast).
    """
    log_p = F.log_softmax(logits.float(), dim=-1)  # (B, C); float32 for a stable log-softmax under AMP
    n_classes = logits.shape[-1]
    if target.dim() == 1:
        target = F.one_hot(target.long(), n_classes).to(log_p.dtype)
    target = target.to(log_p.dtype) * (1.0 - label_smoothing) + label_smoothing / n_classes  # (B, C)
    if weight is not None:
        target = target * weight.to(log_p)
    return -(target * log_p).sum(dim=-1).mean()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Distillation loss ``T² · KL(softmax(t/T) ‖ softmax(s/T))``, averaged over the batch ("batchmean").

    The T² factor (Hinton et al., 2015) keeps the gradient magnitude roughly independent of T: the softened
    gradient scales like 1/T².

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C); no gradient flows into it.
        temperature: T > 0.

    Returns:
        Scalar loss, zero when the two logit sets are equal.
    """
    log_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    return F.kl_div(log_s, log_t, reduction="batchmean", log_target=True) * temperature ** 2


def main_logits(outputs: torch.Tensor | tuple | list) -> torch.Tensor:
    """The main head's logits of a model output (the first element of a ``(main, aux)`` pair)."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def batch_target(batch: dict) -> torch.Tensor:
    """The training target of a batch: soft ``batch["target"]`` (B, C) if present, else labels ``batch["y"]``."""
    target = batch.get("target")
    return batch["y"] if target is None else target


class DeepSupervisionLoss(nn.Module):
    """Weighted soft cross-entropy, with deep supervision when the model returns ``(main, aux)``.

    ``loss = (1 − aux_weight)·CE(main) + aux_weight·CE(aux)`` (the reference's 0.6 / 0.4, docs/method.md §5); a
    model
    returning plain logits gets ``CE(logits)``. Both heads see the same weights, smoothing and target.

    Args:
        weight: (C,) class weights or None.
        label_smoothing: ε.
        aux_weight: share of the auxiliary head.
    """

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0, aux_weight: float = 0.4):
        super().__init__()
        self.register_buffer("weight", weight, persistent=False)
        self.label_smoothing = label_smoothing
        self.aux_weight = aux_weight

    def forward(self, outputs: torch.Tensor | tuple, batch: dict,
                teacher_logits: torch.Tensor | None = None) -> torch.Tensor:
        target = batch_target(batch)
        if isinstance(outputs, (tuple, list)):
            main, aux = outputs
            return ((1.0 - self.aux_weight) * self._ce(main, target) + self.aux_weight * self._ce(aux, target))
        return self._ce(outputs, target)

    def _ce(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(logits, target, self.weight, self.label_smoothing)


class DistillationLoss(nn.Module):
    """``(1 − kd_weight)·base + kd_weight·kd_loss(student, teacher, T)`` (config ``DistillConfig``).

    The loop passes the frozen teacher's logits on the same (augmented) inputs; the KD term uses the student's main
    head only.

    Args:
        base: the supervised loss (e.g. :class:`DeepSupervisionLoss`).
        temperature: T.
        kd_weight: share of the distillation term.
    """

    def __init__(self, base: nn.Module, temperature: float = 2.0, kd_weight: float = 0.5):
        super().__init__()
        self.base = base
        self.temperature = temperature
        self.kd_weight = kd_weight

    def forward(self, outputs: torch.Tensor | tuple, batch: dict,
                teacher_logits: torch.Tensor | None = None) -> torch.Tensor:
        if teacher_logits is None:
            raise ValueError("DistillationLoss needs teacher_logits: pass teacher=... to fit()")
        supervised = self.base(outputs, batch)
        distilled = kd_loss(main_logits(outputs), teacher_logits, self.temperature)
        return (1.0 - self.kd_weight) * supervised + self.kd_weight * distilled


def build_loss(train_cfg: TrainConfig, aux_weight: float = 0.4, distill_cfg: DistillConfig | None = None
               ) -> nn.Module:
    """The loss of one training config.

    Args:
        train_cfg: :class:`islr.config.TrainConfig` (class_weights, class_weight_power_*, label_smoothing).
        aux_weight: deep-supervision share of the auxiliary head (``CNNConfig.hypercolumn_weight``).
        distill_cfg: :class:`islr.config.DistillConfig` to wrap the loss for distillation, or None.

    Returns:
        A module following the loop's loss protocol.
    """
    weight = (class_weights(train_cfg.class_weight_power_poor, train_cfg.class_weight_power_similar)
              if train_cfg.class_weights else None)
    loss = DeepSupervisionLoss(weight, train_cfg.label_smoothing, aux_weight)
    if distill_cfg is not None:
        loss = DistillationLoss(loss, distill_cfg.temperature, distill_cfg.kd_weight)
    return loss
