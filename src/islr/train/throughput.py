"""Training throughput of the real step: :func:`islr.train.loop.train_one_epoch` timed on real batches.

Used by ``benchmarks/bench_train.py`` and ``benchmarks/gpu_check.py``. One measurement builds the family's model,
loss, optimiser, schedule and device settings exactly as :func:`islr.train.loop.fit` does
(:func:`~islr.train.loop.setup_training`), feeds it batches of the bundled REAL sample (its sequences repeated,
shuffled by the training loader) through the family's device-side pipeline (augmentation + preprocessing), runs
``warmup`` steps (compilation, cuDNN autotuning, allocator growth), then times ``steps`` steps: loader collation,
host→device copy, augmentation, forward, backward, optimiser and scheduler step, as in training.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from islr import paths
from islr.config import Config
from islr.data import SequenceDataset, collate_sequences, load_dataset
from islr.train.loop import BatchHooks, make_loader, setup_training, train_one_epoch, training_module
from islr.train.losses import build_loss
from islr.models import model_inputs
from islr.models.families import FAMILIES
from islr.train.run import build_model

#: Training samples of the reference's runs (docs/method.md §5): the CNN's fold-0 run and a full-data transformer run.
RUN_SAMPLES = {"cnn": ("CNN fold 0", 82_667 * 182), "bert": ("full-data BERT", 94_477 * 70),
               "deberta": ("full-data DeBERTa", 94_477 * 70)}
#: Wall-time goals on one GPU, minutes (CNN fold 0 ≤ 30 min, each full-data transformer ≤ 10 min).
GOAL_MINUTES = {"cnn": 30.0, "bert": 10.0, "deberta": 10.0}


def goal_samples_per_s(family: str) -> float:
    """Samples/s a run of ``family`` needs to meet its goal (CNN: 82,667 × 182 / 1,800 s ≈ 8,359)."""
    return RUN_SAMPLES[family][1] / (GOAL_MINUTES[family] * 60)


def model_name(cfg: Config, family: str) -> str:
    """``effnet_b0`` or e.g. ``bert 256×4`` (hidden × layers)."""
    return cfg.cnn.model if family == "cnn" else f"{family} {cfg.transformer.hidden}×{cfg.transformer.layers}"


def measure(cfg: Config, family: str, batch_size: int, steps: int = 20, warmup: int = 5,
            device: torch.device | str | None = None) -> dict:
    """Samples/s of ``family``'s real training step under ``cfg`` (its training block's speed keys included).

    Args:
        cfg: resolved config (model size, augmentation, ``<family>_train`` speed settings).
        family: "cnn" | "bert" | "deberta".
        batch_size: training batch size.
        steps: timed optimiser steps.
        warmup: untimed steps before (compilation happens here).
        device: default CUDA when available, else CPU.

    Returns:
        A row: family, model, batch, steps, amp, channels_last, compile, samples_per_s, the projected minutes of
        the reference's run (:data:`RUN_SAMPLES`), the goal minutes and whether it is met.

    Raises:
        ValueError: ``steps`` or ``warmup`` below 1, or a config the step rejects.
    """
    if steps < 1 or warmup < 1:
        raise ValueError(f"steps and warmup must be ≥ 1, got steps={steps}, warmup={warmup}")
    spec = FAMILIES[family]
    tcfg = getattr(cfg, spec.train_block)
    prepared, source = load_dataset(cfg.override({"data.data_dir": str(paths.SAMPLE_DIR)}))
    n = batch_size * max(steps, warmup)
    indices = np.resize(np.arange(len(prepared)), n)  # the real sequences, repeated to fill the timed epoch
    dataset = SequenceDataset(prepared, indices, spec.pipeline.points, donors=spec.donors)
    model = build_model(cfg, family)
    loss_fn = build_loss(tcfg, aux_weight=cfg.cnn.hypercolumn_weight if family == "cnn" else 0.0)
    hooks = BatchHooks(spec.pipeline(cfg, train=True, inputs=model_inputs(model)))
    ctx, optimizer, scheduler = setup_training(model, loss_fn, tcfg, warmup + steps, device, hooks, progress=False)
    loader = make_loader(dataset, batch_size, train=True, seed=tcfg.seed, num_workers=tcfg.num_workers,
                         collate_fn=collate_sequences, pin_memory=ctx.device.pin_memory)
    trained = training_module(model, ctx)
    for epoch, n_steps in enumerate((warmup, steps)):
        run = dataclasses.replace(ctx, options=dataclasses.replace(ctx.options, max_steps=n_steps))
        result = train_one_epoch(trained, loader, optimizer, scheduler, loss_fn, run, epoch)  # ends in a sync
    rate = result["samples"] / result["train_seconds"]
    what, samples = RUN_SAMPLES[family]
    dev = ctx.device
    return {"family": family, "model": model_name(cfg, family), "batch": batch_size, "steps": steps,
            "device": str(dev.device), "amp": str(dev.amp_dtype).replace("torch.", "") if dev.amp_dtype else "off",
            "channels_last": dev.channels_last, "compile": dev.compile_mode or "off",
            "samples_per_s": rate, "run": what, "projected_min": samples / rate / 60,
            "goal_min": GOAL_MINUTES[family], "meets_goal": rate >= goal_samples_per_s(family),
            "data": source.label}
