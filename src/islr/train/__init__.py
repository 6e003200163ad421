"""Training: one loop (:mod:`.loop`), its device settings and distributed set-up (:mod:`.device`), checkpoints and
resume (:mod:`.checkpoint`), losses (:mod:`.losses`) and optimisers / schedules (:mod:`.optim`).

Names are resolved lazily (PEP 562) so that ``python -m islr tune`` workers and other light entry points do not pay
for importing torch until they train.
"""

import importlib

_EXPORTS = {
    "loop": ["BatchHooks", "FitResult", "StepContext", "StepOptions", "fit", "make_loader", "seed_everything",
             "setup_training", "train_one_epoch", "training_module", "validate"],
    "device": ["DeviceSettings", "setup_distributed"],
    "checkpoint": ["TrainState"],
    "losses": ["DeepSupervisionLoss", "DistillationLoss", "build_loss", "class_weights", "kd_loss",
               "soft_cross_entropy"],
    "optim": ["build_optimizer", "build_scheduler"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"islr.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'islr.train' has no attribute {name!r}")
