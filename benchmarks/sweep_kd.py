"""Choose the distillation temperature T and weight w by measurement (islr.train.distill.kd_sweep).

The reference does not record its KD loss settings, so ``DistillConfig``'s values come from this sweep. It trains a
4-layer teacher once, then the same fresh 4-layer student once per (T, w) and once without KD (w = 0), all from the
same initial weights and on the same batches, and prints validation top-1, top-3 and NLL of each.

Data: by default synthetic signs only (islr.synth, exact Kaggle layout), a subset of the 250 signs with enough
sequences per sign that a CPU-sized transformer learns them in minutes; the default profile's 6 sequences per sign
leave every model near chance, where a KD comparison measures only noise. ``--data-dir`` runs it on any asl-signs
folder instead (e.g. the real set on a GPU machine).

    python benchmarks/sweep_kd.py                          # 100 synthetic signs × 12, BERT 128×4, ~35 min on 2 cores
    python benchmarks/sweep_kd.py --temperatures 1 2 4 8 --weights 0.5 0.9 --epochs 30

Writes ``outputs/benchmarks/kd_sweep_<family>.csv``, ``outputs/benchmarks/kd_sweep_<family>.json``
(:func:`islr.report.record_benchmark`) and ``outputs/figures/benchmarks/kd_sweep_<family>.png``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from islr import paths
from islr.config import get_config
from islr.data import load_dataset
from islr.io import sign_names
from islr.report import record_benchmark
from islr.synth import synthesize
from islr.train.distill import kd_sweep, plot_kd_sweep
from islr.train.run import split


def sign_subset(n_signs: int) -> list[str]:
    """``n_signs`` signs spread evenly over the sign map's label order (deterministic)."""
    signs = sign_names()
    picks = np.linspace(0, len(signs) - 1, n_signs).round().astype(int)
    return [signs[i] for i in picks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="bert", choices=("bert", "deberta"))
    ap.add_argument("--data-dir", default="", help="asl-signs folder (default: synthetic subset)")
    ap.add_argument("--signs", type=int, default=100, help="synthetic: number of signs")
    ap.add_argument("--per-sign", type=int, default=12, help="synthetic: sequences per sign")
    ap.add_argument("--profile", default="default", help="model size and training recipe")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", type=int, default=4, help="validate on fold 0 of this many random folds")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.9])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data_dir, label, tag = args.data_dir, f"asl-signs folder {args.data_dir}", Path(args.data_dir).name
    if not data_dir:
        data_dir = paths.generated_data_dir() / f"kdsweep_n{args.signs}_k{args.per_sign}"
        if not (data_dir / ".complete").exists():
            synthesize(data_dir, per_sign=args.per_sign, seed=0, signs=sign_subset(args.signs))
            (data_dir / ".complete").write_text("ok\n")
        label, tag = f"synthetic, {args.signs} signs × {args.per_sign} sequences", data_dir.name
    run = f"kd_sweep_{tag}_{args.family}_{args.profile}_e{args.epochs}_f{args.folds}"
    cfg = get_config(args.profile, {"data.data_dir": str(data_dir), "transformer_train.epochs": args.epochs,
                                    "split.n_folds": args.folds}, run_name=run)
    prepared, _ = load_dataset(cfg)
    train_idx, valid_idx = split(cfg, prepared, "random", 0)
    print(f"data: {label}; train {len(train_idx)}, valid {len(valid_idx)}; {args.family} "
          f"{cfg.transformer.hidden}×{cfg.transformer.layers}, {args.epochs} epochs; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads", flush=True)
    start = time.perf_counter()
    sweep = kd_sweep(cfg, prepared, args.family, args.temperatures, args.weights, indices=(train_idx, valid_idx))
    print(sweep.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    total = time.perf_counter() - start
    print(f"total {total:.0f} s; chance top-1 {1 / len(np.unique(prepared.labels)):.3f}")
    out = paths.outputs_dir() / "benchmarks" / f"kd_sweep_{args.family}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep.to_csv(out, index=False)
    axes = plot_kd_sweep(sweep, f"{label}; valid n={len(valid_idx)}")
    fig = paths.figures_dir("benchmarks") / f"kd_sweep_{args.family}.png"
    axes[0].figure.savefig(fig, dpi=120)
    record_benchmark(f"kd_sweep_{args.family}", sweep.astype(object).where(sweep.notna(), None).to_dict("records"),
                     data=f"{label}; train {len(train_idx)}, valid {len(valid_idx)} (fold 0 of {args.folds})",
                     notes=f"{args.family} {cfg.transformer.hidden}×{cfg.transformer.layers}, profile {args.profile}, "
                           f"{args.epochs} epochs, {torch.get_num_threads()} threads; total {total:.0f} s")
    print(f"wrote {out} and {fig}")


if __name__ == "__main__":
    main()
