"""Throughput of the training input pipelines (augmentation + preprocessing), per sample and batched.

CNN: augment the 86 points (:func:`islr.augment.augment_cnn_points`, every probability at the reference's value) →
select the 80 CNN columns → normalise → random/nearest time resize to 160 → frame/point masking.
Transformer: :func:`islr.augment.augment_transformer_points` → :func:`islr.preprocess.transformer.transformer_input`.

"per sample" runs B = 1 in a Python loop, as a DataLoader worker does; "batched" runs whole padded batches. The
sequences are the real bundled sample files (islr/resources/sample), cycled.

Usage::

    python benchmarks/bench_augment.py [--device cpu|cuda] [--batch 256] [--seconds 5] [--threads N]

Records ``outputs/benchmarks/augment_<device>.json`` (:func:`islr.report.record_benchmark`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from islr import augment, io, landmarks, paths
from islr.config import CNNAugConfig, TransformerAugConfig
from islr.preprocess import cnn as cnn_pre
from islr.preprocess import transformer as tr_pre
from islr.report import record_benchmark


def load_sequences() -> list[np.ndarray]:
    """All bundled sample sequences as (T, 543, 3) float32."""
    files = sorted(paths.SAMPLE_DIR.glob("train_landmark_files/*/*.parquet"))
    return [io.read_landmarks(f) for f in files]


def pad(seqs: list[np.ndarray], points: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T_max, P, 3) NaN-padded batch of the given point columns and its (B,) lengths."""
    t_max = max(len(s) for s in seqs)
    out = np.full((len(seqs), t_max, len(points), 3), np.nan, dtype=np.float32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s[:, points]
    return torch.from_numpy(out).to(device), torch.tensor([len(s) for s in seqs], device=device)


def cnn_step(x: torch.Tensor, lengths: torch.Tensor, cfg: CNNAugConfig, gen: torch.Generator) -> torch.Tensor:
    x, lengths = augment.augment_cnn_points(x, lengths, cfg, gen)
    pts = x[:, :, landmarks.CNN_AUG_TO_CNN]  # (B, T, 80, 3)
    index = augment.random_frame_indices(lengths, gen, cfg.random_frame_pick_prob).to(x.device)
    img = cnn_pre.resize_time(cnn_pre.normalize(pts, lengths), lengths, 160, index).permute(0, 3, 1, 2)
    return augment.mask_image(img, gen, cfg)  # (B, 3, 160, 80)


def transformer_step(x: torch.Tensor, lengths: torch.Tensor, cfg: TransformerAugConfig,
                     gen: torch.Generator) -> torch.Tensor:
    x, lengths = augment.augment_transformer_points(x, lengths, cfg, gen)
    feats, _ = tr_pre.transformer_input(x, lengths)
    return feats


def timed(fn: Callable[[], int], seconds: float, device: str) -> float:
    """Samples per second of ``fn`` (which returns the samples it processed), after one warm-up call."""
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (DataLoader workers use 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seqs = load_sequences()
    gen = torch.Generator().manual_seed(0)
    lens = [len(s) for s in seqs]
    print(f"{len(seqs)} real sample sequences, frames min {min(lens)} median {int(np.median(lens))} "
          f"max {max(lens)}; device {args.device}; torch threads {args.threads}")
    pipelines = {
        "cnn": (landmarks.CNN_AUG_POINTS, cnn_step, CNNAugConfig()),
        "transformer": (landmarks.TRANSFORMER_POINTS, transformer_step, TransformerAugConfig()),
    }
    rows = []
    for name, (points, step, cfg) in pipelines.items():
        singles = [pad([s], points, args.device) for s in seqs]
        big = [seqs[i % len(seqs)] for i in range(args.batch)]
        xb, lb = pad(big, points, args.device)
        it = iter(range(10**12))

        def one() -> int:
            x, lengths = singles[next(it) % len(singles)]
            step(x, lengths, cfg, gen)
            return 1

        def many() -> int:
            step(xb, lb, cfg, gen)
            return args.batch

        per_sample = timed(one, args.seconds, args.device)
        batched = timed(many, args.seconds, args.device)
        print(f"{name:12s} per sample (B=1 loop): {per_sample:8.0f} samples/s   "
              f"batched (B={args.batch}): {batched:8.0f} samples/s")
        rows.append({"pipeline": name, "per_sample_per_s": round(per_sample, 1),
                     f"batched_b{args.batch}_per_s": round(batched, 1), "batched_gain": round(batched / per_sample, 2)})
    record_benchmark(f"augment_{args.device.split(':')[0]}", rows, device=args.device,
                     data=f"{len(seqs)} real sequences of the bundled sample, cycled "
                          f"(frames median {int(np.median(lens))})",
                     notes=f"augmentation + preprocessing at the reference's probabilities; {args.seconds:g} s per "
                           f"measurement; torch threads {args.threads}")


if __name__ == "__main__":
    main()
