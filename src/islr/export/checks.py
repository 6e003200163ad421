"""Export checks as code: parity torch ↔ Keras ↔ TFLite ↔ ONNX, fuzz, size, latency.

Used by the export notebook (tables) and by ``tests/test_export.py`` (assertions), so that every export is
checked by code, never by eye (docs/architecture.md, pattern "Every export is checked").

* :func:`parity_sequences`: the real sample files plus the edge cases the harness can send: a 1-frame sequence,
  an all-NaN sequence and a >160-frame sequence made by concatenating real files.
* :func:`preprocess_parity`: TF preprocessing vs torch preprocessing per sequence (max abs difference), at given
  input settings.
* :func:`parity`: logits of torch vs Keras vs TFLite vs ONNX, per sequence, for one model or a weighted ensemble.
  The torch reference is the *training* path with the model's own input settings (:func:`islr.models.model_inputs`:
  ``n_frames``, ``dominant_hand``, ``max_len``): the family pipeline's eval transform
  (:func:`islr.pipeline.eval_input`), the (1, 3, n_frames, 80) image for the CNN and the features of the ≤ max_len
  kept frames with their mask for the transformers. An export built with other settings than the model was trained
  with therefore fails it.
* :func:`finite_on_fuzz`: hostile inputs (0 and 1 frames, all-NaN, ±inf, 1,000 frames, missing hands) → finite
  logits. ±inf is treated as missing inside the TFLite graph (:mod:`islr.export.tf_preprocess`).
* :func:`size_mb`, :func:`latency`: file size and median per-sequence latency in the Kaggle harness call pattern.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from islr import paths
from islr.export import tf_preprocess
from islr.export._tf import tf
from islr.export.onnx import export_onnx, model_input, onnx_model_spec, run_onnx, session
from islr.export.tflite import keras_ensemble, run_tflite, signature_runner
from islr.export.transfer import model_kind
from islr.io import read_landmarks
from islr.models import model_inputs
from islr.pipeline import eval_input
from islr.preprocess.cnn import cnn_input_single
from islr.preprocess.settings import INPUT_TYPES, CNNInput, TransformerInput
from islr.preprocess.transformer import transformer_input_single

#: Logit agreement required between any two backends (float32 end to end).
PARITY_TOL = 1e-4


def sample_files(sample_dir: str | Path | None = None) -> list[Path]:
    """The parquet files of a Kaggle-layout folder (default: the bundled sample), sorted."""
    root = Path(sample_dir) if sample_dir is not None else paths.SAMPLE_DIR
    return sorted(root.glob("train_landmark_files/*/*.parquet"))


def shared_real_sample(start: str | Path) -> Path | None:
    """``shared/data/asl_signs_sample`` in the nearest folder above ``start`` that has one (the development
    machine's 86 extra real sequences beside the checkout), or None. Benchmarks use it when present."""
    for parent in Path(start).resolve().parents:
        candidate = parent / "shared" / "data" / "asl_signs_sample"
        if candidate.is_dir():
            return candidate
    return None


def parity_sequences(sample_dir: str | Path | None = None, long_frames: int = 161) -> dict[str, np.ndarray]:
    """Real sequences keyed by file stem, plus "one_frame", "all_nan" and "long" (≥ ``long_frames`` frames).

    Args:
        sample_dir: Kaggle-layout folder (default: the bundled sample).
        long_frames: Minimum length of the "long" case, made by concatenating the real files (repeated if needed).
    """
    seqs = {f"{p.parent.name}/{p.stem}": read_landmarks(p) for p in sample_files(sample_dir)}
    real = list(seqs.values())
    first = real[0]
    seqs["one_frame"] = first[:1].copy()
    seqs["all_nan"] = np.full((8, first.shape[1], 3), np.nan, dtype=np.float32)
    long, parts = [], 0
    while parts < long_frames:
        for arr in real:
            long.append(arr)
            parts += len(arr)
    seqs["long"] = np.concatenate(long)
    return seqs


def preprocess_parity(sequences: Mapping[str, np.ndarray], cnn: CNNInput = CNNInput(),
                      transformer: TransformerInput = TransformerInput()) -> pd.DataFrame:
    """Max abs difference of TF vs torch preprocessing per sequence (CNN image and transformer features).

    Args:
        sequences: name → raw (T, 543, 3) float32 sequence.
        cnn: the CNN input settings both copies are run with (``n_frames``, ``dominant_hand``).
        transformer: the transformer input settings (``max_len``).

    Returns:
        DataFrame indexed by sequence: frames, cnn_max_abs, transformer_max_abs, transformer_frames_match.
    """
    cnn_fn = tf.function(lambda x: tf_preprocess.model_input(x, cnn), reduce_retracing=True)
    tr_fn = tf.function(lambda x: tf_preprocess.model_input(x, transformer), reduce_retracing=True)
    rows = {}
    for name, x in sequences.items():
        with single_torch_thread():
            image = cnn_input_single(x, cnn.n_frames, cnn.dominant_hand).permute(1, 2, 0).numpy()  # (n_frames, 80, 3)
            feats, mask = transformer_input_single(x, transformer.max_len)
        n = int(mask.sum())
        tf_image = cnn_fn(tf.constant(x)).numpy()[0]
        tf_feats = tr_fn(tf.constant(x)).numpy()[0]
        same_n = tf_feats.shape[0] == n
        rows[name] = dict(frames=len(x), cnn_max_abs=float(np.abs(image - tf_image).max()),
                          transformer_max_abs=float(np.abs(feats.numpy()[:n] - tf_feats).max()) if same_n and n
                          else (0.0 if same_n else np.inf),
                          transformer_frames_match=same_n)
    return pd.DataFrame.from_dict(rows, orient="index")


def torch_logits(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """(C,) logits of one raw (T, 543, 3) sequence through the training path: the eval transform of the model's
    family pipeline with the model's own input settings (:func:`islr.pipeline.eval_input`,
    :func:`islr.models.model_inputs`), then the model (in eval mode)."""
    with torch.no_grad():
        inputs = eval_input(model_inputs(model), x)  # (1, 3, n_frames, 80) | {"x": (1, n, 972), "mask": (1, n)}
        out = model(**inputs) if isinstance(inputs, dict) else model(inputs)
        return out.numpy()[0]


@contextlib.contextmanager
def single_torch_thread():
    """Run torch on one thread inside the block (restored after).

    Batch-1 inference gains nothing from intra-op threads, and on a shared 2-core machine torch's thread pool
    made a tiny EfficientNet call ~150× slower (1 s instead of 7 ms).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    return float(np.abs(a - b).max())


def parity(models: Mapping[str, torch.nn.Module], sequences: Mapping[str, np.ndarray],
           tflite_model: str | Path | bytes | None = None, weights: Mapping[str, float] | None = None,
           onnx_dir: str | Path | None = None, depthwise: str | None = None) -> pd.DataFrame:
    """Logits of torch vs Keras vs TFLite vs ONNX per sequence (max abs difference to torch).

    Every backend is fed as the model's input settings say (:func:`islr.models.model_inputs`): torch through the
    training's eval transform (:func:`torch_logits`), Keras through the TF preprocessing built from the settings,
    ONNX through the torch preprocessing with the settings stored in each exported file (:func:`islr.export.onnx
    .onnx_model_spec`), TFLite through the preprocessing its graph was built with.

    Args:
        models: name → torch model (one model, or the ensemble members).
        sequences: name → raw (T, 543, 3) float32 sequence (e.g. :func:`parity_sequences`).
        tflite_model: The converted model (path or bytes) of the same models and weights; None = skip.
        weights: name → logit weight (None = 1 each).
        onnx_dir: Folder for the ONNX files; None = skip ONNX.
        depthwise: CNN depthwise implementation of the Keras graph (None = default).

    Returns:
        DataFrame indexed by sequence: frames, max_abs_logit (torch), keras, tflite, onnx (max abs difference to
        torch; NaN where skipped, inf where a backend gave a non-finite value).
    """
    models = {k: copy.deepcopy(m).eval() for k, m in models.items()}
    weights = dict(weights) if weights is not None else {k: 1.0 for k in models}
    keras_models, inputs = keras_ensemble(models, depthwise)
    runner = signature_runner(tflite_model) if tflite_model is not None else None
    sessions, onnx_inputs = None, None
    if onnx_dir is not None:
        files = {k: export_onnx(m, Path(onnx_dir) / f"{k}.onnx") for k, m in models.items()}
        sessions = {k: session(f) for k, f in files.items()}
        stored = {k: onnx_model_spec(f) for k, f in files.items()}  # the settings that travel with each file
        onnx_inputs = {k: INPUT_TYPES[s["kind"]].from_dict(s["input"]) for k, s in stored.items()}
    # A CNN input has one static shape (1, n_frames, 80, 3): trace it once. Transformer inputs change length: run
    # eagerly (a traced function would retrace for every length).
    keras_fns = {k: tf.function(m) if inputs[k].kind == "cnn" else m for k, m in keras_models.items()}
    rows = {}
    with single_torch_thread():
        for name, x in sequences.items():
            ref = sum(weights[k] * torch_logits(m, x) for k, m in models.items())
            tf_inputs = {s: tf_preprocess.model_input(tf.constant(x), s) for s in set(inputs.values())}
            keras_out = sum(weights[k] * np.asarray(keras_fns[k](tf_inputs[inputs[k]], training=False))[0]
                            for k in models)
            row = dict(frames=len(x), max_abs_logit=float(np.abs(ref).max()), keras=_max_abs(keras_out, ref),
                       tflite=np.nan, onnx=np.nan)
            if runner is not None:
                row["tflite"] = _max_abs(run_tflite(runner, x), ref)
            if sessions is not None:
                onnx_out = sum(weights[k] * run_onnx(sessions[k], model_input(onnx_inputs[k], x))[0]
                               for k in models)
                row["onnx"] = _max_abs(onnx_out, ref)
            rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def fuzz_inputs(base: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Hostile (T, 543, 3) inputs built from a real sequence ``base``.

    Cases: zero_frames, one_frame, all_nan, pos_inf / neg_inf (values replaced at random), thousand_frames (the base
    tiled to 1,000 frames), no_hands (both hands NaN), huge_values (±1e30: finite, but overflow-prone in squares).
    """
    rng = np.random.default_rng(seed)
    n_points = base.shape[1]
    out = {"zero_frames": np.zeros((0, n_points, 3), np.float32), "one_frame": base[:1].copy(),
           "all_nan": np.full((12, n_points, 3), np.nan, np.float32)}
    for label, value in (("pos_inf", np.inf), ("neg_inf", -np.inf)):
        x = base.copy()
        x[rng.random(x.shape) < 0.05] = value
        out[label] = x
    out["thousand_frames"] = np.resize(base, (1000, n_points, 3)).astype(np.float32)
    x = base.copy()
    x[:, 468:489] = np.nan
    x[:, 522:543] = np.nan
    out["no_hands"] = x
    x = base.copy()
    x[rng.random(x.shape) < 0.05] = 1e30
    out["huge_values"] = x
    return out


def finite_on_fuzz(runner: Callable[[np.ndarray], np.ndarray], base: np.ndarray | None = None,
                   seed: int = 0) -> dict[str, bool]:
    """Whether ``runner`` gives finite logits on every :func:`fuzz_inputs` case.

    Args:
        runner: (T, 543, 3) float32 → logits, e.g. ``lambda x: run_tflite(signature_runner(path), x)``.
        base: Real sequence the cases are built from (default: the first bundled sample file).
        seed: Seed of the random replacements.

    Returns:
        case → True if every output value is finite (a raised error counts as False).
    """
    if base is None:
        base = read_landmarks(sample_files()[0])
    result = {}
    for name, x in fuzz_inputs(base, seed).items():
        try:
            result[name] = bool(np.isfinite(np.asarray(runner(x))).all())
        except (RuntimeError, ValueError):
            result[name] = False
    return result


def size_mb(path: str | Path) -> float:
    """File size in MB (10^6 bytes)."""
    return Path(path).stat().st_size / 1e6


def time_calls(fn: Callable[[np.ndarray], object], inputs: Sequence[np.ndarray], warmup: int = 3,
               repeats: int = 1) -> dict[str, float]:
    """Median / mean / p90 milliseconds per call of ``fn`` over ``inputs`` (after ``warmup`` untimed calls).

    The one timing helper of the export code and benchmarks (one function, several: :func:`interleaved_ms`).
    """
    times = interleaved_ms({"fn": fn}, inputs, rounds=repeats, warmup=warmup, reduce=None)["fn"].ravel()
    return dict(median_ms=float(np.median(times)), mean_ms=float(times.mean()),
                p90_ms=float(np.percentile(times, 90)), n=len(times))


def interleaved_ms(fns: Mapping[str, Callable[[np.ndarray], object]], inputs: Sequence[np.ndarray],
                   rounds: int = 1, warmup: int = 3, reduce: str | None = "min") -> dict[str, np.ndarray]:
    """Milliseconds per call of several functions on the same inputs, interleaved so that load changes on a
    shared machine hit all of them alike: for each round, for each input, every function once (in turn).

    Args:
        fns: name → function of one input.
        inputs: the inputs (e.g. real (T, 543, 3) sequences).
        rounds: passes over the inputs.
        warmup: untimed calls of each function on the first inputs.
        reduce: "min" = per input, the fastest of the rounds (the least disturbed); None = keep every round.

    Returns:
        name → (len(inputs),) array with ``reduce="min"``, else (rounds, len(inputs)).
    """
    inputs = list(inputs)
    for x in inputs[:warmup]:
        for fn in fns.values():
            fn(x)
    times = {name: np.empty((rounds, len(inputs))) for name in fns}
    for r in range(rounds):
        for i, x in enumerate(inputs):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(x)
                times[name][r, i] = (time.perf_counter() - start) * 1e3
    if reduce == "min":
        return {name: t.min(axis=0) for name, t in times.items()}
    if reduce is not None:
        raise ValueError(f"reduce must be 'min' or None, got {reduce!r}")
    return times


def latency(tflite_path: str | Path, inputs: Sequence[np.ndarray], threads: int = 1, xnnpack: bool = True,
            warmup: int = 3) -> dict[str, float]:
    """Per-sequence latency of a TFLite model in the Kaggle harness pattern.

    ``Interpreter(path).get_signature_runner("serving_default")(inputs=x)`` with no explicit ``allocate_tensors``;
    each call gets a new (T, 543, 3) shape, so resizing is part of the measured time, as on Kaggle.

    Args:
        tflite_path: Model file.
        inputs: Real raw sequences (≥ 100 for a stable median).
        threads: Interpreter threads (Kaggle scores on 1 CPU).
        xnnpack: False disables the default XNNPACK delegate.
        warmup: Untimed calls first.

    Returns:
        dict median_ms, mean_ms, p90_ms, n.
    """
    runner = signature_runner(tflite_path, num_threads=threads, xnnpack=xnnpack)
    return time_calls(lambda x: run_tflite(runner, x), inputs, warmup)


def randomize_for_parity(model: torch.nn.Module, seed: int = 0, logit_scale: float = 5.0) -> torch.nn.Module:
    """Make a randomly initialised model a demanding parity subject (in place; returns it, in eval mode).

    Fresh BatchNorm statistics are (0, 1) and a fresh classifier gives logits near 0, so a port that mixed up
    running mean/var or a layout could still agree to 1e-4. This draws non-trivial BN statistics and affine
    parameters, perturbs the CLS token and scales the classifier so that logits are O(``logit_scale``).

    Args:
        model: CNN or transformer.
        seed: torch seed of the draws.
        logit_scale: Rough target magnitude of the logits.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                module.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))
        if model_kind(model) == "cnn":
            head = model.backbone.classifier
        else:
            head = model.fc
            model.cls_token.copy_(0.5 * torch.randn(model.cls_token.shape, generator=gen))
        head.weight.mul_(logit_scale * 10.0)
    return model.eval()
