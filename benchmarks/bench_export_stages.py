"""Where the submission's model time goes, stage by stage: cumulative cuts of the TFLite graphs (docs/method.md §7).

LiteRT's Python interpreter has no per-op profiler, so this measures the same thing by subtraction. Each model
(full-profile sizes, random weights: timing does not depend on the weights) is cut after each stage, every cut is
converted like the submission (fp32, XNNPACK, 1 thread) and called on the same real inputs, interleaved; a stage's
time is the median time of its cut minus that of the previous cut.

* EfficientNet-B0 (stock depthwise) on the static (1, 160, 80, 3) image: the stem, each of the 7 block stages (with
  their feature map sizes) and the head (1×1 conv to 1280, pooling, classifier); with ``--shift-add`` also the
  write-up's shift-and-add depthwise version, which the reference-style baseline uses.
* BERT and DeBERTa on precomputed (1, T, 972) features of the real sequences (a new T on most calls, as in the
  harness): the input projection with the embeddings, then each encoder layer (the last one computes only the CLS
  row) with the classifier.

Interleaving (every cut in turn per input) means each call finds the caches holding another graph's weights. A last
check measures what that costs: the whole CNN called back to back on its own against the CNN right after a BERT call.

Run: ``python benchmarks/bench_export_stages.py [--rounds 3] [--shift-add]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from islr.export import checks, tf_preprocess
from islr.export._tf import keras, tf
from islr.export.runtime import signature_runner
from islr.export.tflite import INPUT_NAME, convert_concrete
from islr.export.transfer import to_keras
from islr.io import read_landmarks
from islr.models import create_model
from islr.preprocess.settings import CNNInput, TransformerInput
from islr.report import record_benchmark

DEFAULT_REAL_DIR = checks.shared_real_sample(Path(__file__))


def _tflite(model: keras.Model, spec: tf.TensorSpec) -> bytes:
    fn = tf.function(lambda x: {"outputs": model(x, training=False)}, input_signature=[spec])
    return convert_concrete(fn.get_concrete_function(), spec, precisions=("fp32",))["fp32"]


def cnn_cuts(keras_cnn: keras.Model) -> list[tuple[str, keras.Model]]:
    """(stage label, model from the input to the end of that stage), in forward order, ending with the whole CNN."""
    ends: dict[str, keras.layers.Layer] = {"stem": keras_cnn.get_layer("backbone.bn1")}
    for layer in keras_cnn.layers:  # the last layer of each stage is that stage's output
        parts = layer.name.split(".")
        if parts[:2] == ["backbone", "blocks"]:
            ends[f"stage {parts[2]}"] = layer
    cuts = []
    for label, layer in ends.items():
        shape = tuple(int(d) for d in layer.output.shape[1:])
        cuts.append((f"{label} → {shape[0]}×{shape[1]}×{shape[2]}", keras.Model(keras_cnn.input, layer.output)))
    cuts.append(("head (conv 1280, pool, classifier)", keras_cnn))
    return cuts


def transformer_cuts(keras_tr: keras.Model) -> list[tuple[str, keras.Model]]:
    """(stage label, model from the features to the end of that stage): embeddings, each layer (the last with
    the classifier)."""
    cuts = [("projection + embeddings", keras.Model(keras_tr.input, keras_tr.get_layer("embeddings.LayerNorm").output))]
    names = sorted({int(l.name.split(".")[2]) for l in keras_tr.layers if l.name.startswith("encoder.layer.")})
    for i in names[:-1]:
        out = keras_tr.get_layer(f"encoder.layer.{i}.output.LayerNorm").output
        cuts.append((f"layer {i}", keras.Model(keras_tr.input, out)))
    cuts.append((f"layer {names[-1]} (CLS row only) + classifier", keras_tr))
    return cuts


def cache_check(cnn: keras.Model, bert: keras.Model, images: list[np.ndarray], feats: list[np.ndarray],
                rounds: int) -> pd.DataFrame:
    """Median ms of the whole CNN called back to back vs right after a BERT call (another graph's weights)."""
    cnn_run = signature_runner(_tflite(cnn, tf.TensorSpec([1, 160, 80, 3], tf.float32, name=INPUT_NAME)), 1)
    bert_run = signature_runner(_tflite(bert, tf.TensorSpec([1, None, 972], tf.float32, name=INPUT_NAME)), 1)
    alone = checks.interleaved_ms({"cnn": lambda i: cnn_run(**{INPUT_NAME: images[i]})}, range(len(images)),
                                  rounds=rounds)["cnn"]
    mixed = checks.interleaved_ms({"bert": lambda i: bert_run(**{INPUT_NAME: feats[i]}),
                                   "cnn": lambda i: cnn_run(**{INPUT_NAME: images[i]})}, range(len(images)),
                                  rounds=rounds)["cnn"]
    return pd.DataFrame({"model": "effnet_b0 (stock depthwise)", "stage": ["whole CNN, back to back",
                                                                          "whole CNN, right after a BERT call"],
                         "cumulative_ms": [float(np.median(alone)), float(np.median(mixed))]})


def profile(model_cuts: list[tuple[str, keras.Model]], spec: tf.TensorSpec, inputs: list[np.ndarray],
            rounds: int) -> pd.DataFrame:
    """Median ms of every cut (interleaved) and the per-stage difference."""
    fns = {}
    for label, cut in model_cuts:
        runner = signature_runner(_tflite(cut, spec), num_threads=1)
        fns[label] = lambda x, r=runner: r(**{INPUT_NAME: x})
    times = checks.interleaved_ms(fns, inputs, rounds=rounds)
    cumulative = np.array([np.median(times[label]) for label, _ in model_cuts])
    stage = np.diff(cumulative, prepend=0.0)
    return pd.DataFrame({"stage": [label for label, _ in model_cuts], "cumulative_ms": cumulative,
                         "stage_ms": stage, "share": stage / cumulative[-1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL_DIR)
    parser.add_argument("--shift-add", action="store_true", help="also profile the shift-and-add depthwise CNN")
    args = parser.parse_args()
    files = checks.sample_files() + (checks.sample_files(args.real_dir) if args.real_dir else [])
    seqs = [read_landmarks(f) for f in files]
    cnn_input, transformer_input = CNNInput(), TransformerInput()  # the default-size models' settings below
    images = [tf_preprocess.model_input(tf.constant(x), cnn_input).numpy() for x in seqs]
    feats = [tf_preprocess.model_input(tf.constant(x), transformer_input).numpy() for x in seqs]
    data = f"{len(seqs)} real asl-signs sequences (median T {np.median([len(s) for s in seqs]):.0f})"
    torch.manual_seed(0)
    image_spec = tf.TensorSpec([1, cnn_input.n_frames, cnn_input.points, 3], tf.float32, name=INPUT_NAME)
    feat_spec = tf.TensorSpec([1, None, 972], tf.float32, name=INPUT_NAME)
    cnn = create_model("effnet_b0", hypercolumn_blocks=0).eval()
    keras_cnn = to_keras(cnn, "keras")
    runs = [("effnet_b0 (stock depthwise)", cnn_cuts(keras_cnn), image_spec, images)]
    if args.shift_add:
        runs.append(("effnet_b0 (shift-add depthwise)", cnn_cuts(to_keras(cnn, "shift_add")), image_spec, images))
    keras_tr = {family: to_keras(create_model(family).eval()) for family in ("bert", "deberta")}
    for family, model in keras_tr.items():
        runs.append((family, transformer_cuts(model), feat_spec, feats))
    rows = []
    for name, cuts, spec, inputs in runs:
        table = profile(cuts, spec, inputs, args.rounds)
        print(f"\n{name}: median ms, 1 thread, XNNPACK, {data}")
        print(table.to_string(index=False, float_format="{:.3f}".format), flush=True)
        rows += [{"model": name, **r} for r in table.to_dict("records")]
    caches = cache_check(keras_cnn, keras_tr["bert"], images, feats, args.rounds)
    print("\ncaches: median ms of the whole CNN")
    print(caches.to_string(index=False, float_format="{:.3f}".format), flush=True)
    rows += caches.to_dict("records")
    record_benchmark("export_stages", rows, data=data,
                     notes=f"fp32 TFLite, 1 thread, XNNPACK; stage ms = median of the graph cut after the stage minus "
                           f"the previous cut's, interleaved, fastest of {args.rounds} rounds per input; random "
                           "weights, full-profile sizes")


if __name__ == "__main__":
    main()
