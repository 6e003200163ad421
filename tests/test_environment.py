"""The environment works as installed: no installed package is edited, torchvision/timm import next to a CPU torch.

islr._compat makes ``import torchvision`` work next to a CPU-only torch without touching torchvision's files (see its
docstring); torchaudio is not needed (islr.augment draws the masks itself).
"""
import base64
import csv
import hashlib
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import torch


def _record_mismatches(dist_name: str) -> list[str]:
    """Files of an installed distribution whose sha256 differs from its RECORD (i.e. edited or deleted files)."""
    dist = metadata.distribution(dist_name)
    bad = []
    for row in csv.reader(dist.read_text("RECORD").splitlines()):
        path, digest = row[0], row[1] if len(row) > 1 else ""
        if not digest.startswith("sha256="):
            continue  # RECORD itself, .pyc files written later
        file = Path(dist.locate_file(path))
        if not file.exists():
            bad.append(f"{path} (missing)")
            continue
        got = base64.urlsafe_b64encode(hashlib.sha256(file.read_bytes()).digest()).rstrip(b"=").decode()
        if got != digest.split("=", 1)[1]:
            bad.append(path)
    return bad


@pytest.mark.parametrize("dist_name", ["torchvision", "timm", "transformers"])
def test_installed_packages_are_unedited(dist_name):
    """No setup step rewrites or deletes files of an installed package (every file matches the wheel's RECORD)."""
    assert _record_mismatches(dist_name) == []


def test_record_check_detects_an_edited_file(tmp_path):
    """The RECORD check above can fail: a copy of a tiny distribution with one byte changed is reported."""
    dist = tmp_path / "site"
    pkg, info = dist / "demo", dist / "demo-1.0.dist-info"
    pkg.mkdir(parents=True)
    info.mkdir()
    (pkg / "__init__.py").write_text("x = 1\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"x = 1\n").digest()).rstrip(b"=").decode()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"demo/__init__.py,sha256={digest},6\ndemo-1.0.dist-info/RECORD,,\n")
    sys.path.insert(0, str(dist))
    try:
        assert _record_mismatches("demo") == []
        (pkg / "__init__.py").write_text("x = 2\n")
        assert _record_mismatches("demo") == ["demo/__init__.py"]
    finally:
        sys.path.remove(str(dist))


def test_timm_and_torchvision_import_and_build_the_backbone():
    import islr._compat  # noqa: F401
    import timm
    import torchvision

    m = timm.create_model("efficientnet_b0", pretrained=False, num_classes=3)
    assert m(torch.zeros(1, 3, 64, 32)).shape == (1, 3)
    # the guard is used exactly when torchvision's compiled ops cannot load (CPU torch + PyPI's CUDA torchvision)
    assert (islr._compat._LIBRARY is not None) == (not torchvision.extension._has_ops())


def _run(code: str, *paths: Path) -> subprocess.CompletedProcess:
    env_path = ":".join([*(str(p) for p in paths), *sys.path[1:]])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": env_path})


def _fake_torchvision(root: Path, body: str) -> Path:
    (root / "torchvision").mkdir(parents=True)
    (root / "torchvision" / "__init__.py").write_text(textwrap.dedent(body))
    return root


def test_guard_defines_the_schemas_only_for_the_missing_op_error(tmp_path):
    # A torchvision whose first import fails like PyPI's CUDA build next to a CPU torch, and works once the op exists.
    fails_once = _fake_torchvision(tmp_path / "a", """
        import torch
        torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "Meta")  # raises if nms is undefined
        ok = True
    """)
    out = _run("""
        import islr._compat as c, torchvision
        print(torchvision.ok, c._LIBRARY is not None)
    """, fails_once)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
    # Any other import error is raised unchanged.
    other = _fake_torchvision(tmp_path / "b", 'raise RuntimeError("some other torchvision failure")\n')
    out = _run("import islr._compat", other)
    assert out.returncode != 0 and "some other torchvision failure" in out.stderr
    # A healthy torchvision is imported once and nothing is defined.
    healthy = _fake_torchvision(tmp_path / "c", "ok = True\n")
    out = _run("import islr._compat as c; print(c._LIBRARY is None)", healthy)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_torchaudio_is_not_needed():
    out = _run("""
        import sys
        class Block:
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "torchaudio":
                    raise ImportError("torchaudio blocked")
        sys.meta_path.insert(0, Block())
        import torch
        from islr import augment
        from islr.config import CNNAugConfig
        img = torch.randn(4, 3, 160, 80) + 10
        out = augment.mask_image(img, torch.Generator().manual_seed(0), CNNAugConfig(masking_prob=1.0))
        print(bool((out == 0).any()))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_pip_check_clean():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
