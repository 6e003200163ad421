"""The built wheel installs and runs outside the checkout: `islr synth` and `islr predict` on the bundled real sample.

The wheel is built from a copy of the project files (nothing is written into the checkout) and installed with
``--no-deps`` into a fresh venv whose only other path is this environment's site-packages (one ``.pth`` line), so the
test needs no network and no second copy of torch/TensorFlow. Commands run with cwd = a temporary folder and no
PYTHONPATH, so the islr they import is the installed one (checked).
"""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory, islr_wheel) -> dict:
    """Install the wheel into a fresh venv; returns the venv's python/islr paths and a clean env."""
    root = tmp_path_factory.mktemp("install")
    wheel = islr_wheel
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies: this environment's site-packages, appended after the venv's own (a plain path line: .pth
    # files inside it, such as an editable islr, are not processed).
    (purelib / "_islr_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ISLR_OUTPUTS", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    inst = subprocess.run([str(vpy), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                          capture_output=True, text=True, env=env, cwd=root)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    return {"python": vpy, "islr": venv / "bin" / "islr", "env": env, "purelib": purelib, "root": root}


def _run(installed: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=installed["env"], cwd=cwd,
                          timeout=600)


def test_installed_package_is_the_wheel_with_its_data(installed, tmp_path):
    out = _run(installed, installed["python"], "-c",
               "import islr, islr.paths as p; print(islr.__file__); print(p.SAMPLE_DIR); "
               "print(len(list(p.SAMPLE_DIR.glob('train_landmark_files/*/*.parquet')))); print(p.SIGN_MAP_JSON)",
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    module, sample, n_files, sign_map = out.stdout.split()
    for path in (module, sample, sign_map):
        assert Path(path).is_relative_to(installed["purelib"]), path  # inside the venv, not the checkout
    assert int(n_files) > 0 and Path(sign_map).is_file()


def test_islr_synth_from_the_wheel_writes_the_kaggle_layout(installed, tmp_path):
    out = _run(installed, installed["islr"], "synth", "--out", tmp_path / "synth", "--per-sign", "1",
               "--signs", "TV", "after", "--with-sample", "--workers", "1", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    import pandas as pd

    meta = pd.read_csv(tmp_path / "synth" / "train.csv")
    assert {"path", "participant_id", "sequence_id", "sign"} <= set(meta.columns)
    assert {"TV", "after"} <= set(meta["sign"])
    assert len(meta) > 2  # the bundled real sample came along
    assert all((tmp_path / "synth" / p).is_file() for p in meta["path"])
    assert (tmp_path / "synth" / "sign_to_prediction_index_map.json").is_file()


def test_islr_predict_from_the_wheel_matches_the_checkout(installed, tmp_path, sample_files):
    from islr.export.tflite import build_tflite, save_tflite
    from islr.models import create_model
    from islr.io import sign_names
    from islr.predict import TFLiteSignModel, predict_files

    torch.manual_seed(0)  # a real (tiny, random-weight) model through the project's own export: preprocessing + BERT
    model = save_tflite(build_tflite(create_model("bert_test").eval()), tmp_path / "model.tflite")
    files = sample_files[:2]
    out = _run(installed, installed["islr"], "predict", *files, "--json", "--model", model, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    want = predict_files(files, TFLiteSignModel(model), sign_names())
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for row, pred in zip(rows, want):
        assert row["error"] is None and row["frames"] == pred.frames > 0
        assert [t["sign"] for t in row["top"]] == [s for s, _ in pred.top]
        assert [t["p"] for t in row["top"]] == pytest.approx([v for _, v in pred.top], abs=1e-6)
