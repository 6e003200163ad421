"""Training throughput (samples/s) of islr's real training step, with augmentation on.

Times :func:`islr.train.loop.train_one_epoch` (through :func:`islr.train.throughput.measure`): loader collation,
host→device copy, the family's device-side augmentation + preprocessing (islr.pipeline), forward, backward,
optimiser and scheduler step, on batches of REAL sample sequences (islr/resources/sample, repeated). The speed
settings are the config's (``<family>_train.amp``, ``channels_last``, ``compile``, ``optimizer_impl``,
``pin_memory``; "auto" = on with CUDA), so overrides measure each one. Prints samples/s and the projected wall time
of the reference's run: the CNN's fold 0 (82,667 samples × 182 epochs) or a full-data transformer (94,477 × 70).

    python benchmarks/bench_train.py                                   # CPU, the default profile's CNN
    python benchmarks/bench_train.py --profile full --batch 64         # effnet_b0 with the full profile's settings
    python benchmarks/bench_train.py --profile full --family bert --batch 256
    python benchmarks/bench_train.py --profile full --overrides '{"cnn_train.compile": "off"}'
"""

from __future__ import annotations

import argparse
import json

import torch

from islr.config import get_config
from islr.models.families import FAMILIES
from islr.report import record_benchmark
from islr.train.throughput import measure


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="cnn", choices=sorted(FAMILIES))
    ap.add_argument("--profile", default="default")
    ap.add_argument("--model", default="", help="CNN registry name (default: the profile's)")
    ap.add_argument("--overrides", default="{}", help="config overrides (JSON), e.g. the speed keys")
    ap.add_argument("--device", default="", help="default: cuda when available, else cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = json.loads(args.overrides)
    if args.model:
        overrides["cnn.model"] = args.model
    cfg = get_config(args.profile, overrides)
    row = measure(cfg, args.family, args.batch, args.steps, args.warmup, args.device or None)
    print(f"{row['model']}: batch {row['batch']} on {row['device']} (amp {row['amp']}, channels_last "
          f"{row['channels_last']}, compile {row['compile']}), profile {args.profile}, {torch.get_num_threads()} "
          f"CPU threads")
    print(f"  {row['samples_per_s']:,.1f} samples/s (loader + augmentation + preprocessing + forward + backward + "
          "step)")
    print(f"  projected {row['run']} run: {row['projected_min'] / 60:,.1f} h (goal on one GPU: "
          f"{row['goal_min']:.0f} min)")
    record_benchmark(f"train_{args.family}", [row], data=row["data"] + ", repeated", device=row["device"],
                     notes=f"profile {args.profile}, overrides {overrides}, {args.steps} timed steps after "
                           f"{args.warmup} warm-up steps, {torch.get_num_threads()} CPU threads")
    return row


if __name__ == "__main__":
    main()
