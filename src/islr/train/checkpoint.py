"""The state of one run on disk: ``last.pt`` / ``best.pt``, the RNG states, and the config check on resume.

**Resume.** ``last.pt`` (model, optimiser, scheduler, grad scaler, finished epoch, early-stopping state, RNG states,
config) is written atomically after every epoch; :func:`islr.train.loop.fit` resumes from it when present. With the
loop's reseeding at the start of every epoch, a kill mid-epoch therefore loses that epoch only, and a resumed run
ends with the same weights as an uninterrupted one (tested on CPU). There is no mid-epoch checkpoint: resuming
inside an epoch would need the loader to skip batches, and an epoch is minutes even on the full data.
A folder whose ``last.pt`` was written under another config (other data, epochs, model size, …) is not continued:
:class:`RunConfigMismatch` names the differing keys (:func:`config_changes`), instead of silently mixing two runs or
returning a finished run of other settings as if it were this one.

**Selection.** ``best.pt`` holds the weights of the best validation ``top1`` (:meth:`TrainState.update`; the last
epoch without a validation set). Both files are written and read through :mod:`islr.runs`, which owns the run
folder's layout.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from islr import runs
from islr.train.device import DistInfo


@dataclass
class TrainState:
    """Early-stopping and selection state, saved in ``last.pt``."""

    next_epoch: int = 0
    best_top1: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False

    def update(self, epoch: int, top1: float | None, early_stop: int) -> bool:
        """Record a finished epoch; return whether it is the new best (always, without validation)."""
        self.next_epoch = epoch + 1
        if top1 is None:
            self.best_epoch = epoch
            return True
        if self.best_top1 is None or top1 > self.best_top1:
            self.best_top1, self.best_epoch, self.bad_epochs = top1, epoch, 0
            return True
        self.bad_epochs += 1
        self.stopped = early_stop > 0 and self.bad_epochs >= early_stop
        return False


class Checkpointer:
    """Atomic ``last.pt`` / ``best.pt`` of one run, written through :func:`islr.runs.save_checkpoint` (rank 0
    writes, every rank reads).

    ``last.pt``: model, model spec, optimizer, scheduler, scaler, :class:`TrainState`, RNG states, config.
    ``best.pt``: model, model spec, epoch, top1, config. The model spec lets :func:`islr.runs.load_model` rebuild
    the model from either file alone.
    """

    def __init__(self, out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, dist: DistInfo,
                 config: dict):
        self.last, self.best = runs.checkpoint_path(out_dir, "last"), runs.checkpoint_path(out_dir, "best")
        self.model, self.optimizer, self.scheduler, self.scaler = model, optimizer, scheduler, scaler
        self.dist, self.config = dist, config

    def save(self, state: TrainState, best: bool) -> None:
        if self.dist.is_main:
            runs.save_checkpoint(self.last, self.model, optimizer=self.optimizer.state_dict(),
                                 scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
                                 state=asdict(state), rng=_rng_state(), config=self.config)
            if best:
                runs.save_checkpoint(self.best, self.model, epoch=state.best_epoch, top1=state.best_top1,
                                     config=self.config)
        self.dist.barrier()

    def restore(self) -> TrainState:
        """Load ``last.pt`` into model / optimiser / scheduler / scaler if it exists; return the state."""
        if not self.last.exists():
            return TrainState()
        payload = runs.read_checkpoint(self.last)
        changed = config_changes(payload.get("config") or {}, self.config, _default_config_dict(self.config))
        if changed:
            raise RunConfigMismatch(
                f"{self.last.parent} holds a run made with another config ({'; '.join(changed[:6])}"
                f"{'; …' if len(changed) > 6 else ''}); continuing it would mix two runs. Delete that folder, or "
                "train into another one (out_dir / run_name).")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload["scaler"]:
            self.scaler.load_state_dict(payload["scaler"])
        _set_rng_state(payload["rng"])
        return TrainState(**payload["state"])

    def load_best(self) -> None:
        """Put the ``best.pt`` weights into the model (no-op before the first epoch)."""
        if self.best.exists():
            self.model.load_state_dict(runs.read_checkpoint(self.best)["model"])


# -------------------------------------------------------------------------------- config comparison on resume
class RunConfigMismatch(RuntimeError):
    """A run folder's ``last.pt`` was written under another config than the one asked to continue it."""


#: Config keys that may differ between a run and its continuation: they change speed, or which other runs the chain
#: makes (split.compare), not this run's results.
RESUME_IGNORED = ("num_workers", "eval_batch_size", "channels_last", "compile", "compile_backend", "optimizer_impl",
                  "pin_memory", "compare")


def config_changes(saved: dict, current: dict, defaults: dict | None = None) -> list[str]:
    """``"key: saved → current"`` for every config value that differs.

    Keys in :data:`RESUME_IGNORED` and keys the current config no longer has are not compared. A key the saved config
    lacks (a field added by a newer islr) is compared through its default in ``defaults``: a new field's default is
    the behaviour the old run had, so a run folder written before it is continued only if the current value is that
    default.
    """
    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}
        return {prefix[:-1]: node}

    a, b, d = (flat(json.loads(json.dumps(c, default=str))) for c in (saved, current, defaults or {}))
    a.update({k: d[k] for k in b.keys() - a.keys() if k in d})
    return [f"{k}: {a[k]!r} → {b[k]!r}" for k in sorted(a.keys() & b.keys())
            if a[k] != b[k] and k.rsplit(".", 1)[-1] not in RESUME_IGNORED]


def config_dict(cfg: Any, run_config: Any) -> dict:
    """The config stored in both checkpoints: the family's training block and the resolved run config."""
    def plain(obj: Any) -> Any:
        return asdict(obj) if is_dataclass(obj) else obj

    return {"train": plain(cfg), "run": plain(run_config)}


def _default_config_dict(config: dict) -> dict:
    """:func:`config_dict` of default-constructed configs of the same types (the ``defaults`` of
    :func:`config_changes`)."""
    from islr.config import Config, TrainConfig

    return {"train": asdict(TrainConfig()), "run": asdict(Config()) if config.get("run") is not None else None}


# -------------------------------------------------------------------------------------------------- RNG state
def _rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                      "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                      "gauss": float(np_state["gauss"])}}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})
