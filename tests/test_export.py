"""Export: TF preprocessing, Keras ports, weight transfer, TFLite, ONNX — all against the torch code on real files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from islr.export import checks  # noqa: E402
from islr.export.keras_models import build_keras_effnet, feature_map_sizes  # noqa: E402
from islr.export.tflite import build_ensemble_tflite, build_tflite, interpreter, run_tflite, \
    signature_runner  # noqa: E402
from islr.export.transfer import WeightTransferError, to_keras, transfer_weights  # noqa: E402
from islr.models import create_model  # noqa: E402

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
    assert len(sequences) == len(sample_files) + 3 == 27
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


def test_ensemble_tflite_is_the_weighted_sum_of_logits(models, sequences):
    weights = {"effnet_test": 0.58, "bert_test": 0.42 * 0.85, "deberta_test": 0.42 * 0.15}
    data = build_ensemble_tflite(models, weights)
    subset = {k: sequences[k] for k in list(sequences)[:4] + ["one_frame", "all_nan", "long"]}
    table = checks.parity(models, subset, data, weights)
    assert table["tflite"].max() <= TOL
    assert table["keras"].max() <= TOL


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
