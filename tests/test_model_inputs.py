"""Model input settings travel with the model: a CNN trained on 48-frame images and a BERT trained on ≤ 40 frames
are saved through the normal run path, read back from their checkpoints, and every export (TFLite, ONNX, the
one-graph submission with members of different settings), ``islr evaluate`` and ``islr predict`` feed them as they
were trained — checked on real files of the bundled sample, and shown to fail with a wrong setting."""
import copy
import json

import numpy as np
import pytest
import torch

from islr import runs
from islr.config import get_config
from islr.export import checks
from islr.io import read_landmarks
from islr.models import create_model, model_inputs, model_spec
from islr.preprocess.settings import CNNInput, TransformerInput

N_FRAMES, MAX_LEN = 48, 40  # not the defaults (160, 96)
WEIGHTS = {"cnn": 0.5, "bert": 0.3, "deberta": 0.2}
TOL = checks.PARITY_TOL


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """Run folders of a smoke-sized CNN (n_frames 48) and BERT (max_len 40), and a DeBERTa at the default max_len
    (96), each trained a few steps on the real sample through :func:`islr.train.run.train_fold`."""
    from islr.train.run import train_fold

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    odd = get_config("smoke", {"split.n_folds": 4, "cnn.n_frames": N_FRAMES, "transformer.max_len": MAX_LEN})
    plain = get_config("smoke", {"split.n_folds": 4})
    return {family: train_fold(cfg, prepared, family, out_dir=root / f"{family}_participant_f0", kind="participant",
                               progress=False)[1].out_dir
            for family, cfg in (("cnn", odd), ("bert", odd), ("deberta", plain))}


@pytest.fixture(scope="module")
def models(trained):
    """The trained models rebuilt from their checkpoints alone, made demanding parity subjects: after a few steps
    their logits hardly depend on the input, so :func:`islr.export.checks.randomize_for_parity` draws BatchNorm
    statistics and scales the classifier (weights only: the spec, and with it the input settings, is the file's)."""
    out = {}
    for seed, (family, folder) in enumerate(trained.items()):
        model = checks.randomize_for_parity(runs.load_model(folder), seed=seed)
        assert model_spec(model) == runs.open_checkpoint(folder).spec
        out[family] = model
    return out


@pytest.fixture(scope="module")
def sequences(sample_files):
    """Real sample files of every length class: the shortest, files longer than max_len (40) and than n_frames (48),
    and two real files concatenated (169 frames: longer than every setting, the default 160 and 96 included)."""
    seqs = {f"{p.parent.name}/{p.stem}": read_landmarks(p) for p in sample_files}
    by_length = sorted(seqs, key=lambda k: len(seqs[k]))
    chosen = {k: seqs[k] for k in [*by_length[:2], *by_length[len(by_length) // 2:][::8], *by_length[-5:]]}
    chosen["two_files"] = np.concatenate([seqs[by_length[-1]], seqs[by_length[-2]]])
    lengths = [len(x) for x in chosen.values()]
    assert min(lengths) < MAX_LEN and sum(n > N_FRAMES for n in lengths) >= 4 and max(lengths) > 160
    return chosen


def test_settings_are_read_back_from_the_checkpoint(trained, tmp_path):
    cnn, bert, deberta = (runs.open_checkpoint(trained[f]) for f in ("cnn", "bert", "deberta"))
    assert cnn.inputs == CNNInput(n_frames=N_FRAMES, dominant_hand=True)
    assert bert.inputs == TransformerInput(max_len=MAX_LEN) and deberta.inputs == TransformerInput(max_len=96)
    stored = runs.read_checkpoint(runs.checkpoint_path(trained["cnn"]))["model_spec"]
    assert stored["input"] == {"n_frames": N_FRAMES, "points": 80, "dominant_hand": True}  # in the file itself
    assert model_inputs(cnn.model) == cnn.inputs and cnn.spec == model_spec(cnn.model)

    # A checkpoint written before specs held input settings: its CNN gets those of the run config it stores, and the
    # defaults without one; a transformer its own max_len.
    for family, expected, without_config in (("cnn", CNNInput(n_frames=N_FRAMES), CNNInput()),
                                             ("bert", TransformerInput(max_len=MAX_LEN),
                                              TransformerInput(max_len=MAX_LEN))):
        payload = runs.read_checkpoint(runs.checkpoint_path(trained[family]))
        del payload["model_spec"]["input"]
        torch.save(payload, tmp_path / f"{family}_old.pt")
        assert runs.open_checkpoint(tmp_path / f"{family}_old.pt").inputs == expected
        del payload["config"]
        torch.save(payload, tmp_path / f"{family}_bare.pt")
        assert runs.open_checkpoint(tmp_path / f"{family}_bare.pt").inputs == without_config

    # Settings this islr cannot build are refused by name, not fed the wrong input.
    payload = runs.read_checkpoint(runs.checkpoint_path(trained["cnn"]))
    payload["model_spec"]["input"]["points"] = 86
    torch.save(payload, tmp_path / "cnn_other_points.pt")
    with pytest.raises(runs.CheckpointError, match="cnn_other_points.pt.*points"):
        runs.open_checkpoint(tmp_path / "cnn_other_points.pt")
    with pytest.raises(ValueError, match="exceeds the model's 40 positions"):
        create_model("bert_test", max_len=MAX_LEN, input_config={"max_len": 96})


def test_tf_preprocessing_equals_torch_at_other_settings(sequences):
    table = checks.preprocess_parity(sequences, CNNInput(n_frames=N_FRAMES, dominant_hand=False),
                                     TransformerInput(max_len=MAX_LEN))
    assert table["transformer_frames_match"].all()
    assert table["cnn_max_abs"].max() <= 1e-5 and table["transformer_max_abs"].max() <= 1e-5


def test_training_and_evaluate_use_the_models_settings(trained, models, sequences):
    from islr import evaluate as ev

    oof = np.load(trained["cnn"] / runs.OOF_LOGITS)
    assert oof.shape[1] == 250 and np.isfinite(oof).all()
    for family in ("cnn", "bert"):
        scorer = ev.CheckpointModel(trained[family])  # the training's eval transform, built from the spec
        assert scorer.transform.inputs == runs.open_checkpoint(trained[family]).inputs
        rebuilt = runs.load_model(trained[family])
        for name in ("two_files", next(iter(sequences))):
            with checks.single_torch_thread():
                expected = checks.torch_logits(rebuilt, sequences[name])
            np.testing.assert_allclose(scorer(sequences[name]), expected, atol=1e-5, err_msg=f"{family} {name}")


@pytest.mark.parametrize("family", ["cnn", "bert"])
def test_torch_tflite_onnx_agree_on_real_files_at_the_trained_settings(family, models, sequences, tmp_path):
    from islr.export.tflite import build_tflite

    model = models[family]
    table = checks.parity({family: model}, sequences, build_tflite(model), onnx_dir=tmp_path)
    assert table["max_abs_logit"].min() > 1.0  # logits large enough for 1e-4 to mean something
    for backend in ("keras", "tflite", "onnx"):
        assert table[backend].max() <= TOL, (backend, table[backend].idxmax(), table[backend].max())


@pytest.mark.parametrize("family, wrong", [("cnn", {"n_frames": 160}), ("cnn", {"dominant_hand": False}),
                                           ("bert", {"max_len": 20})])
def test_an_export_with_a_wrong_setting_fails_the_parity_check(family, wrong, models, sequences, tmp_path):
    from islr.export.onnx import OnnxEnsembleModel, save_onnx_ensemble
    from islr.export.tflite import build_tflite

    right = models[family]
    spec = model_spec(right)
    mistaken = create_model(spec["model"], input_config={**spec["input"], **wrong}, **spec["kwargs"])
    mistaken.load_state_dict(right.state_dict())  # the same network, fed as it was not trained
    mistaken.eval()
    table = checks.parity({family: right}, sequences, build_tflite(mistaken))
    assert table["keras"].max() <= TOL  # the reference itself is right
    assert table["tflite"].max() > 10 * TOL, table["tflite"]  # the parity check fails, by far
    # ONNX: the torch preprocessing reads the settings stored next to the files, so a wrong one shows there too.
    onnx = OnnxEnsembleModel(save_onnx_ensemble({family: mistaken}, {family: 1.0}, tmp_path))
    with checks.single_torch_thread():
        worst = max(np.abs(onnx(x) - checks.torch_logits(right, x)).max() for x in sequences.values())
    assert worst > 10 * TOL


@pytest.fixture(scope="module")
def submission(models, tmp_path_factory, outputs_at):
    """notebook 06's build_submission on members of different input settings (CNN 48 frames, BERT 40, DeBERTa 96)."""
    from islr.export import stage

    with outputs_at(tmp_path_factory.mktemp("outputs")):
        yield stage.build_submission(models, WEIGHTS)


def test_submission_of_members_with_different_settings(submission, models, sequences):
    from islr.export.runtime import load_sign_model

    table = checks.parity(models, sequences, submission["fp32"], WEIGHTS)
    assert table["tflite"].max() <= TOL and table["keras"].max() <= TOL, table
    stored = json.loads((submission["onnx"] / "ensemble.json").read_text())
    assert {k: m["input"] for k, m in stored.items()} == {
        "cnn": {"n_frames": N_FRAMES, "points": 80, "dominant_hand": True},
        "bert": {"max_len": MAX_LEN, "features": 972}, "deberta": {"max_len": 96, "features": 972}}
    onnx = load_sign_model(submission["onnx"])
    for name, x in sequences.items():
        with checks.single_torch_thread():
            ref = sum(w * checks.torch_logits(models[k], x) for k, w in WEIGHTS.items())
        assert np.abs(onnx(x) - ref).max() <= TOL, name


def test_predict_gives_the_torch_top1_on_real_files(submission, models, sample_files, tmp_path):
    from islr.io import sign_names
    from islr.predict import load_sign_model, predict_files

    files = list(sample_files[::10])
    names = sign_names()
    expected = []
    for f in files:
        with checks.single_torch_thread():
            ref = sum(w * checks.torch_logits(models[k], read_landmarks(f)) for k, w in WEIGHTS.items())
        expected.append(names[int(np.argmax(ref))])
    for model in (submission["submission"], submission["onnx"]):  # TFLite file, ONNX folder
        preds = predict_files(files, load_sign_model(model), names, k=1)
        assert [p.top[0][0] for p in preds] == expected, model
    # An ONNX folder written before islr stored input settings is fed the defaults it was exported with.
    legacy = tmp_path / "legacy_onnx"
    legacy.mkdir()
    members = json.loads((submission["onnx"] / "ensemble.json").read_text())
    deberta = copy.deepcopy(members["deberta"])  # trained at the defaults (96 frames)
    deberta.pop("input"), deberta.pop("model_spec")
    (legacy / "deberta.onnx").write_bytes((submission["onnx"] / "deberta.onnx").read_bytes())
    (legacy / "ensemble.json").write_text(json.dumps({"deberta": {**deberta, "weight": 1.0}}))
    x = read_landmarks(files[-1])
    with checks.single_torch_thread():
        ref = checks.torch_logits(models["deberta"], x)
    assert np.abs(load_sign_model(legacy)(x) - ref).max() <= TOL
