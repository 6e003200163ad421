"""Training stages end to end on the bundled real sample (smoke-sized models)."""
import json

import numpy as np
import pytest
import torch

from islr.config import get_config
from islr.prepare import load_prepared, prepare
from islr.train import distill
from islr.train.run import held_out_participants, train_fold, tuned_config


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, sample_dir):
    out = tmp_path_factory.mktemp("prep")
    prepare(sample_dir, out, num_workers=1, show_progress=False)
    return load_prepared(out)


@pytest.fixture(autouse=True)
def _outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path / "outputs"))
    torch.set_num_threads(1)


@pytest.mark.parametrize("family", ["cnn", "bert", "deberta"])
def test_train_fold_writes_run_and_oof(prepared, tmp_path, family):
    cfg = get_config("smoke", {"split.n_folds": 4})
    model, result = train_fold(cfg, prepared, family, out_dir=tmp_path / family, kind="participant", progress=False)
    logits, index = np.load(result.out_dir / "oof_logits.npy"), np.load(result.out_dir / "oof_index.npy")
    assert logits.shape == (len(index), 250) and np.isfinite(logits).all()
    train_p = set(prepared.participant_ids[np.setdiff1d(np.arange(len(prepared)), index)])
    assert not train_p & set(prepared.participant_ids[index])  # participant split: nobody in both
    ckpt = torch.load(result.out_dir / "best.pt", weights_only=True)
    assert json.dumps(ckpt["config"]) and ckpt["config"]["run"]["profile"] == "smoke"  # the resolved run config
    assert ckpt["config"]["run"]["split"]["n_folds"] == 4


def test_held_out_participants_scores_every_real_sequence(tmp_path):
    cfg = get_config("smoke")
    df = held_out_participants(cfg, ("hello", "thankyou"), "bert")
    assert len(df) == 22 and set(df.sign) == {"hello", "thankyou"}
    assert set(df.predicted) <= {"hello", "thankyou"}
    assert df.groupby("participant_id").fold.nunique().max() == 1  # each participant held out exactly once


def test_distill_stages_and_student_depth(prepared):
    cfg = get_config("smoke", {"split.n_folds": 4, "transformer.layers": 2, "distill.student_layers": 1})
    stages = distill.distill(cfg, prepared, "bert", kind="random", fold=0, progress=False)
    assert list(stages) == list(distill.STAGES)
    assert [m.num_layers for m, _ in stages.values()] == [2, 2, 1]
    table = distill.compare(stages, prepared.labels)
    assert table.loc["student_small", "parameters"] < table.loc["teacher", "parameters"]
    assert (table["latency_ms_cpu_1thread"] > 0).all()


def test_tuned_config_applies_best_params_file(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"cnn_aug": {"mixup_prob": 0.33}, "cnn_train": {"lookahead_k": 3}}))
    cfg = tuned_config(get_config("smoke"), "cnn", trials=0, best_params=str(path))
    assert cfg.cnn_aug.mixup_prob == 0.33 and cfg.cnn_train.lookahead_k == 3
    assert tuned_config(get_config("smoke"), "cnn") == get_config("smoke")
