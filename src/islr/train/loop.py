"""One model-agnostic training loop for the CNN, the transformers and distillation.

:func:`train_one_epoch`, :func:`validate` and :func:`fit` are the whole loop; the model family only changes the
model, the loss object and the optional device-side batch transform. Distillation is the same loop with a frozen
``teacher`` whose logits reach the loss (docs/architecture.md, pattern "One training loop"). Read top to bottom, this
module follows one run: loaders, step context, set-up, one epoch of training, validation, the end of the run, and
:func:`fit`, which ties them together. Where and how fast a step runs (AMP, channels-last, ``torch.compile``, the
process group) is :mod:`islr.train.device`; the run's checkpoints, resume and RNG states are
:mod:`islr.train.checkpoint`.

**Batches** are dicts: ``{"x": tensor or dict of tensors, "y": (B,) long labels, "target": optional (B, C) soft
labels}``. The model is called as ``model(**batch["x"])`` when ``x`` is a dict (e.g. ``{"x": feats, "mask": m}``),
else ``model(batch["x"])``; it returns logits (B, C) or ``(main, aux)``. Metrics always use the main head.

**Reproducibility / resume.** At the start of every epoch the loop reseeds python, numpy and torch from
``(cfg.seed, epoch, rank)`` and calls ``set_epoch(epoch)`` on the loader's sampler, so the data order, dropout and
augmentation of an epoch depend on nothing but the seed and the epoch number. ``last.pt`` is written after every
epoch and :func:`fit` resumes from it when present, so a resumed run ends with the same weights as an uninterrupted
one; a folder of another config is refused (:mod:`islr.train.checkpoint`).

**Validation / selection.** After every epoch the model is evaluated on ``valid_loader`` (dataset order, no
augmentation): ``valid_loss`` is the *plain* cross-entropy of the main head (no class weights, no smoothing, so it
compares across model families), ``top1`` / ``top3`` are accuracies. ``best.pt`` holds the weights of the best
``top1`` (docs/method.md §5 "selection"); training stops after ``cfg.early_stop`` epochs without improvement (0 = off).
Without a validation set (full-data training) ``best.pt`` is the last epoch. After training the best weights are
loaded back into ``model`` and, with a validation set, its logits are saved as ``oof_logits.npy`` (N_valid, C)
float32 with ``oof_index.npy`` (N_valid,) — the sample ids, taken from ``valid_index`` or the ``indices`` of a
``torch.utils.data.Subset`` — for the ensemble.

**Files** are written through :mod:`islr.runs`, which owns the run folder's layout. **Metrics**: one row per epoch
in ``metrics.jsonl`` and ``metrics.csv`` (epoch, train_loss, valid_loss, top1, top3,
lr at the end of the epoch, seconds incl. validation, training samples/s). A resumed run first drops rows of
epochs it will redo.

**Speed settings** (AMP, channels-last, ``torch.compile``, fused optimiser kernels, pinned memory) are
:class:`~islr.train.device.DeviceSettings`, resolved from ``TrainConfig`` as :mod:`islr.train.device` describes.
Augmentation always runs on the training device: the loader only collates raw sequences, the loop copies the batch
and calls the family's ``batch_transform`` (:mod:`islr.pipeline`) with a generator on that device. Within a step
nothing waits for the GPU except what the augmentations themselves need (the loss is accumulated on the device).

**DDP**: launch with ``torchrun``; call :func:`~islr.train.device.setup_distributed` first (process group from
RANK / WORLD_SIZE, gloo on CPU, nccl on CUDA) and build loaders with :func:`make_loader` (a ``DistributedSampler``).
:func:`fit` then wraps the model in ``DistributedDataParallel``, all-reduces the training loss, gathers validation
logits back into dataset order on every rank, and lets only rank 0 write files or print.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler
from tqdm import tqdm

from islr import runs
from islr.config import TrainConfig
from islr.metrics import topk_accuracy
from islr.progress import progress_bar
from islr.train.checkpoint import Checkpointer, TrainState, config_dict
from islr.train.device import DeviceSettings, default_device, dist_info
from islr.train.losses import main_logits
from islr.train.optim import build_optimizer, build_scheduler, current_lr

BatchTransform = Callable[[dict, torch.Generator], dict]


# ------------------------------------------------------------------------------------------ batches and seeds
def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A well-mixed 63-bit seed derived from (seed, epoch, rank)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def make_loader(dataset: Dataset, batch_size: int, *, train: bool, seed: int = 0, num_workers: int = 0,
                collate_fn: Callable | None = None, pin_memory: bool = False, sampler=None) -> DataLoader:
    """A loader whose order depends only on (seed, epoch): what :func:`fit` expects.

    Training loaders shuffle with a ``DistributedSampler`` (also in a single process: it permutes with a generator
    seeded from ``seed + epoch`` when the loop calls ``set_epoch``) and drop the last incomplete batch, as the
    reference did. Evaluation loaders keep dataset order (sharded over ranks under DDP; :func:`validate` puts the
    logits back in order).

    Args:
        dataset: map-style dataset yielding dicts (see module docstring).
        batch_size: per-process batch size.
        train: shuffle + drop_last (True) or ordered (False).
        seed: shuffle seed (``TrainConfig.seed``).
        num_workers: loader worker processes.
        collate_fn: batch collation (default: torch's, which stacks dicts of tensors).
        pin_memory: pin host memory (CUDA).
        sampler: a training sampler to use instead (e.g. :class:`islr.data.SourceBalancedSampler`; it must take
            ``set_epoch`` and shard by rank itself).
    """
    info = dist_info()
    if sampler is None and (train or info.distributed):
        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=train,
                                     seed=seed, drop_last=False)
    elif sampler is None:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=train, num_workers=num_workers,
                      collate_fn=collate_fn, pin_memory=pin_memory, persistent_workers=False)


def forward(model: nn.Module, x: torch.Tensor | dict) -> Any:
    """Call ``model(**x)`` for a dict input, else ``model(x)``."""
    return model(**x) if isinstance(x, dict) else model(x)


# ----------------------------------------------------------------------------------------------- step context
@dataclass(frozen=True)
class StepOptions:
    """The optimisation step's own numbers, from :class:`~islr.config.TrainConfig`."""

    grad_clip: float = 0.0
    #: Cap on the optimiser steps of one epoch (0 = the whole loader).
    max_steps: int = 0
    #: Seeds the per-epoch augmentation generator together with the epoch and the rank.
    seed: int = 0
    #: tqdm bars and the per-epoch line (rank 0 only).
    progress: bool = True


@dataclass(frozen=True)
class BatchHooks:
    """What the model is fed besides the loader's batch: device-side transforms and a distillation teacher."""

    #: ``f(batch, generator) -> batch`` before each training forward (augmentation + preprocessing).
    train_transform: BatchTransform | None = None
    #: ``f(batch) -> batch`` before each evaluation forward (preprocessing).
    eval_transform: Callable[[dict], dict] | None = None
    #: Frozen teacher whose logits reach the loss (eval mode, on the device).
    teacher: nn.Module | None = None


@dataclass
class StepContext:
    """Everything :func:`train_one_epoch` and :func:`validate` need besides model, data, optimiser and loss."""

    device: DeviceSettings
    options: StepOptions = field(default_factory=StepOptions)
    hooks: BatchHooks = field(default_factory=BatchHooks)
    #: Loss scaler (enabled under fp16 autocast only); its state is checkpointed.
    scaler: torch.amp.GradScaler | None = None

    def __post_init__(self):
        if self.scaler is None:
            self.scaler = self.device.grad_scaler()

    @classmethod
    def from_config(cls, cfg: TrainConfig, device: torch.device | str | None = None, hooks: BatchHooks | None = None,
                    progress: bool = True) -> "StepContext":
        """The context of one :func:`fit` of ``cfg`` on ``device``."""
        options = StepOptions(cfg.grad_clip, cfg.max_steps_per_epoch, cfg.seed, progress)
        return cls(DeviceSettings.from_config(cfg, device), options, hooks or BatchHooks())

    @classmethod
    def for_model(cls, model: nn.Module) -> "StepContext":
        """Float32, no hooks, on the model's device (what :func:`validate` uses when given no context)."""
        return cls(DeviceSettings(next(model.parameters()).device, dist=dist_info()), StepOptions(progress=False))

    @property
    def is_main(self) -> bool:
        return self.device.dist.is_main

    @property
    def distributed(self) -> bool:
        return self.device.dist.distributed

    @property
    def show_progress(self) -> bool:
        return self.options.progress and self.is_main


def steps_per_epoch(loader: DataLoader, max_steps: int = 0) -> int:
    """Optimiser steps one epoch takes: ``len(loader)`` (floor(N/bs) with drop_last), capped by ``max_steps``."""
    n = len(loader)
    if n == 0:
        raise ValueError(f"the training loader yields no batch ({len(loader.dataset)} samples, batch size "
                         f"{loader.batch_size}, drop_last={loader.drop_last}): use a smaller batch size")
    return min(n, max_steps) if max_steps > 0 else n


# ----------------------------------------------------------------------------------------------------- set-up
def setup_training(model: nn.Module, loss_fn: Callable, cfg: TrainConfig, total_steps: int,
                   device: torch.device | str | None = None, hooks: BatchHooks | None = None, progress: bool = True
                   ) -> tuple[StepContext, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Everything :func:`train_one_epoch` needs besides the data, as :func:`fit` builds it.

    Moves ``model`` (NHWC under ``channels_last``) and a module ``loss_fn`` to the device, then builds the
    optimiser (``cfg.optimizer_impl`` kernels) and the per-step schedule over ``total_steps``.

    Returns:
        (step context, optimiser, scheduler); wrap the model with :func:`training_module` before training.
    """
    ctx = StepContext.from_config(cfg, device, hooks, progress)
    if ctx.show_progress:
        tqdm.write(ctx.device.describe())
    ctx.device.place_model(model)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(ctx.device.device)
    optimizer = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.lookahead_k, cfg.lookahead_alpha,
                                impl=cfg.optimizer_impl, device=ctx.device.device)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.lr, total_steps, cfg.pct_start, cfg.flat_fraction)
    return ctx, optimizer, scheduler


def training_module(model: nn.Module, ctx: StepContext) -> nn.Module:
    """What the training step calls: ``model`` wrapped in DDP under torchrun, then compiled when compiling is on.

    Checkpoints and evaluation keep using ``model`` itself (the wrappers share its parameters).
    """
    return ctx.device.compile(_wrap_ddp(model, ctx))


def _freeze(teacher: nn.Module | None, device: torch.device | str) -> nn.Module | None:
    if teacher is None:
        return None
    teacher.to(device).eval()
    teacher.requires_grad_(False)
    return teacher


def _wrap_ddp(model: nn.Module, ctx: StepContext) -> nn.Module:
    if not ctx.distributed:
        return model
    device = ctx.device.device
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


# -------------------------------------------------------------------------------------------------- one epoch
def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, loss_fn: Callable, ctx: StepContext,
                    epoch: int) -> dict[str, float]:
    """One epoch of training (stepping the scheduler per batch).

    Args:
        model: the model in training (DDP-wrapped under torchrun, ``torch.compile``-d when compiling is on).
        loader: training loader of dict batches.
        optimizer: optimiser.
        scheduler: per-step schedule.
        loss_fn: ``loss_fn(outputs, batch, teacher_logits) -> scalar`` (see :mod:`islr.train.losses`).
        ctx: device settings (AMP, channels_last), step options (clipping, step cap, seed) and batch hooks.
        epoch: epoch number (seeds the sampler and the batch-transform generator).

    Returns:
        ``{"train_loss": mean over all samples of all ranks, "samples": count, "train_seconds": wall time}``.
    """
    model.train()
    dev, opts, hooks = ctx.device, ctx.options, ctx.hooks
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    generator = torch.Generator(device=dev.device).manual_seed(epoch_seed(opts.seed, epoch, dev.dist.rank))
    n_steps = steps_per_epoch(loader, opts.max_steps)
    loss_sum = torch.zeros((), device=dev.device)  # accumulated on the device: no host sync per step
    n_samples = torch.zeros((), device=dev.device)
    start = time.perf_counter()
    bar = progress_bar(total=n_steps, desc=f"epoch {epoch}", leave=False, mininterval=2.0,
                       disable=not ctx.show_progress)
    for step, batch in enumerate(loader):
        if step >= n_steps:
            break
        batch = dev.to_device(batch)
        if hooks.train_transform is not None:
            batch = hooks.train_transform(batch, generator)  # augmentation on the training device
        x = dev.format_input(batch["x"])
        with dev.autocast():
            outputs = forward(model, x)
            loss = loss_fn(outputs, batch, _teacher_logits(hooks.teacher, x))
        optimizer.zero_grad(set_to_none=True)
        ctx.scaler.scale(loss).backward()
        if opts.grad_clip > 0:
            ctx.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        ctx.scaler.step(optimizer)
        ctx.scaler.update()
        scheduler.step()
        batch_size = batch["y"].shape[0]
        loss_sum += loss.detach().float() * batch_size
        n_samples += batch_size
        bar.update(1)
    bar.close()
    if ctx.distributed:
        dist.all_reduce(loss_sum)
        dist.all_reduce(n_samples)
    return {"train_loss": (loss_sum / n_samples.clamp(min=1)).item(), "samples": int(n_samples.item()),
            "train_seconds": time.perf_counter() - start}


@torch.no_grad()
def _teacher_logits(teacher: nn.Module | None, x: torch.Tensor | dict) -> torch.Tensor | None:
    if teacher is None:
        return None
    return main_logits(forward(teacher, x)).float()  # (B, C); the teacher is frozen, in eval mode


# ------------------------------------------------------------------------------------------------- validation
@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader | None, ctx: StepContext | None = None
             ) -> tuple[dict[str, float], np.ndarray]:
    """Logits and metrics of ``model`` on ``loader``, in dataset order.

    Args:
        model: the (unwrapped) model; put in eval mode.
        loader: an ordered loader (:func:`make_loader` with ``train=False``); under DDP a ``DistributedSampler``
            shard per rank, whose logits are gathered back into dataset order on every rank.
        ctx: step context (device, AMP, channels_last, ``eval_transform``); default: the model's device, float32.

    Returns:
        ``({"valid_loss", "top1", "top3", "n"}, logits (N, C) float32)``; ``({}, (0, 0) array)`` for no data.
    """
    ctx = ctx or StepContext.for_model(model)
    if loader is None or len(loader.dataset) == 0:
        return {}, np.zeros((0, 0), dtype=np.float32)
    model.eval()
    dev, transform = ctx.device, ctx.hooks.eval_transform
    logits, labels = [], []
    for batch in progress_bar(loader, desc="eval", leave=False, mininterval=2.0, disable=not ctx.show_progress):
        batch = dev.to_device(batch)
        if transform is not None:
            batch = transform(batch)
        with dev.autocast():
            logits.append(main_logits(forward(model, dev.format_input(batch["x"]))).float())  # (B, C)
        labels.append(batch["y"].long())
    logits, labels = torch.cat(logits), torch.cat(labels)
    if ctx.distributed and isinstance(loader.sampler, DistributedSampler):
        logits, labels = _gather_in_order(logits, len(loader.dataset)), _gather_in_order(labels, len(loader.dataset))
    valid_loss = F.cross_entropy(logits, labels).item()
    logits, labels = logits.cpu().numpy(), labels.cpu().numpy()
    metrics = {"valid_loss": valid_loss, "top1": topk_accuracy(logits, labels, 1),
               "top3": topk_accuracy(logits, labels, 3), "n": int(len(labels))}
    return metrics, logits


def _gather_in_order(shard: torch.Tensor, n: int) -> torch.Tensor:
    # DistributedSampler(shuffle=False) gives rank r the samples r, r + W, r + 2W, … (padded by wrapping around):
    # stack the W shards as (per_rank, W, …) and flatten to recover 0, 1, 2, …, then drop the padding.
    parts = [torch.empty_like(shard) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, shard.contiguous())
    return torch.stack(parts, dim=1).flatten(0, 1)[:n]


# ------------------------------------------------------------------------------------------- the end of a run
@dataclass
class FitResult:
    """What :func:`fit` returns."""

    out_dir: Path
    best_epoch: int
    best_top1: float | None
    epochs_run: int
    stopped_early: bool
    history: list[dict]
    oof_metrics: dict[str, float]


def _finish(model: nn.Module, valid_loader: DataLoader | None, ckpt: Checkpointer, state: TrainState,
            ctx: StepContext, log: runs.MetricsLog, valid_index: np.ndarray | None) -> FitResult:
    """Load the best weights; with validation, save their logits as ``oof_logits.npy`` / ``oof_index.npy``."""
    ckpt.load_best()
    out_dir = ckpt.last.parent
    metrics: dict[str, float] = {}
    if valid_loader is not None:
        metrics, logits = validate(model, valid_loader, ctx)
        index = np.asarray(valid_index if valid_index is not None else _dataset_index(valid_loader.dataset))
        if len(index) != len(logits):
            raise ValueError(f"valid_index has {len(index)} ids for {len(logits)} validation samples")
        if ctx.is_main:
            runs.save_oof(out_dir, logits, index)
    ctx.device.dist.barrier()
    return FitResult(out_dir, state.best_epoch, state.best_top1, state.next_epoch, state.stopped, list(log.rows),
                     metrics)


def _dataset_index(dataset: Dataset) -> np.ndarray:
    # A Subset knows which samples of the full dataset it holds; anything else is numbered 0..N-1.
    indices = getattr(dataset, "indices", None)
    return np.asarray(indices) if indices is not None else np.arange(len(dataset))


def _print_epoch(row: dict, state: TrainState, ctx: StepContext) -> None:
    if not ctx.show_progress:
        return
    valid = "" if row["top1"] is None else (f" valid_loss {row['valid_loss']:.4f} top1 {row['top1']:.4f} "
                                            f"top3 {row['top3']:.4f}")
    stop = " (early stop)" if state.stopped else ""
    tqdm.write(f"epoch {row['epoch']}: train_loss {row['train_loss']:.4f}{valid} lr {row['lr']:.3g} "
               f"{row['seconds']:.1f}s {row['samples_per_s']:.0f} samples/s{stop}")


# ---------------------------------------------------------------------------------------------------- one run
def fit(model: nn.Module, train_loader: DataLoader, valid_loader: DataLoader | None, cfg: TrainConfig,
        out_dir: str | Path,
        loss_fn: Callable, *, teacher: nn.Module | None = None, device: torch.device | str | None = None,
        batch_transform: BatchTransform | None = None, eval_transform: Callable[[dict], dict] | None = None,
        run_config: Any = None, valid_index: np.ndarray | None = None, resume: bool = True,
        progress: bool = True, on_epoch: Callable[[int, float | None], None] | None = None) -> "FitResult":
    """Train ``model`` for ``cfg.epochs`` epochs with checkpoints, resume, early stopping and OOF logits.

    Args:
        model: any ``nn.Module`` returning logits or ``(main, aux)``.
        train_loader: training loader (ideally :func:`make_loader` ``train=True``).
        valid_loader: ordered validation loader, or None / empty for full-data training.
        cfg: :class:`islr.config.TrainConfig`.
        out_dir: run folder for ``last.pt``, ``best.pt``, ``metrics.*``, ``oof_*.npy``.
        loss_fn: loss object (protocol in :mod:`islr.train.losses`); moved to the device if it is a module.
        teacher: frozen teacher for distillation (set to eval mode, gradients off, moved to the device).
        device: default ``cuda:LOCAL_RANK`` if available, else CPU.
        batch_transform: ``f(batch, generator) -> batch`` run on the device before each training forward
            (device-side augmentation; the generator is seeded from (seed, epoch, rank)).
        eval_transform: ``f(batch) -> batch`` run on the device before each evaluation forward.
        run_config: the resolved run config (dataclass or dict) stored in the checkpoints.
        valid_index: (N_valid,) sample ids saved as ``oof_index.npy`` (default: ``Subset.indices`` or 0..N−1).
        resume: continue from ``out_dir/last.pt`` when it exists.
        progress: tqdm bars and one printed line per epoch (rank 0).
        on_epoch: ``f(epoch, valid_top1)`` called after each epoch is checkpointed (e.g. an Optuna pruning
            callback, which may raise to stop the run; the checkpoint of that epoch is already on disk).

    Returns:
        :class:`FitResult`; ``model`` holds the best weights on return.
    """
    out_dir = Path(out_dir)
    hooks = BatchHooks(batch_transform, eval_transform, _freeze(teacher, device or default_device()))
    total_steps = cfg.epochs * steps_per_epoch(train_loader, cfg.max_steps_per_epoch)
    ctx, optimizer, scheduler = setup_training(model, loss_fn, cfg, total_steps, device, hooks, progress)
    ckpt = Checkpointer(out_dir, model, optimizer, scheduler, ctx.scaler, ctx.device.dist,
                        config_dict(cfg, run_config))
    state = ckpt.restore() if resume else TrainState()
    log = runs.MetricsLog(out_dir, enabled=ctx.is_main)
    log.truncate(state.next_epoch)
    has_valid = valid_loader is not None and len(valid_loader.dataset) > 0
    trained = training_module(model, ctx)
    for epoch in range(state.next_epoch, cfg.epochs):
        if state.stopped:
            break
        seed_everything(epoch_seed(cfg.seed, epoch, ctx.device.dist.rank))
        start = time.perf_counter()
        train = train_one_epoch(trained, train_loader, optimizer, scheduler, loss_fn, ctx, epoch)
        valid = validate(model, valid_loader, ctx)[0] if has_valid else {}
        row = {"epoch": epoch, "train_loss": train["train_loss"], "valid_loss": valid.get("valid_loss"),
               "top1": valid.get("top1"), "top3": valid.get("top3"), "lr": current_lr(optimizer),
               "seconds": time.perf_counter() - start,
               "samples_per_s": train["samples"] / max(train["train_seconds"], 1e-9)}
        improved = state.update(epoch, valid.get("top1"), cfg.early_stop)
        log.append(row)
        ckpt.save(state, best=improved)
        _print_epoch(row, state, ctx)
        if on_epoch is not None:
            on_epoch(epoch, valid.get("top1"))
    return _finish(model, valid_loader if has_valid else None, ckpt, state, ctx, log, valid_index)
