"""The live loop's pipeline: capture and landmark extraction in their own threads, so that they overlap.

``islr live`` has three kinds of work per frame: capture (OpenCV decoding a video or reading a camera), landmark
extraction (MediaPipe Holistic in the extraction worker, :class:`islr.extract.LiveExtractor`, by far the largest)
and recognition plus output (the sliding-window recogniser, drawing and writing the annotated frame). Run one after
the other, a frame costs the sum; here capture runs in one thread, extraction in another (it waits on the worker's
pipe, so it holds no lock while MediaPipe works in its own process) and the caller consumes ``(frame, landmarks)``
in its own thread, so on two cores a frame costs about the slowest stage alone. Recognition calls the model only every
few frames; the bounded queue between extraction and the caller absorbs such a call, so extraction goes on with the
next frames meanwhile.

Two ways to hand frames from capture to extraction (:class:`FramePipeline`'s ``drop``):

* every frame (a replayed video): capture waits when extraction is behind, each frame is extracted in order and the
  landmarks are exactly those of a sequential loop, so the recogniser's updates are the same too;
* newest frame (a camera): capture never waits; when extraction is behind, the oldest waiting frame is dropped, so
  at most one frame waits and the latency stays one extraction, whatever the camera's rate.

An error in a stage thread (a camera that cannot open, an extraction worker that died) is raised in the caller's
thread, as it was raised (with its message naming the cause); the threads stop instead of leaving the caller waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Frames that may wait between extraction and the caller: room for the frames extracted while the recogniser runs
#: the model once (every 4 frames by default; one call takes about as long as one or two extractions).
RESULT_DEPTH = 8
#: How long closing the pipeline waits for each stage thread (a camera read or one extraction finishes well within).
JOIN_TIMEOUT_S = 10.0


class Extractor(Protocol):
    """What the pipeline needs from an extractor (:class:`islr.extract.LiveExtractor`)."""

    last_worker_seconds: float

    def process(self, frame: np.ndarray) -> np.ndarray: ...


@dataclass
class PipelineStats:
    """Where the time goes, per frame, in seconds: filled by :class:`FramePipeline` (``capture``, ``extraction`` =
    the extractor's call, ``worker`` = the worker's own part of it, the rest being the pipe) and by its caller
    (:func:`islr.live.run` adds ``recognition`` and ``output``).

    Attributes:
        seconds: stage name → one duration per frame handled by that stage.
        captured: frames read from the source.
        dropped: frames dropped because extraction was behind (newest-frame mode only).
        max_waiting: the most frames ever waiting between capture and extraction.
        done_at: ``time.perf_counter()`` when the caller had finished each frame (end-to-end rate).
    """

    seconds: dict[str, list[float]] = field(default_factory=dict)
    captured: int = 0
    dropped: int = 0
    max_waiting: int = 0
    done_at: list[float] = field(default_factory=list)

    def add(self, stage: str, seconds: float) -> None:
        """Record one frame's time in ``stage``."""
        self.seconds.setdefault(stage, []).append(seconds)


class _Handoff:
    """A bounded first-in-first-out hand-off between two threads. When full, :meth:`put` either waits for room
    (``drop_oldest=False``) or drops the oldest waiting item to make room (``drop_oldest=True``)."""

    def __init__(self, size: int, drop_oldest: bool):
        self.size, self.drop_oldest = size, drop_oldest
        self.dropped = self.max_waiting = 0
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item) -> bool:
        """Hand ``item`` over; False when the hand-off was closed (the receiver stopped)."""
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.size and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            if len(self._items) >= self.size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.max_waiting = max(self.max_waiting, len(self._items))
            self._cond.notify_all()
            return True

    def get(self):
        """The next item, waiting for one; :data:`_CLOSED` once closed."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if self._closed:
                return _CLOSED
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake and release both sides for good (waiting items are discarded)."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()


_CLOSED = object()  # a hand-off was closed
_END = object()  # the source has no more frames


@dataclass
class _Failure:
    """An exception raised in a stage thread, passed downstream to be raised in the caller's thread."""

    error: BaseException


class FramePipeline:
    """Capture → extraction in two threads; iterate to get ``(frame, landmarks)`` in capture order.

    Example::

        with LiveExtractor() as extractor, FramePipeline(iter_frames(video), extractor, drop=False) as frames:
            for frame, landmarks in frames:
                ...  # recognise, draw (this thread)

    Args:
        frames: the source's BGR frames (:func:`islr.extract.iter_frames`); iterated in the capture thread, and
            closed there when the pipeline stops early (a generator's ``finally`` releases the camera).
        extractor: turns a frame into (543, 3) landmarks; called in the extraction thread only.
        drop: False: every frame is extracted, in order (a video); True: only the newest frame waits for extraction,
            older ones are dropped (a camera).
        stats: where to record the stage times (a new :class:`PipelineStats` if None); also :attr:`stats`.
        depth: frames that may wait between extraction and the caller.
    """

    def __init__(self, frames: Iterable[np.ndarray], extractor: Extractor, drop: bool,
                 stats: PipelineStats | None = None, depth: int = RESULT_DEPTH):
        self.stats = stats if stats is not None else PipelineStats()
        self._frames, self._extractor = frames, extractor
        self._to_extract = _Handoff(1 if drop else depth, drop_oldest=drop)
        self._results = _Handoff(depth, drop_oldest=False)
        self._threads = [threading.Thread(target=self._capture, name="islr-live-capture", daemon=True),
                         threading.Thread(target=self._extract, name="islr-live-extract", daemon=True)]
        for thread in self._threads:
            thread.start()

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frame, landmarks)`` until the source ends; raises a stage thread's exception as it was raised."""
        while True:
            item = self._results.get()
            if item is _END or item is _CLOSED:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop both threads (idempotent). A stage busy in a camera read or an extraction finishes it first."""
        self._to_extract.close()
        self._results.close()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_S)
        self.stats.dropped, self.stats.max_waiting = self._to_extract.dropped, self._to_extract.max_waiting

    def __enter__(self) -> FramePipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _capture(self) -> None:
        frames = iter(self._frames)
        try:
            while True:
                started = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    self._to_extract.put(_END)
                    return
                self.stats.add("capture", time.perf_counter() - started)
                self.stats.captured += 1
                if not self._to_extract.put(frame):
                    return
        # A thread boundary: whatever the source raises (OSError for a camera that cannot open, cv2 errors) is
        # handed to the caller's thread, which raises it.
        except BaseException as err:  # noqa: BLE001
            self._to_extract.put(_Failure(err))
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _extract(self) -> None:
        while True:
            item = self._to_extract.get()
            if item is _CLOSED:
                return
            if item is _END or isinstance(item, _Failure):
                self._results.put(item)
                return
            started = time.perf_counter()
            try:
                landmarks = self._extractor.process(item)
            # A thread boundary: the extractor's error (the worker died, with its stderr in the message) is handed
            # to the caller's thread; capture is stopped, no frame after it is extracted.
            except BaseException as err:  # noqa: BLE001
                self._to_extract.close()
                self._results.put(_Failure(err))
                return
            self.stats.add("extraction", time.perf_counter() - started)
            self.stats.add("worker", self._extractor.last_worker_seconds)
            if not self._results.put((item, landmarks)):
                return
