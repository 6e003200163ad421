"""``islr live --web`` budget: MediaPipe Holistic in the browser page, and answers from the server, per second.

The page runs in headless Chromium (:mod:`islr.web.headless`: WebGL on SwiftShader, Holistic with CPU inference)
with a real video as its fake camera (played in a loop); the server (:mod:`islr.web.server`) answers with the model
as ``islr live --web`` does. After ``--warmup`` seconds (Holistic loads, the first frames), for ``--seconds``: the
frames Holistic finished in the page per second, the frames of landmarks the server received per second (end to
end: page → HTTP → asl-signs frame → recogniser), and the answers per second (one every ``--every`` frames). One row
per ``--complexity`` (Holistic's pose model, 0 lite / 1 full / 2 heavy).

The model is ``--model`` (a .tflite file or an ONNX ensemble folder), by default notebook 06's submission; the
timing does not depend on its weights.

Run: ``python benchmarks/bench_web.py [--video data/videos/soup.mp4] [--seconds 30] [--complexity 1]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from islr.predict import default_model
from islr.report import record_benchmark
from islr.web.headless import start_chromium, write_y4m
from islr.web.app import create_server

REPO = Path(__file__).resolve().parents[1]


def measure(camera: Path, model: str | None, complexity: int, every: int, window: int, warmup: float,
            seconds: float, work: Path) -> dict:
    """One run of the page: its counters over ``seconds`` after ``warmup``."""
    server = create_server(model, port=0, window=window, every=every, model_complexity=complexity,
                           takes_dir=work / "takes").start()
    driver = start_chromium(camera, work / f"profile-{complexity}")
    read = "return {processed: islrStats.processed, error: islrStats.error}"
    try:
        driver.get(server.url)
        deadline = time.monotonic() + 300
        while driver.execute_script(read)["processed"] == 0:  # Holistic loading
            if driver.execute_script(read)["error"] or time.monotonic() > deadline:
                raise RuntimeError(f"the page did not start: {driver.execute_script(read)['error']}")
            time.sleep(0.5)
        time.sleep(warmup)
        page0, status0, t0 = driver.execute_script(read), server.session.status(), time.perf_counter()
        time.sleep(seconds)
        page1, status1, t1 = driver.execute_script(read), server.session.status(), time.perf_counter()
    finally:
        driver.quit()
        server.stop()
    elapsed = t1 - t0
    received = status1["received"] - status0["received"]
    return {"model_complexity": complexity, "seconds": round(elapsed, 1),
            "holistic_fps": (page1["processed"] - page0["processed"]) / elapsed,
            "received_fps": received / elapsed,
            "answers_per_s": (status1["answers"] - status0["answers"]) / elapsed,
            "hand_share": (status1["hand_frames"] - status0["hand_frames"]) / max(received, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "data" / "videos" / "soup.mp4")
    parser.add_argument("--model", default="", help=f"TFLite file or ONNX folder (default: {default_model()})")
    parser.add_argument("--complexity", type=int, nargs="+", default=[1], choices=(0, 1, 2),
                        help="Holistic pose model(s) to measure")
    parser.add_argument("--every", type=int, default=4, help="answer every N frames")
    parser.add_argument("--window", type=int, default=48, help="frames in the sliding window")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the first frame, not timed")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_web-") as tmp:
        work = Path(tmp)
        camera = write_y4m(args.video, work / "camera.y4m")
        rows = [measure(camera, args.model or None, c, args.every, args.window, args.warmup, args.seconds, work)
                for c in args.complexity]
    print(f"{args.video.name} as the camera of headless Chromium (SwiftShader WebGL, Holistic CPU inference), "
          f"every {args.every} frames, window {args.window}")
    print(pd.DataFrame(rows).set_index("model_complexity").to_string(float_format="{:.2f}".format))
    record_benchmark("web", rows, data=f"real video {args.video.name} as the browser's fake camera (looped)",
                     notes=f"headless Chromium, WebGL on SwiftShader, Holistic useCpuInference; every {args.every}, "
                           f"window {args.window}; {args.warmup:.0f} s warm-up, {args.seconds:.0f} s timed")


if __name__ == "__main__":
    main()
