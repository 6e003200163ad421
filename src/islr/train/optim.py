"""Optimisers and per-step learning-rate schedules (docs/method.md §5 "optimizer", "schedule").

Optimisers (``TrainConfig.optimizer``), all on every parameter (the reference did not exempt biases / norms from
weight decay) with **decoupled** weight decay:

* ``"radam"`` — ``torch.optim.RAdam`` (what ``timm.optim.RAdam`` is), betas (0.9, 0.999), eps 1e-8:
  the CNN's best_CFG.
  The reference used ``torch_optimizer.RAdam``; both rectify when the SMA length ρ_t > 5 and fall back to a
  bias-corrected momentum step before, so the updates agree up to float rounding.
* ``"lookahead_radam"`` — ``timm.optim.Lookahead(RAdam, k=5, α=0.5)`` (timm's own default is k=6; we pass the
  reference's 5).
* ``"ranger"`` — the transformers' optimiser: Lookahead(RAdam) with the ``torch_optimizer.Ranger`` defaults, betas
  (0.95, 0.999), eps 1e-5, k=5, α=0.5, **plus gradient centralisation**. timm's ``lookahead_radam`` has no gradient
  centralisation, so we add it as a step pre-hook on the inner RAdam (subtract, for every parameter with ≥ 2 dims,
  the mean of its gradient over all axes but the first — Ranger's ``use_gc=True, gc_conv_only=False``).

Lookahead differences to record: timm keeps the slow weights in the inner optimiser's state and creates them lazily
at the first synchronisation (step k) from the fast weights, so the first synchronisation is a no-op; Ranger starts
its slow weights at the initial parameters. After step k both follow the same rule.

Kernels (``TrainConfig.optimizer_impl``, :func:`kernel_kwargs`): fused where the optimiser has a fused kernel and
the parameters are on CUDA, else foreach on CUDA / a per-parameter loop on the CPU; the update rule is the same.

Schedules (``TrainConfig.schedule``), stepped once per optimiser step:

* ``"onecycle"`` — ``OneCycleLR(max_lr=lr, pct_start, anneal cosine, div_factor 25, final_div_factor 1e4)``, with β1
  cycling 0.95 ↔ 0.85 as in the reference. ``total_steps`` is the number of steps actually run (epochs × steps per
  epoch, the loader's ``len`` with ``drop_last``), so the schedule ends exactly at the last step; the reference
  computed it from N/bs without the floor and stopped ~0.05% early (docs/method.md §10.7).
* ``"flat_cosine"`` — constant ``lr`` for the first ``flat_fraction`` of the steps, then cosine to 0 at the last
  step (the transformers' flat-then-cosine; the reference stepped it per epoch, 45 flat of 70, we step per batch).
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn
from torch.optim import RAdam  # the very class timm.optim exports as RAdam (timm 1.0.x re-exports torch's)

OPTIMIZERS = ("radam", "lookahead_radam", "ranger")
SCHEDULES = ("onecycle", "flat_cosine")
LOOKAHEAD_K = 5
LOOKAHEAD_ALPHA = 0.5


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 0.0, k: int = LOOKAHEAD_K,
                    alpha: float = LOOKAHEAD_ALPHA, impl: str = "auto",
                    device: torch.device | str | None = None) -> torch.optim.Optimizer:
    """The optimiser ``name`` over all trainable parameters of ``model`` (see module docstring).

    Args:
        model: the model (its ``requires_grad`` parameters are optimised; a frozen teacher is not).
        name: one of :data:`OPTIMIZERS`.
        lr: (peak) learning rate.
        weight_decay: decoupled weight decay.
        k: Lookahead sync period (lookahead variants only).
        alpha: Lookahead slow-weight step (lookahead variants only).
        impl: kernels of the (inner) torch optimiser, ``TrainConfig.optimizer_impl``: "auto" | "fused" |
            "foreach" | "for_loop" (see :func:`kernel_kwargs`).
        device: where the parameters will live (default: where they are now).

    Returns:
        The optimiser (a ``timm.optim.Lookahead`` for the lookahead variants).

    Raises:
        ValueError: an unknown name, or ``impl="fused"`` for an optimiser without a fused kernel.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    device = torch.device(device) if device is not None else (params[0].device if params else torch.device("cpu"))
    kernels = kernel_kwargs(RAdam, impl, device)
    if name == "radam":
        return RAdam(params, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True, **kernels)
    # timm is imported here, not at module level: importing it takes seconds and plain RAdam does not need it.
    import islr._compat  # noqa: F401  (before timm: torchvision next to a CPU-only torch, see there)
    from timm.optim import Lookahead

    if name == "lookahead_radam":
        inner = RAdam(params, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True, **kernels)
        return Lookahead(inner, alpha=alpha, k=k)
    if name == "ranger":
        inner = RAdam(params, lr=lr, betas=(0.95, 0.999), eps=1e-5, weight_decay=weight_decay,
                      decoupled_weight_decay=True, **kernels)
        inner.register_step_pre_hook(_centralize_gradients)
        return Lookahead(inner, alpha=alpha, k=k)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")


def kernel_kwargs(optimizer_class: type, impl: str, device: torch.device) -> dict[str, bool]:
    """Constructor flags choosing the kernels of a torch optimiser.

    "auto": ``fused=True`` where the class has a fused kernel and ``device`` is CUDA, else torch's own default (which
    is foreach on CUDA, a per-parameter loop on the CPU). "fused" / "foreach" / "for_loop" force one; torch's
    RAdam (all three of our optimisers) has no fused kernel, so for it "auto" means foreach on CUDA.

    Args:
        optimizer_class: e.g. ``torch.optim.RAdam``.
        impl: "auto" | "fused" | "foreach" | "for_loop".
        device: the parameters' device.

    Returns:
        ``{}``, ``{"fused": True}``, ``{"foreach": True}`` or ``{"foreach": False}``.

    Raises:
        ValueError: ``impl="fused"`` where ``optimizer_class`` has no fused kernel, or an unknown ``impl``.
    """
    has_fused = "fused" in inspect.signature(optimizer_class.__init__).parameters
    if impl == "auto":
        return {"fused": True} if has_fused and device.type == "cuda" else {}
    if impl == "fused":
        if not has_fused:
            raise ValueError(f"config train.optimizer_impl = 'fused', but {optimizer_class.__name__} has no fused "
                             "kernel; use 'foreach' or 'auto'")
        return {"fused": True}
    if impl in ("foreach", "for_loop"):
        return {"foreach": impl == "foreach"}
    raise ValueError(f"unknown optimizer_impl {impl!r}; choose auto, fused, foreach or for_loop")


def centralize_gradient(grad: torch.Tensor) -> torch.Tensor:
    """Gradient centralisation (Yong et al., 2020): ``g − mean(g over all axes but 0)`` for tensors with ≥ 2 dims.

    Args:
        grad: a parameter's gradient, e.g. (out, in) or (out, in, kh, kw).

    Returns:
        The centralised gradient (1-D gradients — biases, norms — are returned unchanged).
    """
    if grad.dim() < 2:
        return grad
    return grad - grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True)


def _centralize_gradients(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    # Runs inside inner.step(), i.e. after GradScaler unscaling and grad clipping, as in Ranger's step().
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and p.grad.dim() >= 2:
                p.grad.copy_(centralize_gradient(p.grad))


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, lr: float, total_steps: int,
                    pct_start: float = 0.1, flat_fraction: float = 0.6) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step learning-rate schedule (see module docstring).

    Args:
        optimizer: the optimiser.
        name: one of :data:`SCHEDULES`.
        lr: peak (onecycle) or flat (flat_cosine) learning rate.
        total_steps: optimiser steps the run will take (epochs × steps per epoch).
        pct_start: onecycle warm-up share.
        flat_fraction: flat_cosine flat share.

    Returns:
        The scheduler; call ``step()`` after every optimiser step.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be ≥ 1, got {total_steps} (is the training set smaller than a batch?)")
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps, pct_start=pct_start, anneal_strategy="cos",
            div_factor=25.0, final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)
    if name == "flat_cosine":
        for group in optimizer.param_groups:
            group["lr"] = lr
        return torch.optim.lr_scheduler.LambdaLR(optimizer, FlatCosine(total_steps, flat_fraction))
    raise ValueError(f"unknown schedule {name!r}; choose one of {SCHEDULES}")


class FlatCosine:
    """LR multiplier: 1 for ``flat_fraction`` of the steps, then half a cosine down to 0 at ``total_steps − 1``.

    A class rather than a lambda so that ``LambdaLR.state_dict`` stores its two numbers.
    """

    def __init__(self, total_steps: int, flat_fraction: float):
        self.total_steps = int(total_steps)
        self.flat_steps = int(round(flat_fraction * total_steps))

    def __call__(self, step: int) -> float:
        if step < self.flat_steps:
            return 1.0
        span = max(self.total_steps - 1 - self.flat_steps, 1)
        progress = min((step - self.flat_steps) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
