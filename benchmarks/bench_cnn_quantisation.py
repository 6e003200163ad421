"""Does integer quantisation make the CNN branch faster? fp32 vs dynamic-range int8 vs full int8 (docs/method.md §7).

The CNN alone (the Keras port of EfficientNet-B0 on the static (1, n_frames, 80, 3) image, 160 frames unless the
checkpoint's input settings say otherwise) is converted three ways from one frozen graph: fp32; dynamic-range int8
(int8 weights, float activations); full int8 (int8 weights and activations, calibrated on real CNN images of the
bundled sample, float input/output). Each is called through its
signature runner, 1 thread, XNNPACK, interleaved over the real images; the ratio to fp32 is per image.

With ``--checkpoint`` (a trained CNN's ``best.pt``) the rows also give the share of images whose top-1 equals fp32's
and the largest logit difference; with random weights (the default, the full-profile size) only the timing means
something.

    python benchmarks/bench_cnn_quantisation.py [--model effnet_b0] [--checkpoint outputs/runs/.../best.pt]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from islr import paths, runs
from islr.export import checks
from islr.export._tf import tf
from islr.export.runtime import signature_runner
from islr.export.tflite import FULL_INT8, INPUT_NAME, OUTPUT_NAME, convert_concrete
from islr.export.transfer import to_keras
from islr.io import read_landmarks
from islr.models import create_model, model_inputs
from islr.pipeline import eval_input
from islr.report import record_benchmark

VARIANTS = ("fp32", "dynamic_int8", FULL_INT8)


def convert_cnn(keras_model, calibration: list[np.ndarray]) -> dict[str, bytes]:
    """The three TFLite variants of a (1, n_frames, 80, 3) → logits Keras model, from one frozen graph."""
    spec = tf.TensorSpec(tuple(keras_model.inputs[0].shape), tf.float32, name=INPUT_NAME)  # the model's n_frames
    fn = tf.function(lambda x: {OUTPUT_NAME: keras_model(x, training=False)}, input_signature=[spec])
    return convert_concrete(fn.get_concrete_function(), spec, precisions=VARIANTS, representative=calibration)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="effnet_b0", help="registry name (random weights) when no --checkpoint")
    ap.add_argument("--checkpoint", default="", help="a trained CNN's best.pt (its run folder)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.checkpoint:
        model, what = runs.load_model(args.checkpoint), f"trained CNN {args.checkpoint}"
    else:
        model, what = create_model(args.model, hypercolumn_blocks=0).eval(), f"{args.model}, random weights"
    files = checks.sample_files(paths.SAMPLE_DIR)
    # NHWC images built with the model's own input settings (a trained CNN may use another n_frames or no mirror).
    images = [eval_input(model_inputs(model), read_landmarks(f)).permute(0, 2, 3, 1).numpy() for f in files]
    t0 = time.perf_counter()
    variants = convert_cnn(to_keras(model), images[::2])  # calibrate on every other image
    print(f"converted in {time.perf_counter() - t0:.0f} s", flush=True)
    calls = {}
    for name, flat in variants.items():
        runner = signature_runner(flat, 1, True)
        calls[name] = lambda x, r=runner: r(**{INPUT_NAME: x})[OUTPUT_NAME][0]
    logits = {name: np.stack([fn(x) for x in images]) for name, fn in calls.items()}
    times = checks.interleaved_ms(calls, images, rounds=args.rounds)
    rows = []
    for name in VARIANTS:
        row = {"variant": name, "size_mb": len(variants[name]) / 1e6, "median_ms": float(np.median(times[name])),
               "ratio_to_fp32": float(np.median(times[name] / times["fp32"]))}
        if args.checkpoint:
            row |= {"same_top1_as_fp32": float((logits[name].argmax(1) == logits["fp32"].argmax(1)).mean()),
                    "max_abs_logit_diff": float(np.abs(logits[name] - logits["fp32"]).max())}
        rows.append(row)
        print(row, flush=True)
    record_benchmark("cnn_quantisation", rows, data=f"{len(images)} real CNN images of the bundled sample; {what}",
                     notes=f"the CNN branch alone, static {tuple(images[0].shape)}; 1 thread, XNNPACK, interleaved, "
                           "fastest "
                           f"of {args.rounds} rounds per image; full int8 calibrated on every other image, float "
                           "input/output")


if __name__ == "__main__":
    main()
