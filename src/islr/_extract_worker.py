"""MediaPipe Holistic worker, run by :mod:`islr.extract` inside the extraction environment (``.venv-extract``).

This file is executed by path with that environment's python (``python -I _extract_worker.py MODE``). It imports
only numpy, cv2 and mediapipe — never ``islr`` (whose modules need numpy 2 / pandas 3, which mediapipe 0.10.21
cannot live with) — so the 543-row frame layout is restated here and checked against ``islr.landmarks.PARTS`` by
the tests.

Modes:

* ``batch``: reads a JSON job from stdin ``{"settings": {...}, "videos": [{"path": ..., "out": ...}, ...]}``,
  runs Holistic on every decoded frame of each video (a fresh Holistic per video, so tracking never crosses videos)
  and saves a (T, 543, 3) float32 ``.npy`` at ``out``. Progress and results are JSON lines on the protocol stream:
  ``{"event": "start", "index": i, "frames_reported": n}``, ``{"event": "frame", "index": i, "frame": t}``,
  ``{"event": "done", "index": i, "frames": T, "frames_reported": n, "seconds": s}`` or
  ``{"event": "error", "index": i, "message": ...}``. One bad video never stops the batch.
* ``live SETTINGS_JSON``: binary request/reply over stdin/stdout, one frame at a time. It first writes ``READY``.
  Requests: ``b"F"`` + ``<III`` (height, width, channels) + the BGR uint8 pixels → reply ``<d`` (seconds the worker
  spent on the frame: colour conversion and Holistic, so the caller can tell the pipe's cost from MediaPipe's) +
  543*3 float32 (6,516 bytes, little-endian); ``b"R"`` (new sequence: fresh Holistic) → reply ``b"R"``; ``b"Q"`` or
  end of input → exit. Pixels are read straight into a reused buffer (no per-frame copies on the way in).

The protocol goes to a private duplicate of the original stdout; fd 1 is pointed at stderr, because mediapipe's C++
code and TFLite print to the process's stdout/stderr and must not corrupt the protocol stream.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

import cv2
import mediapipe as mp
import numpy as np

# Frame-row layout of asl-signs (= islr.landmarks.PARTS): face 468, left_hand 21, pose 33, right_hand 21.
PARTS = (("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21))
N_LANDMARKS = 543
_RESULT_FIELD = {"face": "face_landmarks", "left_hand": "left_hand_landmarks", "pose": "pose_landmarks",
                 "right_hand": "right_hand_landmarks"}
_FRAME_HEADER = struct.Struct("<III")
_SECONDS = struct.Struct("<d")  # the worker's own time per live frame, first in each reply


def _protocol_stream():
    """Binary stream on the original stdout; afterwards fd 1 (and ``sys.stdout``) write to stderr."""
    stream = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def make_holistic(settings: dict):
    """A video-mode Holistic (tracking across frames) with the asl-signs layout: 468 face points, no iris refine."""
    return mp.solutions.holistic.Holistic(
        static_image_mode=False,
        model_complexity=int(settings["model_complexity"]),
        smooth_landmarks=bool(settings["smooth_landmarks"]),
        refine_face_landmarks=False,  # True would give 478 face points; asl-signs has 468
        min_detection_confidence=float(settings["min_detection_confidence"]),
        min_tracking_confidence=float(settings["min_tracking_confidence"]),
    )


def frame_landmarks(holistic, bgr: np.ndarray) -> np.ndarray:
    """Run Holistic on one BGR frame; (543, 3) float32 in frame-row order, NaN for an undetected part."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb.flags.writeable = False  # lets mediapipe wrap the buffer without a copy
    result = holistic.process(rgb)
    out = np.full((N_LANDMARKS, 3), np.nan, dtype=np.float32)
    start = 0
    for name, count in PARTS:
        found = getattr(result, _RESULT_FIELD[name])
        if found is not None:
            # Normalised image coordinates (x, y in [0, 1] of width/height, z relative), as in asl-signs.
            out[start:start + count] = [(p.x, p.y, p.z) for p in found.landmark]
        start += count
    return out


def extract_file(path: str, settings: dict, on_frame) -> tuple[np.ndarray, int]:
    """All frames of one video → ((T, 543, 3) float32, frame count the container reports).

    Raises:
        ValueError: the file cannot be opened as a video, or no frame can be decoded from it.
    """
    if not os.path.isfile(path):
        raise ValueError("no such file")
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise ValueError("cannot be opened as a video (unknown format or corrupt file)")
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        holistic = make_holistic(settings)
        try:
            frames = []
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                frames.append(frame_landmarks(holistic, bgr))
                on_frame(len(frames) - 1)
        finally:
            holistic.close()
    finally:
        capture.release()
    if not frames:
        raise ValueError("no frame could be decoded (corrupt file or unsupported codec)")
    return np.stack(frames), reported


def run_batch(stream) -> int:
    job = json.loads(sys.stdin.read())

    def send(**event) -> None:
        stream.write((json.dumps(event) + "\n").encode())

    for i, video in enumerate(job["videos"]):
        started = time.perf_counter()
        send(event="start", index=i, frames_reported=_reported_frames(video["path"]))
        try:
            array, reported = extract_file(video["path"], job["settings"],
                                           lambda t, i=i: send(event="frame", index=i, frame=t))
            np.save(video["out"], array)
        # A process boundary: whatever goes wrong with one video (cv2, mediapipe or disk errors alike) is reported
        # to the parent under that video's name, and the batch goes on with the next one.
        except Exception as err:  # noqa: BLE001
            send(event="error", index=i, message=f"{type(err).__name__}: {err}")
            continue
        send(event="done", index=i, frames=int(array.shape[0]), frames_reported=reported,
             seconds=time.perf_counter() - started)
    return 0


def _reported_frames(path: str) -> int:
    """Frame count from the container header (0 when unknown or unreadable); used for the progress bar only."""
    capture = cv2.VideoCapture(path)
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if capture.isOpened() else 0
    finally:
        capture.release()


def _read_exact(size: int) -> bytes | None:
    """Exactly ``size`` bytes from stdin, or None at end of input."""
    buffer = bytearray(size)
    return bytes(buffer) if _read_into(memoryview(buffer)) else None


def _read_into(view: memoryview) -> bool:
    """Fill ``view`` from stdin; False at end of input."""
    filled = 0
    while filled < len(view):
        got = sys.stdin.buffer.readinto(view[filled:])
        if not got:
            return False
        filled += got
    return True


def run_live(stream, settings: dict) -> int:
    holistic = make_holistic(settings)
    stream.write(b"READY")
    pixels = bytearray()  # reused while the frame size stays the same (a camera or a video keeps it)
    try:
        while True:
            command = _read_exact(1)
            if command in (None, b"Q"):
                return 0
            if command == b"R":
                holistic.close()
                holistic = make_holistic(settings)
                stream.write(b"R")
                continue
            if command != b"F":
                raise ValueError(f"unknown live command {command!r}")
            header = _read_exact(_FRAME_HEADER.size)
            if header is None:
                return 0
            height, width, channels = _FRAME_HEADER.unpack(header)
            if len(pixels) != height * width * channels:
                pixels = bytearray(height * width * channels)
            if not _read_into(memoryview(pixels)):
                return 0
            started = time.perf_counter()
            bgr = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, channels)
            landmarks = frame_landmarks(holistic, bgr).astype("<f4")
            stream.write(_SECONDS.pack(time.perf_counter() - started) + landmarks.tobytes())
    finally:
        holistic.close()


def main(argv: list[str]) -> int:
    stream = _protocol_stream()
    if argv[:1] == ["batch"]:
        return run_batch(stream)
    if argv[:1] == ["live"] and len(argv) == 2:
        return run_live(stream, json.loads(argv[1]))
    print("usage: _extract_worker.py batch < job.json | live SETTINGS_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
