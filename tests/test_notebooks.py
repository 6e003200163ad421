"""The whole notebook chain in smoke mode, exactly as a user runs it (run_all.sh → papermill)."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

REPO = Path(__file__).resolve().parents[1]
FULL_DATA_OVERRIDES = '{"split.full_data_transformers": true}'
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    env = {**os.environ, "ISLR_OUTPUTS": str(out), "ISLR_PYTHON": sys.executable}
    # Full-data transformers on: the chain then also trains bert_all/deberta_all (03) and submits them (05, 06).
    proc = subprocess.run(["./run_all.sh", "--profile", "smoke", "--overrides", FULL_DATA_OVERRIDES], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, f"chain failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    (out / "run_all.log").write_text(proc.stdout + proc.stderr)  # what a user sees with `./run_all.sh > log 2>&1`
    return out


pytestmark = pytest.mark.slow


def test_every_notebook_executed(chain):
    for name in NOTEBOOKS:
        nb = nbformat.read(chain / "notebooks" / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}"
        stderr = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                         if o.get("name") == "stderr")
        assert "IProgress not found" not in stderr, f"{name}: tqdm's widget warning reached the notebook"
        assert nb.metadata["papermill"]["parameters"]["PROFILE"] == "smoke"
        assert nb.metadata["papermill"]["parameters"]["OVERRIDES"] == {"split.full_data_transformers": True}


def test_log_and_notebook_outputs_are_readable(chain):
    """No kernel TCP warning anywhere, and no progress bar piled up into one giant line."""
    log = (chain / "run_all.log").read_text()
    assert "without encryption" not in log and "\r" not in log
    assert max(map(len, log.splitlines())) < 2_000
    for name in NOTEBOOKS:
        nb = nbformat.read(chain / "notebooks" / name, as_version=4)
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            for stream in ("stdout", "stderr"):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == stream)
                assert "without encryption" not in text, f"{name}, code cell {i}"
                # tqdm redraws with "\r" (Jupyter shows the last one), at most once a second (islr.progress).
                longest = max(map(len, text.split("\n")))
                assert longest < 10_000, f"{name}, code cell {i}: a {longest}-character {stream} line"


def test_notebooks_are_thin():
    """Notebooks orchestrate; code lives in src/islr (docs/architecture.md, pattern "Thin notebooks")."""
    for name in NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one parameters cell"
        # papermill must parse every parameter (it silently skips a line it cannot parse, e.g. "=" in a comment)
        parsed = {p.name for p in PythonTranslator.inspect(tagged[0])}
        assert {"PROFILE", "DATA_DIR", "RUN_NAME", "OVERRIDES"} <= parsed, f"{name}: papermill parsed only {parsed}"
        for c in nb.cells:
            if c.cell_type == "code":
                assert not any(line.lstrip().startswith(("def ", "class ")) for line in c.source.splitlines()), name
                assert not c.get("outputs"), f"{name}: commit notebooks without outputs"


def test_eda_figures_and_config(chain):
    figs = {p.stem for p in (chain / "figures" / "00_eda").glob("*.png")}
    assert {"signs_participants", "lengths", "missing_parts", "skeleton_frame", "frame_strip"} <= figs
    cfg = json.loads((chain / "runs" / "smoke" / "config_00_eda.json").read_text())
    assert cfg["profile"] == "smoke"


def test_later_stages_wrote_their_outputs(chain):
    figs = {p.relative_to(chain / "figures").as_posix() for p in (chain / "figures").rglob("*.png")}
    for stage in ("01_preprocessing", "02_train_cnn", "03_train_transformers", "04_distill",
                  "06_ensemble_submission", "07_video_demo"):
        assert any(f.startswith(stage) for f in figs), f"{stage} saved no figure"
    run = chain / "runs" / "smoke"
    for family in ("cnn", "bert", "deberta"):
        # smoke, as default: the participant split alone (split.kind, no split.compare)
        assert (run / f"{family}_participant_f0" / "oof_logits.npy").exists()
        assert not (run / f"{family}_random_f0").exists()
        assert json.loads((run / f"{family}_participant_f0" / "data_source.json").read_text())["kind"] == "embedded"
        assert (run / "export" / f"{family}.tflite").exists() and (run / "export" / f"{family}.onnx").exists()
    for family in ("bert", "deberta"):  # full-data runs: a checkpoint, no validation logits
        assert (run / f"{family}_all" / "best.pt").exists() and not (run / f"{family}_all" / "oof_logits.npy").exists()
    saved = json.loads((run / "config_06_ensemble_submission.json").read_text())
    assert saved["split"]["full_data_transformers"] is True
    with zipfile.ZipFile(chain / "submission" / "submission.zip") as zf:
        assert zf.namelist() == ["model.tflite"]


def test_distill_notebook_kd_sweep(chain, tmp_path):
    """Notebook 04's optional sweep, on the chain's runs: the teacher of notebook 03 is reused, a student per point."""
    import papermill

    env_outputs = os.environ.get("ISLR_OUTPUTS")
    os.environ["ISLR_OUTPUTS"] = str(chain)
    try:
        papermill.execute_notebook(
            str(REPO / "notebooks" / "04_distill.ipynb"), str(tmp_path / "04.ipynb"), cwd=str(REPO / "notebooks"),
            parameters={"PROFILE": "smoke", "OVERRIDES": json.loads(FULL_DATA_OVERRIDES), "KD_SWEEP": True,
                        "KD_TEMPERATURES": [2.0], "KD_WEIGHTS": [0.5]}, progress_bar=False)
    finally:
        os.environ.pop("ISLR_OUTPUTS") if env_outputs is None else os.environ.update(ISLR_OUTPUTS=env_outputs)
    sweep = chain / "runs" / "smoke" / "kd_sweep_bert"
    assert sorted(p.name for p in sweep.iterdir()) == ["student_T2_w0.5", "student_nokd"]  # teacher reused
    assert (chain / "figures" / "04_distill" / "kd_sweep.png").exists()


def test_predict_cli_uses_the_chain_model(chain, sample_files):
    env = {**os.environ, "ISLR_OUTPUTS": str(chain)}
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", str(sample_files[0]), "tests/fixtures/example.pose",
                           "--json"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2 and all(len(r["top"]) == 5 and r["error"] is None for r in rows)


def test_run_all_rejects_bad_options():
    proc = subprocess.run(["./run_all.sh", "--profile", "huge"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "--profile must be" in proc.stderr
    proc = subprocess.run(["./run_all.sh", "--data", "/nonexistent"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "no train.csv" in proc.stderr
    env = {**os.environ, "ISLR_PYTHON": sys.executable}
    proc = subprocess.run(["./run_all.sh", "--overrides", '{"split.no_such_key": 1}'], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no_such_key" in proc.stderr and "bad --overrides" in proc.stderr


# ------------------------------------------------------------------------------------------ --profile full
#: Keeps `--profile full` to minutes on a CPU: the REAL model sizes (effnet_b0, 256-wide 4-layer transformers),
#: a few optimiser steps per epoch, a short real-sample check. Everything else is the full profile as a user gets it.
FULL_PROFILE_OVERRIDES = {
    "cnn_train.epochs": 1, "cnn_train.batch_size": 8, "cnn_train.max_steps_per_epoch": 2,
    "transformer_train.epochs": 1, "transformer_train.batch_size": 8, "transformer_train.max_steps_per_epoch": 2,
    "sample_check.epochs": 1, "sample_check.max_steps_per_epoch": 1, "sample_check.n_folds": 2,
}
FULL_STAGES = [n for n in NOTEBOOKS if n[:2] <= "06"]


@pytest.fixture(scope="module")
def full_chain(tmp_path_factory):
    """``run_all.sh --profile full --data <synthetic asl-signs folder> --to 06``, the route of a Kaggle user."""
    from islr.synth import synthesize

    # One synthetic sequence per sign plus the bundled real sample (its two signs give the participant split classes
    # with at least 8 members, as every sign has in the real set).
    data = synthesize(tmp_path_factory.mktemp("asl-signs"), per_sign=1, seed=5, include_sample=True,
                      show_progress=False, num_workers=2)
    out = tmp_path_factory.mktemp("outputs_full")
    env = {**os.environ, "ISLR_OUTPUTS": str(out), "ISLR_PYTHON": sys.executable}
    proc = subprocess.run(["./run_all.sh", "--profile", "full", "--data", str(data), "--to", "06", "--overrides",
                           json.dumps(FULL_PROFILE_OVERRIDES)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=3600)
    assert proc.returncode == 0, f"full chain failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return out, data


def test_full_profile_chain_runs_the_users_code_path(full_chain):
    out, data = full_chain
    for name in FULL_STAGES:
        nb = nbformat.read(out / "notebooks" / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        assert nb.metadata["papermill"]["parameters"]["PROFILE"] == "full"
    assert not (out / "notebooks" / "07_video_demo.ipynb").exists()  # --to 06
    run = out / "runs" / "full"
    cfg = json.loads((run / "config_06_ensemble_submission.json").read_text())
    # the real sizes and the full profile's own choices, not a CPU profile's
    assert cfg["cnn"]["model"] == "effnet_b0" and cfg["cnn"]["bn_momentum"] == 0.01
    assert (cfg["transformer"]["hidden"], cfg["transformer"]["layers"]) == (256, 4)
    assert cfg["split"]["full_data_transformers"] is True and cfg["data"]["data_dir"] == str(data)
    # model-point prepare (the Kaggle route), never the 543-point one
    prepared = [p.name for p in (out / "data" / "prepared").iterdir()]
    assert any(p.startswith(f"{data.name}_model_") for p in prepared), prepared
    assert not any(p.startswith(f"{data.name}_all_") for p in prepared), prepared
    for family in ("cnn", "bert", "deberta"):  # full compares the split kinds; random (the reference's) ships
        assert (run / f"{family}_random_f0" / "oof_logits.npy").exists()
        assert (run / f"{family}_participant_f0" / "oof_logits.npy").exists()
        assert (run / "export" / f"{family}.tflite").exists()
    for family in ("bert", "deberta"):
        metrics = (run / f"{family}_all" / "metrics.csv").read_text().splitlines()
        assert len(metrics) == 1 + 1  # header + one row per transformer_train.epochs
    # the real-sample check ran with the sample_check block's length: 2 folds × 1 epoch
    for family in ("cnn", "bert"):
        folds = sorted(run.glob(f"sample_{family}_hello_thankyou_f*"))
        assert len(folds) == 2 and all(len((f / "metrics.csv").read_text().splitlines()) == 2 for f in folds)
    with zipfile.ZipFile(out / "submission" / "submission.zip") as zf:
        assert zf.namelist() == ["model.tflite"]
