"""islr.runs: run-folder names, checkpoints that rebuild their model alone, OOF arrays, the one top-k accuracy."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from islr import runs
from islr.config import get_config
from islr.data import SequenceDataset, collate_sequences
from islr.metrics import topk_accuracy
from islr.models import create_model, model_inputs, model_spec
from islr.models.families import FAMILIES
from islr.models.transformer import truncate_layers
from islr.preprocess.settings import CNNInput, TransformerInput
from islr.train import distill
from islr.train.loop import forward, validate
from islr.train.run import train_fold


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """One tiny trained model per family, plus a 3-layer BERT student from the three distillation stages."""
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISLR_OUTPUTS", str(tmp_path_factory.mktemp("outputs")))
        cfg = get_config("smoke", {"split.n_folds": 4, "transformer.layers": 4, "distill.student_layers": 3})
        out = {}
        for family in ("cnn", "bert", "deberta"):
            model, result = train_fold(cfg, prepared, family, kind="random", fold=0, progress=False)
            out[family] = (family, model, result.out_dir)
        stages = distill.distill(cfg, prepared, "bert", kind="random", fold=0, progress=False)  # teacher: bert above
        out["bert_student_3l"] = ("bert", *stages["student_small"])
        yield cfg, out


def _real_input(cfg, prepared, family: str, n: int = 6) -> dict | torch.Tensor:
    """The eval-mode model input of ``n`` real sample sequences, as the training loop builds it."""
    spec = FAMILIES[family]
    batch = collate_sequences([SequenceDataset(prepared, np.arange(n), spec.pipeline.points)[i] for i in range(n)])
    return spec.pipeline(cfg, train=False)(batch)["x"]


@pytest.mark.parametrize("name", ["cnn", "bert", "deberta", "bert_student_3l"])
def test_every_family_rebuilds_from_its_best_checkpoint_alone(trained, prepared, name):
    cfg, models = trained
    family, model, folder = models[name]
    # Trained channels-last (the smoke CNN): the rebuilt model in the same layout runs the same kernels.
    nhwc = any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())

    def load(which: str = "best") -> torch.nn.Module:
        m = runs.load_model(folder, which)
        return m.to(memory_format=torch.channels_last) if nhwc else m

    rebuilt = load()  # nothing but the file: no config, no family, no layer count
    assert type(rebuilt) is type(model) and not rebuilt.training
    ckpt = runs.open_checkpoint(folder)  # the family and the run config come from the file too
    assert ckpt.family == family and ckpt.config.split.n_folds == 4 and ckpt.spec == model_spec(model)
    x = _real_input(cfg, prepared, family)
    with torch.no_grad():
        expected, got = forward(model.eval(), x), forward(rebuilt, x)
    assert expected.shape == (6, 250)
    assert torch.equal(got, expected)
    if name == "bert_student_3l":
        assert rebuilt.num_layers == 3 and folder.name == "bert_random_f0_kd3l"
        assert runs.read_checkpoint(runs.checkpoint_path(folder))["model_spec"]["kwargs"]["layers"] == 3
    with torch.no_grad():  # last.pt carries the spec too (1 epoch: the same weights as best.pt)
        assert torch.equal(forward(load("last"), x), expected)


def test_checkpoint_without_a_spec_is_a_named_error(tmp_path):
    old = tmp_path / "old_run" / "best.pt"
    old.parent.mkdir()
    torch.save({"model": nn.Linear(3, 2).state_dict(), "epoch": 0}, old)  # as islr wrote it before the spec
    with pytest.raises(runs.CheckpointError, match=str(old)):
        runs.load_model(old.parent)
    runs.save_checkpoint(tmp_path / "plain.pt", nn.Linear(3, 2))  # a model not built by create_model
    with pytest.raises(runs.CheckpointError, match="plain.pt"):
        runs.load_model(tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        runs.load_model(tmp_path / "nowhere")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(runs.CheckpointError, match="junk.pt: not a readable checkpoint"):
        runs.open_checkpoint(tmp_path / "junk.pt")


def test_checkpoint_whose_weights_do_not_fit_its_spec_is_a_named_error(tmp_path):
    model = create_model("bert_test")
    runs.save_checkpoint(tmp_path / "best.pt", model)
    payload = torch.load(tmp_path / "best.pt", weights_only=True)
    payload["model_spec"]["kwargs"]["layers"] = 1
    torch.save(payload, tmp_path / "best.pt")
    with pytest.raises(runs.CheckpointError, match="best.pt"):
        runs.load_model(tmp_path)


def test_model_spec_holds_every_argument_but_the_initial_weights_file():
    spec = model_spec(create_model("effnet_test", hypercolumn_blocks=2))
    assert spec["model"] == "effnet_test" and spec["kwargs"]["hypercolumn_blocks"] == 2
    assert spec["kwargs"]["drop_rate"] == 0.1055  # defaults are recorded, not only the overrides
    assert "pretrained_path" not in spec["kwargs"]
    assert spec["input"] == {"n_frames": 160, "points": 80, "dominant_hand": True}  # the input settings, defaults
    teacher = create_model("deberta", hidden=32, layers=3, heads=2, intermediate=64, max_len=50,
                           input_config={"max_len": 30})
    spec = model_spec(truncate_layers(teacher, 2))
    assert spec["model"] == "deberta" and spec["kwargs"]["layers"] == 2 and spec["kwargs"]["hidden"] == 32
    assert spec["input"] == {"max_len": 30, "features": 972}  # the student is fed as its teacher
    assert model_spec(nn.Linear(2, 2)) is None


def test_folder_names(monkeypatch, tmp_path):
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    cfg = get_config("smoke", {"distill.student_layers": 3}, run_name="r")
    root = tmp_path / "runs" / "r"
    assert runs.run_root(cfg) == root
    assert runs.run_folder(cfg, "cnn", "participant", 2) == root / "cnn_participant_f2"
    assert runs.run_folder(cfg, "bert", "random", -1) == runs.run_folder(cfg, "bert", fold="all") == root / "bert_all"
    assert [runs.distill_folder(cfg, "bert", "random", 0, s).name for s in distill.STAGES] == [
        "bert_random_f0", "bert_random_f0_kd", "bert_random_f0_kd3l"]
    assert runs.kd_sweep_member(runs.kd_sweep_folder(cfg, "bert"), 2.0, 0.5) == (
        root / "kd_sweep_bert" / "student_T2_w0.5")
    assert runs.kd_sweep_member(root, float("nan"), 0.0).name == "student_nokd"
    assert runs.sample_folder(cfg, "cnn", ("hello", "thankyou"), 1).name == "sample_cnn_hello_thankyou_f1"
    full = cfg.override({"split.full_data_transformers": True})
    assert runs.submission_folds(cfg) == {"cnn": 0, "bert": 0, "deberta": 0}
    assert runs.submission_folds(full) == {"cnn": 0, "bert": -1, "deberta": -1}
    assert {f: p.name for f, p in runs.member_folders(full).items()} == {  # split.kind: participant in smoke
        "cnn": "cnn_participant_f0", "bert": "bert_all", "deberta": "deberta_all"}
    assert runs.member_folders(full, "random")["cnn"].name == "cnn_random_f0"


def test_oof_arrays_round_trip_and_name_a_missing_folder(tmp_path):
    logits, index = np.random.default_rng(0).normal(size=(5, 4)), np.array([9, 3, 7, 1, 0])
    runs.save_oof(tmp_path, logits, index)
    back, idx = runs.load_oof(tmp_path)
    assert back.dtype == np.float32 and np.allclose(back, logits, atol=1e-6) and idx.tolist() == index.tolist()
    with pytest.raises(ValueError, match="4 sequence indices for 5 rows"):
        runs.save_oof(tmp_path, logits, index[:4])
    with pytest.raises(FileNotFoundError, match="empty_run"):
        runs.load_oof(tmp_path / "empty_run")


def test_topk_accuracy_by_hand():
    logits = np.array([[1.0, 3.0, 2.0],    # label 2 is second
                       [5.0, 5.0, 0.0],    # label 1 ties class 0, which argmax picks
                       [0.0, 0.0, 0.0],    # constant: only class 0 is "first"
                       [0.0, np.nan, 9.0]])  # a NaN score: never right
    labels = np.array([2, 1, 1, 2])
    assert topk_accuracy(logits, labels, 1) == 0.0
    assert topk_accuracy(logits, labels, 2) == 0.75
    assert topk_accuracy(logits[:3], labels[:3], 3) == 1.0
    assert np.isnan(topk_accuracy(np.zeros((0, 3)), np.zeros(0), 1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 30)), rng.integers(0, 30, 500)
    ranks = np.argsort(-x, axis=1, kind="stable")
    for k in (1, 3, 5):
        assert topk_accuracy(x, y, k) == (ranks[:, :k] == y[:, None]).any(1).mean()


def test_training_loop_scores_with_the_same_topk():
    torch.manual_seed(0)
    model = nn.Linear(6, 7)
    data = [{"x": torch.randn(6), "y": torch.tensor(i % 7)} for i in range(40)]
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    metrics, logits = validate(model, loader)
    y = np.array([i % 7 for i in range(40)])
    assert metrics["top1"] == topk_accuracy(logits, y, 1) and metrics["top3"] == topk_accuracy(logits, y, 3)
    top3 = torch.from_numpy(logits).topk(3, dim=1).indices.numpy()
    assert metrics["top3"] == pytest.approx((top3 == y[:, None]).any(1).mean())


def test_runs_imports_neither_training_nor_export():
    code = ("import sys, islr.runs; print(sorted(m for m in sys.modules "
            "if m.startswith(('islr.train', 'islr.export', 'islr.metrics', 'islr.ensemble'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_data_sources_are_named_from_their_folder(monkeypatch, tmp_path, sample_dir):
    from islr import data, paths

    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    assert data.describe_source(sample_dir).kind == "sample"
    embedded = paths.generated_data_dir() / "embedded_k3_s7_sample"
    source = data.describe_source(embedded)  # what resolve_source generated for synth_per_sign 3, seed 7
    assert source.kind == "embedded" and source.label.startswith("synthetic (3 per sign, seed 7) + bundled real")
    other = tmp_path / "my_signs"
    other.mkdir()
    (other / "train.csv").write_text("path,participant_id,sequence_id,sign\n" + "p.parquet,1,2,hello\n" * 3)
    assert data.describe_source(other).label == "asl-signs-layout folder my_signs (3 sequences)"


def test_a_cnn_trained_without_the_dominant_hand_mirror_carries_that_setting(prepared, tmp_path, monkeypatch):
    """A CNN trained on the reference's unmirrored input records it in its input settings, so trained_models (the
    export's source) hands it on with them and every export feeds it unmirrored (tests/test_model_inputs.py)."""
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    cfg = get_config("smoke", {"split.n_folds": 4, "cnn.dominant_hand": False}, run_name="unmirrored")
    for family in ("cnn", "bert", "deberta"):  # the whole ensemble, as the export reads it
        train_fold(cfg, prepared, family, kind="random", fold=0, progress=False)
    models = runs.trained_models(cfg, "random")
    assert model_inputs(models["cnn"]) == CNNInput(dominant_hand=False)
    assert runs.read_checkpoint(runs.checkpoint_path(runs.run_folder(cfg, "cnn", "random", 0)))[
        "model_spec"]["input"]["dominant_hand"] is False
    assert model_inputs(models["bert"]) == TransformerInput(max_len=cfg.transformer.max_len)
