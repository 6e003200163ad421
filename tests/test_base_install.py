"""The base install (``pip install islr``, no extras): every command that needs an extra names it, without a traceback.

One fresh venv for the module: the wheel built from a copy of the project files (nothing is written into the
checkout), installed non-editable with its base dependencies only, pinned by a constraints file to the versions of
this environment so pip takes them from its cache. Commands run with cwd = a temporary folder, no PYTHONPATH and
``$ISLR_OUTPUTS`` in that folder, so they see the installed islr and no model of the checkout.
"""
import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory, islr_wheel) -> dict:
    """The venv with the base install: its python, a clean environment, a work folder and the build seconds."""
    start = time.perf_counter()
    root = tmp_path_factory.mktemp("base_install")
    wheel = islr_wheel
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    # Every distribution of this environment pinned (only the base dependencies and theirs are requested).
    pins = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                   if d.metadata["Name"] and d.metadata["Name"].lower() != "islr"})
    (root / "constraints.txt").write_text("\n".join(pins) + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("ISLR_")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "-q",
                           "--constraint", str(root / "constraints.txt"), str(wheel)],
                          capture_output=True, text=True, env=env, cwd=root)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    work = root / "work"
    work.mkdir()
    env["ISLR_OUTPUTS"] = str(work / "outputs")
    env["ISLR_CACHE"] = str(work / "cache")  # never a MediaPipe environment of the user's cache
    seconds = time.perf_counter() - start
    print(f"\n[base install] venv built in {seconds:.1f} s")
    return {"python": vpy, "env": env, "work": work, "seconds": seconds, "purelib": venv / "lib"}


def _islr(base: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(base["python"]), "-m", "islr", *map(str, args)], capture_output=True, text=True,
                          env=base["env"], cwd=base["work"], timeout=300)


def test_the_venv_holds_the_installed_base_package_only(base):
    out = subprocess.run([str(base["python"]), "-c",
                          "import importlib.util as u, islr, islr.extras as e; print(islr.__file__); "
                          "print(' '.join(m for m in e.EXTRA_OF if u.find_spec(m)))"],
                         capture_output=True, text=True, env=base["env"], cwd=base["work"])
    assert out.returncode == 0, out.stderr
    module, *present = out.stdout.splitlines()
    assert Path(module).is_relative_to(base["purelib"]), module  # the wheel's islr, not the checkout
    assert present == [""], f"optional packages in the base install: {present}"


SAMPLE = REPO / "src/islr/resources/sample"


@pytest.mark.parametrize(("name", "argv", "extra", "needs"), [
    ("predict onnx", ["predict", "--model", "{onnx}", "some.parquet"], "export",
     "the ONNX backend needs torch, onnxruntime"),
    ("predict .pose", ["predict", REPO / "tests/fixtures/example.pose"], "video",
     "reading .pose files needs pose_format"),
    ("evaluate .pt", ["evaluate", "x.pt", SAMPLE], "train", "a checkpoint (best.pt or a run folder) needs torch"),
    ("evaluate plot", ["evaluate", "model.tflite", SAMPLE], "train", "the plot (--no-plot skips it) needs matplotlib"),
    ("tune --help", ["tune", "--help"], "tune", "needs optuna"),
    ("tune", ["tune", "--model", "cnn", "--trials", "1"], "tune", "needs optuna"),
    ("live video", ["live", "--video", REPO / "data/videos/soup.mp4"], "video", "needs cv2"),
    ("live camera", ["live", "--camera", "0"], "video", "needs cv2"),
])
def test_a_command_that_needs_an_extra_names_it(base, name, argv, extra, needs):
    onnx = base["work"] / "onnx"
    onnx.mkdir(exist_ok=True)
    (onnx / "model.onnx").write_bytes(b"dummy")
    out = _islr(base, *[str(a).format(onnx=onnx) for a in argv])
    assert out.returncode == 2, f"{name}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(f"islr {argv[0]}: ") and out.stderr.count("\n") == 1, out.stderr
    assert needs in out.stderr and f'(the "{extra}" extra): pip install "islr[{extra}]"' in out.stderr, out.stderr


def test_commands_that_need_no_extra_work(base):
    assert _islr(base, "--help").returncode == 0
    synth = _islr(base, "synth", "--out", base["work"] / "synth", "--per-sign", "1", "--seed", "0", "--signs", "TV",
                  "after", "--workers", "1", "--quiet")
    assert synth.returncode == 0, synth.stdout + synth.stderr
    prep = _islr(base, "prepare", "--data", base["work"] / "synth", "--out", base["work"] / "prepared",
                 "--workers", "1", "--quiet")
    assert prep.returncode == 0, prep.stdout + prep.stderr
    report = _islr(base, "report", "--outputs", REPO / "docs/results", "--out", base["work"] / "report.md")
    assert report.returncode == 0, report.stdout + report.stderr

