"""The export and submission stages (notebooks 05 and 06), as functions over trained runs.

Trained models, their folders and OOF logits are read through :mod:`islr.runs` (``runs.trained_models``,
``runs.member_runs``, ``runs.member_folders``).

* :func:`export_trained` — each trained fold-0 model (CNN, BERT, DeBERTa) → its own Kaggle-contract TFLite and ONNX.
  Each export builds its preprocessing from the model's input settings, stored in its checkpoint's spec
  (:func:`islr.models.model_inputs`: the CNN's ``n_frames`` and mirror, a transformer's ``max_len``).
* :func:`fit_ensemble` — the reference's weight grid on out-of-fold logits (raw logits; softmax compared), real rows
  of held-out participants first when the data has real recordings.
* :func:`build_submission` — one TFLite graph (preprocessing once per distinct input setting of the members + the
  three networks + weighted sum) in fp32, fp16 and dynamic-range int8, ``submission.zip`` holding the chosen one as
  ``model.tflite``, and the ONNX members with their input settings.
* :func:`tflite_accuracy` — accuracy of a converted model on validation sequences (e.g. fp32 vs int8).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from islr import paths, runs
from islr.config import Config
from islr.ensemble import EnsembleWeights, aligned_oof, compare_logits_vs_probs, fit_weights
from islr.metrics import topk_accuracy
from islr.export import checks
from islr.export.onnx import export_onnx, save_onnx_ensemble
from islr.export.runtime import submission_dir
from islr.export.tflite import PRECISIONS, SUBMISSION_PRECISION, ServingModule, build_tflite, convert_variants, \
    keras_ensemble, run_tflite, save_tflite, signature_runner
from islr.runs import MEMBERS

SIZE_BUDGET_MB = 40.0


def export_trained(cfg: Config, models: dict) -> dict[str, dict[str, Path]]:
    """Write ``<family>.tflite`` (own preprocessing, built from the model's input settings; Kaggle signature) and
    ``<family>.onnx`` (its spec and input settings in the file's metadata) per model."""
    out = runs.export_folder(cfg)
    return {f: {"tflite": save_tflite(build_tflite(m), out / f"{f}.tflite"), "onnx": export_onnx(m, out / f"{f}.onnx")}
            for f, m in models.items()}


def model_sequences(prepared, n: int = 110, seed: int = 0) -> list[np.ndarray]:
    """``n`` real-length sequences of the prepared data as raw (T, 543, 3) inputs, for latency measurements."""
    from islr.eda import full_sequence

    rng = np.random.default_rng(seed)
    return [full_sequence(prepared, int(i)) for i in rng.choice(len(prepared), min(n, len(prepared)), replace=False)]


def latency_table(files: dict[str, Path], inputs: list[np.ndarray]) -> pd.DataFrame:
    """Median/mean/p90 ms per sequence (1 thread, Kaggle harness call pattern) and size of each TFLite file."""
    rows = {name: {**checks.latency(path, inputs, threads=1), "size_mb": checks.size_mb(path)}
            for name, path in files.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def fit_ensemble(cfg: Config, labels: np.ndarray, kind: str | None = None, fold: int = 0, real: np.ndarray | None = None
                 ) -> tuple[EnsembleWeights, dict[str, float], pd.DataFrame]:
    """Grid weights on OOF logits; logits-vs-softmax comparison; single-model vs ensemble accuracy.

    Without ``real`` every OOF row of split ``kind``, fold ``fold`` counts alike (the reference's recipe). With
    ``real`` (:func:`islr.ensemble.real_rows`), the weights are chosen on the real rows of held-out participants —
    the OOF rows of every participant-split fold trained for all three models —; ties there are broken by those rows'
    mean log-probability of the true sign, then by the synthetic ``kind`` OOF rows (for an all-real folder: its
    other OOF rows)
    (:func:`islr.ensemble.fit_weights`). Without participant-split runs the real rows of the ``kind`` OOF are used
    (their participants may also be in training, and ``weights.rows`` says so).

    Args:
        cfg: run config.
        labels: (N,) labels of the prepared data.
        kind: split kind of the runs whose OOF rows break ties (and of the table); default ``cfg.split.kind``.
        fold: fold of those runs.
        real: (N,) bool, True for real recordings; None = no distinction.

    Returns:
        (weights — ``weights.rows`` names the rows used —, {"logits": acc, "probabilities": acc} on the deciding
        rows, table of top-1 per model and the ensemble on each row set).
    """
    labels = np.asarray(labels)
    kind = kind or cfg.split.kind
    logits, index = aligned_oof(runs.member_folders(cfg, kind, fold))
    sets = {}
    if real is None:
        sets[f"OOF rows ({kind} split, fold {fold})"] = (logits, index)
    else:
        real = np.asarray(real, bool)
        held = _participant_oof(cfg) if kind != "participant" else [(fold, logits, index)]
        if held:
            folds = ", ".join(str(f) for f, _, _ in held)
            lg = {m: np.concatenate([h[1][m] for h in held]) for m in MEMBERS}
            idx = np.concatenate([h[2] for h in held])
            keep = real[idx]
            sets[f"real rows of held-out participants (participant split, fold {folds})"] = (
                {m: v[keep] for m, v in lg.items()}, idx[keep])
        else:
            keep = real[index]
            sets[f"real OOF rows ({kind} split, fold {fold}; their participants may be in training)"] = (
                {m: v[keep] for m, v in logits.items()}, index[keep])
        if real[index].all():  # an all-real folder: the rest of the OOF rows break ties
            other = ~np.isin(index, next(iter(sets.values()))[1])
            name = f"other real OOF rows ({kind} split, fold {fold})"
        else:  # mixed: only the synthetic rows (real rows of participants seen in training would be optimistic)
            other, name = ~real[index], f"synthetic OOF rows ({kind} split, fold {fold})"
        sets[name] = ({m: v[other] for m, v in logits.items()}, index[other])
    parts = list(sets.items())
    first = (parts[0][1][0], labels[parts[0][1][1]])
    second = (parts[1][1][0], labels[parts[1][1][1]]) if len(parts) > 1 else None
    if real is None:
        weights = fit_weights(None, first, other_name=parts[0][0])
    else:
        weights = fit_weights(first if len(first[1]) else None, second, real_name=parts[0][0],
                              other_name=parts[1][0])
    deciding = first if len(first[1]) else second
    comparison = compare_logits_vs_probs(*(deciding[0][m] for m in MEMBERS), deciding[1])
    w = weights.as_dict()
    rows = {}
    for name, (lg, idx) in sets.items():
        y = labels[idx]
        acc = {m: topk_accuracy(lg[m], y, 1) for m in MEMBERS}  # NaN for no rows
        acc["ensemble"] = topk_accuracy(sum(w[m] * lg[m] for m in MEMBERS), y, 1)
        rows[name] = {**acc, "n": len(y)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "rows"
    return weights, comparison, table


def _participant_oof(cfg: Config) -> list[tuple[int, dict[str, np.ndarray], np.ndarray]]:
    """(fold, {member: logits}, indices) of every participant-split fold with OOF logits of all three members."""
    out = []
    for f in range(cfg.split.n_folds):
        folders = runs.member_folders(cfg, "participant", f)
        if all(runs.has_oof(folder) for folder in folders.values()):
            logits, index = aligned_oof(folders)
            out.append((f, logits, index))
    return out


def build_submission(models: dict, weights: dict[str, float], precision: str = SUBMISSION_PRECISION
                     ) -> dict[str, Path]:
    """The one-graph ensemble in every precision, its ``submission.zip`` and the same ensemble as ONNX.

    All of :data:`islr.export.tflite.PRECISIONS` are converted from one frozen graph to ``model_<precision>.tflite``;
    ``precision`` (default: :data:`islr.export.tflite.SUBMISSION_PRECISION`, chosen by
    ``benchmarks/bench_export_latency.py`` and ``bench_quantisation.py``) is also written as ``model.tflite`` and
    zipped; ``onnx/`` holds the members for ``islr predict --backend onnx``. Every member is fed as its input
    settings say (:func:`islr.models.model_inputs`): members with different settings (e.g. a CNN of 48 frames next to
    transformers of 40) each get their own preprocessing in the graph, and ``onnx/ensemble.json`` stores each
    member's settings for the torch preprocessing of the ONNX backend.

    Returns:
        ``{"submission": model.tflite, <precision>: model_<precision>.tflite, ..., "onnx": folder}``.
    """
    out = submission_dir()
    keras_models, inputs = keras_ensemble(models)
    variants = convert_variants(ServingModule(keras_models, inputs, weights), PRECISIONS)
    files = {p: save_tflite(data, out / f"model_{p}.tflite") for p, data in variants.items()}
    files["submission"] = save_tflite(variants[precision], out / "model.tflite")
    with zipfile.ZipFile(out / "submission.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(files["submission"], arcname="model.tflite")  # Kaggle expects exactly this name at the archive root
    files["onnx"] = save_onnx_ensemble(models, weights, out / "onnx")
    return files


def tflite_accuracy(path: Path, prepared, indices) -> float:
    """Top-1 of a Kaggle-contract TFLite model over ``indices`` of the prepared data (raw sequences in)."""
    from islr.eda import full_sequence

    runner = signature_runner(path, num_threads=1)
    pred = [int(np.argmax(run_tflite(runner, full_sequence(prepared, int(i))))) for i in indices]
    return float(np.mean(np.asarray(pred) == np.asarray(prepared.labels)[np.asarray(indices)]))


def example_predictions(model_path: Path, data_dir: Path | None = None, n: int = 6, k: int = 3) -> pd.DataFrame:
    """Top-k of the TFLite model on the first ``n`` files of an asl-signs folder (default: the real sample),
    next to their true sign."""
    from islr.io import read_train_index, sign_names
    from islr.predict import TFLiteSignModel, predict_files

    data_dir = Path(data_dir or paths.SAMPLE_DIR)
    index = read_train_index(data_dir).head(n)
    preds = predict_files([data_dir / p for p in index["path"]], TFLiteSignModel(model_path), sign_names(), k)
    rows = []
    for (_, row), p in zip(index.iterrows(), preds):
        tops = {f"top{i + 1}": f"{s} {v:.2f}" for i, (s, v) in enumerate(p.top or [])}
        rows.append({"file": row["path"], "participant": row["participant_id"], "true": row["sign"],
                     "frames": p.frames, **tops, "error": p.error})
    return pd.DataFrame(rows)
