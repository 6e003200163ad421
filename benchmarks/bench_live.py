"""``islr live`` budget: a video replayed as a camera, frames/s end to end on one core, and each stage's share.

Stages per frame: capture (OpenCV decode), landmark extraction (MediaPipe Holistic in the extraction worker,
:class:`islr.extract.LiveExtractor`), recognition (the sliding-window recogniser: stacking the window and, every
``--every`` frames, one call of the ensemble). This process and the worker it starts are pinned to one CPU core
(``os.sched_setaffinity``), the model runs on one thread. The video is replayed ``--loops`` times (the extractor is
reset between replays, as between two sequences). Recognition must never be the bottleneck: the script prints the
slowest recognition call next to the extraction time of the ``--every`` frames between two calls.

The model is ``--model`` (a .tflite file or an ONNX ensemble folder), by default notebook 06's submission; timing
does not depend on its weights.

Run: ``python benchmarks/bench_live.py [--video data/videos/soup.mp4] [--every 4] [--window 48] [--loops 3]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from islr.io import sign_names
from islr.live import SlidingWindowRecognizer
from islr.predict import default_model, load_sign_model
from islr.report import record_benchmark

REPO = Path(__file__).resolve().parents[1]


def measure(video: Path, model, every: int, window: int, loops: int) -> tuple[pd.DataFrame, dict]:
    """Per-frame stage times (ms) over ``loops`` replays, and the recognition calls' times."""
    from islr.extract import LiveExtractor, iter_frames

    recognizer = SlidingWindowRecognizer(model, sign_names(), window=window, every=every)
    calls: list[float] = []
    timed_model = recognizer.model

    def model_call(x: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = timed_model(x)
        calls.append((time.perf_counter() - start) * 1e3)
        return out

    recognizer.model = model_call
    rows = []
    with LiveExtractor() as extractor:
        for loop in range(loops):
            extractor.reset()
            frames = iter_frames(str(video))
            while True:
                t0 = time.perf_counter()
                frame = next(frames, None)
                t1 = time.perf_counter()
                if frame is None:
                    break
                lm = extractor.process(frame)
                t2 = time.perf_counter()
                recognizer.push(lm)
                t3 = time.perf_counter()
                rows.append({"loop": loop, "capture_ms": (t1 - t0) * 1e3, "extraction_ms": (t2 - t1) * 1e3,
                             "recognition_ms": (t3 - t2) * 1e3})
    return pd.DataFrame(rows), {"calls_ms": np.asarray(calls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "data" / "videos" / "soup.mp4")
    parser.add_argument("--model", default="", help=f"TFLite file or ONNX folder (default: {default_model()})")
    parser.add_argument("--every", type=int, default=4, help="recognise every N frames")
    parser.add_argument("--window", type=int, default=48, help="frames in the sliding window")
    parser.add_argument("--loops", type=int, default=3, help="replays of the video")
    parser.add_argument("--core", type=int, default=0, help="the CPU core to pin to")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})  # the extraction worker inherits it
    model = load_sign_model(args.model or None, threads=1)
    frames, extra = measure(args.video, model, args.every, args.window, args.loops)
    frames = frames[frames["loop"] > 0] if args.loops > 1 else frames  # the first replay warms up
    stages = frames[["capture_ms", "extraction_ms", "recognition_ms"]]
    per_frame = stages.sum(axis=1)
    total = stages.sum()
    calls = extra["calls_ms"]
    fps = 1e3 / per_frame.mean()
    budget = args.every * frames["extraction_ms"].median()
    rows = [{"stage": s.replace("_ms", ""), "mean_ms_per_frame": float(stages[s].mean()),
             "share": float(total[s] / total.sum())} for s in stages]
    rows.append({"stage": "end to end", "mean_ms_per_frame": float(per_frame.mean()), "share": 1.0, "fps": fps})
    rows.append({"stage": "recognition call", "median_ms": float(np.median(calls)), "max_ms": float(calls.max()),
                 "calls": len(calls), "extraction_ms_between_calls": float(budget)})
    print(f"{args.video.name}: {len(frames)} frames timed (after one warm-up replay), one core, every {args.every} "
          f"frames, window {args.window}, model {getattr(model, 'path', args.model)}")
    print(pd.DataFrame(rows).set_index("stage").to_string(float_format="{:.3f}".format))
    print(f"end to end: {fps:.1f} frames/s; slowest recognition call {calls.max():.1f} ms vs {budget:.1f} ms of "
          f"extraction between two calls -> recognition {'is NOT' if calls.max() < budget else 'IS'} the bottleneck")
    record_benchmark("live", rows, data=f"real video {args.video.name} replayed {args.loops}x as a camera",
                     notes=f"one core (sched_setaffinity), model threads 1, every {args.every}, window {args.window}")


if __name__ == "__main__":
    main()
