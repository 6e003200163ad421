"""``python -m islr predict FILE...``: the answer for each file (a sign with its probability and the top-5, "not a
sign this model knows" or "no hands in view") from the Kaggle-contract ensemble.

Inputs: asl-signs parquet files (:func:`islr.io.read_landmarks`), MediaPipe Holistic ``.pose`` files
(:func:`islr.io.read_pose`) and videos (landmarks extracted with MediaPipe Holistic in the extraction environment,
:mod:`islr.extract`). The model is any TFLite file with the competition signature (``serving_default``: ``inputs``
[N, 543, 3] float32 → ``outputs`` [250]); by default the one the notebook chain wrote to
``outputs/submission/model.tflite``. ``--backend onnx`` (or ``--model`` naming a folder) runs the same ensemble as
ONNX members with onnxruntime (:class:`islr.export.onnx.OnnxEnsembleModel`, written beside it as
``outputs/submission/onnx/``). A file that cannot be read is named on stderr with its cause and the others are still
predicted; a summary counts the bad files and the exit status is then 1 (the rule of every command that reads many
files, :func:`islr.io.report_bad_files`). Landmarks become an answer by the rules of :mod:`islr.answer`, the same
in every command: only the sign's span is scored (``--no-trim``: every frame), a file without hands in view is not
given to the model, the probabilities are calibrated by the temperature stored next to the model
(``answer_rules.json``, fitted by notebook 06 on real signers the model never saw), and a top sign that the model has
no real recordings of, or whose real examples look unlike the file to the model, is reported as "not a sign this
model knows" with the best guesses.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islr import extras, io
from islr.answer import NO_HANDS, Answer, Answerer, AnswerRules
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
    """The answer for one file (:class:`islr.answer.Answer`), or why the file could not be read (``error``, the
    cause of its :class:`islr.io.BadFile`)."""

    path: str
    answer: Answer | None = None
    error: str | None = None

    @property
    def frames(self) -> int:
        return self.answer.frames if self.answer else 0

    @property
    def top(self) -> list[tuple[str, float]] | None:
        """The best signs with their probabilities (empty when no hands were in view)."""
        return self.answer.top if self.answer else None

    @property
    def no_hands(self) -> bool:
        return bool(self.answer and self.answer.state == NO_HANDS)

    def as_dict(self) -> dict:
        """One JSON object: file, error, then the answer's fields (:meth:`islr.answer.Answer.as_dict`)."""
        return {"file": self.path, "error": self.error, "frames": self.frames, "no_hands": self.no_hands,
                **({k: v for k, v in self.answer.as_dict().items() if k != "frames"} if self.answer else {})}


def predict_files(files, model, sign_names: list[str] | None = None, k: int = 5, *,
                  rules: AnswerRules | None = None, trim: bool = True) -> list[Prediction]:
    """The answer for every file (:class:`islr.answer.Answerer`: the sign's span, "no hands in view", calibrated
    probabilities, "not a sign this model knows"); a file that cannot be read (:class:`islr.io.LandmarkFileError`)
    gets ``error`` set and does not stop the others. Any other error (the model, the extraction environment, a bug)
    is raised.

    Args:
        files: parquet, .pose or video paths.
        model: (T, 543, 3) → (250,) raw logits.
        sign_names: the 250 signs in label order (default :func:`islr.io.sign_names`).
        k: signs per answer.
        rules: the model's answer rules (default: those stored next to ``model.path``, :meth:`AnswerRules.load`).
        trim: score only the sign's span (False: every frame).
    """
    if rules is None:
        rules = AnswerRules.load(getattr(model, "path", None))
    answerer = Answerer(model, rules, sign_names, trim=trim, k=k)
    out = []
    for f in files:
        try:
            x = read_any(f)
        except io.LandmarkFileError as err:
            out.append(Prediction(str(f), error=err.reason))
            continue
        out.append(Prediction(str(f), answerer(x)))
    return out


def bad_files(preds: list[Prediction]) -> list[io.BadFile]:
    """The files of ``preds`` that could not be read, with their causes."""
    return [io.BadFile(p.path, p.error) for p in preds if p.error]


def format_table(preds: list[Prediction]) -> str:
    """A plain-text table of the files read: file, frames and the span scored, then the answer (the files that
    could not be read are named by :func:`islr.io.report_bad_files` instead)."""
    lines = []
    for p in preds:
        if not p.error:
            a = p.answer
            span = "" if a.span == (0, a.frames) else f", signing in frames {a.span[0]}-{a.span[1] - 1}"
            lines.append(f"{p.path} ({a.frames} frames{span}): {a.text()}")
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
    ap.add_argument("--no-trim", action="store_true", help="score every frame, not only the sign's span")
    args = ap.parse_args(argv)
    if any(Path(f).suffix.lower() == ".pose" for f in args.files):  # before loading the model, not per file
        extras.require("video", "reading .pose files", modules=("pose_format",))
    try:
        model = load_sign_model(args.model or None, args.backend, args.threads)
        rules = AnswerRules.load(model.path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"islr predict: {exc}", file=sys.stderr)
        return 2
    from islr.extract import ExtractEnvironmentError

    try:
        preds = predict_files(args.files, model, io.sign_names(), args.top, rules=rules, trim=not args.no_trim)
    except ExtractEnvironmentError as exc:  # no python that runs MediaPipe for the videos: not a bad file
        print(f"islr predict: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for p in preds:
            print(json.dumps(p.as_dict()))
    elif any(not p.error for p in preds):
        print(f"[predict] probabilities: {rules.data}", file=sys.stderr)
        print(format_table(preds))
    return io.report_bad_files("islr predict", bad_files(preds), len(preds))
