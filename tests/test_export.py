"""Export: TF preprocessing, Keras ports, weight transfer, TFLite, ONNX — all against the torch code on real files."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from islr.export import checks, reference_style
from islr.export._tf import filtered_stderr, tf
from islr.export.keras_models import build_keras_effnet, feature_map_sizes
from islr.export.tflite import PRECISIONS, SUBMISSION_PRECISION, build_tflite, convert, interpreter, run_tflite, \
    signature_runner
from islr.export.transfer import WeightTransferError, to_keras, transfer_weights
from islr.models import create_model, model_inputs

TEST_MODELS = ["effnet_test", "bert_test", "deberta_test"]
TOL = checks.PARITY_TOL


@pytest.fixture(scope="module")
def sequences():
    return checks.parity_sequences()


@pytest.fixture(scope="module")
def models():
    out = {}
    for seed, name in enumerate(TEST_MODELS):
        torch.manual_seed(seed)
        out[name] = checks.randomize_for_parity(create_model(name), seed=seed)
    return out


@pytest.fixture(scope="module")
def tflite_models(models):
    return {name: build_tflite(model) for name, model in models.items()}


def test_parity_sequences_hold_the_edge_cases(sequences, sample_files):
    assert len(sequences) == len(sample_files) + 3 == 83
    assert len(sequences["one_frame"]) == 1
    assert np.isnan(sequences["all_nan"]).all()
    assert len(sequences["long"]) > 160  # exercises the 160-frame downsample and the 96-frame subsample


def test_tf_preprocessing_equals_torch_on_every_sample_file(sequences):
    table = checks.preprocess_parity(sequences)
    assert table["transformer_frames_match"].all()
    assert table["cnn_max_abs"].max() <= 1e-5
    assert table["transformer_max_abs"].max() <= 1e-5


def test_keras_effnet_b0_feature_maps_follow_timm_padding():
    sizes = dict(feature_map_sizes(build_keras_effnet(create_model("effnet_b0", hypercolumn_blocks=0))))
    assert sizes["backbone.bn1"] == (80, 40)
    assert sizes["backbone.blocks.1.1"] == (40, 20)
    assert sizes["backbone.blocks.2.1"] == (20, 10)
    assert sizes["backbone.blocks.4.2"] == (10, 5)
    assert sizes["backbone.blocks.6.0"] == (5, 3)  # timm's symmetric k//2, not the reference's 5×2
    assert sizes["backbone.bn2"] == (5, 3)


def test_shift_add_and_stock_depthwise_agree_with_torch(models):
    model = models["effnet_test"]
    x = torch.randn(1, 3, 160, 80)
    with torch.no_grad():
        ref = model(x).numpy()
    nhwc = x.permute(0, 2, 3, 1).numpy()
    for mode in ("shift_add", "keras"):
        out = np.asarray(to_keras(model, mode)(nhwc))
        assert np.abs(out - ref).max() <= TOL, mode


@pytest.mark.parametrize("name", TEST_MODELS)
def test_torch_keras_tflite_onnx_parity_on_real_files(name, models, tflite_models, sequences, tmp_path):
    table = checks.parity({name: models[name]}, sequences, tflite_models[name], onnx_dir=tmp_path)
    assert table["max_abs_logit"].min() > 1.0  # logits large enough for 1e-4 to mean something
    for backend in ("keras", "tflite", "onnx"):
        assert table[backend].max() <= TOL, (backend, table[backend].idxmax(), table[backend].max())


ENSEMBLE_WEIGHTS = {"effnet_test": 0.58, "bert_test": 0.42 * 0.85, "deberta_test": 0.42 * 0.15}


@pytest.fixture(scope="module")
def submission(models, tmp_path_factory, outputs_at):
    """notebook 06's build_submission on the test ensemble, written under a temporary outputs folder."""
    from islr.export import stage

    with outputs_at(tmp_path_factory.mktemp("outputs")):
        yield stage.build_submission(models, ENSEMBLE_WEIGHTS)


@pytest.fixture(scope="module")
def ensemble_variants(submission):
    """The test ensemble in every precision (bytes), converted from one frozen graph."""
    return {p: submission[p].read_bytes() for p in PRECISIONS}


def test_submission_zip_holds_the_chosen_precision_and_onnx_agrees(submission, ensemble_variants, sequences):
    import zipfile

    from islr.export.runtime import load_sign_model

    with zipfile.ZipFile(submission["submission"].parent / "submission.zip") as zf:
        assert zf.namelist() == ["model.tflite"]
        assert zf.read("model.tflite") == ensemble_variants[SUBMISSION_PRECISION]
    interp = interpreter(submission["submission"])  # the Kaggle contract holds for the quantised graph too
    assert interp.get_signature_list() == {"serving_default": {"inputs": ["inputs"], "outputs": ["outputs"]}}
    (inp,) = interp.get_signature_runner("serving_default").get_input_details().values()
    assert list(inp["shape_signature"]) == [-1, 543, 3] and inp["dtype"] == np.float32
    assert submission["submission"].stat().st_size <= 40e6
    onnx, fp32 = load_sign_model(submission["onnx"]), load_sign_model(submission["fp32"])
    for name in list(sequences)[:3] + ["all_nan"]:
        assert np.abs(onnx(sequences[name]) - fp32(sequences[name])).max() <= TOL, name


def test_ensemble_tflite_is_the_weighted_sum_of_logits(models, sequences, ensemble_variants):
    subset = {k: sequences[k] for k in list(sequences)[:4] + ["one_frame", "all_nan", "long"]}
    table = checks.parity(models, subset, ensemble_variants["fp32"], ENSEMBLE_WEIGHTS)
    assert table["tflite"].max() <= TOL
    assert table["keras"].max() <= TOL


def test_quantised_variants_stay_close_to_fp32_on_real_files(ensemble_variants, sequences):
    real = [x for k, x in sequences.items() if "/" in k]
    runners = {p: signature_runner(data) for p, data in ensemble_variants.items()}
    out = {p: np.stack([run_tflite(r, x) for x in real]) for p, r in runners.items()}
    scale = np.abs(out["fp32"]).max()
    assert scale > 1.0
    assert np.abs(out["fp16"] - out["fp32"]).max() <= 1e-2 * scale
    int8_error = np.abs(out["dynamic_int8"] - out["fp32"]).max()
    assert 0 < int8_error <= 0.1 * scale  # quantised (not a silent fp32 copy), and still the same model
    assert (out["dynamic_int8"].argmax(1) == out["fp32"].argmax(1)).mean() >= 0.9
    # Weights stored in int8: at most half the fp32 file (under 0.4 of it with TF 2.21, 0.43 with TF 2.18, whose
    # converter leaves more of these test-size models' small tensors in float); a silent fp32 copy would be ~1.0.
    assert len(ensemble_variants["dynamic_int8"]) < 0.5 * len(ensemble_variants["fp32"])


def test_reference_style_graph_converts_to_its_own_keras_source(models, sequences):
    # The latency baseline must compute what it claims (a graph that lost its weights times just as well).
    members = dict(zip(("cnn", "bert", "deberta"), models.values()))
    module = reference_style.reference_style_module(members)
    runner = signature_runner(convert(module))
    for name in list(sequences)[:3] + ["one_frame", "long"]:
        x = sequences[name]
        expected = module.serve(tf.constant(x))["outputs"].numpy()
        got = run_tflite(runner, x)
        assert np.abs(expected).max() > 1.0
        assert np.abs(got - expected).max() <= TOL * 10, name


def test_onnx_ensemble_equals_the_torch_ensemble(models, sequences, tmp_path):
    from islr.export.onnx import OnnxEnsembleModel, save_onnx_ensemble

    model = OnnxEnsembleModel(save_onnx_ensemble(models, ENSEMBLE_WEIGHTS, tmp_path))
    for name in list(sequences)[:3] + ["one_frame", "all_nan", "long"]:
        x = sequences[name]
        with checks.single_torch_thread():
            ref = sum(w * checks.torch_logits(models[k], x) for k, w in ENSEMBLE_WEIGHTS.items())
        assert np.abs(model(x) - ref).max() <= TOL, name


def test_tensorflow_start_up_noise_is_dropped_and_other_stderr_kept(capfd):
    with filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"a real warning from native code\n")
    err = capfd.readouterr().err
    assert "a real warning from native code" in err and "absl::InitializeLog" not in err


def test_importing_the_export_code_prints_no_tensorflow_banner():
    proc = subprocess.run([sys.executable, "-c", "import islr.export.tflite"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "absl::InitializeLog" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr


def test_tflite_has_the_kaggle_signature(tflite_models):
    interp = interpreter(tflite_models["bert_test"])
    assert interp.get_signature_list() == {"serving_default": {"inputs": ["inputs"], "outputs": ["outputs"]}}
    runner = interp.get_signature_runner("serving_default")
    (inp,) = runner.get_input_details().values()
    (out,) = runner.get_output_details().values()
    assert list(inp["shape_signature"]) == [-1, 543, 3] and inp["dtype"] == np.float32
    assert list(out["shape"]) == [250] and out["dtype"] == np.float32


@pytest.mark.parametrize("name", ["effnet_test", "deberta_test"])
def test_fuzz_inputs_give_finite_logits(name, tflite_models):
    runner = signature_runner(tflite_models[name])
    result = checks.finite_on_fuzz(lambda x: run_tflite(runner, x))
    assert all(result.values()), result


def test_transfer_fails_loudly_on_missing_extra_and_misshaped_keys(models):
    model = models["bert_test"]
    keras_model = to_keras(model)
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "encoder.layer.0.attention.self.key.weight"}
    with pytest.raises(WeightTransferError, match=r"missing torch key encoder\.layer\.0\.attention\.self\.key"):
        transfer_weights(keras_model, missing)
    with pytest.raises(WeightTransferError, match=r"unused torch keys: extra\.weight"):
        transfer_weights(keras_model, {**state, "extra.weight": torch.zeros(3)})
    bad = dict(state)
    bad["fc.weight"] = bad["fc.weight"][:, :-1]
    with pytest.raises(WeightTransferError, match=r"shape mismatch fc\.weight"):
        transfer_weights(keras_model, bad)
    # The CNN's full state_dict transfers: the training-only hypercolumn keys are the only ones dropped.
    cnn = models["effnet_test"]
    ignored = transfer_weights(to_keras(cnn), cnn.state_dict())
    assert any(k.startswith("hypercolumn.") for k in ignored)
    assert all(k.startswith("hypercolumn.") or k.endswith("num_batches_tracked") for k in ignored)


def test_stage_profile_cuts_follow_the_stages_and_end_with_the_whole_model(models, sequences):
    # benchmarks/bench_export_stages.py: the per-stage times are differences of these cuts, so every cut must end
    # where its label says and the last one must be the model itself.
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_export_stages", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_export_stages.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cnn = to_keras(models["effnet_test"])
    cuts = bench.cnn_cuts(cnn)
    stages = {name.split(".")[2] for name, _ in feature_map_sizes(cnn) if name.startswith("backbone.blocks")}
    assert [label.split(" →")[0] for label, _ in cuts[:-1]] == ["stem"] + [f"stage {s}" for s in sorted(stages)]
    assert cuts[-1][1] is cnn
    for label, cut in cuts[:-1]:
        h, w, c = (int(v) for v in label.split("→ ")[1].split("×"))
        assert tuple(cut.output.shape[1:]) == (h, w, c), label
    bert = to_keras(models["bert_test"])
    tr_cuts = bench.transformer_cuts(bert)
    assert len(tr_cuts) == 1 + models["bert_test"].num_layers and tr_cuts[-1][1] is bert
    # The profile converts and times every cut on real inputs; stage times add up to the whole model's time.
    cnn_input = model_inputs(models["effnet_test"])
    images = [checks.tf_preprocess.model_input(tf.constant(x), cnn_input).numpy() for x in list(sequences.values())[:3]]
    table = bench.profile(cuts, tf.TensorSpec([1, 160, 80, 3], tf.float32, name="inputs"), images, rounds=1)
    assert list(table["stage"]) == [label for label, _ in cuts]
    assert np.isclose(table["stage_ms"].sum(), table["cumulative_ms"].iloc[-1])
    assert (table["cumulative_ms"] > 0).all()
