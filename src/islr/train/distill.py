"""Three-stage self-distillation of the transformers (docs/method.md §4 "Distillation", from the write-up's PDF).

1. a 4-layer teacher (the normal run of notebook 03; reused if it exists);
2. a fresh 4-layer student trained with the KD loss from the teacher;
3. a 3-layer student initialised from the first 3 layers of stage 2, trained with KD from stage 2.

The KD loss is ``(1 − w)·CE + w·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`` (:mod:`islr.train.losses`) with
``w = cfg.distill.kd_weight`` and ``T = cfg.distill.temperature``; the reference does not record its values. Every
stage goes through the same :func:`islr.train.run.train_fold` (a frozen teacher is just an argument of the loop).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from islr import runs
from islr.config import Config
from islr.models.families import FAMILIES
from islr.models.transformer import truncate_layers
from islr.train.run import build_model, train_fold

STAGES = ("teacher", "student", "student_small")


def distill(cfg: Config, prepared, family: str = "bert", kind: str | None = None, fold: int | None = None,
            progress: bool = True) -> dict[str, tuple[torch.nn.Module, Path]]:
    """Run the three stages for ``family`` on one fold; each stage resumes from its own model folder
    (:func:`islr.runs.distill_folder`; the teacher's is the family's ordinary fold run).

    Returns:
        {stage: (model with best weights, model folder)} for :data:`STAGES`.
    """
    kind = kind or cfg.split.kind
    fold = cfg.split.fold if fold is None else fold
    folder = {stage: runs.distill_folder(cfg, family, kind, fold, stage) for stage in STAGES}
    out = {}
    teacher, res = train_fold(cfg, prepared, family, out_dir=folder["teacher"], kind=kind, fold=fold,
                              progress=progress)
    out["teacher"] = (teacher, res.out_dir)
    student, res = train_fold(cfg, prepared, family, out_dir=folder["student"], kind=kind, fold=fold,
                              model=build_model(cfg, family, seed=_student_seed(cfg, family)), teacher=teacher,
                              progress=progress)
    out["student"] = (student, res.out_dir)
    small = truncate_layers(student, cfg.distill.student_layers)
    small, res = train_fold(cfg, prepared, family, out_dir=folder["student_small"], kind=kind, fold=fold,
                            model=small, teacher=student, progress=progress)
    out["student_small"] = (small, res.out_dir)
    return out


def _student_seed(cfg: Config, family: str) -> int:
    """Initial-weight seed of a fresh student: not the teacher's, so the student does not start from its weights."""
    return getattr(cfg, FAMILIES[family].train_block).seed + 1


def forward_latency_ms(model: torch.nn.Module, n_frames: int = 48, n_features: int = 972, repeats: int = 30
                       ) -> float:
    """Median CPU latency (ms) of one eval forward pass at batch 1 with ``n_frames`` real frames, 1 thread
    (``torch.utils.benchmark``, which sets and restores the thread count itself)."""
    from torch.utils import benchmark

    model = model.eval().cpu()
    x, mask = torch.randn(1, n_frames, n_features), torch.ones(1, n_frames, dtype=torch.long)
    with torch.inference_mode():
        model(x, mask)  # warm-up
        timer = benchmark.Timer("model(x, mask)", globals={"model": model, "x": x, "mask": mask}, num_threads=1)
        # `repeats` blocks of one call each: the median is over single calls, as before.
        return float(benchmark.Measurement.merge([timer.timeit(1) for _ in range(repeats)])[0].median * 1e3)


def compare(stages: dict[str, tuple[torch.nn.Module, Path]], labels: np.ndarray) -> pd.DataFrame:
    """One row per stage: layers, parameters, fold accuracy (top-1/top-3 of its OOF logits), forward latency."""
    from islr.metrics import summarize

    rows = []
    for name, (model, run) in stages.items():
        s = summarize(run, labels)
        rows.append({"stage": name, "layers": model.num_layers,
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "top1": s["top1"], "top3": s["top3"], "n_valid": s["n_valid"],
                     "latency_ms_cpu_1thread": forward_latency_ms(model)})
    return pd.DataFrame(rows).set_index("stage")


# ------------------------------------------------------------------------------------------ choosing T and w
def kd_sweep(cfg: Config, prepared, family: str = "bert", temperatures=(1.0, 2.0, 4.0), weights=(0.5, 0.9), *,
             indices: tuple[np.ndarray, np.ndarray] | None = None, out_root: str | Path | None = None,
             teacher_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Measure the KD temperature and weight: one teacher, then a fresh same-size student per (T, w).

    This is stage 2 of :func:`distill` on a grid. Every student starts from the same initial weights (the student
    seed, not the teacher's), sees the same batches and augmentations, and differs from the others only by its loss.
    The ``no KD`` row is that student trained with ``kd_weight = 0`` (plain cross-entropy): the baseline that KD has
    to beat. The teacher vs ``no KD`` gap (same recipe, different initial weights) is the run-to-run noise. Each run
    has its own folder under ``out_root`` and resumes from it, so a killed sweep picks up where it stopped.

    Args:
        cfg: run config (model size, epochs, augmentation); ``cfg.distill`` is replaced per grid point.
        prepared: :class:`islr.prepare.Prepared`.
        family: "bert" | "deberta".
        temperatures, weights: the grid (weights in (0, 1]).
        indices: explicit (train, valid) indices (default: ``cfg.split``'s fold).
        out_root: folder of the runs (default :func:`islr.runs.kd_sweep_folder`:
            ``outputs/runs/<run_name>/kd_sweep_<family>``).
        teacher_dir: the teacher's run folder (default ``out_root/teacher``); a finished run of the same config
            there is reused (e.g. notebook 03's fold-0 BERT).
        progress: tqdm bars.

    Returns:
        One row per run: run, temperature, kd_weight, top1, top3, nll (unsmoothed cross-entropy of the best
        epoch's validation logits), agree_teacher (share of validation argmaxes equal to the teacher's), n_valid,
        seconds (training time summed over the run's epochs).
    """
    from islr.metrics import topk_accuracy

    root = Path(out_root or runs.kd_sweep_folder(cfg, family))
    labels = np.asarray(prepared.labels)
    rows = []
    teacher_dir = Path(teacher_dir or runs.kd_sweep_teacher(root))
    teacher, _ = _timed_run(cfg, prepared, family, teacher_dir, indices, progress, rows,
                            {"run": "teacher", "temperature": np.nan, "kd_weight": np.nan})
    teacher_pred = runs.load_oof(teacher_dir)[0].argmax(1)
    grid = [(np.nan, 0.0)] + [(float(t), float(w)) for t in temperatures for w in weights]
    for t, w in grid:
        name = "no KD" if w == 0 else f"T={t:g} w={w:g}"
        run_cfg = cfg if w == 0 else cfg.override({"distill.temperature": t, "distill.kd_weight": w})
        student = build_model(cfg, family, seed=_student_seed(cfg, family))
        folder = runs.kd_sweep_member(root, t, w)
        _timed_run(run_cfg, prepared, family, folder, indices, progress, rows,
                   {"run": name, "temperature": t, "kd_weight": w}, model=student,
                   teacher=None if w == 0 else teacher)
    for row in rows:
        logits, index = runs.load_oof(row.pop("folder"))
        y = labels[index]
        nll = torch.nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(y).long())
        row.update(top1=topk_accuracy(logits, y, 1), top3=topk_accuracy(logits, y, 3), nll=float(nll),
                   agree_teacher=float((logits.argmax(1) == teacher_pred).mean()), n_valid=int(len(y)))
    return pd.DataFrame(rows)


def _timed_run(cfg: Config, prepared, family: str, folder: Path, indices, progress: bool, rows: list, row: dict,
               model: torch.nn.Module | None = None, teacher: torch.nn.Module | None = None) -> tuple:
    """Train (or reuse) one sweep run; its ``seconds`` are the epochs' own times from ``metrics.csv``, so a run
    reused or resumed from an earlier sweep reports what it cost then, not the seconds of loading it."""
    out = train_fold(cfg, prepared, family, out_dir=folder, indices=indices, model=model, teacher=teacher,
                     progress=progress)
    rows.append({**row, "folder": folder, "seconds": float(runs.load_metrics(folder)["seconds"].sum())})
    return out


def plot_kd_sweep(sweep: pd.DataFrame, data_label: str | None = None, axes=None):
    """Validation top-1 and NLL against the temperature, one line per KD weight; teacher and no-KD as lines.

    The top-1 panel shades no-KD ± one binomial standard error, the scale below which a KD gain is noise.

    ``data_label`` goes into the title (None: leave it to :func:`islr.viz.finish`'s footer).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    grid = sweep[sweep["kd_weight"] > 0]
    for ax, metric, title in zip(axes, ("top1", "nll"), ("validation top-1 (higher is better)",
                                                          "validation NLL (lower is better)")):
        for w, part in grid.groupby("kd_weight"):
            part = part.sort_values("temperature")
            ax.plot(part["temperature"], part[metric], marker="o", label=f"KD weight {w:g}")
        for name, style in (("teacher", ":"), ("no KD", "--")):
            ref = sweep.loc[sweep["run"] == name, metric]
            if len(ref):
                ax.axhline(float(ref.iloc[0]), color="grey", linestyle=style, label=name)
        base = sweep[sweep["run"] == "no KD"]
        if metric == "top1" and len(base) and "n_valid" in base:
            p, n = float(base["top1"].iloc[0]), int(base["n_valid"].iloc[0])
            se = (p * (1 - p) / max(n, 1)) ** 0.5
            ax.axhspan(p - se, p + se, color="grey", alpha=0.15, label="no KD ± 1 s.e. (binomial)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(grid["temperature"].unique()), [f"{t:g}" for t in sorted(grid["temperature"].unique())])
        ax.set_xlabel("temperature T")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].figure.suptitle("KD sweep, same-size student" + (f" — data: {data_label}" if data_label else ""),
                            fontsize=9)
    axes[0].figure.tight_layout()
    return axes
