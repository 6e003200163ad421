"""benchmarks/gpu_check.py and bench_train.py: their dry/CPU versions drive the real training step and report."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

from islr.train import throughput
from islr.train.loop import train_one_epoch

REPO_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, REPO_BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    return tmp_path


@pytest.fixture
def step_calls(monkeypatch):
    """Counts calls of the real train_one_epoch made by the throughput measurement."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[5].options.max_steps)  # the StepContext's step cap: warm-up, then timed steps
        return train_one_epoch(*args, **kwargs)

    monkeypatch.setattr(throughput, "train_one_epoch", spy)
    return calls


@pytest.mark.slow
def test_gpu_check_dry_run_structure(outputs, step_calls, capsys):
    result = _script("gpu_check").main(["--dry"])
    assert result["dry"] is True and result["device"] == "cpu"
    rows = result["rows"]
    assert [(r["family"], r["batch"]) for r in rows] == [("cnn", 2), ("cnn", 4), ("bert", 2), ("bert", 4)]
    assert [r["model"] for r in rows] == ["effnet_test"] * 2 + ["bert 32×2"] * 2  # the smoke profile's tiny models
    assert step_calls == [1, 2] * 4  # per case: one warm-up step, two timed steps, through the real loop
    for r in rows:
        assert math.isfinite(r["samples_per_s"]) and r["samples_per_s"] > 0
        samples = 82_667 * 182 if r["family"] == "cnn" else 94_477 * 70
        assert r["projected_min"] == pytest.approx(samples / r["samples_per_s"] / 60)
        assert r["goal_min"] == (30.0 if r["family"] == "cnn" else 10.0)
        assert (r["amp"], r["compile"]) == ("off", "off")  # CPU: every "auto" is off
        assert r["channels_last"] is (r["family"] == "cnn")  # the smoke/default CNN trains channels-last on CPU too
    out = capsys.readouterr().out
    assert out.startswith("DRY RUN (--dry)") and out.count("dry run, no verdict") == 2
    assert "CNN fold 0" in out and "full-data BERT" in out and "≥ 8,359 samples/s" in out
    saved = json.loads((outputs / "benchmarks" / "gpu_check.json").read_text())
    assert saved["notes"].startswith("DRY RUN") and len(saved["rows"]) == 4
    assert saved["data"].startswith("bundled real sample")


@pytest.mark.parametrize("overrides, error", [('{"cnn_train.compile": "fast"}', ValueError),
                                              ('{"cnn_train.no_such_key": 1}', KeyError),
                                              ('{"transformer_train.amp": "fp8"}', ValueError)])
def test_gpu_check_rejects_a_wrong_config_before_measuring(outputs, step_calls, overrides, error):
    with pytest.raises(error):
        _script("gpu_check").main(["--dry", "--overrides", overrides])
    assert step_calls == []


def test_bench_train_drives_the_real_step(outputs, step_calls, capsys):
    row = _script("bench_train").main(["--profile", "smoke", "--family", "bert", "--batch", "2", "--steps", "2",
                                       "--warmup", "1", "--device", "cpu"])
    assert step_calls == [1, 2]
    assert row["model"] == "bert 32×2" and row["batch"] == 2 and row["samples_per_s"] > 0
    assert "samples/s" in capsys.readouterr().out
    saved = json.loads((outputs / "benchmarks" / "train_bert.json").read_text())
    assert saved["rows"][0]["samples_per_s"] == pytest.approx(row["samples_per_s"])


def test_goal_rates():
    assert throughput.goal_samples_per_s("cnn") == pytest.approx(82_667 * 182 / 1800)  # ≈ 8,359: the "≥ 8,400" goal
    assert throughput.goal_samples_per_s("bert") == pytest.approx(94_477 * 70 / 600)
