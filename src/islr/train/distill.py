"""Three-stage self-distillation of the transformers (METHOD_FACTS §4 "Distillation", from the write-up's PDF).

1. a 4-layer teacher (the normal run of notebook 03; reused if it exists);
2. a fresh 4-layer student trained with the KD loss from the teacher;
3. a 3-layer student initialised from the first 3 layers of stage 2, trained with KD from stage 2.

The KD loss is ``(1 − w)·CE + w·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`` (:mod:`islr.train.losses`) with
``w = cfg.distill.kd_weight`` and ``T = cfg.distill.temperature``; the reference does not record its values. Every
stage goes through the same :func:`islr.train.run.train_fold` (a frozen teacher is just an argument of the loop).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from islr import paths
from islr.config import Config
from islr.models.transformer import truncate_layers
from islr.train.run import build_model, train_fold

STAGES = ("teacher", "student", "student_small")


def distill(cfg: Config, prepared, family: str = "bert", kind: str | None = None, fold: int | None = None,
            progress: bool = True) -> dict[str, tuple[torch.nn.Module, Path]]:
    """Run the three stages for ``family`` on one fold; each stage resumes from its own run folder.

    Returns:
        {stage: (model with best weights, run folder)} for :data:`STAGES`.
    """
    kind = kind or cfg.split.kind
    fold = cfg.split.fold if fold is None else fold
    root = paths.run_dir(cfg.run_name)
    out = {}
    teacher, res = train_fold(cfg, prepared, family, out_dir=root / f"{family}_{kind}_f{fold}", kind=kind,
                              fold=fold, progress=progress)
    out["teacher"] = (teacher, res.out_dir)
    student, res = train_fold(cfg, prepared, family, out_dir=root / f"{family}_{kind}_f{fold}_kd",
                              kind=kind, fold=fold, model=build_model(cfg, family), teacher=teacher,
                              progress=progress)
    out["student"] = (student, res.out_dir)
    small = truncate_layers(student, cfg.distill.student_layers)
    small, res = train_fold(cfg, prepared, family,
                            out_dir=root / f"{family}_{kind}_f{fold}_kd{cfg.distill.student_layers}l",
                            kind=kind, fold=fold, model=small, teacher=student, progress=progress)
    out["student_small"] = (small, res.out_dir)
    return out


def forward_latency_ms(model: torch.nn.Module, n_frames: int = 48, n_features: int = 972, repeats: int = 30
                       ) -> float:
    """Median CPU latency (ms) of one eval forward pass at batch 1 with ``n_frames`` real frames, 1 thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = model.eval().cpu()
        x, mask = torch.randn(1, n_frames, n_features), torch.ones(1, n_frames, dtype=torch.long)
        times = []
        with torch.inference_mode():
            for _ in range(repeats + 3):
                start = time.perf_counter()
                model(x, mask)
                times.append(time.perf_counter() - start)
        return float(np.median(times[3:]) * 1e3)
    finally:
        torch.set_num_threads(threads)


def compare(stages: dict[str, tuple[torch.nn.Module, Path]], labels: np.ndarray) -> pd.DataFrame:
    """One row per stage: layers, parameters, fold accuracy (top-1/top-3 of its OOF logits), forward latency."""
    from islr.evaluation import summarize

    rows = []
    for name, (model, run) in stages.items():
        s = summarize(run, labels)
        rows.append({"stage": name, "layers": model.num_layers,
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "top1": s["top1"], "top3": s["top3"], "n_valid": s["n_valid"],
                     "latency_ms_cpu_1thread": forward_latency_ms(model)})
    return pd.DataFrame(rows).set_index("stage")
