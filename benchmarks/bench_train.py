"""Training throughput (samples/s) with augmentation on: the real training step of islr, timed.

Each step = the batched augmentation + preprocessing pipeline on the device (islr.pipeline) + forward + backward +
optimizer step, on batches of REAL sample sequences (islr/resources/sample, repeated). Prints samples/s and projects the wall
time of the reference's runs: the CNN's fold-0 run (82,667 samples × 182 epochs) and a full-data transformer run
(94,477 × 70 epochs).

    python benchmarks/bench_train.py                       # CPU, the default profile's models
    python benchmarks/bench_train.py --device cuda --model effnet_b0 --batch 64 --amp --channels-last
    python benchmarks/bench_train.py --family bert --device cuda --batch 128 --amp
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from islr import paths
from islr.config import get_config
from islr.data import SequenceDataset, collate_sequences
from islr.prepare import load_prepared, prepare
from islr.train.losses import build_loss
from islr.train.optim import build_optimizer
from islr.train.run import FAMILIES, build_model

PROJECTIONS = {"cnn": ("CNN fold-0 run", 82_667 * 182), "bert": ("full-data transformer run", 94_477 * 70),
               "deberta": ("full-data transformer run", 94_477 * 70)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="cnn", choices=sorted(FAMILIES))
    ap.add_argument("--model", default="", help="CNN registry name (default: the profile's)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    over = {"cnn.model": args.model} if args.model else {}
    cfg = get_config(args.profile, over)
    dev = torch.device(args.device)
    out = paths.generated_data_dir() / "prepared" / "bench_sample"
    prepare(paths.SAMPLE_DIR, out, num_workers=1, show_progress=False)
    prepared = load_prepared(out)
    spec = FAMILIES[args.family]
    ds = SequenceDataset(prepared, np.arange(len(prepared)), spec.pipeline.points, donors=spec.donors)
    rng = np.random.default_rng(0)
    batches = [collate_sequences([ds[int(i)] for i in rng.integers(0, len(ds), args.batch)]) for _ in range(4)]
    batches = [{k: v.to(dev) for k, v in b.items()} for b in batches]
    model = build_model(cfg, args.family).to(dev).train()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if args.compile else model
    tcfg = getattr(cfg, spec.train_block)
    loss_fn = build_loss(tcfg, aux_weight=cfg.cnn.hypercolumn_weight if args.family == "cnn" else 0.0).to(dev)
    opt = build_optimizer(model, tcfg.optimizer, tcfg.lr, tcfg.weight_decay)
    pipe = spec.pipeline(cfg, train=True)
    gen = torch.Generator(device=dev).manual_seed(0)

    def step(batch):
        b = pipe(batch, gen)
        x = b["x"]
        if args.channels_last and torch.is_tensor(x):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.amp):
            outputs = fwd(**x) if isinstance(x, dict) else fwd(x)
            loss = loss_fn(outputs, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(args.warmup):
        step(batches[i % 4])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(args.steps):
        step(batches[i % 4])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = args.steps * args.batch / (time.perf_counter() - start)
    name = cfg.cnn.model if args.family == "cnn" else f"{args.family} {cfg.transformer.hidden}×{cfg.transformer.layers}"
    what, samples = PROJECTIONS[args.family]
    machine = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"{name}: batch {args.batch}, amp {args.amp}, channels_last {args.channels_last}, compile {args.compile} "
          f"on {machine}")
    print(f"  {rate:,.1f} samples/s (augmentation + preprocessing + forward + backward + step)")
    print(f"  projected {what} ({samples:,} samples): {samples / rate / 3600:,.1f} h")


if __name__ == "__main__":
    main()
