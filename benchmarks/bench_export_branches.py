"""Where the submission's time goes: each branch of the ensemble graph as its own TFLite model (docs/method.md §7).

Branches (full-profile sizes, random weights): the CNN preprocessing, the transformer preprocessing (computed once
and shared by BERT and DeBERTa), BERT alone on precomputed features (fp32 and dynamic-range int8) and the
EfficientNet-B0 alone on a precomputed image (fp32 and int8). Each is called on the real sequences in two ways,
interleaved: with a new input shape (as the Kaggle harness does for every sequence: the interpreter re-plans) and
again on the same shape right after (no re-plan), which separates compute from the cost of dynamic shapes.

Run: ``python benchmarks/bench_export_branches.py [--rounds 2]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from islr.export import checks, tf_preprocess
from islr.export._tf import tf
from islr.export.runtime import signature_runner
from islr.export.tflite import INPUT_NAME, convert_concrete
from islr.export.transfer import to_keras
from islr.models import create_model
from islr.preprocess.settings import CNNInput, TransformerInput
from islr.report import record_benchmark

#: The input settings of the default-size models timmed here (create_model's defaults).
CNN_INPUT, TRANSFORMER_INPUT = CNNInput(), TransformerInput()

DEFAULT_REAL_DIR = checks.shared_real_sample(Path(__file__))


def _tflite(fn, spec: tf.TensorSpec, precision: str = "fp32") -> bytes:
    return convert_concrete(tf.function(fn, input_signature=[spec]).get_concrete_function(), spec,
                            precisions=(precision,))[precision]


def branches() -> dict[str, tuple[bytes, str]]:
    """name → (TFLite bytes, input kind: raw / features / image)."""
    torch.manual_seed(0)
    bert = to_keras(create_model("bert").eval())
    cnn = to_keras(create_model("effnet_b0", hypercolumn_blocks=0).eval())
    raw = tf.TensorSpec([None, 543, 3], tf.float32, name=INPUT_NAME)
    feats = tf.TensorSpec([1, None, 972], tf.float32, name=INPUT_NAME)
    image = tf.TensorSpec([1, CNN_INPUT.n_frames, CNN_INPUT.points, 3], tf.float32, name=INPUT_NAME)
    out = {
        "cnn preprocessing": (_tflite(
            lambda x: {"outputs": tf.reshape(tf_preprocess.model_input(x, CNN_INPUT), (-1,))[:250]}, raw), "raw"),
        "transformer preprocessing": (_tflite(
            lambda x: {"outputs": tf.reduce_sum(tf_preprocess.model_input(x, TRANSFORMER_INPUT), axis=1)[0, :250]},
            raw), "raw"),
    }
    for p in ("fp32", "dynamic_int8"):
        out[f"bert model {p}"] = (_tflite(lambda x: {"outputs": bert(x, training=False)}, feats, p), "features")
        out[f"effnet_b0 model {p}"] = (_tflite(lambda x: {"outputs": cnn(x, training=False)}, image, p), "image")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL_DIR)
    parser.add_argument("--ensemble", type=Path, nargs="*", default=[],
                        help="whole-ensemble .tflite files to time the same way (e.g. from bench_export_latency --out)")
    args = parser.parse_args()
    files = checks.sample_files() + (checks.sample_files(args.real_dir) if args.real_dir else [])
    from islr.io import read_landmarks

    seqs = [read_landmarks(f) for f in files]
    inputs = {"raw": seqs,
              "features": [tf_preprocess.model_input(tf.constant(x), TRANSFORMER_INPUT).numpy() for x in seqs],
              "image": [tf_preprocess.model_input(tf.constant(x), CNN_INPUT).numpy() for x in seqs]}
    fns = {}
    graphs = {**branches(), **{f"ensemble {p.stem}": (p.read_bytes(), "raw") for p in args.ensemble}}
    for name, (data, kind) in graphs.items():
        runner = signature_runner(data, num_threads=1)
        fns[f"{name} | new shape"] = lambda i, r=runner, k=kind: r(**{INPUT_NAME: inputs[k][i]})
        fns[f"{name} | same shape again"] = fns[f"{name} | new shape"]
    times = checks.interleaved_ms(fns, range(len(seqs)), rounds=args.rounds)
    rows = [{"branch": k.split(" | ")[0], "call": k.split(" | ")[1], "median_ms": float(np.median(t))}
            for k, t in times.items()]
    table = pd.DataFrame(rows).pivot(index="branch", columns="call", values="median_ms")
    print(f"median ms per call, 1 thread, {len(seqs)} real sequences (median T {np.median([len(s) for s in seqs])}):")
    print(table.to_string(float_format="{:.3f}".format))
    record_benchmark("export_branches", rows, data=f"{len(seqs)} real asl-signs sequences",
                     notes="1 thread; 'new shape' = a different T than the previous call (harness pattern)")


if __name__ == "__main__":
    main()
