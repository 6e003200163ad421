"""``python -m islr predict FILE...``: top-5 signs per file with the Kaggle-contract ensemble.

Inputs: asl-signs parquet files (:func:`islr.io.read_landmarks`), MediaPipe Holistic ``.pose`` files
(:func:`islr.io.read_pose`) and videos (landmarks extracted with MediaPipe Holistic in the extraction environment,
:mod:`islr.extract`). The model is any TFLite file with the competition signature (``serving_default``: ``inputs``
[N, 543, 3] float32 → ``outputs`` [250]); by default the one the notebook chain wrote to
``outputs/submission/model.tflite``. ``--backend onnx`` (or ``--model`` naming a folder) runs the same ensemble as
ONNX members with onnxruntime (:class:`islr.export.onnx.OnnxEnsembleModel`, written beside it as
``outputs/submission/onnx/``). A file that cannot be read is named on stderr with its cause and the others are still
predicted; a summary counts the bad files and the exit status is then 1 (the rule of every command that reads many
files, :func:`islr.io.report_bad_files`). A file in which both hands are missing in (nearly) every frame
(:func:`islr.landmarks.no_hands_in_view`) is not given to the model: it is reported as "no hands in view".
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax

from islr import extras, io
from islr import landmarks as L
from islr.metrics import topk_indices
# The one TFLite runner and default model location (no TensorFlow import); re-exported for the CLI and notebooks.
from islr.export.runtime import BACKENDS, TFLiteSignModel, default_model, load_sign_model  # noqa: F401

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def read_any(path: str | Path) -> np.ndarray:
    """Landmarks (T, 543, 3) of a parquet, ``.pose`` or video file (by suffix).

    Raises:
        io.LandmarkFileError: a missing, unreadable or unsupported file, or a video without landmarks (names it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise io.LandmarkFileError(path, "no such file" if not path.exists() else "not a file")
    if suffix == ".parquet":
        return io.read_landmarks(path)
    if suffix == ".pose":
        return io.read_pose(path)
    if suffix in VIDEO_SUFFIXES:
        from islr.extract import VideoError, extract_video

        try:
            return extract_video(path)
        except VideoError as err:
            raise io.LandmarkFileError(path, err.reason) from err
    raise io.LandmarkFileError(path, f"unsupported file type {suffix!r} (parquet, .pose or a video: "
                                     f"{', '.join(sorted(VIDEO_SUFFIXES))})")


@dataclass
class Prediction:
    """Top-k signs of one file, or why it could not be read (``error``, the cause of its :class:`islr.io.BadFile`);
    ``no_hands``: no hand in (nearly) any frame (:func:`islr.landmarks.no_hands_in_view`), so ``top`` is empty."""

    path: str
    frames: int = 0
    top: list[tuple[str, float]] | None = None
    error: str | None = None
    no_hands: bool = False


def top_k(scores: np.ndarray, sign_names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` best signs (:func:`islr.metrics.topk_indices`) with their softmax probability (scores are logits)."""
    p = softmax(scores)
    return [(sign_names[i], float(p[i])) for i in topk_indices(p, k)]


def predict_files(files, model, sign_names: list[str], k: int = 5) -> list[Prediction]:
    """Predict every file; a file that cannot be read (:class:`islr.io.LandmarkFileError`) gets ``error`` set and
    does not stop the others. Any other error (the model, the extraction environment, a bug) is raised. A file with
    no hands in view gets ``no_hands`` set and an empty ``top`` without calling the model."""
    out = []
    for f in files:
        try:
            x = read_any(f)
        except io.LandmarkFileError as err:
            out.append(Prediction(str(f), error=err.reason))
            continue
        if L.no_hands_in_view(x):
            out.append(Prediction(str(f), len(x), [], no_hands=True))
        else:
            out.append(Prediction(str(f), len(x), top_k(model(x), sign_names, k)))
    return out


def bad_files(preds: list[Prediction]) -> list[io.BadFile]:
    """The files of ``preds`` that could not be read, with their causes."""
    return [io.BadFile(p.path, p.error) for p in preds if p.error]


def format_table(preds: list[Prediction]) -> str:
    """A plain-text table of the files read: file, frames, then the top signs with probabilities (the files that
    could not be read are named by :func:`islr.io.report_bad_files` instead; a file without hands says so)."""
    lines = []
    for p in preds:
        if not p.error:
            tops = L.NO_HANDS_TEXT if p.no_hands else "  ".join(f"{s} {v:.3f}" for s, v in p.top)
            lines.append(f"{p.path} ({p.frames} frames): {tops}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="islr predict", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="parquet, .pose or video files")
    ap.add_argument("--model", default="", help=f"TFLite file or ONNX ensemble folder (default: {default_model()})")
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="tflite (LiteRT) or onnx (onnxruntime); default: from --model, else the measured faster one")
    ap.add_argument("--top", type=int, default=5, help="how many signs per file")
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if any(Path(f).suffix.lower() == ".pose" for f in args.files):  # before loading the model, not per file
        extras.require("video", "reading .pose files", modules=("pose_format",))
    try:
        model = load_sign_model(args.model or None, args.backend, args.threads)
    except (FileNotFoundError, ValueError) as exc:
        print(f"islr predict: {exc}", file=sys.stderr)
        return 2
    from islr.extract import ExtractEnvironmentError

    try:
        preds = predict_files(args.files, model, io.sign_names(), args.top)
    except ExtractEnvironmentError as exc:  # no python that runs MediaPipe for the videos: not a bad file
        print(f"islr predict: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for p in preds:
            print(json.dumps({"file": p.path, "frames": p.frames, "error": p.error,
                              "no_hands": p.no_hands, "top": [{"sign": s, "p": v} for s, v in (p.top or [])]}))
    elif any(not p.error for p in preds):
        print(format_table(preds))
    return io.report_bad_files("islr predict", bad_files(preds), len(preds))
