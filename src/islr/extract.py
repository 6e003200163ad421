"""Videos → asl-signs landmarks with MediaPipe Holistic: ``python -m islr extract VIDEO... --out DIR``.

The asl-signs landmarks were made with MediaPipe Holistic. ``mediapipe==0.10.21`` ships the Holistic models in its
wheel (so this runs offline), but it pins numpy<2 and protobuf<5, which the main environment cannot accept. So
MediaPipe lives in its own environment, ``.venv-extract`` (``requirements-extract.txt``, created on first use by
``scripts/setup.sh --extract``), and runs in a worker process (:mod:`islr._extract_worker`, which imports only
numpy, cv2 and mediapipe). This module, in the main environment, starts the worker, feeds a progress bar from its
progress lines, and writes the parquet files itself with :func:`islr.io.write_landmarks` (one writer for the
Kaggle schema in the whole project). Decoding frames for display or for :class:`LiveExtractor` needs no MediaPipe
and happens here, with the main environment's OpenCV (:func:`iter_frames`, :func:`decode_frames`).

Output of the command: an asl-signs folder (``train.csv``, ``sign_to_prediction_index_map.json``,
``train_landmark_files/<participant_id>/<sequence_id>.parquet``), one sequence per video, frames numbered from 0,
543 rows per frame, NaN (stored as null) where MediaPipe did not find a part.

Settings (:class:`HolisticSettings`): the hosts did not publish theirs; we use MediaPipe's own defaults for video
(model_complexity 1, smooth_landmarks on, detection/tracking confidence 0.5) and ``refine_face_landmarks=False``,
the only choice that gives asl-signs' 468 face points (True gives 478).

Left and right: MediaPipe names a hand by the body it sees — ``left_hand`` is attached to the pose's left wrist
(pose 15), which in a non-mirrored picture of a person facing the camera lies on the image's right side. The real
asl-signs files agree: in the 86 real sequences of the shared sample the left-hand wrist is right of the nose in
100% of the frames where it is present, the right-hand wrist left of it in 99.6%, and each hand is nearest its own
pose wrist in ≥99.6%. Whether the hosts' recordings had been mirrored (selfie view) cannot be told from the
landmarks; the dominant hand (the hand present in more frames) is the right hand for 11 of the 21 participants and
the left hand for 9 (one mixed), so both occur and the models choose the dominant hand per sequence anyway
(docs/method.md §2 "Dominant hand"). Frames are therefore given to MediaPipe exactly as the video decodes them
(no flip);
for a live webcam pass the camera's raw (non-mirrored) frames to :class:`LiveExtractor`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from islr import io, paths
from islr.landmarks import N_LANDMARKS, PART_SLICE
from islr.progress import progress_bar

WORKER = Path(__file__).resolve().parent / "_extract_worker.py"
#: The checkout's setup script (None for an installed package: set $ISLR_EXTRACT_PYTHON there).
SETUP_SCRIPT = paths.REPO_ROOT / "scripts" / "setup.sh" if paths.REPO_ROOT is not None else None
#: Set to a python that has requirements-extract.txt installed to skip ``scripts/setup.sh --extract``
#: (e.g. on Kaggle/Colab, after ``pip install -r requirements-extract.txt`` into a separate environment).
PYTHON_ENV_VAR = "ISLR_EXTRACT_PYTHON"
_FRAME_HEADER = struct.Struct("<III")
_REPLY_BYTES = N_LANDMARKS * 3 * 4  # one (543, 3) float32 frame
# Quiet MediaPipe's C++ logging (glog/absl) and TFLite's banner in the worker; errors still reach stderr.
#: Environment of the worker. MPLBACKEND: mediapipe imports matplotlib, and a backend inherited from a Jupyter kernel
#: (``module://matplotlib_inline...``) does not exist in the extraction environment.
_WORKER_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class HolisticSettings:
    """MediaPipe Holistic options used for every video (defaults: MediaPipe's video defaults, see module doc).

    Attributes:
        model_complexity: pose model 0 (lite), 1 (full) or 2 (heavy); 1 is MediaPipe's default.
        min_detection_confidence: person/hand detection threshold in [0, 1].
        min_tracking_confidence: below this the tracker re-detects instead of tracking, in [0, 1].
        smooth_landmarks: temporal smoothing of the pose across frames (MediaPipe's default, on).
    """

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    smooth_landmarks: bool = True

    def __post_init__(self) -> None:
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


class VideoError(RuntimeError):
    """A video that could not be turned into landmarks.

    Attributes:
        path: the video.
        reason: what went wrong, in words.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class VideoResult:
    """Outcome of one video.

    Attributes:
        path: the video.
        landmarks: (T, 543, 3) float32 with NaN for undetected parts; None when it failed.
        frames_reported: frame count in the container header (cv2 ``CAP_PROP_FRAME_COUNT``; may be 0 or approximate).
        seconds: wall time of the extraction in the worker.
        error: why it failed; None when it worked.
    """

    path: Path
    landmarks: np.ndarray | None = None
    frames_reported: int | None = None
    seconds: float | None = None
    error: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# The extraction environment
# ---------------------------------------------------------------------------------------------------------------
def extract_python() -> Path:
    """Python of the extraction environment, created on first use by ``scripts/setup.sh --extract``.

    ``$ISLR_EXTRACT_PYTHON`` overrides it. The setup script is idempotent (a stamp of requirements-extract.txt), so
    after the first call it costs a few milliseconds.

    Raises:
        RuntimeError: the setup script failed (its output is in the message).
    """
    override = os.environ.get(PYTHON_ENV_VAR)
    if override:
        return Path(override)
    if SETUP_SCRIPT is None:
        raise RuntimeError(f"islr is installed without its source checkout, so it cannot create the MediaPipe "
                           f"environment itself: install requirements-extract.txt into a separate environment and "
                           f"set ${PYTHON_ENV_VAR} to its python")
    # The worker's environment: the set-up's own `import mediapipe` check must not inherit a Jupyter kernel's
    # MPLBACKEND (module://matplotlib_inline…), which the extraction environment does not have.
    done = subprocess.run(["bash", str(SETUP_SCRIPT), "--extract"], capture_output=True, text=True, env=_worker_env())
    if done.returncode != 0:
        raise RuntimeError(f"scripts/setup.sh --extract failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _worker_command(mode: str, *args: str) -> list[str]:
    # -I: isolated mode, so the main environment's PYTHONPATH / user site never leak into the worker.
    return [str(extract_python()), "-I", str(WORKER), mode, *args]


def _worker_env() -> dict[str, str]:
    return {**os.environ, **_WORKER_ENV}


# ---------------------------------------------------------------------------------------------------------------
# Batch extraction
# ---------------------------------------------------------------------------------------------------------------
def extract_videos(videos: Sequence[str | Path], settings: HolisticSettings | None = None,
                   progress: bool = True) -> list[VideoResult]:
    """Landmarks of every frame of each video, one worker process for the whole batch.

    A video that fails (unreadable, not a video, no decodable frame) gets its ``error`` set and the others go on.
    Should the worker process itself die on a video, that video is marked failed and a new worker takes the rest.

    Args:
        videos: video files (anything OpenCV/FFmpeg decodes).
        settings: Holistic options; None = :class:`HolisticSettings` defaults.
        progress: show a tqdm bar over frames.

    Returns:
        One :class:`VideoResult` per video, in input order.
    """
    settings = settings or HolisticSettings()
    results = [VideoResult(Path(v)) for v in videos]
    pending = list(range(len(results)))
    with tempfile.TemporaryDirectory(prefix="islr-extract-") as tmp, \
            progress_bar(total=0, unit="frame", disable=not progress, desc="extract") as bar:
        while pending:
            pending = _run_batch_worker(results, pending, settings, Path(tmp), bar)
    return results


def _run_batch_worker(results: list[VideoResult], todo: list[int], settings: HolisticSettings, tmp: Path,
                      bar) -> list[int]:
    """Run one worker on ``results[todo]``; returns the indices still to do if it died part-way."""
    job = {"settings": dataclasses.asdict(settings),
           "videos": [{"path": str(results[i].path.resolve()), "out": str(tmp / f"{i}.npy")} for i in todo]}
    current = None
    with tempfile.TemporaryFile(mode="w+") as stderr:
        worker = subprocess.Popen(_worker_command("batch"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True, env=_worker_env())
        worker.stdin.write(json.dumps(job))
        worker.stdin.close()
        for line in worker.stdout:
            event = json.loads(line)
            current = todo[event["index"]]
            _apply_event(results[current], event, tmp / f"{current}.npy", bar)
            if event["event"] in ("done", "error"):
                current = None
        code = worker.wait()
        stderr.seek(0)
        log_tail = stderr.read()[-2000:]
    finished = [i for i in todo if results[i].landmarks is not None or results[i].error is not None]
    if code == 0 and len(finished) == len(todo):
        return []
    # The worker died (crash in native code, killed, or a broken environment): blame the video it was on, if any.
    if current is not None:
        results[current].error = f"the extraction worker died on this video (exit {code}): {log_tail.strip()}"
    elif not finished:
        raise RuntimeError(f"the extraction worker failed before any video (exit {code}):\n{log_tail}")
    return [i for i in todo if results[i].landmarks is None and results[i].error is None]


def _apply_event(result: VideoResult, event: dict, npy: Path, bar) -> None:
    kind = event["event"]
    if kind == "start":
        bar.total += event["frames_reported"]
        bar.set_postfix_str(result.path.name)
        bar.refresh()
    elif kind == "frame":
        bar.update(1)
    elif kind == "done":
        result.landmarks = np.load(npy, allow_pickle=False)
        result.frames_reported = event["frames_reported"]
        result.seconds = event["seconds"]
    elif kind == "error":
        result.error = event["message"]


def extract_video(path: str | Path, settings: HolisticSettings | None = None, progress: bool = False) -> np.ndarray:
    """Landmarks of every frame of one video (through the worker; see :func:`extract_videos`).

    Args:
        path: a video file.
        settings: Holistic options; None = defaults.
        progress: show a tqdm bar.

    Returns:
        (T, 543, 3) float32 in frame-row order (face, left_hand, pose, right_hand), NaN where not detected.

    Raises:
        VideoError: the video could not be read (names the file).
    """
    result = extract_videos([path], settings, progress)[0]
    if result.error is not None:
        raise VideoError(result.path, result.error)
    return result.landmarks


def iter_frames(source: str | Path | int) -> Iterator[np.ndarray]:
    """BGR frames of a video file or a camera, decoded by OpenCV in this process, until the source ends.

    These are the frames :func:`extract_video` sees: the main environment's OpenCV and the extraction environment's
    decode a video to the same pixels (the tests feed these frames to :class:`LiveExtractor` and get the batch
    worker's landmarks bit for bit).

    Args:
        source: a video file, or a camera index.

    Yields:
        (H, W, 3) uint8 BGR frames.

    Raises:
        OSError: the file or camera cannot be opened (names it).
    """
    import cv2

    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        raise OSError(f"cannot open {'camera' if isinstance(source, int) else 'video'} {source!r}")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def decode_frames(path: str | Path) -> np.ndarray:
    """Every frame of a video (:func:`iter_frames`), stacked.

    Args:
        path: a video file.

    Returns:
        (T, H, W, 3) uint8 BGR frames, in the same order :func:`extract_video` sees them.

    Raises:
        VideoError: the file cannot be opened, or no frame could be decoded (names the file).
    """
    path = Path(path)
    try:
        frames = list(iter_frames(path))
    except OSError as err:
        raise VideoError(path, "cannot be opened as a video (missing, unknown format or corrupt file)") from err
    if not frames:
        raise VideoError(path, "no frame could be decoded (corrupt file or unsupported codec)")
    return np.stack(frames)


# ---------------------------------------------------------------------------------------------------------------
# Writing an asl-signs folder
# ---------------------------------------------------------------------------------------------------------------
def sequence_id_of(video: str | Path) -> int:
    """Stable sequence id of a video: CRC-32 of its bytes (asl-signs ids are unsigned 32-bit numbers too)."""
    crc = 0
    with open(video, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def write_dataset(results: Sequence[VideoResult], out_dir: str | Path, participant_id: int,
                  signs: Sequence[str]) -> pd.DataFrame:
    """Write the successful results as an asl-signs folder; merges into an existing ``train.csv``.

    Args:
        results: from :func:`extract_videos`; failed ones are skipped.
        out_dir: the folder (created).
        participant_id: participant id of every sequence.
        signs: one sign per result ("" for an unlabelled video).

    Returns:
        The rows added to train.csv (path, participant_id, sequence_id, sign).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (out_dir / io.SIGN_MAP_NAME).exists():
        shutil.copyfile(paths.SIGN_MAP_JSON, out_dir / io.SIGN_MAP_NAME)
    rows = []
    for result, sign in zip(results, signs):
        if result.landmarks is None:
            continue
        sequence_id = sequence_id_of(result.path)
        relative = f"train_landmark_files/{participant_id}/{sequence_id}.parquet"
        io.write_landmarks(out_dir / relative, result.landmarks)
        rows.append({"path": relative, "participant_id": participant_id, "sequence_id": sequence_id, "sign": sign})
    added = pd.DataFrame(rows, columns=list(io.TRAIN_COLUMNS))
    csv = out_dir / "train.csv"
    if added.empty and not csv.exists():
        return added
    if csv.exists():
        old = pd.read_csv(csv, dtype={"path": str, "sign": str}, keep_default_na=False)
        added = added.astype({"participant_id": "int64", "sequence_id": "int64"})
        merged = pd.concat([old[~old["path"].isin(added["path"])], added], ignore_index=True)
    else:
        merged = added
    merged.to_csv(csv, index=False)
    return added


def _resolve_signs(videos: Sequence[Path], sign: str | None, sign_map: dict[str, int]) -> list[str]:
    """``sign`` for every video if given (must be a known sign); else each file's stem when it is a sign, else ""."""
    if sign is not None:
        if sign not in sign_map:
            raise ValueError(f"--sign {sign!r} is not one of the {len(sign_map)} signs of the sign map")
        return [sign] * len(videos)
    return [v.stem.lower() if v.stem.lower() in sign_map else "" for v in videos]


def extract_to_dataset(videos: Sequence[str | Path], out_dir: str | Path, participant_id: int = 0,
                       sign: str | None = None, settings: HolisticSettings | None = None,
                       progress: bool = True) -> list[VideoResult]:
    """Extract videos and write them as an asl-signs folder (what ``python -m islr extract`` does).

    Args:
        videos: video files.
        out_dir: output folder (asl-signs layout; an existing train.csv there is extended).
        participant_id: participant id written for every sequence.
        sign: sign label of every video (one of the sign map's); None = each file's stem if it is a sign, else
            the sign is left empty (an unlabelled sequence; ``io.read_train_index`` then refuses the folder).
        settings: Holistic options; None = defaults.
        progress: show a tqdm bar.

    Returns:
        One :class:`VideoResult` per video (``error`` set for the failed ones).
    """
    videos = [Path(v) for v in videos]
    out_dir = Path(out_dir)
    map_file = out_dir / io.SIGN_MAP_NAME
    sign_map = io.read_sign_map(out_dir if map_file.exists() else paths.SIGN_MAP_JSON.parent)
    signs = _resolve_signs(videos, sign, sign_map)
    results = extract_videos(videos, settings, progress)
    write_dataset(results, out_dir, participant_id, signs)
    return results


# ---------------------------------------------------------------------------------------------------------------
# Streaming (live) extraction
# ---------------------------------------------------------------------------------------------------------------
class LiveExtractor:
    """A long-lived worker that turns frames into landmarks one at a time (for a webcam loop or ``predict``).

    Frames of one sequence go through one Holistic instance in video mode (tracking), exactly as in batch
    extraction, so feeding a video's frames in order gives the batch result. Call :meth:`reset` between sequences.

    Example::

        with LiveExtractor() as live:
            xyz = live.process(frame_bgr)  # (543, 3) float32

    Args:
        settings: Holistic options; None = defaults.

    Raises:
        RuntimeError: the worker could not start (its stderr is in the message).
    """

    def __init__(self, settings: HolisticSettings | None = None):
        self.settings = settings or HolisticSettings()
        self._stderr = tempfile.TemporaryFile()
        self._worker = subprocess.Popen(
            _worker_command("live", json.dumps(dataclasses.asdict(self.settings))),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=_worker_env())
        self._expect(b"READY")

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Landmarks of the next frame of the current sequence.

        Args:
            frame: (H, W, 3) uint8 BGR image (as OpenCV decodes it).

        Returns:
            (543, 3) float32 in frame-row order, NaN for undetected parts.
        """
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.dtype} {frame.shape}")
        self._send(b"F" + _FRAME_HEADER.pack(*frame.shape) + frame.tobytes())
        reply = self._expect_bytes(_REPLY_BYTES)
        return np.frombuffer(reply, dtype="<f4").reshape(N_LANDMARKS, 3).astype(np.float32)

    def reset(self) -> None:
        """Start a new sequence: tracking state is dropped (a fresh Holistic in the worker)."""
        self._send(b"R")
        self._expect(b"R")

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        if self._worker.poll() is None:
            try:
                self._worker.stdin.write(b"Q")
                self._worker.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self._worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
        self._stderr.close()

    def __enter__(self) -> LiveExtractor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _send(self, payload: bytes) -> None:
        try:
            self._worker.stdin.write(payload)
            self._worker.stdin.flush()
        except BrokenPipeError as err:
            raise self._died() from err

    def _expect(self, token: bytes) -> None:
        got = self._expect_bytes(len(token))
        if got != token:
            raise RuntimeError(f"live extraction worker: protocol error (expected {token!r}, got {got[:20]!r})")

    def _expect_bytes(self, size: int) -> bytes:
        data = self._worker.stdout.read(size)
        if data is None or len(data) != size:
            raise self._died()
        return data

    def _died(self) -> RuntimeError:
        code = self._worker.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace")
        return RuntimeError(f"live extraction worker exited (code {code}):\n{tail}")


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    defaults = HolisticSettings()
    parser = argparse.ArgumentParser(prog="python -m islr extract", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path, help="video files")
    parser.add_argument("--out", type=Path, required=True, help="output folder (asl-signs layout)")
    parser.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=defaults.model_complexity,
                        help="Holistic pose model: 0 lite, 1 full, 2 heavy")
    parser.add_argument("--min-detection-confidence", type=float, default=defaults.min_detection_confidence,
                        help="person/hand detection threshold")
    parser.add_argument("--min-tracking-confidence", type=float, default=defaults.min_tracking_confidence,
                        help="below this, re-detect instead of tracking")
    parser.add_argument("--participant-id", type=int, default=0, help="participant id of every sequence")
    parser.add_argument("--sign", default=None,
                        help="sign of every video (default: the file name if it is a sign, else left empty)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = HolisticSettings(args.model_complexity, args.min_detection_confidence, args.min_tracking_confidence)
    try:
        results = extract_to_dataset(args.videos, args.out, args.participant_id, args.sign, settings,
                                     progress=not args.quiet)
    except (ValueError, RuntimeError) as err:  # a bad --sign, or no extraction environment could be set up
        print(f"islr extract: {err}", file=sys.stderr)
        return 2
    return _print_summary(results, args.out)


def hand_rate(landmarks: np.ndarray) -> float:
    """Share of frames with at least one hand detected, for (T, 543, 3) landmarks."""
    left = np.isfinite(landmarks[:, PART_SLICE["left_hand"], 0]).any(axis=1)  # (T,)
    right = np.isfinite(landmarks[:, PART_SLICE["right_hand"], 0]).any(axis=1)  # (T,)
    return float((left | right).mean())


def _print_summary(results: Sequence[VideoResult], out_dir: Path) -> int:
    """One line per video, failures on stderr; exit code 1 if any video failed."""
    failed = [r for r in results if r.error is not None]
    for r in results:
        if r.error is None:
            print(f"ok      {r.path}: {len(r.landmarks)} frames, a hand in {hand_rate(r.landmarks):.0%} of them, "
                  f"{len(r.landmarks) / max(r.seconds, 1e-9):.1f} frames/s")
    for r in failed:
        print(f"FAILED  {r.path}: {r.error}", file=sys.stderr)
    print(f"{len(results) - len(failed)} of {len(results)} video(s) written to {out_dir}")
    return 1 if failed else 0
