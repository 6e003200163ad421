"""Training stages end to end on the bundled real sample (smoke-sized models)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from islr import paths, runs
from islr.config import get_config
from islr.metrics import topk_accuracy
from islr.train import distill
from islr.train.run import build_model, held_out_participants, train_fold
from islr.tune import tuned_config


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
    assert runs.load_config(result.out_dir) == cfg
    expected_model = cfg.cnn.model if family == "cnn" else family
    assert ckpt["model_spec"]["model"] == expected_model
    source = runs.data_source(result.out_dir)  # which data it trained on, and how much of it
    assert source["kind"] == "sample" and source["label"].startswith("bundled real sample")
    assert source["valid_sequences"] == len(index) and source["train_sequences"] + len(index) == len(prepared)
    assert source["fingerprint"] == prepared.manifest["fingerprint"]


def test_held_out_participants_scores_every_real_sequence(tmp_path):
    cfg = get_config("smoke")
    signs = ("hello", "thankyou")
    df = held_out_participants(cfg, signs, "bert")
    assert len(df) == 78 and set(df.sign) == set(signs)
    assert df.groupby("participant_id").fold.nunique().max() == 1  # each participant held out exactly once
    # every prediction is the better of the two signs' logits in that fold's saved OOF logits, row by row
    sign_map = json.loads((paths.SAMPLE_DIR / "sign_to_prediction_index_map.json").read_text())
    for fold, part in df.groupby("fold"):
        logits, index = runs.load_oof(runs.sample_folder(cfg, "bert", signs, fold))
        assert len(index) == len(part)
        two = logits[:, [sign_map[s] for s in signs]]
        assert list(part.predicted) == [signs[i] for i in two.argmax(1)]
    assert (df.correct == (df.sign == df.predicted)).all()


def test_distill_stages_and_student_depth(prepared):
    cfg = get_config("smoke", {"split.n_folds": 4, "transformer.layers": 2, "distill.student_layers": 1})
    stages = distill.distill(cfg, prepared, "bert", kind="random", fold=0, progress=False)
    assert list(stages) == list(distill.STAGES)
    assert [m.num_layers for m, _ in stages.values()] == [2, 2, 1]
    assert [f.name for _, f in stages.values()] == ["bert_random_f0", "bert_random_f0_kd", "bert_random_f0_kd1l"]
    table = distill.compare(stages, prepared.labels)
    for name, (model, folder) in stages.items():
        logits, index = runs.load_oof(folder)
        y = prepared.labels[index]
        assert table.loc[name, "top1"] == topk_accuracy(logits, y, 1) and table.loc[name, "n_valid"] == len(y)
        assert table.loc[name, "parameters"] == sum(p.numel() for p in runs.load_model(folder).parameters())
    assert table.loc["student_small", "parameters"] < table.loc["teacher", "parameters"]


def test_tuned_config_applies_best_params_file(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"cnn_aug": {"mixup_prob": 0.33}, "cnn_train": {"lookahead_k": 3}}))
    cfg = tuned_config(get_config("smoke"), "cnn", trials=0, best_params=str(path))
    assert cfg.cnn_aug.mixup_prob == 0.33 and cfg.cnn_train.lookahead_k == 3
    assert tuned_config(get_config("smoke"), "cnn") == get_config("smoke")


@pytest.mark.parametrize("family", ["cnn", "bert"])
def test_initial_weights_depend_on_the_seed_only(family):
    cfg = get_config("smoke")
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = build_model(cfg, family).state_dict()
    torch.rand(5)  # the global RNG has moved on: must not matter
    b = build_model(cfg, family).state_dict()
    c = build_model(cfg, family, seed=cfg.cnn_train.seed + 7).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)
    torch.manual_seed(0)
    build_model(cfg, family)
    assert torch.equal(torch.rand(1), before)  # the global RNG stream is left as it was


def test_full_data_transformers_train_on_everything_and_go_into_the_submission(prepared):
    cfg = get_config("smoke", {"split.n_folds": 4, "split.full_data_transformers": True})
    assert get_config("full").split.full_data_transformers and not get_config("default").split.full_data_transformers
    for family in ("cnn", "bert", "deberta"):
        train_fold(cfg, prepared, family, fold=0, progress=False)
    _, result = train_fold(cfg, prepared, "bert", fold=-1, progress=False)
    assert result.out_dir == runs.run_folder(cfg, "bert", fold=-1) and result.out_dir.name == "bert_all"
    assert (result.out_dir / "best.pt").exists() and not (result.out_dir / "oof_logits.npy").exists()
    with pytest.raises(FileNotFoundError, match="deberta_all"):
        runs.trained_models(cfg)  # DeBERTa's full-data run is missing: named, not silently replaced by fold 0
    train_fold(cfg, prepared, "deberta", fold=-1, progress=False)
    models = runs.trained_models(cfg)
    full_bert = torch.load(result.out_dir / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(v, full_bert[k]) for k, v in models["bert"].state_dict().items())
    members = runs.member_runs(cfg)
    assert cfg.split.kind == "participant"  # smoke: the split the later stages use, by default in every call
    assert members.loc["cnn", "run"].endswith("cnn_participant_f0")
    assert members.loc["bert", "trained_on"] == "all sequences"
    fold0 = runs.trained_models(cfg.override({"split.full_data_transformers": False}))
    assert any(not torch.equal(v, full_bert[k]) for k, v in fold0["bert"].state_dict().items())


def test_kd_sweep_one_teacher_then_a_student_per_grid_point(prepared, tmp_path):
    cfg = get_config("smoke", {"split.n_folds": 4})
    sweep = distill.kd_sweep(cfg, prepared, "bert", temperatures=(1.0, 4.0), weights=(0.5,),
                             out_root=tmp_path / "sweep", progress=False)
    assert list(sweep["run"]) == ["teacher", "no KD", "T=1 w=0.5", "T=4 w=0.5"]
    assert sweep.loc[0, "agree_teacher"] == 1.0 and sweep["n_valid"].nunique() == 1
    folders = [tmp_path / "sweep" / n for n in ("teacher", "student_nokd", "student_T1_w0.5", "student_T4_w0.5")]
    for row, folder in zip(sweep.itertuples(), folders):  # each row is its folder's OOF logits, recomputed here
        logits, index = runs.load_oof(folder)
        y = prepared.labels[index]
        assert row.top1 == topk_accuracy(logits, y, 1) and row.top3 == topk_accuracy(logits, y, 3)
        nll = torch.nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(y))
        assert row.nll == pytest.approx(float(nll), rel=1e-9)
        assert row.seconds == pytest.approx(runs.load_metrics(folder)["seconds"].sum())
    saved = torch.load(tmp_path / "sweep" / "student_T4_w0.5" / "best.pt", weights_only=True)["config"]["run"]
    assert saved["distill"]["temperature"] == 4.0 and saved["distill"]["kd_weight"] == 0.5
    axes = distill.plot_kd_sweep(sweep, "bundled real sample")
    assert "bundled real sample" in axes[0].figure.texts[0].get_text()
    assert len(axes[0].lines) == 3  # one KD weight + teacher + no-KD reference lines
    again = distill.kd_sweep(cfg, prepared, "bert", temperatures=(1.0, 4.0), weights=(0.5,),
                             out_root=tmp_path / "sweep", progress=False)  # every run reused from its folder
    pd.testing.assert_frame_equal(again, sweep)  # incl. seconds: the runs' training time, not the reload time
