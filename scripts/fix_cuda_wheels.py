"""Make PyPI's CUDA builds of torchvision/torchaudio importable next to a CPU-only torch. No-op when not needed.

Why: on this project's machines ``torch==2.13.0`` installs a local CPU wheel, but PyPI only serves CUDA builds of
torchvision 0.28 and torchaudio 2.11. Their compiled extensions cannot load against a CPU torch:

* torchvision: ``_meta_registrations.py`` registers fake kernels for ``torchvision::nms``/``qnms`` unconditionally, and
  that raises ``operator torchvision::nms does not exist`` when the extension did not load. We guard exactly those
  two decorators with ``torchvision.extension._has_ops()`` (the check torchvision already uses for its other meta
  registrations). islr needs torchvision only because timm imports it; no torchvision op is called.
* torchaudio: ``import torchaudio`` tries to load ``torchaudio/lib/*.so`` and fails. islr uses only
  ``torchaudio.transforms.FrequencyMasking``/``TimeMasking``, which are pure Python; removing the libraries makes
  torchaudio fall back to its pure-Python paths.

Each repair runs only when (a) torch is a CPU build and (b) the import actually fails, and the script verifies the
result (imports + a masking transform run) and exits non-zero if anything still fails. ``tests/test_environment.py``
checks that the repaired environment holds. On Kaggle/Colab (CUDA torch with matching wheels) nothing is touched.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

GUARD_MARK = "# islr: guarded register_fake"
GUARD_HELPER = f'''
{GUARD_MARK}
def _islr_register_fake_if_ops(name):
    if torchvision.extension._has_ops():
        return torch.library.register_fake(name)
    return lambda fn: fn
'''


def _imports(module: str) -> tuple[bool, str]:
    """Import ``module`` in a fresh interpreter (a failed import leaves state behind in this one)."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    return proc.returncode == 0, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def _site_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(f"[fix_cuda_wheels] {module} is not installed")
    return Path(spec.origin).parent


def fix_torchvision() -> None:
    ok, err = _imports("torchvision")
    if ok:
        return
    if "torchvision::nms" not in err:
        raise SystemExit(f"[fix_cuda_wheels] torchvision fails to import for another reason: {err}")
    path = _site_dir("torchvision") / "_meta_registrations.py"
    text = path.read_text()
    if GUARD_MARK not in text:
        anchor = "import torchvision.extension  # noqa: F401\n"
        if anchor not in text:
            raise SystemExit(f"[fix_cuda_wheels] unexpected layout of {path}; not patching")
        text = text.replace(anchor, anchor + GUARD_HELPER, 1)
        for op in ("nms", "qnms"):
            text = text.replace(f'@torch.library.register_fake("torchvision::{op}")',
                                f'@_islr_register_fake_if_ops("torchvision::{op}")')
        path.write_text(text)
        print(f"[fix_cuda_wheels] guarded the nms/qnms fake registrations in {path}")


def fix_torchaudio() -> None:
    ok, err = _imports("torchaudio")
    if ok:
        return
    lib = _site_dir("torchaudio") / "lib"
    removed = sorted(lib.glob("*.so"))
    if not removed:
        raise SystemExit(f"[fix_cuda_wheels] torchaudio fails to import and has no libraries to remove: {err}")
    for so in removed:
        so.unlink()
    print(f"[fix_cuda_wheels] removed {len(removed)} CUDA-linked libraries from {lib}")


CHECK = """
import torch, torchvision, torchaudio, timm
x = torch.ones(1, 3, 160, 80)
torch.manual_seed(0)
y = torchaudio.transforms.FrequencyMasking(80)(x)
assert y.shape == x.shape and (y == 0).any()
timm.create_model("efficientnet_b0", pretrained=False, num_classes=2)
"""


def main() -> int:
    import torch

    if torch.version.cuda is not None:
        return 0  # a CUDA torch: PyPI's torchvision/torchaudio match it
    fix_torchvision()
    fix_torchaudio()
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
