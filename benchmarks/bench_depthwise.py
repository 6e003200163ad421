"""Depthwise 3×3 conv implementations under LiteRT (docs/method.md §7 "Custom depthwise conv" table).

The write-up timed one layer on an 82×42×32 input (80×40 output after the 1-pixel zero padding): its
shift-multiply-add
rewrite 1.24 ms, a full Conv2D 2.09 ms, DepthwiseConv2D 3.70 ms, grouped Conv2D 5.05 ms (Kaggle CPU, tflite-runtime
2.11). We time the same four layers, each converted alone to TFLite, with XNNPACK on and off
(``BUILTIN_WITHOUT_DEFAULT_DELEGATES``), 1 thread, both as a bare ``invoke()`` and in the Kaggle harness pattern
(signature runner called with the input). The full Conv2D is a dense 32→32 conv: different maths, listed only
because the write-up lists it.

Run: ``python benchmarks/bench_depthwise.py [--repeats 300]``. Records ``outputs/benchmarks/depthwise.json``
(:func:`islr.report.record_benchmark`).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from islr.export._tf import keras
from islr.export.checks import time_calls
from islr.export.keras_models import ShiftAddDepthwiseConv2D
from islr.export.tflite import interpreter, keras_to_tflite, run_tflite, signature_runner
from islr.report import record_benchmark

SHAPE = (82, 42, 32)


def layer_models(seed: int = 0) -> dict[str, keras.Model]:
    """The four (1, 82, 42, 32) → (1, 80, 40, 32) one-layer models, with random weights."""
    keras.utils.set_random_seed(seed)
    variants = {
        "custom shift-add": ShiftAddDepthwiseConv2D((3, 3), 1, use_bias=True),
        "full Conv2D": keras.layers.Conv2D(SHAPE[-1], 3, padding="valid"),
        "DepthwiseConv2D": keras.layers.DepthwiseConv2D(3, padding="valid"),
        "grouped Conv2D": keras.layers.Conv2D(SHAPE[-1], 3, padding="valid", groups=SHAPE[-1]),
    }
    out = {}
    for name, layer in variants.items():
        inputs = keras.Input(SHAPE, batch_size=1)
        model = keras.Model(inputs, layer(inputs))
        for w in model.weights:  # the shift-add layer initialises to zeros: give every variant random weights
            w.assign(np.random.default_rng(seed).normal(size=w.shape).astype(np.float32))
        out[name] = model
    return out


def time_invoke(data: bytes, x: np.ndarray, xnnpack: bool, repeats: int) -> float:
    """Median ms of ``set_tensor`` + ``invoke`` (shapes fixed, tensors allocated once)."""
    interp = interpreter(data, num_threads=1, xnnpack=xnnpack)
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]

    def call(inp: np.ndarray) -> None:
        interp.set_tensor(index, inp)
        interp.invoke()

    return time_calls(call, [x] * repeats, warmup=10)["median_ms"]


def time_harness(data: bytes, x: np.ndarray, xnnpack: bool, repeats: int) -> float:
    """Median ms of ``runner(inputs=x)`` on a signature runner without explicit ``allocate_tensors``."""
    runner = signature_runner(data, num_threads=1, xnnpack=xnnpack)
    return time_calls(lambda inp: run_tflite(runner, inp), [x] * repeats, warmup=10)["median_ms"]


def run(repeats: int = 300) -> pd.DataFrame:
    """Table: variant × (XNNPACK on/off) × (invoke / harness) median ms, plus the write-up's numbers."""
    x = np.random.default_rng(1).normal(size=(1, *SHAPE)).astype(np.float32)
    reference_ms = {"custom shift-add": 1.24, "full Conv2D": 2.09, "DepthwiseConv2D": 3.70, "grouped Conv2D": 5.05}
    rows = {}
    for name, model in layer_models().items():
        try:
            data = keras_to_tflite(model)
        except Exception as err:  # a variant the converter rejects is a result, not a crash  # noqa: BLE001
            rows[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:80]}"}
            continue
        rows[name] = {
            "xnnpack_invoke_ms": time_invoke(data, x, True, repeats),
            "xnnpack_harness_ms": time_harness(data, x, True, repeats),
            "builtin_invoke_ms": time_invoke(data, x, False, repeats),
            "builtin_harness_ms": time_harness(data, x, False, repeats),
            "writeup_ms": reference_ms[name],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    table = run(args.repeats)
    print(table.to_string(float_format="{:.3f}".format))
    timed = table.dropna(subset=["xnnpack_harness_ms"]) if "xnnpack_harness_ms" in table else table
    candidates = timed.loc[[k for k in ("custom shift-add", "DepthwiseConv2D") if k in timed.index]]
    if len(candidates):
        print(f"fastest depthwise (XNNPACK, harness): {candidates['xnnpack_harness_ms'].idxmin()}")
    rows = [{"variant": name, **{k: (None if pd.isna(v) else (round(v, 4) if isinstance(v, float) else v))
                                  for k, v in row.items()}} for name, row in table.iterrows()]
    record_benchmark("depthwise", rows, data=f"random (1, {SHAPE[0]}, {SHAPE[1]}, {SHAPE[2]}) input, random weights",
                     notes=f"median ms of {args.repeats} calls, 1 thread, each layer converted alone to TFLite; "
                           "writeup_ms: the reference write-up's numbers (Kaggle CPU, tflite-runtime 2.11)")


if __name__ == "__main__":
    main()
