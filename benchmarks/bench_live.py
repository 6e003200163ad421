"""``islr live`` frame rate: a real video replayed as a camera through the pipelined live loop, per stage.

Variants, run round-robin ``--repeats`` times (a busy machine's noise then hits them alike; medians are reported):

* the pipelined loop (:func:`islr.live.run`: capture and extraction in their own threads, recognition, drawing and
  writing the annotated video in the caller's) on two cores, the real setting, for each MediaPipe model complexity
  in ``--complexities``;
* the same on one core (``os.sched_setaffinity``; the extraction worker inherits it), default complexity;
* the sequential loop of before (capture → extraction → recognition → drawing/writing, one after the other) on two
  cores, default complexity: what pipelining gains.

Per variant: end-to-end frames/s after the first replay (a warm-up), each stage's mean time per frame (extraction =
the call to the worker, of which ``worker`` is MediaPipe's own time and ``pipe`` the rest), the extraction stage's
busy share (its time × the frame rate: near 100 % it is the bottleneck), and the recognition calls (median, slowest)
against the extraction time of the ``--every`` frames between two calls. The model runs on one thread. The video is
replayed ``--loops`` times as one stream (its frames re-encoded once into a temporary mp4; tracking then meets a cut
at each replay, as a camera would).

The model is ``--model`` (a .tflite file or an ONNX ensemble folder), by default notebook 06's submission; timing
does not depend on its weights. Complexities 0 and 2 need MediaPipe's lite/heavy pose model, which mediapipe
downloads on first use (the wheel ships only complexity 1's); a complexity whose model cannot be had is reported and
skipped.

Run: ``python benchmarks/bench_live.py [--video data/videos/soup.mp4] [--every 4] [--window 48] [--loops 4]
[--repeats 3] [--complexities 0 1 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from islr.extract import HolisticSettings, LiveExtractor, iter_frames
from islr.io import sign_names
from islr.live import SlidingWindowRecognizer, draw, run
from islr.predict import default_model, load_sign_model
from islr.report import record_benchmark
from islr.stream import PipelineStats

REPO = Path(__file__).resolve().parents[1]
STAGES = ("capture", "extraction", "worker", "recognition", "output")


class TimedModel:
    """The model, timing each call (ms); keeps ``path`` so the recogniser finds the model's answer rules."""

    def __init__(self, model):
        self.model, self.path, self.calls_ms = model, getattr(model, "path", None), []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        out = self.model(x)
        self.calls_ms.append((time.perf_counter() - started) * 1e3)
        return out


def replayed(video: Path, loops: int, folder: Path) -> tuple[Path, int]:
    """The video's frames ``loops`` times in one mp4 (mp4v) under ``folder``; (path, frames per replay)."""
    import cv2

    frames = list(iter_frames(video))
    out = folder / f"{video.stem}_x{loops}.mp4"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (frames[0].shape[1], frames[0].shape[0]))
    for _ in range(loops):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return out, len(frames)


def sequential(video: Path, model, settings: HolisticSettings, window: int, every: int, out: Path,
               stats: PipelineStats) -> None:
    """The loop before pipelining, every stage one after the other, timed into ``stats`` like :func:`run`."""
    import cv2

    recognizer = SlidingWindowRecognizer(model, sign_names(), window, every)
    writer, last = None, None
    frames = iter_frames(video)
    with LiveExtractor(settings) as extractor:
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            t1 = time.perf_counter()
            lm = extractor.process(frame)
            t2 = time.perf_counter()
            last = recognizer.push(lm) or last
            t3 = time.perf_counter()
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(draw(frame, lm, last))
            t4 = time.perf_counter()
            for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, extractor.last_worker_seconds, t3 - t2, t4 - t3)):
                stats.add(stage, seconds)
            stats.done_at.append(t4)
    writer.release()


def measure(variant: str, cores: set[int], complexity: int, stream: Path, warmup: int, model, window: int,
            every: int, folder: Path) -> dict:
    """One run of one variant: frames/s after ``warmup`` frames, stage means (ms/frame), recognition calls."""
    os.sched_setaffinity(0, cores)  # this thread, the stage threads it starts and the worker inherit it
    timed, stats = TimedModel(model), PipelineStats()
    settings = HolisticSettings(model_complexity=complexity)
    out = folder / f"{variant}.mp4"
    if variant == "sequential":
        sequential(stream, timed, settings, window, every, out, stats)
    else:
        run(str(stream), timed, sign_names(), window, every, out=str(out), settings=settings, stats=stats)
    done = stats.done_at
    row = {"fps": (len(done) - 1 - warmup) / (done[-1] - done[warmup])}
    for stage in STAGES:
        row[f"{stage}_ms"] = 1e3 * float(np.mean(stats.seconds[stage][warmup:]))
    row["calls_ms"] = timed.calls_ms[warmup // every:]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "data" / "videos" / "soup.mp4")
    parser.add_argument("--model", default="", help=f"TFLite file or ONNX folder (default: {default_model()})")
    parser.add_argument("--every", type=int, default=4, help="recognise every N frames")
    parser.add_argument("--window", type=int, default=48, help="frames in the sliding window")
    parser.add_argument("--loops", type=int, default=4, help="replays of the video in one stream")
    parser.add_argument("--repeats", type=int, default=3, help="round-robin repeats of all variants")
    parser.add_argument("--complexities", type=int, nargs="+", default=[0, 1, 2], choices=(0, 1, 2))
    args = parser.parse_args()
    default = HolisticSettings().model_complexity
    all_cores = sorted(os.sched_getaffinity(0))
    two, one = set(all_cores[:2]), {all_cores[0]}
    model = load_sign_model(args.model or None, threads=1)
    variants = [("pipelined", two, c) for c in args.complexities]
    variants += [("pipelined", one, default), ("sequential", two, default)]
    runs: dict[tuple, list[dict]] = {}
    skipped: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        stream, warmup = replayed(args.video, args.loops, Path(tmp))
        for _ in range(args.repeats):
            for variant, cores, complexity in variants:
                if complexity in skipped:
                    continue
                try:
                    row = measure(variant, cores, complexity, stream, warmup, model, args.window, args.every,
                                  Path(tmp))
                except RuntimeError as err:  # the worker could not start: complexity 0/2's model not available
                    skipped[complexity] = str(err).strip().splitlines()[-1]
                    print(f"complexity {complexity} skipped: {skipped[complexity]}")
                    continue
                runs.setdefault((variant, len(cores), complexity), []).append(row)
        os.sched_setaffinity(0, set(all_cores))
    rows = []
    for (variant, cores, complexity), found in runs.items():
        calls = np.concatenate([r["calls_ms"] for r in found])
        row = {"variant": variant, "cores": cores, "model_complexity": complexity,
               "default": complexity == default and variant == "pipelined" and cores == 2,
               "fps": statistics.median(r["fps"] for r in found)}
        row["ms_per_frame"] = 1e3 / row["fps"]
        for stage in STAGES:
            row[f"{stage}_ms"] = statistics.median(r[f"{stage}_ms"] for r in found)
        row["pipe_ms"] = row["extraction_ms"] - row["worker_ms"]
        row["extraction_busy"] = row["extraction_ms"] * row["fps"] / 1e3
        row["call_median_ms"], row["call_max_ms"] = float(np.median(calls)), float(calls.max())
        row["extraction_ms_between_calls"] = args.every * row["extraction_ms"]
        row["runs"] = len(found)
        rows.append(row)
        print(f"{variant:10s} {cores} core(s) complexity {complexity}: {row['fps']:5.1f} frames/s  " + "  ".join(
            f"{s} {row[f'{s}_ms']:.1f}" for s in (*STAGES, "pipe")) + f" ms/frame; extraction busy "
            f"{row['extraction_busy']:.0%}; recognition call {row['call_median_ms']:.1f} median, "
            f"{row['call_max_ms']:.1f} max vs {row['extraction_ms_between_calls']:.1f} ms of extraction between calls")
    notes = (f"{args.repeats} round-robin repeats (medians), first replay of {args.loops} a warm-up; model threads 1, "
             f"every {args.every}, window {args.window}; annotated video written; default complexity {default}")
    if skipped:
        notes += "; skipped: " + "; ".join(f"complexity {c} ({why})" for c, why in skipped.items())
    record_benchmark("live", rows, data=f"real video {args.video.name} replayed {args.loops}x as a camera",
                     notes=notes)


if __name__ == "__main__":
    main()
