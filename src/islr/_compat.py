"""Make ``import torchvision`` work next to a CPU-only torch; import this before timm and transformers (both import it).

Why: timm imports torchvision at import time (``timm.layers.create_norm`` takes ``FrozenBatchNorm2d`` from
``torchvision.ops.misc``), and islr needs timm for the EfficientNet; transformers imports it too when installed.
PyPI serves torchvision for Linux only as CUDA builds, whose compiled ops (``torchvision/_C.so``) link
``libtorch_cuda.so`` and ``libc10_cuda.so``. Next to a CPU-only torch
(this project's machines install the local ``torch==2.13.0+cpu`` wheel; a user may install one from PyTorch's CPU
index) that library cannot load, which torchvision tolerates everywhere except in ``_meta_registrations.py``: it
registers fake kernels for ``torchvision::nms`` and ``torchvision::qnms`` without checking that the ops exist, and
``import torchvision`` fails with ``RuntimeError: operator torchvision::nms does not exist`` (pytorch/vision#9085;
still unguarded in torchvision 0.29.1). No CPU build of torchvision can be installed here (only PyPI and the local
mirrors are reachable), so there is no matching build to install instead.

What this module does, only in that exact failure: define the schemas of those two ops (no kernels), so the fake
registrations succeed, and import torchvision again. Nothing is written to any installed package. torchvision's
compiled ops stay unavailable, as they already were (islr calls none; ``torchvision.extension._has_ops()`` is False),
and every other import path is untouched: with a matching torchvision (a CUDA torch, Kaggle, Colab) the first import
succeeds and nothing else happens. ``tests/test_environment.py`` covers both paths.
"""

from __future__ import annotations

import sys

_MISSING_OP = "torchvision::nms does not exist"
#: Schemas of the two ops that torchvision 0.2x registers fake kernels for unconditionally (from its C++ library).
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
#: The torch.library fragment that holds the schemas; kept alive for the process (a freed Library drops its ops).
_LIBRARY = None


def ensure_torchvision() -> bool:
    """Import torchvision, defining its two fake-registered op schemas first if its compiled ops cannot load.

    Returns:
        True if the schemas had to be defined (CPU-only torch next to a CUDA torchvision), False otherwise.

    Raises:
        RuntimeError: any other failure of ``import torchvision`` (re-raised unchanged).
    """
    global _LIBRARY
    try:
        import torchvision  # noqa: F401
        return False
    except RuntimeError as err:
        if _MISSING_OP not in str(err) or _LIBRARY is not None:
            raise
    import torch

    # The failed import leaves its already-executed submodules behind; drop them so the retry runs them again.
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        _LIBRARY.define(schema)
    import torchvision  # noqa: F401, F811

    return True


ensure_torchvision()
