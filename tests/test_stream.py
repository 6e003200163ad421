"""The pipelined live loop (islr.stream, islr.live.run) with real MediaPipe on the bundled real videos."""
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from islr.extract import LiveExtractor, iter_frames
from islr.io import sign_names
from islr.stream import FramePipeline

SOUP = Path(__file__).resolve().parents[1] / "data" / "videos" / "soup.mp4"


class ProjectionModel:
    """A deterministic stand-in for the sign model: logits = a fixed random projection of the window's mean frame
    (the pipeline is under test, not the model); records every window it is given."""

    def __init__(self):
        self.weights = np.random.default_rng(0).normal(size=(250, 543 * 3)).astype(np.float32)
        self.windows: list[np.ndarray] = []

    def __call__(self, window: np.ndarray) -> np.ndarray:
        self.windows.append(window.copy())
        return self.weights @ np.nan_to_num(window).mean(axis=0).ravel()


def test_pipelined_live_run_gives_the_updates_of_a_sequential_loop(tmp_path):
    from islr.live import SlidingWindowRecognizer, run
    from islr.stream import PipelineStats

    piped_model, stats = ProjectionModel(), PipelineStats()
    piped = run(str(SOUP), piped_model, sign_names(), window=16, every=4, out=str(tmp_path / "a.mp4"), stats=stats)
    # The plain loop of before: one frame at a time, over the same worker's landmarks.
    plain_model = ProjectionModel()
    recognizer = SlidingWindowRecognizer(plain_model, sign_names(), window=16, every=4)
    with LiveExtractor() as extractor:
        plain = [u for frame in iter_frames(SOUP) if (u := recognizer.push(extractor.process(frame))) is not None]
    assert len(plain) >= 5 and any(u.top for u in plain)
    assert piped == plain  # frames, windows and answers alike
    assert len(piped_model.windows) == len(plain_model.windows) > 0
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(piped_model.windows, plain_model.windows))
    # a video: every frame extracted, none dropped; every stage timed per frame
    assert stats.captured == 41 and stats.dropped == 0 and len(stats.done_at) == 41
    assert {k: len(v) for k, v in stats.seconds.items()} == {s: 41 for s in ("capture", "extraction", "worker",
                                                                             "recognition", "output")}
    assert (tmp_path / "a.mp4").stat().st_size > 10_000


def test_a_camera_like_source_drops_old_frames_instead_of_queueing_them():
    shots = [frame.copy() for _ in range(2) for frame in iter_frames(SOUP)]  # 82 distinct frame objects
    order = {id(frame): i for i, frame in enumerate(shots)}

    def camera(rate_hz: float = 200.0):
        """The video's frames twice at a camera's pace, several times faster than Holistic can follow."""
        for frame in shots:
            time.sleep(1 / rate_hz)
            yield frame

    with LiveExtractor() as extractor, FramePipeline(camera(), extractor, drop=True) as pipeline:
        seen = [order[id(frame)] for frame, _ in pipeline]
    stats = pipeline.stats  # complete once closed
    assert stats.captured == 82
    assert stats.max_waiting == 1  # never more than the newest frame waiting for extraction
    assert stats.dropped >= 41 and len(seen) + stats.dropped == 82  # most frames dropped, each frame once
    assert len(seen) >= 2 and seen == sorted(seen)  # the extracted ones in capture order


def test_a_dead_worker_stops_the_pipeline_with_an_error_naming_the_cause():
    class Killed:
        """The real extractor, whose worker process is killed (as by a crash in native code) at the 4th frame."""

        def __init__(self, live: LiveExtractor):
            self.live, self.calls, self.last_worker_seconds = live, 0, 0.0

        def process(self, frame):
            self.calls += 1
            if self.calls == 4:
                os.kill(self.live._worker.pid, signal.SIGKILL)
            return self.live.process(frame)

    started = time.perf_counter()
    with LiveExtractor() as live:
        pipeline = FramePipeline(iter_frames(SOUP), Killed(live), drop=False)
        with pipeline, pytest.raises(RuntimeError, match=r"live extraction worker exited \(code -9\)"):
            list(pipeline)
    assert time.perf_counter() - started < 60  # an error, not a hang
    assert not any(t.is_alive() for t in pipeline._threads)


def test_live_run_names_a_video_it_cannot_open(tmp_path):
    from islr.live import run

    with pytest.raises(OSError, match="cannot open video"):
        run(str(tmp_path / "missing.mp4"), ProjectionModel(), sign_names())
