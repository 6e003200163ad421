"""``python -m islr live``: recognise signs as frames arrive, from a camera or a video replayed as one.

Frames are captured with OpenCV (main environment), turned into landmarks one at a time by MediaPipe Holistic in
the extraction environment (:class:`islr.extract.LiveExtractor`, a long-lived worker), and a sliding window of the
most recent ``window`` frames is answered every ``every`` frames by the rules of every command
(:class:`islr.answer.Answerer`: the sign's span inside the window, "no hands in view", probabilities calibrated by the
temperature stored next to the model, "not a sign this model knows"). The answer is printed and drawn over the
picture with the landmarks (the sign and its probability large on a dark panel sized to the frame, or the state,
then the top-5). At the start the command says which
signs the model has real training data for (the record notebook 06 writes next to the model,
:func:`islr.evaluate.save_known_signs`); ``--out FILE.mp4`` writes that annotated video, ``--show`` opens a window
where OpenCV has a GUI (the pinned headless build has none).

Pass frames unmirrored (not a "selfie" view): the asl-signs landmarks were made on non-mirrored images
(see :mod:`islr.extract`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islr import extras
from islr import landmarks as L
from islr.answer import NO_HANDS, STATE_TEXT, UNKNOWN, WAITING, Answer, Answerer, AnswerRules


@dataclass
class LiveUpdate:
    """One scoring of the window: at which frame, how many frames it held, and the answer
    (:class:`islr.answer.Answer`: a sign with calibrated probabilities, "not a sign this model knows" or "no hands
    in view", the span scored inside the window)."""

    frame: int
    window_frames: int
    answer: Answer

    @property
    def top(self) -> list[tuple[str, float]]:
        return self.answer.top

    @property
    def no_hands(self) -> bool:
        return self.answer.state == NO_HANDS

    def text(self) -> str:
        """The update in one line (:meth:`islr.answer.Answer.text`)."""
        return self.answer.text()

    def as_dict(self) -> dict:
        """JSON-ready: frame, window_frames and the answer's fields (:meth:`islr.answer.Answer.as_dict`)."""
        return {"frame": self.frame, "window_frames": self.window_frames, **self.answer.as_dict()}


class SlidingWindowRecognizer:
    """Keeps the last ``window`` frames of landmarks and answers for them every ``every`` frames, by the rules of
    every command (:class:`islr.answer.Answerer`: the sign's span inside the window, "no hands in view", calibrated
    probabilities, "not a sign this model knows").

    Args:
        model: callable (T, 543, 3) → (250,) logits (e.g. :class:`islr.predict.TFLiteSignModel`).
        sign_names: the 250 signs in label order.
        window: frames kept (the asl-signs median is 18 frames, the CNN resizes to 160; 48 ≈ 1.6 s at 30 fps).
        every: answer every this many frames.
        min_hand_frames: no answer yet for a window in which fewer frames show a hand (too little to go on), unless
            the hands are missing in (nearly) all of it ("no hands in view").
        k: how many signs an answer lists.
        rules: the model's answer rules (default: those stored next to ``model.path``).
        trim: score only the sign's span inside the window.
    """

    def __init__(self, model: Callable[[np.ndarray], np.ndarray], sign_names: list[str], window: int = 48,
                 every: int = 4, min_hand_frames: int = 3, k: int = 5, rules: AnswerRules | None = None,
                 trim: bool = True):
        if rules is None:
            rules = AnswerRules.load(getattr(model, "path", None))
        self.answerer = Answerer(model, rules, sign_names, trim=trim, k=k)
        self.buffer: deque[np.ndarray] = deque(maxlen=window)
        self.every, self.min_hand_frames = every, min_hand_frames
        self.count = 0

    @property
    def model(self) -> Callable[[np.ndarray], np.ndarray]:
        """The model the answers come from (replaceable, e.g. by a timed wrapper in a benchmark)."""
        return self.answerer.model

    @model.setter
    def model(self, model: Callable[[np.ndarray], np.ndarray]) -> None:
        self.answerer.model = model

    def push(self, frame_landmarks: np.ndarray) -> LiveUpdate | None:
        """Add one frame's (543, 3) landmarks; return an update when the window was answered."""
        self.buffer.append(np.asarray(frame_landmarks, np.float32))
        self.count += 1
        if self.count % self.every:
            return None
        window = np.stack(self.buffer)  # (T, 543, 3)
        if L.hand_frames(window).sum() < self.min_hand_frames and not L.no_hands_in_view(window):
            return None
        return LiveUpdate(self.count - 1, len(window), self.answerer(window))


#: The overlay's look: sizes are set for a 720-pixel frame and scale with the frame's smaller side, so the answer
#: reads the same at 640×480 and 1920×1080 (not below MIN_SCALE, so a 320×240 video stays legible); the text sits on
#: a dark panel of opacity PANEL_ALPHA.
MIN_SCALE = 0.4
PANEL_ALPHA = 0.75


def _overlay_lines(update: LiveUpdate | None) -> list[tuple[str, float, tuple[int, int, int]]]:
    """The overlay's lines, top to bottom: (text, relative size, BGR colour): the state or the sign large, then the
    details small."""
    grey, white, yellow, orange = (200, 200, 200), (255, 255, 255), (0, 230, 255), (0, 150, 255)
    a = update.answer if update is not None else None
    if a is None or a.state == WAITING:
        return [(STATE_TEXT[WAITING], 1.0, white)]
    if a.state == NO_HANDS:
        return [(STATE_TEXT[NO_HANDS], 1.0, yellow)]
    kind = "probability" if a.calibrated else "uncalibrated probability"
    if a.state == UNKNOWN:
        guess = ", ".join(f"{s} {p:.0%}" for s, p in a.top[:2])
        return [(STATE_TEXT[UNKNOWN], 1.0, orange), (f"best guesses ({kind}): {guess}", 0.45, grey)]
    (sign, p), rest = a.top[0], a.top[1:]
    return ([(f"{sign} {p:.0%}", 1.5, yellow), (f"top-{len(a.top)} ({kind})", 0.45, grey)]
            + [(f"{s} {v:.0%}", 0.6, white) for s, v in rest])


def draw(frame: np.ndarray, lm: np.ndarray, update: LiveUpdate | None, panel: bool = True) -> np.ndarray:
    """The frame with the landmarks (hands, pose, lips) and the latest answer drawn on it: the top sign and its logit
    large on a semi-opaque dark panel in the top-left corner, the runner-ups smaller below it, or the state ("waiting
    for frames" before the first update, "no hands in view"); sizes scale with the frame. ``panel=False`` draws the
    landmarks alone (a frame shown for its landmarks, not as part of a live run)."""
    import cv2

    from islr.viz import HAND_EDGES, POSE_EDGES

    out = frame.copy()
    h, w = out.shape[:2]
    s = max(min(h, w) / 720, MIN_SCALE)  # 1.0 at 720p, 0.67 at 640×480, 1.5 at 1080p

    def px(i: int):
        x, y = lm[i, 0], lm[i, 1]
        return None if np.isnan(x) or np.isnan(y) else (int(x * w), int(y * h))

    edges = [(L.pose_id(a), L.pose_id(b), (0, 160, 0)) for a, b in POSE_EDGES]
    for base, colour in ((L.PART_OFFSET["left_hand"], (200, 120, 0)), (L.PART_OFFSET["right_hand"], (0, 140, 255))):
        edges += [(base + a, base + b, colour) for a, b in HAND_EDGES]
    line = max(2, round(2 * s))
    for a, b, colour in edges:
        p, q = px(a), px(b)
        if p and q:
            cv2.line(out, p, q, colour, line, cv2.LINE_AA)
    for i in L.LIP:
        if (p := px(int(i))) is not None:
            cv2.circle(out, p, max(1, round(1.5 * s)), (0, 0, 220), -1)

    if not panel:
        return out
    font, pad, gap = cv2.FONT_HERSHEY_SIMPLEX, round(14 * s), round(10 * s)
    lines = []
    for text, size, colour in _overlay_lines(update):
        scale = 1.2 * s * size
        thick = max(1, round(2.5 * s * size))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        lines.append((text, scale, thick, colour, tw, th, base))
    x0 = y0 = round(10 * s)
    panel_w = min(w - x0, 2 * pad + max(tw for *_, tw, _th, _b in lines))
    panel_h = min(h - y0, 2 * pad + sum(th + b for *_, th, b in lines) + gap * (len(lines) - 1))
    region = out[y0:y0 + panel_h, x0:x0 + panel_w]
    region[:] = (region * (1 - PANEL_ALPHA)).astype(out.dtype)  # blend towards black
    y = y0 + pad
    for text, scale, thick, colour, _tw, th, base in lines:
        y += th
        cv2.putText(out, text, (x0 + pad, y), font, scale, colour, thick, cv2.LINE_AA)
        y += base + gap
    return out


def run(source: str | int, model, sign_names: list[str], window: int = 48, every: int = 4, out: str | None = None,
        show: bool = False, on_update: Callable[[LiveUpdate], None] | None = None, settings=None,
        drop_frames: bool | None = None, stats=None, rules: AnswerRules | None = None,
        trim: bool = True) -> list[LiveUpdate]:
    """The live loop: capture → landmarks → sliding-window recognition → overlay, pipelined.

    Capture and landmark extraction run in their own threads (:class:`islr.stream.FramePipeline`), recognition,
    drawing and writing in this one, so on two cores the stages overlap and a frame costs about the extraction alone;
    recognition calls the model every ``every`` frames while extraction goes on with the next frames.

    Args:
        source: camera index or video path.
        model: (T, 543, 3) → (250,) logits.
        sign_names: the 250 signs in label order.
        window: frames in the sliding window.
        every: score every this many frames.
        out: write the annotated video here (mp4), if given.
        show: show a window (needs an OpenCV build with a GUI).
        on_update: called with every update (printing, by default in :func:`main`).
        settings: Holistic options (:class:`islr.extract.HolisticSettings`; None = its defaults).
        drop_frames: when extraction is behind, drop older frames and extract the newest (None = for a camera;
            a video's frames are all extracted in order, so its updates are those of a sequential loop).
        stats: record each frame's stage times here (:class:`islr.stream.PipelineStats`, read by
            ``benchmarks/bench_live.py``).
        rules: the model's answer rules (default: those stored next to ``model.path``).
        trim: score only the sign's span inside each window.

    Returns:
        Every update, in order.

    Raises:
        OSError: the camera or video cannot be opened.
        RuntimeError: the extraction worker failed or died (the message says why).
    """
    import cv2

    from islr.extract import LiveExtractor, iter_frames
    from islr.stream import FramePipeline, PipelineStats

    recognizer = SlidingWindowRecognizer(model, sign_names, window, every, rules=rules, trim=trim)
    stats = stats if stats is not None else PipelineStats()
    drop = isinstance(source, int) if drop_frames is None else drop_frames
    updates, writer, last = [], None, None
    try:
        with LiveExtractor(settings) as extractor, \
                FramePipeline(iter_frames(source), extractor, drop, stats) as frames:
            for frame, lm in frames:
                started = time.perf_counter()
                update = recognizer.push(lm)
                if update is not None:
                    updates.append(update)
                    last = update
                    if on_update:
                        on_update(update)
                recognised = time.perf_counter()
                stats.add("recognition", recognised - started)
                if out or show:
                    annotated = draw(frame, lm, last)
                    if out:
                        if writer is None:
                            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0,
                                                     (frame.shape[1], frame.shape[0]))
                        writer.write(annotated)
                    if show:
                        cv2.imshow("islr live", annotated)
                        if cv2.waitKey(1) & 0xFF == ord("q"):
                            break
                done = time.perf_counter()
                stats.add("output", done - recognised)
                stats.done_at.append(done)
    finally:
        if writer is not None:
            writer.release()
    return updates


def model_knowledge(model_path: str | Path) -> str:
    """What the model at ``model_path`` has real training data for, in one line (from its recorded data)."""
    from islr.evaluate import known_signs, knows_line

    known = known_signs(model_path)
    if known is None:
        return f"{model_path}: no record of its training data beside it (notebook 06 writes one)"
    return f"{Path(model_path).name}: {knows_line(known)} (data: {known.attrs['data']})"


def main(argv: list[str]) -> int:
    from islr.io import sign_names
    from islr.predict import BACKENDS, default_model, load_sign_model

    ap = argparse.ArgumentParser(prog="islr live", description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, help="camera index (e.g. 0)")
    src.add_argument("--video", help="replay a video file as if it were a camera")
    src.add_argument("--web", action="store_true", help="the camera in a browser page (MediaPipe runs in the page)")
    ap.add_argument("--model", default="", help=f"TFLite file or ONNX ensemble folder (default: {default_model()})")
    ap.add_argument("--backend", choices=BACKENDS, default=None, help="tflite or onnx (default: from --model)")
    ap.add_argument("--window", type=int, default=48, help="frames in the sliding window")
    ap.add_argument("--every", type=int, default=4, help="answer every N frames")
    ap.add_argument("--out", default=None, help="write the annotated video to this .mp4")
    ap.add_argument("--show", action="store_true", help="show a window (OpenCV with a GUI)")
    ap.add_argument("--no-trim", action="store_true", help="score the whole window, not only the sign's span in it")
    from islr.web import server as web

    web.add_arguments(ap)
    args = ap.parse_args(argv)
    if args.web:
        return web.main(args, lambda m: SlidingWindowRecognizer(m, sign_names(), args.window, args.every,
                                                                trim=not args.no_trim), model_knowledge)
    source = args.camera if args.camera is not None else args.video
    extras.require("video", "camera and video input", modules=("cv2",))  # before loading the model
    if args.video and not Path(args.video).exists():
        print(f"islr live: no video {args.video}", file=sys.stderr)
        return 2
    model_path = args.model or default_model(args.backend)
    try:
        model = load_sign_model(model_path, args.backend)
        rules = AnswerRules.load(model_path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"islr live: {exc}", file=sys.stderr)
        return 2
    print(f"[live] {model_knowledge(model_path)}", file=sys.stderr)
    print(f"[live] answers: {rules.data}", file=sys.stderr)
    start = time.perf_counter()

    def report(u: LiveUpdate) -> None:
        print(f"frame {u.frame:5d} ({u.window_frames:3d} in window): {u.text()}", flush=True)

    try:
        updates = run(source, model, sign_names(), args.window, args.every, args.out, args.show, report,
                      rules=rules, trim=not args.no_trim)
    except OSError as exc:
        print(f"islr live: {exc}", file=sys.stderr)
        return 2
    print(f"[live] {len(updates)} updates in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
