"""Videos → asl-signs landmarks with MediaPipe Holistic: ``python -m islr extract VIDEO... --out DIR``.

The asl-signs landmarks were made with MediaPipe Holistic. ``mediapipe==0.10.21`` ships the Holistic models in its
wheel (so this runs offline), but it pins numpy<2 and protobuf<5, which the main environment usually cannot
accept. So MediaPipe runs in a worker process (:mod:`islr._extract_worker`, which imports only numpy, cv2 and
mediapipe) started with the python of an extraction environment, found by :func:`extract_python`:
``$ISLR_EXTRACT_PYTHON``; in a source checkout ``.venv-extract`` (``scripts/setup.sh --extract``); the current
interpreter if MediaPipe works there; else an environment islr creates itself, once, in its cache folder
(``$ISLR_CACHE``, else ``~/.cache/islr``). Both created environments install the pinned set
``islr/resources/requirements-extract.txt`` (package data); ``python -m islr extract --setup`` creates or checks
the environment ahead of time. This module, in the main environment, starts the worker, feeds a progress bar from its
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
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import shlex
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
#: The extraction environment's pinned set, package data (so an installed islr has it): the one definition behind
#: both ``scripts/setup.sh --extract`` (``.venv-extract``) and the environment islr creates in its cache folder.
REQUIREMENTS = paths.RESOURCES_DIR / "requirements-extract.txt"
#: The checkout's setup script (None for an installed package, which uses the current interpreter or its cache).
SETUP_SCRIPT = paths.REPO_ROOT / "scripts" / "setup.sh" if paths.REPO_ROOT is not None else None
#: Set to a python that can run the worker (numpy, cv2 and mediapipe with Holistic) to use that one as it is.
PYTHON_ENV_VAR = "ISLR_EXTRACT_PYTHON"
#: islr's cache folder (default ``$XDG_CACHE_HOME/islr``, else ``~/.cache/islr``), home of the cache environment.
CACHE_ENV_VAR = "ISLR_CACHE"
#: The command that creates or checks the extraction environment, named by the set-up errors.
SETUP_COMMAND = f"{shlex.quote(sys.executable or 'python')} -m islr extract --setup"
#: What the worker needs: its three imports and the legacy Holistic solution (not every mediapipe release has it).
_WORKER_CHECK = "import cv2, numpy, mediapipe; mediapipe.solutions.holistic.Holistic"
#: Written into a cache environment once it is complete; without it the folder is half-made and rebuilt.
_STAMP = ".islr-extract-ok"
_FRAME_HEADER = struct.Struct("<III")
_REPLY_BYTES = N_LANDMARKS * 3 * 4  # one (543, 3) float32 frame
_SECONDS = struct.Struct("<d")  # the worker's own time for a live frame, first in each reply
# Quiet MediaPipe's C++ logging (glog/absl) and TFLite's banner in the worker; errors still reach stderr.
#: Environment of the worker. MPLBACKEND: mediapipe imports matplotlib, and a backend inherited from a Jupyter kernel
#: (``module://matplotlib_inline...``) does not exist in the extraction environment.
_WORKER_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class HolisticSettings:
    """MediaPipe Holistic options used for every video (defaults: MediaPipe's video defaults, see module doc).

    The defaults serve batch extraction and ``islr live`` alike. Model complexity 1 for live too, measured on the two
    bundled real videos (soup 320×240, pose_test 540×720; Holistic alone in the worker, one core, the three
    complexities fed the same frames in turn; a busy machine): 0 takes 40 / 50 ms a frame, 1 45 / 59 ms, 2 80 /
    94 ms. So 2 cannot give 15 frames/s and 0 gains only 10–15 %, while 1 is what the asl-signs landmarks were made
    with (the models learnt its pose), the only pose model in the mediapipe wheel (0 and 2 are downloaded on first
    use, which fails offline), and closer to 2 in the hands: mean hand-landmark distance to complexity 2 on soup
    0.0026 / 0.0019 (left / right, normalised) against 0.0054 / 0.0013 for 0, hand presence agreeing with 2 in 95 %
    of the frames against 88–91 %. Frames go to Holistic at full size: shrinking them first saves no time (Holistic
    crops and resizes inside, a 1080×1440 frame costs what 540×720 does, and cv2.resize costs 9–15 ms) and moves the
    landmarks (hands by 0.01 on average at 640 pixels on pose_test).

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
class ExtractEnvironmentError(RuntimeError):
    """No python that can run the extraction worker was found or could be made.

    Attributes:
        cause: what went wrong, in words (pip's last lines where pip failed).
        fix: the one command that fixes it (or retries once the cause is gone).
    """

    def __init__(self, cause: str, fix: str):
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause}\nTo fix it, run: {fix}")


def extract_python() -> Path:
    """Python of the extraction environment, the one the worker runs with. The first of:

    1. ``$ISLR_EXTRACT_PYTHON``, used as it is;
    2. in a source checkout, ``.venv-extract``, created or updated by ``scripts/setup.sh --extract``;
    3. the current interpreter, when the worker can run in it (MediaPipe with Holistic, cv2 and numpy import; checked
       once per process, see :func:`current_python_fits`);
    4. an environment islr creates itself in its cache folder (:func:`cache_env_python`; about a minute, once).

    2 and 4 keep a stamp of the requirements, so after the first time they cost milliseconds.

    Raises:
        ExtractEnvironmentError: the environment could not be set up (the cause and the command that fixes it are
            in the message).
    """
    override = os.environ.get(PYTHON_ENV_VAR)
    if override:
        return Path(override)
    if SETUP_SCRIPT is not None:
        # The worker's environment: the set-up's own `import mediapipe` check must not inherit a Jupyter kernel's
        # MPLBACKEND (module://matplotlib_inline…), which the extraction environment does not have.
        done = subprocess.run(["bash", str(SETUP_SCRIPT), "--extract"], capture_output=True, text=True,
                              env=_worker_env())
        if done.returncode != 0:
            raise ExtractEnvironmentError(f"scripts/setup.sh --extract failed (exit {done.returncode}):\n"
                                          f"{done.stderr[-4000:]}", SETUP_COMMAND)
        return Path(done.stdout.strip().splitlines()[-1])
    if current_python_fits():
        return Path(sys.executable)
    return cache_env_python()


def setup_environment() -> Path:
    """Create (or check) the extraction environment and return its python: ``python -m islr extract --setup``.

    Resolves it as :func:`extract_python` does (an installed islr without MediaPipe creates its cache environment
    here), then checks that the worker can run with it.

    Raises:
        ExtractEnvironmentError: it could not be set up, or the python found cannot run the worker.
    """
    python = extract_python()
    check = _python_fits(python)
    if check.returncode != 0:
        raise ExtractEnvironmentError(f"{python} cannot run the extraction worker (it needs numpy, cv2 and "
                                      f"mediapipe with Holistic):\n{_tail(check.stdout)}",
                                      f"unset {PYTHON_ENV_VAR}; {SETUP_COMMAND}"
                                      if os.environ.get(PYTHON_ENV_VAR) else SETUP_COMMAND)
    return python


def _python_fits(python: str | Path) -> subprocess.CompletedProcess:
    """Whether ``python`` can run the worker: its imports and Holistic, with the worker's isolated flag (-I)."""
    return _run([str(python), "-I", "-c", _WORKER_CHECK], timeout=600)


@functools.cache
def current_python_fits() -> bool:
    """Whether the worker can run in the current interpreter (mediapipe installed next to islr); once per process."""
    return bool(sys.executable) and _python_fits(sys.executable).returncode == 0


def cache_dir() -> Path:
    """islr's cache folder: ``$ISLR_CACHE``, else ``$XDG_CACHE_HOME/islr``, else ``~/.cache/islr``."""
    own = os.environ.get(CACHE_ENV_VAR)
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "islr"


def cache_env_dir(requirements: str | Path | None = None, version: Sequence[int] | None = None) -> Path:
    """Folder of the cache environment for a requirements file and a Python version (major, minor).

    ``<cache>/extract-py3.11-<12 hex digits>``: the digits hash the file's bytes and the version, so a new pinned
    set or another Python gets a new environment.

    Args:
        requirements: None = :data:`REQUIREMENTS`.
        version: None = the current interpreter's, which creates the environment.
    """
    requirements = REQUIREMENTS if requirements is None else requirements
    version = sys.version_info[:2] if version is None else version
    tag = f"{version[0]}.{version[1]}"
    digest = hashlib.sha256(Path(requirements).read_bytes() + f"\0python{tag}".encode()).hexdigest()[:12]
    return cache_dir() / f"extract-py{tag}-{digest}"


def cache_env_python() -> Path:
    """Python of the extraction environment in the cache folder, created from :data:`REQUIREMENTS` if needed.

    Made with the current interpreter's ``venv``; where venv cannot bootstrap pip (Debian's python without
    python3-venv, as on Colab: "ensurepip is not available"), with ``--without-pip`` and the current pip's
    ``--python`` option (pip ≥ 22.3). Where the pinned set cannot install (it was resolved on Python 3.11; e.g.
    Python 3.10), pip resolves ``mediapipe==<pinned>`` and ``numpy<2`` itself. The environment counts only once
    ``import cv2, mediapipe, numpy`` worked in it and its stamp is written; a half-made one is rebuilt.

    Raises:
        ExtractEnvironmentError: it could not be created (pip's last lines and the command to retry are in the
            message).
    """
    venv = cache_env_dir()
    if _is_complete(venv):
        return _venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(venv.with_name(venv.name + ".lock")):  # two processes (a notebook and a shell) build it once
        if not _is_complete(venv):
            print(f"islr: creating the MediaPipe environment in {venv} (about a minute, once)", file=sys.stderr,
                  flush=True)
            _build_env(venv)
    return _venv_python(venv)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _is_complete(venv: Path) -> bool:
    stamp = venv / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == venv.name and _venv_python(venv).exists()


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    import fcntl  # POSIX only, like the environment's bin/python

    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build_env(venv: Path) -> None:
    """Create ``venv`` from scratch, install the requirements, check them, then stamp it."""
    if venv.exists():
        shutil.rmtree(venv)  # half-made (no stamp: a failed or interrupted build): rebuilt, never reused
    python = _venv_python(venv)
    made = _run([sys.executable, "-m", "venv", str(venv)])
    if made.returncode == 0:
        pip = [str(python), "-I", "-m", "pip"]
    else:
        # venv could not bootstrap pip (Debian/Ubuntu python without python3-venv: "ensurepip is not available"):
        # an environment without pip, filled by this interpreter's pip, if it has --python (pip >= 22.3).
        shutil.rmtree(venv, ignore_errors=True)
        outer_pip = _pip_version()
        if outer_pip is None or outer_pip < (22, 3):
            found = "has no pip" if outer_pip is None else f"has pip {'.'.join(map(str, outer_pip))}"
            raise ExtractEnvironmentError(
                f"`python -m venv` could not create {venv}, and {sys.executable} {found} (pip >= 22.3 can install "
                f"into an environment without pip):\n{_tail(made.stdout)}",
                f"{shlex.quote(sys.executable)} -m pip install --upgrade pip")
        made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        if made.returncode != 0:
            raise ExtractEnvironmentError(f"`python -m venv --without-pip` could not create {venv}:\n"
                                          f"{_tail(made.stdout)}", SETUP_COMMAND)
        pip = [sys.executable, "-I", "-m", "pip", "--python", str(python)]
    install = [*pip, "install", "--disable-pip-version-check", "--no-input"]
    done = _run([*install, "-r", str(REQUIREMENTS)])
    if done.returncode != 0:
        # The pins were resolved on Python 3.11; where they cannot install (e.g. scipy 1.17 on Python 3.10), let pip
        # resolve MediaPipe's own requirements, with numpy 1.x (mediapipe 0.10.21's wheels need its ABI).
        done = _run([*install, *_fallback_requirements()])
    if done.returncode != 0:
        raise ExtractEnvironmentError(f"pip could not install MediaPipe for Python {sys.version_info[0]}."
                                      f"{sys.version_info[1]} into {venv}; its last lines:\n"
                                      f"{_tail(done.stdout)}", SETUP_COMMAND)
    check = _python_fits(python)
    if check.returncode != 0:
        raise ExtractEnvironmentError(f"MediaPipe was installed into {venv} but the worker's imports fail:\n"
                                      f"{_tail(check.stdout)}", SETUP_COMMAND)
    (venv / _STAMP).write_text(venv.name + "\n")


def _fallback_requirements() -> list[str]:
    """The pinned file's mediapipe line and numpy<2 (what :func:`_build_env` installs where the pins cannot)."""
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [next(line for line in lines if line.startswith("mediapipe==")), "numpy<2"]


def _pip_version() -> tuple[int, int] | None:
    """(major, minor) of the current interpreter's pip; None without pip."""
    done = _run([sys.executable, "-I", "-m", "pip", "--version"])
    found = re.match(r"pip (\d+)\.(\d+)", done.stdout) if done.returncode == 0 else None
    return (int(found[1]), int(found[2])) if found else None


def _run(command: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run one set-up command, stdout and stderr together in ``.stdout``.

    A program that cannot start or runs past ``timeout`` is a failure (exit 127 / 124), not an exception. PYTHONPATH
    and PYTHONHOME are dropped (Colab sets PYTHONPATH; pip would count the packages there as installed).
    """
    env = {k: v for k, v in _worker_env().items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              timeout=timeout)
    except OSError as err:
        return subprocess.CompletedProcess(command, 127, stdout=str(err))
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(command, 124, stdout=f"{err}\n{err.output or ''}")


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(f"  {line}" for line in text.strip().splitlines()[-lines:])


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
        self.last_worker_seconds = 0.0  # the worker's own time for the last frame (see process)
        self._expect(b"READY")

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Landmarks of the next frame of the current sequence.

        The pixels go to the worker's pipe as they are (a C-contiguous frame, as OpenCV decodes it, is not copied);
        :attr:`last_worker_seconds` then holds the worker's own time for it (the rest of the call is the pipe).

        Args:
            frame: (H, W, 3) uint8 BGR image (as OpenCV decodes it).

        Returns:
            (543, 3) float32 in frame-row order, NaN for undetected parts.
        """
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.dtype} {frame.shape}")
        self._send(b"F" + _FRAME_HEADER.pack(*frame.shape), memoryview(frame).cast("B"))
        reply = self._expect_bytes(_SECONDS.size + _REPLY_BYTES)
        (self.last_worker_seconds,) = _SECONDS.unpack_from(reply)
        return np.frombuffer(reply, dtype="<f4", offset=_SECONDS.size).reshape(N_LANDMARKS, 3).astype(np.float32)

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

    def _send(self, *payload: bytes | memoryview) -> None:
        try:
            for part in payload:
                self._worker.stdin.write(part)
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
    parser = argparse.ArgumentParser(
        prog="python -m islr extract", description=__doc__.split("\n\n")[0],
        usage="%(prog)s VIDEO... --out DIR [options]\n       %(prog)s --setup",
        epilog=f"MediaPipe runs in its own environment: ${PYTHON_ENV_VAR} if set; .venv-extract in a source "
               f"checkout; this python if MediaPipe works in it; else one that islr creates on first use in "
               f"${CACHE_ENV_VAR} (default ~/.cache/islr), about a minute, once. --setup does that ahead of time.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="video files")
    parser.add_argument("--out", type=Path, help="output folder (asl-signs layout); required with videos")
    parser.add_argument("--setup", action="store_true",
                        help="only create (or check) the MediaPipe extraction environment and print its python on "
                             "the last line; no video is read")
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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.setup:
        if args.videos or args.out is not None:
            parser.error("--setup takes no videos and no --out")
        try:
            python = setup_environment()
        except RuntimeError as err:
            print(f"islr extract --setup: {err}", file=sys.stderr)
            return 2
        print(python)
        return 0
    if not args.videos or args.out is None:
        parser.error("the following arguments are required: " +
                     ", ".join(name for name, given in (("VIDEO", args.videos), ("--out", args.out)) if not given))
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
    """One line per video (its frames, the sign's span that ``islr predict`` will score, the share of frames with a
    hand, the extraction speed), failures on stderr; exit code 1 if any video failed. Every frame is written: the
    span is applied when the landmarks are scored, so ``--no-trim`` can still see the whole recording."""
    from islr.span import sign_span

    failed = [r for r in results if r.error is not None]
    for r in results:
        if r.error is None:
            start, stop = sign_span(r.landmarks)
            print(f"ok      {r.path}: {len(r.landmarks)} frames, signing in frames {start}-{stop - 1}, a hand in "
                  f"{hand_rate(r.landmarks):.0%} of them, {len(r.landmarks) / max(r.seconds, 1e-9):.1f} frames/s")
    for r in failed:
        print(f"FAILED  {r.path}: {r.error}", file=sys.stderr)
    print(f"{len(results) - len(failed)} of {len(results)} video(s) written to {out_dir}")
    return 1 if failed else 0
