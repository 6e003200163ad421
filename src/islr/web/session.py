"""What the browser page's landmarks become on the Python side: asl-signs frames, live answers and whole takes.

The page runs MediaPipe Holistic and posts, per video frame, the four landmark lists as JSON
(``{"face": [[x, y, z]] * 468 | null, "left_hand": 21 | null, "pose": 33 | null, "right_hand": 21 | null}``).
:func:`payload_to_frame` turns one into the (543, 3) float32 frame of asl-signs, as the Python extraction does
(:func:`islr._extract_worker.frame_landmarks`: each part's normalised x, y, z in the rows of
:data:`islr.landmarks.PARTS`, MediaPipe's ``leftHandLandmarks`` in the ``left_hand`` rows, NaN for a part not
detected; the pose keeps x, y, z only, its visibility is dropped there too). From then on nothing is specific to the
browser: :class:`LiveSession` pushes every frame into the recogniser it is given
(:class:`islr.live.SlidingWindowRecognizer`, the object ``islr live --camera`` uses; this module does not import
:mod:`islr.live`, whose command starts the page), and a take (every frame between Start and Stop) is written as an
asl-signs parquet (:func:`islr.io.write_landmarks`) and scored by :func:`islr.predict.predict_files` on that file, so
its answer is exactly what ``islr predict TAKE.parquet`` prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from islr import io
from islr import landmarks as L
from islr.answer import WAITING, Answer

#: A take stops recording at this many frames (5 minutes at 30 frames/s; the parquet numbers frames in int16).
MAX_TAKE_FRAMES = 9000


def payload_to_frame(payload: dict) -> np.ndarray:
    """One frame of the page's landmarks → (543, 3) float32 in asl-signs row order, NaN where a part is missing.

    Raises:
        ValueError: a key that is not a part, or a part with the wrong number of points or non-numbers (names it).
    """
    if not isinstance(payload, dict):
        raise ValueError(f"a frame must be an object of parts, got {type(payload).__name__}")
    unknown = set(payload) - set(L.PART_SIZE)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; the parts are {list(L.PART_SIZE)}")
    out = np.full((L.N_LANDMARKS, 3), np.nan, dtype=np.float32)
    for name, start, size in L.PARTS:
        points = payload.get(name)
        if points is None:
            continue
        try:
            values = np.asarray(points, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: not a list of [x, y, z] numbers ({err})") from err
        if values.shape != (size, 3):
            raise ValueError(f"{name}: expected {size} points of [x, y, z], got shape {values.shape}")
        out[start:start + size] = values
    return out


def _waiting() -> dict:
    """The answer before any: "waiting for frames", with the keys of every answer."""
    return Answer(WAITING).as_dict()


def _update_json(update) -> dict:
    """A live update as JSON (:meth:`islr.live.LiveUpdate.as_dict`: state, sign, p, text, top [{sign, p}], frames,
    span, calibrated, reason), or the waiting state before the first one."""
    return _waiting() if update is None else update.as_dict()


def _prediction_json(pred) -> dict:
    """A take's :class:`islr.predict.Prediction` as JSON, with the keys of a live update."""
    if pred.error:
        raise RuntimeError(f"{pred.path}: the take just written cannot be read back: {pred.error}")
    return pred.as_dict()


class LiveSession:
    """The server's state: the recogniser fed by the page, counters, and the take being recorded.

    Thread-safe (the HTTP server answers requests in threads); frames are pushed in the order the page sent them.

    Args:
        recognizer: ``push((543, 3) frame) -> update or None`` (:class:`islr.live.SlidingWindowRecognizer`).
        model: (T, 543, 3) → (250,) logits, for the whole take (:func:`islr.predict.load_sign_model`).
        sign_names: the 250 signs in label order.
        takes_dir: where takes are written as parquet files.
        k: signs per take answer.
    """

    def __init__(self, recognizer, model: Callable[[np.ndarray], np.ndarray], sign_names: list[str],
                 takes_dir: str | Path = "takes", k: int = 5):
        self.recognizer, self.model, self.names, self.k = recognizer, model, sign_names, k
        self.takes_dir = Path(takes_dir)
        self._lock = threading.Lock()
        self.received = self.hand_frames = self.answers = 0
        self.latest = None
        self.take: list[np.ndarray] | None = None
        self.last_take: dict | None = None

    def _status(self) -> dict:
        return {"received": self.received, "hand_frames": self.hand_frames, "answers": self.answers,
                "recording": self.take is not None, "take_frames": len(self.take or ()),
                "update": _update_json(self.latest)}

    def status(self) -> dict:
        """Counters, whether a take is recording, and the latest live answer."""
        with self._lock:
            return self._status()

    def push(self, payloads: list) -> dict:
        """Frames from the page, in order → :meth:`status` after them.

        Raises:
            ValueError: a frame that is not a valid payload (names its index in the batch); the frames before it
                were taken.
        """
        with self._lock:
            for i, payload in enumerate(payloads):
                try:
                    frame = payload_to_frame(payload)
                except ValueError as err:
                    raise ValueError(f"frame {i} of the batch: {err}") from err
                self.received += 1
                self.hand_frames += bool(L.hand_frames(frame[None])[0])
                if self.take is not None and len(self.take) < MAX_TAKE_FRAMES:
                    self.take.append(frame)
                update = self.recognizer.push(frame)
                if update is not None:
                    self.latest, self.answers = update, self.answers + 1
            return self._status()

    def start_take(self) -> dict:
        """Start recording a take (a take already recording starts again, empty)."""
        with self._lock:
            self.take = []
            return self._status()

    def stop_take(self) -> dict:
        """Stop recording and answer the whole take: written to ``takes_dir/take-<time>.parquet`` and scored with
        :func:`islr.predict.predict_files` on that file (``path`` in the result). A take without frames gets the
        "waiting for frames" answer and no file; stopping when nothing records answers the last take again."""
        from islr.predict import predict_files

        with self._lock:
            if self.take is None:
                return self.last_take or _waiting()
            frames, self.take = self.take, None
            if not frames:
                self.last_take = _waiting()
                return self.last_take
            path = self.takes_dir / f"take-{time.strftime('%Y%m%d-%H%M%S')}-{self.received}.parquet"
            io.write_landmarks(path, np.stack(frames))
            (pred,) = predict_files([path], self.model, self.names, self.k)
            self.last_take = {**_prediction_json(pred), "path": str(path)}
            return self.last_take
