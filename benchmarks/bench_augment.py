"""Throughput of the training input pipelines (augmentation + preprocessing), per sample and batched.

The pipelines are the training ones, :class:`islr.pipeline.CNNPipeline` and :class:`islr.pipeline.TransformerPipeline`
with ``train=True`` and the reference's augmentation probabilities (the config defaults). CNN: augment the 86 points
→ 80 CNN columns → normalise → random/nearest time resize to 160 → replace from a same-class donor / mixup →
frame/point masking. Transformer: point augmentations → dominant hand, ≤ 96 frames, 972 features.

"per sample" runs B = 1 in a Python loop, as a DataLoader worker does; "batched" runs whole padded batches. The
sequences are the real bundled sample files (islr/resources/sample), cycled; each one's donor is the next sequence
of the same sign.

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

from islr import io, paths
from islr.config import Config
from islr.data import collate_sequences
from islr.pipeline import CNNPipeline, TransformerPipeline
from islr.report import record_benchmark


def load_samples() -> tuple[list[np.ndarray], np.ndarray]:
    """All bundled sample sequences as (T, 543, 3) float32, and their (N,) labels."""
    index = io.read_train_index(paths.SAMPLE_DIR)
    return [io.read_landmarks(paths.SAMPLE_DIR / p) for p in index["path"]], index["label"].to_numpy()


def make_batch(seqs: list[np.ndarray], labels: np.ndarray, rows: list[int], points: np.ndarray,
               device: str) -> dict:
    """A training batch of ``rows`` as the DataLoader collates it (``seq``, ``lengths``, ``y``, ``index``, donors)."""
    items = []
    for r in rows:
        same = np.flatnonzero(labels == labels[r])
        donor = same[(np.searchsorted(same, r) + 1) % len(same)]  # the next sequence of the same sign
        items.append({"seq": seqs[r][:, points], "label": int(labels[r]), "index": r,
                      "donor": seqs[donor][:, points]})
    return {key: value.to(device) for key, value in collate_sequences(items).items()}


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
    seqs, labels = load_samples()
    gen = torch.Generator(device=args.device).manual_seed(0)  # on the device, as in the training loop
    lens = [len(s) for s in seqs]
    print(f"{len(seqs)} real sample sequences, frames min {min(lens)} median {int(np.median(lens))} "
          f"max {max(lens)}; device {args.device}; torch threads {args.threads}")
    cfg = Config()  # the reference's augmentation probabilities and input sizes
    pipelines = {"cnn": CNNPipeline(cfg, train=True), "transformer": TransformerPipeline(cfg, train=True)}
    rows = []
    for name, pipeline in pipelines.items():
        singles = [make_batch(seqs, labels, [i], pipeline.points, args.device) for i in range(len(seqs))]
        big = make_batch(seqs, labels, [i % len(seqs) for i in range(args.batch)], pipeline.points, args.device)
        it = iter(range(10**12))

        def one() -> int:
            pipeline(singles[next(it) % len(singles)], gen)
            return 1

        def many() -> int:
            pipeline(big, gen)
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
                     notes=f"training pipelines (islr.pipeline, train=True) at the reference's probabilities; "
                           f"{args.seconds:g} s per "
                           f"measurement; torch threads {args.threads}")


if __name__ == "__main__":
    main()
