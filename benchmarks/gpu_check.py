"""One command for a GPU machine: can the real training step meet the run-time goals?

    python benchmarks/gpu_check.py            # on a CUDA machine: the full check (a few minutes)
    python benchmarks/gpu_check.py --dry      # anywhere: the tiny dry version (what a CPU-only machine runs)

Measures samples/s of islr's real training step (:func:`islr.train.throughput.measure`: the loader, the device-side
augmentation + preprocessing, forward, backward, optimiser step) with the full profile's settings (bf16 or fp16
autocast, channels_last, torch.compile, foreach optimiser kernels, pinned memory: every "auto" resolved for CUDA),
for the CNN (effnet_b0, augmentation on) and BERT (256 wide, 4 layers) at batch 64 and 256, on batches of the
bundled REAL sample. Then projects the reference's runs and compares them with the goals on one GPU:

* CNN fold 0: 82,667 samples × 182 epochs ≤ 30 min, i.e. ≥ 8,359 samples/s;
* each full-data transformer: 94,477 × 70 epochs ≤ 10 min, i.e. ≥ 11,022 samples/s.

Without CUDA (or with ``--dry``) it runs a DRY version: the smoke profile's tiny models, batch 2 and 4, two steps,
on the CPU. That checks that the command, the step and the report work; its numbers say nothing about the goals and
are labelled so. Both end with ``islr.report.record_benchmark("gpu_check", …)``.
"""

from __future__ import annotations

import argparse
import json

import torch

from islr.config import get_config
from islr.report import record_benchmark
from islr.train.throughput import goal_samples_per_s, measure

FAMILIES = ("cnn", "bert")
FULL = {"profile": "full", "batches": (64, 256), "steps": 30, "warmup": 10}
DRY = {"profile": "smoke", "batches": (2, 4), "steps": 2, "warmup": 1}
DRY_BANNER = ("DRY RUN ({why}): tiny smoke-profile models on the CPU, a few steps. It checks the command and the "
              "training step; the numbers say nothing about the GPU goals.")


def main(argv: list[str] | None = None) -> dict:
    """Run the check; returns ``{"dry": bool, "device": str, "rows": [...]}`` (also written by record_benchmark).

    Raises:
        KeyError / TypeError / ValueError: ``--overrides`` names an unknown key or a bad value.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry", action="store_true", help="the tiny CPU version even where CUDA is present")
    ap.add_argument("--overrides", default="{}", help="config overrides (JSON) on top of the profile")
    ap.add_argument("--steps", type=int, default=0, help="timed steps per case (default: 30, dry 2)")
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    dry = args.dry or not cuda
    plan = DRY if dry else FULL
    cfg = get_config(plan["profile"], json.loads(args.overrides))  # a wrong key or value fails here, before work
    device = "cpu" if dry else "cuda"
    if dry:
        print(DRY_BANNER.format(why="--dry" if args.dry else "no CUDA device"))
    else:
        print(f"GPU check on {torch.cuda.get_device_name(0)}")
    rows = []
    for family in FAMILIES:
        for batch in plan["batches"]:
            row = measure(cfg, family, batch, args.steps or plan["steps"], plan["warmup"], device)
            rows.append(row)
            print(_line(row))
    for family in FAMILIES:
        best = max((r for r in rows if r["family"] == family), key=lambda r: r["samples_per_s"])
        verdict = "dry run, no verdict" if dry else ("MEETS" if best["meets_goal"] else "MISSES")
        print(f"{best['run']}: best {best['samples_per_s']:,.0f} samples/s at batch {best['batch']} → "
              f"{best['projected_min']:,.1f} min projected; goal ≤ {best['goal_min']:.0f} min "
              f"(≥ {goal_samples_per_s(family):,.0f} samples/s): {verdict}")
    record_benchmark("gpu_check", rows, data=rows[0]["data"] + ", repeated", device=device,
                     notes=("DRY RUN on CPU, smoke-profile models: not a GPU measurement. " if dry else "")
                     + f"profile {plan['profile']}, overrides {args.overrides}, {args.steps or plan['steps']} timed "
                     f"steps after {plan['warmup']} warm-up steps per case")
    return {"dry": dry, "device": device, "rows": rows}


def _line(row: dict) -> str:
    return (f"  {row['model']:<14} batch {row['batch']:>4}  {row['samples_per_s']:>10,.1f} samples/s  "
            f"amp {row['amp']}, channels_last {row['channels_last']}, compile {row['compile']}  → {row['run']} "
            f"{row['projected_min']:,.1f} min (goal {row['goal_min']:.0f})")


if __name__ == "__main__":
    main()
