"""Where the training step runs and how fast: device settings, ``torch.compile`` and the distributed set-up.

**Speed settings** (:class:`DeviceSettings`, from ``TrainConfig``'s ``amp``, ``channels_last``, ``compile``,
``compile_backend``, ``optimizer_impl`` and ``pin_memory``; each "auto" = on when training on CUDA, off on the CPU,
which is how the full profile runs; the CPU profiles set them off):

* ``amp`` — bf16 autocast where the GPU supports it (no loss scaling needed), else fp16 autocast with a
  ``GradScaler`` (the reference's choice). "bf16" / "fp16" force one (both also run on the CPU), "off" = float32.
* ``channels_last`` — the model and 4-D inputs (the CNN's image) in NHWC, the layout cuDNN's fast convolutions use.
* ``compile`` — ``torch.compile`` of the training model (mode "default" under "auto"); checkpoints and evaluation
  use the uncompiled module, whose weights it shares.
* ``optimizer_impl`` — fused / foreach optimiser kernels (:func:`islr.train.optim.build_optimizer`).
* ``pin_memory`` — page-locked loader batches; every host→device copy is ``non_blocking``.

**DDP**: launch with ``torchrun``; call :func:`setup_distributed` first (process group from RANK / WORLD_SIZE, gloo
on CPU, nccl on CUDA); :func:`dist_info` tells each process where it sits (:class:`DistInfo`). What the loop does
under DDP is in :mod:`islr.train.loop`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from islr.config import TrainConfig


# ----------------------------------------------------------------------------------------- distributed set-up
@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (a no-op in a single process)."""
        if self.distributed:
            dist.barrier()


def dist_info() -> DistInfo:
    """The current process's rank and world size (0 / 1 without an initialised process group)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def setup_distributed(backend: str | None = None) -> DistInfo:
    """Initialise the process group from torchrun's environment (no-op when WORLD_SIZE is 1 or unset).

    Args:
        backend: "gloo" | "nccl"; default nccl on CUDA, gloo on CPU.

    Returns:
        This process's :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return dist_info()


def cleanup_distributed() -> None:
    """Destroy the process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -------------------------------------------------------------------------------------------- device settings
def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor inside nested dicts / lists / tuples to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


@dataclass(frozen=True)
class DeviceSettings:
    """Where a step runs and how fast: :class:`~islr.config.TrainConfig`'s speed keys resolved for one device.

    Built by :meth:`from_config`; "auto" resolves to the GPU choice on CUDA and to float32 eager on the CPU (module
    docstring, "Speed settings").
    """

    device: torch.device
    #: Autocast dtype (None: float32). fp16 also turns the GradScaler on (:meth:`grad_scaler`).
    amp_dtype: torch.dtype | None = None
    #: NHWC model and 4-D inputs.
    channels_last: bool = False
    #: torch.compile mode of the training model (None: eager).
    compile_mode: str | None = None
    compile_backend: str = "inductor"
    #: Page-locked loader memory (the copies are always ``non_blocking``).
    pin_memory: bool = False
    #: This process's rank in a (possibly single-process) run.
    dist: DistInfo = field(default_factory=DistInfo)

    @classmethod
    def from_config(cls, cfg: TrainConfig, device: torch.device | str | None = None) -> "DeviceSettings":
        """Resolve ``cfg.amp`` / ``channels_last`` / ``compile`` / ``compile_backend`` / ``pin_memory`` for ``device``.

        Args:
            cfg: the family's training block.
            device: default ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.

        Raises:
            ValueError: ``amp="bf16"`` on a CUDA GPU without bf16.
        """
        device = torch.device(device) if device is not None else default_device()
        cuda = device.type == "cuda"
        compile_mode = {"auto": "default" if cuda else None, "off": None}.get(cfg.compile, cfg.compile)
        return cls(device, _amp_dtype(cfg.amp, device), _switch(cfg.channels_last, cuda), compile_mode,
                   cfg.compile_backend, _switch(cfg.pin_memory, cuda), dist_info())

    def describe(self) -> str:
        """One line for a person: the device (the GPU's name on CUDA) and the speed settings in force."""
        where = str(self.device)
        if self.device.type == "cuda":
            where += f" ({torch.cuda.get_device_name(self.device)})"
        amp = "float32" if self.amp_dtype is None else f"{str(self.amp_dtype).removeprefix('torch.')} autocast"
        compiled = "eager" if self.compile_mode is None else f"torch.compile {self.compile_mode}/{self.compile_backend}"
        return f"training on {where}: {amp}, {'channels-last' if self.channels_last else 'NCHW'}, {compiled}"

    def autocast(self):
        """Autocast context (a no-op when ``amp_dtype`` is None)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only under fp16 autocast (bf16 and float32 need no loss scaling)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def to_device(self, batch: Any) -> Any:
        """Copy a batch to the device (non-blocking; from pinned memory when the loader pins)."""
        return to_device(batch, self.device)

    def format_input(self, x: Any) -> Any:
        """NHWC for a 4-D image input under ``channels_last``; anything else unchanged."""
        if self.channels_last and torch.is_tensor(x) and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def place_model(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device (in place), in NHWC under ``channels_last``."""
        model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def compile(self, model: nn.Module) -> nn.Module:
        """``torch.compile(model)`` with the resolved mode/backend, or ``model`` itself when compiling is off."""
        if self.compile_mode is None:
            return model
        return torch.compile(model, **compile_kwargs(self.compile_mode, self.compile_backend))


def compile_kwargs(mode: str, backend: str) -> dict[str, str]:
    """Arguments of ``torch.compile`` for a resolved mode and backend, the same under every supported torch.

    A mode ("reduce-overhead", "max-autotune", …) is an option of the inductor backend. torch ≥ 2.5 drops it for any
    other backend, torch 2.4 hands it on to that backend (``eager() got an unexpected keyword argument 'mode'``), so it
    is passed to inductor alone; "default" is torch's own default and is not passed at all.
    """
    kwargs = {"backend": backend}
    if backend == "inductor" and mode != "default":
        kwargs["mode"] = mode
    return kwargs


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
    if amp == "auto":
        return torch.bfloat16 if bf16_ok else torch.float16
    if amp == "bf16" and not bf16_ok:
        raise ValueError(f"config train.amp = 'bf16' but {torch.cuda.get_device_name(device)} has no bf16; use "
                         "'fp16' (with loss scaling) or 'auto'")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def _switch(value: str, cuda: bool) -> bool:
    return value == "on" or (value == "auto" and cuda)
