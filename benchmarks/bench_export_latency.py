"""Export latency and size: our TFLite graphs vs a reference-style build, TFLite vs ONNX Runtime (METHOD_FACTS §7, §8).

All timings: 1 thread, median milliseconds per sequence over ≥ 100 real sequences (the 86 of
``/work/shared/data/asl_signs_sample`` + the 24 bundled sample files), in the Kaggle harness pattern
(``Interpreter(path).get_signature_runner("serving_default")(inputs=x)``; every call resizes to a new T).
Weights are random (timing does not depend on them).

Rows:

* ``cnn ours``: static-gather preprocessing (exact ``floor(i·T/160)``) + EfficientNet-B0 with the default depthwise.
* ``cnn reference-style``: the reference's graph shape, kept ONLY as this baseline: ``tf.image.resize`` nearest
  (half-pixel, not our training rule) on the dynamic T, and the shift-add depthwise rewrite.
* ``cnn onnxruntime``: torch preprocessing + onnxruntime on the image; ``cnn model-only`` rows time just the
  network on preprocessed images (TFLite vs onnxruntime).
* ``bert dynamic T``: transformer on the real frames only (our graph). ``bert padded-96 (lower bound)``: the same
  graph fed every sequence tiled to 96 frames, i.e. the 97-token cost a padded-to-96 static graph would pay at
  least (without its masking ops).
* ``ensemble``: CNN + BERT + DeBERTa with the reference weights, fp32 and fp16.

Run: ``python benchmarks/bench_export_latency.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

from islr.export import checks, tf_preprocess  # noqa: E402
from islr.export.onnx import export_onnx, run_onnx, session  # noqa: E402
from islr.export.tflite import REFERENCE_WEIGHTS, ServingModule, build_ensemble_tflite, build_tflite, convert, \
    keras_to_tflite, save_tflite, signature_runner  # noqa: E402
from islr.export.transfer import to_keras  # noqa: E402
from islr.io import read_landmarks  # noqa: E402
from islr.landmarks import CNN_POINTS  # noqa: E402
from islr.models import create_model  # noqa: E402
from islr.preprocess.cnn import STD_EPS, cnn_input_single  # noqa: E402

# The real sample beside the repo (if present) and the bundled one (None).
REAL_DIRS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_signs_sample", None)


def real_sequences() -> list[np.ndarray]:
    """All real sequences available: the shared 86-file sample and the 24 bundled files."""
    files = [f for d in REAL_DIRS if d is None or d.exists() for f in checks.sample_files(d)]
    return [read_landmarks(f) for f in files]


def reference_style_cnn_input(x: tf.Tensor) -> tf.Tensor:
    """The reference's CNN preprocessing shape (METHOD_FACTS §7): normalise, NaN → 0, half-pixel nearest resize
    of the dynamic T to 160 with ``tf.image.resize``. Benchmark baseline only (its frame map is not our rule)."""
    points = tf.gather(x, CNN_POINTS, axis=1)  # (T, 80, 3)
    valid = tf_preprocess.valid_values(points)
    mean, std, _ = tf_preprocess.masked_scalar_stats(points, valid)
    image = tf.where(valid, (points - mean) / (std + STD_EPS), tf.zeros_like(points))
    return tf.image.resize(image[None], (160, len(CNN_POINTS)), method="nearest")  # (1, 160, 80, 3)


def reference_style_tflite(cnn: torch.nn.Module) -> bytes:
    module = ServingModule({"cnn": to_keras(cnn, "shift_add")}, {"cnn": "cnn"}, {"cnn": 1.0},
                           preprocessors={"cnn": reference_style_cnn_input})
    return convert(module)


def run(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure; returns (latency table, size table)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    seqs = real_sequences()
    cnn = create_model("effnet_b0", hypercolumn_blocks=0).eval()
    bert = create_model("bert").eval()
    deberta = create_model("deberta").eval()
    files = {
        "cnn ours": save_tflite(build_tflite(cnn), out_dir / "cnn.tflite"),
        "cnn reference-style": save_tflite(reference_style_tflite(cnn), out_dir / "cnn_reference_style.tflite"),
        "bert": save_tflite(build_tflite(bert), out_dir / "bert.tflite"),
        "deberta": save_tflite(build_tflite(deberta), out_dir / "deberta.tflite"),
        "ensemble fp32": save_tflite(build_ensemble_tflite(
            {"cnn": cnn, "bert": bert, "deberta": deberta}, REFERENCE_WEIGHTS), out_dir / "ensemble.tflite"),
        "ensemble fp16": save_tflite(build_ensemble_tflite(
            {"cnn": cnn, "bert": bert, "deberta": deberta}, REFERENCE_WEIGHTS, fp16=True),
            out_dir / "ensemble_fp16.tflite"),
        "cnn model-only": save_tflite(keras_to_tflite(to_keras(cnn)), out_dir / "cnn_model_only.tflite"),
    }
    onnx_path = export_onnx(cnn, out_dir / "cnn.onnx")
    files["cnn onnx"] = onnx_path
    rows = {}
    n = len(seqs)
    for name in ("cnn ours", "cnn reference-style", "bert", "deberta", "ensemble fp32", "ensemble fp16"):
        rows[name if name != "bert" else "bert dynamic T"] = checks.latency(files[name], seqs, threads=1)
    padded = [np.resize(x, (max(96, len(x)), *x.shape[1:])) if len(x) else x for x in seqs]
    rows["bert padded-96 (lower bound)"] = checks.latency(files["bert"], padded, threads=1)
    sess = session(onnx_path, threads=1)
    rows["cnn onnxruntime (torch preprocessing + ORT)"] = checks.time_calls(
        lambda x: run_onnx(sess, cnn_input_single(x)[None]), seqs)
    images = [cnn_input_single(x)[None].numpy() for x in seqs]
    rows["cnn model-only onnxruntime"] = checks.time_calls(lambda im: run_onnx(sess, im), images)
    runner = signature_runner(files["cnn model-only"], num_threads=1)
    rows["cnn model-only tflite"] = checks.time_calls(
        lambda im: runner(inputs=np.ascontiguousarray(im.transpose(0, 2, 3, 1))), images)
    latency = pd.DataFrame.from_dict(rows, orient="index")
    latency.attrs["n_sequences"] = n
    sizes = pd.DataFrame({"MB": {k: checks.size_mb(v) for k, v in files.items()}})
    return latency, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the model files here (default: temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        latency, sizes = run(out_dir)
    print(f"latency, 1 thread, {latency.attrs['n_sequences']} real sequences:")
    print(latency.to_string(float_format="{:.2f}".format))
    print("sizes:")
    print(sizes.to_string(float_format="{:.2f}".format))


if __name__ == "__main__":
    main()
