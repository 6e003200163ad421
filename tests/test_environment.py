"""The environment repair of scripts/fix_cuda_wheels.py holds: the packages import and work together."""
import subprocess
import sys

import torch


def test_torchvision_torchaudio_timm_import_and_mask():
    import timm
    import torchaudio
    import torchvision  # noqa: F401

    x = torch.ones(2, 3, 160, 80)
    torch.manual_seed(0)
    y = torchaudio.transforms.FrequencyMasking(80, iid_masks=True)(x)
    assert y.shape == x.shape and (y == 0).any() and (y == 1).any()
    m = timm.create_model("efficientnet_b0", pretrained=False, num_classes=3)
    assert m(torch.zeros(1, 3, 64, 32)).shape == (1, 3)


def test_fix_script_is_a_no_op_when_healthy():
    out = subprocess.run([sys.executable, "scripts/fix_cuda_wheels.py"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "removed" not in out.stdout and "guarded" not in out.stdout


def test_pip_check_clean():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
