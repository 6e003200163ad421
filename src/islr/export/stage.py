"""The export and submission stages (notebooks 05 and 06), as functions over trained runs.

* :func:`export_trained` — each trained fold-0 model (CNN, BERT, DeBERTa) → its own Kaggle-contract TFLite and ONNX.
* :func:`fit_ensemble` — the reference's weight grid on fold-0 out-of-fold logits (raw logits; softmax compared).
* :func:`build_submission` — one TFLite graph (preprocessing once + the three networks + weighted sum) and
  ``submission.zip`` holding ``model.tflite``, plus the fp16 variant.
* :func:`tflite_accuracy` — accuracy of a converted model on validation sequences (e.g. fp32 vs fp16).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from islr import paths
from islr.config import Config
from islr.ensemble import EnsembleWeights, aligned_oof, compare_logits_vs_probs, grid_search
from islr.export import checks
from islr.export.onnx import export_onnx
from islr.export.tflite import build_ensemble_tflite, build_tflite, run_tflite, save_tflite, signature_runner
from islr.splits import FULL_DATA
from islr.train.run import load_trained, run_folder, submission_folds

#: The ensemble members, in the order of the reference's formula (METHOD_FACTS §7).
MEMBERS = ("cnn", "bert", "deberta")
SIZE_BUDGET_MB = 40.0


def export_dir(cfg: Config) -> Path:
    """Where the per-model exports of a run go."""
    return paths.run_dir(cfg.run_name) / "export"


def submission_dir() -> Path:
    """``outputs/submission`` (model.tflite, submission.zip): where ``islr predict`` looks by default."""
    return paths.outputs_dir() / "submission"


def trained_models(cfg: Config, kind: str = "random", fold: int | None = None) -> dict:
    """The best checkpoints of the CNN, BERT and DeBERTa that go into the export, in eval mode.

    Args:
        cfg: run config; by default each family's fold is :func:`islr.train.run.submission_folds` (fold 0, or the
            full-data transformers when ``cfg.split.full_data_transformers``).
        kind: split kind of the fold-0 runs.
        fold: one fold for every member instead.
    """
    folds = submission_folds(cfg, MEMBERS) if fold is None else dict.fromkeys(MEMBERS, fold)
    return {f: load_trained(cfg, f, kind=kind, fold=folds[f]) for f in MEMBERS}


def member_runs(cfg: Config, kind: str = "random") -> pd.DataFrame:
    """Which run folder each submitted member comes from and what it was trained on (shown by notebooks 05/06)."""
    rows = {f: {"run": str(run_folder(cfg, f, kind, fold)),
                "trained_on": "all sequences" if fold == FULL_DATA else f"fold 0 training part ({kind} split)"}
            for f, fold in submission_folds(cfg, MEMBERS).items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def export_trained(cfg: Config, models: dict) -> dict[str, dict[str, Path]]:
    """Write ``<family>.tflite`` (own preprocessing, Kaggle signature) and ``<family>.onnx`` per model."""
    out = export_dir(cfg)
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


def fit_ensemble(cfg: Config, labels: np.ndarray, kind: str = "random", fold: int = 0
                 ) -> tuple[EnsembleWeights, dict[str, float], pd.DataFrame]:
    """Grid weights on the fold's OOF logits; logits-vs-softmax comparison; single-model vs ensemble accuracy.

    Returns:
        (weights, {"logits": acc, "probabilities": acc}, table of top-1 per model and the ensemble).
    """
    logits, index = aligned_oof({f: run_folder(cfg, f, kind, fold) for f in MEMBERS})
    y = np.asarray(labels)[index]
    weights = grid_search(logits["cnn"], logits["bert"], logits["deberta"], y)
    comparison = compare_logits_vs_probs(logits["cnn"], logits["bert"], logits["deberta"], y)
    acc = {f: float((logits[f].argmax(1) == y).mean()) for f in MEMBERS}
    acc["ensemble"] = weights.accuracy
    table = pd.DataFrame({"top1": acc}).T.assign(split=kind, n_valid=len(y))
    return weights, comparison, table


def build_submission(models: dict, weights: dict[str, float], fp16: bool = False) -> Path:
    """The one-graph ensemble TFLite; fp32 goes to ``model.tflite`` + ``submission.zip``, fp16 beside it."""
    out = submission_dir()
    name = "model_fp16.tflite" if fp16 else "model.tflite"
    path = save_tflite(build_ensemble_tflite(models, weights, fp16=fp16), out / name)
    if not fp16:
        with zipfile.ZipFile(out / "submission.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(path, arcname="model.tflite")  # Kaggle expects exactly this name at the archive root
    return path


def tflite_accuracy(path: Path, prepared, indices) -> float:
    """Top-1 of a Kaggle-contract TFLite model over ``indices`` of the prepared data (raw sequences in)."""
    from islr.eda import full_sequence

    runner = signature_runner(path, num_threads=1)
    pred = [int(np.argmax(run_tflite(runner, full_sequence(prepared, int(i))))) for i in indices]
    return float(np.mean(np.asarray(pred) == np.asarray(prepared.labels)[np.asarray(indices)]))


def example_predictions(model_path: Path, data_dir: Path | None = None, n: int = 6, k: int = 3) -> pd.DataFrame:
    """Top-k of the TFLite model on the first ``n`` files of an asl-signs folder (default: the real sample),
    next to their true sign."""
    from islr.io import read_train_index
    from islr.predict import TFLiteSignModel, predict_files, sign_names

    data_dir = Path(data_dir or paths.SAMPLE_DIR)
    index = read_train_index(data_dir).head(n)
    preds = predict_files([data_dir / p for p in index["path"]], TFLiteSignModel(model_path), sign_names(), k)
    rows = []
    for (_, row), p in zip(index.iterrows(), preds):
        tops = {f"top{i + 1}": f"{s} {v:.2f}" for i, (s, v) in enumerate(p.top or [])}
        rows.append({"file": row["path"], "participant": row["participant_id"], "true": row["sign"],
                     "frames": p.frames, **tops, "error": p.error})
    return pd.DataFrame(rows)
