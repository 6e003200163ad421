"""What a person reads: one answer per recording or window, by the same rules in every command.

``islr predict``, ``islr evaluate``, ``islr live`` (camera, video, browser page) and notebook 07 all turn landmarks into
an :class:`Answer` with :class:`Answerer`; nothing else decides what is shown. The rules, in order:

1. **The sign's span** (:func:`islr.span.sign_span`): the frames where the hands are in view and signing, not at
   rest, are scored; the rest of the recording is left out (``trim=False`` keeps every frame).
2. **No hands in view**: both hands missing in (nearly) every frame of the span
   (:func:`islr.landmarks.no_hands_in_view`): the model is not asked.
3. **Calibrated probabilities**: the model's raw logits divided by a temperature fitted on real held-out signers
   (:class:`AnswerRules`, stored next to the model as ``answer_rules.json`` by notebook 06); without that file the
   temperature is 1 and the answer says its probabilities are uncalibrated.
4. **Not a sign this model knows** (open set): the top sign has no real training recordings, or the signing hand
   moves unlike every real training recording of that sign (:func:`motion`: the hand's path relative to the
   shoulders and its shape over the span; farther from its nearest real examples than real recordings of one sign
   by different people are from each other, :data:`THRESHOLD_QUANTILE`) (:meth:`AnswerRules.judge`). The check
   is on the landmarks, not on the model's scores: a model that has seen real recordings of only a few signs maps
   real signing of any other sign onto those few, and sure of itself (its scores cannot tell), but the movement
   differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from islr.landmarks import LEFT_HAND, NO_HANDS_TEXT, RIGHT_HAND, no_hands_in_view, pose_id
from islr.metrics import expected_calibration_error, topk_indices
from islr.span import sign_span

#: The states of an answer, and what each says when there is no sign to show.
SIGN, UNKNOWN, NO_HANDS, WAITING = "sign", "unknown", "no_hands", "waiting"
STATE_TEXT = {UNKNOWN: "not a sign this model knows", NO_HANDS: NO_HANDS_TEXT, WAITING: "waiting for frames"}


@dataclass
class Answer:
    """The answer for one recording (or one live window).

    Attributes:
        state: ``"sign"`` (``top[0]`` is the answer), ``"unknown"`` (not a sign this model knows: ``top`` still holds
            the model's best guesses, shown as such), ``"no_hands"`` (``top`` empty) or ``"waiting"`` (live: too
            few frames yet).
        top: the best signs with their probabilities (calibrated when ``calibrated``), best first.
        frames: frames in the recording or window.
        span: ``(start, stop)``: the frames that were scored (all of them when not trimmed).
        calibrated: the probabilities come from a temperature fitted on real held-out signers.
        reason: why the state is not ``"sign"``, in words (empty otherwise).
    """

    state: str
    top: list[tuple[str, float]] = field(default_factory=list)
    frames: int = 0
    span: tuple[int, int] = (0, 0)
    calibrated: bool = False
    reason: str = ""

    @property
    def sign(self) -> str | None:
        """The answer's sign (None unless the state is ``"sign"``)."""
        return self.top[0][0] if self.state == SIGN and self.top else None

    @property
    def p(self) -> float | None:
        """The probability of the top sign (None without one)."""
        return self.top[0][1] if self.top else None

    def headline(self) -> str:
        """The answer in a few words: ``"hello 0.93"``, ``"not a sign this model knows"``, ``"no hands in view"``."""
        if self.state == SIGN:
            return f"{self.top[0][0]} {self.top[0][1]:.2f}"
        return STATE_TEXT[self.state]

    def text(self) -> str:
        """The answer in one line: the headline, then the other signs (or the best guesses when unknown)."""
        if self.state in (NO_HANDS, WAITING) or not self.top:
            return self.headline()
        if self.state == SIGN:
            return "  ".join(f"{s} {p:.3f}" for s, p in self.top)
        return f"{self.headline()} (best guesses: " + ", ".join(f"{s} {p:.2f}" for s, p in self.top[:3]) + ")"

    def as_dict(self) -> dict:
        """JSON-ready: state, sign, p, text, top [{sign, p}], frames, span [start, stop], calibrated, reason."""
        return {"state": self.state, "sign": self.sign, "p": self.p, "text": self.text(),
                "top": [{"sign": s, "p": p} for s, p in self.top], "frames": self.frames,
                "span": list(self.span), "calibrated": self.calibrated, "reason": self.reason}


# ---------------------------------------------------------------------------------------------------------------
# How a recording moves: the open-set rule's description of a sign
# ---------------------------------------------------------------------------------------------------------------
#: Frames a recording's motion is resampled to (spans differ in length; the asl-signs median is 18 frames).
MOTION_FRAMES = 16
#: Fingertips (hand-local ids) whose positions relative to the wrist, in palm lengths, describe the hand's shape.
_TIPS = np.array([4, 8, 12, 16, 20])
#: Weight of the hand shape against the wrist path (shoulder widths) in :func:`motion_distance`. Chosen on the
#: bundled sample's real hello/thankyou (participant left out) and the repository's four real recordings of other
#: signs: with the path alone (0) real hello and thankyou by other people overlap and two of the four other signs
#: pass; with 0.25, the 95th percentile of same-sign distances (0.59) is below every other-sign recording (0.62–1.08).
SHAPE_WEIGHT = 0.25


def motion(x: np.ndarray) -> np.ndarray | None:
    """(:data:`MOTION_FRAMES`, 12) how the signing hand moves in ``x`` (T, 543, ≥2): per resampled frame, its wrist
    relative to the middle of the shoulders in shoulder widths (2) and its five fingertips relative to the wrist in
    palm lengths (10, weighted by :data:`SHAPE_WEIGHT`). The signing hand is the one the hand model found in more
    frames; a left one is mirrored, so left- and right-handed signing compare. Frames without that hand are
    interpolated; None when the hand is never found.
    """
    xy = np.asarray(x, np.float32)[..., :2]
    shoulders = xy[:, [pose_id(11), pose_id(12)]]
    seen = ~np.isnan(shoulders).any((1, 2))
    if not seen.any():
        return None
    centre = np.median(shoulders[seen].mean(1), 0)
    width = float(np.median(np.linalg.norm(shoulders[seen, 0] - shoulders[seen, 1], axis=1)))
    hands = (xy[:, LEFT_HAND], xy[:, RIGHT_HAND])
    side = int(np.argmax([(~np.isnan(h[:, 0, 0])).sum() for h in hands]))
    hand = hands[side]
    found = ~np.isnan(hand).any((1, 2))
    if not found.any() or width <= 0:
        return None
    hand = hand[found]
    palm = np.maximum(np.linalg.norm(hand[:, 9] - hand[:, 0], axis=1), 1e-6)[:, None, None]
    path = (hand[:, 0] - centre) / width  # (n, 2)
    shape = (hand[:, _TIPS] - hand[:, :1]) / palm  # (n, 5, 2)
    if side == 0:  # the left hand, mirrored
        path, shape = path * [-1, 1], shape * [-1, 1]
    values = np.concatenate([path, SHAPE_WEIGHT * shape.reshape(len(hand), -1)], 1)
    at = np.flatnonzero(found)
    grid = np.linspace(0, len(found) - 1, MOTION_FRAMES)
    return np.stack([np.interp(grid, at, v) for v in values.T], 1).astype(np.float32)


def motion_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The median over the resampled frames of the distance between :func:`motion` descriptions (a median, so a
    few badly tracked frames do not decide); ``a`` or ``b`` may be a stack (n, MOTION_FRAMES, 12): one distance
    each."""
    return np.median(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1), axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# The rules fitted for one model (notebook 06), stored next to it
# ---------------------------------------------------------------------------------------------------------------
#: The file next to a model that holds its answer rules (JSON; the reference motions in the .npz beside it).
RULES_NAME = "answer_rules.json"
REFERENCES_NAME = "answer_references.npz"
#: Temperatures the fit may choose from (log-spaced search bounds).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Nearest real examples averaged for the distance of a recording to a sign.
NEIGHBOURS = 3
#: Each sign keeps at most this many reference motions (its real training recordings, in row order).
MAX_REFERENCES = 200
#: The distance threshold is this quantile of the distances of each real training recording of a sign to the
#: other participants' recordings of it: a recording farther from a sign than nearly all real signers of it are
#: from each other is not that sign. Measured on the bundled sample's real hello/thankyou, each of the 21
#: participants left out in turn (references and threshold from the other 20): 0.95 accepts 94 % of the left-out
#: person's recordings and refuses the repository's four real recordings of other signs in 20 of 21 folds; 0.975
#: accepts 95 % but lets half of those four through; 1.0 (the farthest seen) accepts 99 % and all four.
THRESHOLD_QUANTILE = 0.95


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Log-probabilities of ``logits / temperature`` along the last axis."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T for ``softmax(logits / T)`` on labelled rows (temperature scaling: one number, so the ranking
    of the signs never changes), within :data:`TEMPERATURE_BOUNDS`.

    T minimises the negative log-likelihood, but is never so low that the mean probability of the top answer exceeds
    what the rows say about the accuracy on new ones: (right + 1) / (rows + 2), Laplace's rule of succession. A few
    held-out rows all answered right (8 of 8 in the default chain) would otherwise push T to its lower bound and every
    answer to probability 1; with many rows the cap meets the accuracy itself and the likelihood decides.
    """
    from scipy.optimize import brentq, minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if not len(labels):
        raise ValueError("no labelled rows to fit a temperature on")

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits, np.exp(log_t))[np.arange(len(labels)), labels].mean())

    def confidence(log_t: float) -> float:
        return float(np.exp(log_softmax(logits, np.exp(log_t)).max(1)).mean())

    lo, hi = np.log(TEMPERATURE_BOUNDS)
    log_t = minimize_scalar(nll, bounds=(lo, hi), method="bounded").x
    expected = ((logits.argmax(1) == labels).sum() + 1) / (len(labels) + 2)
    if confidence(log_t) > expected:  # more sure than the rows allow: the lowest T that is not
        log_t = hi if confidence(hi) > expected else brentq(lambda v: confidence(v) - expected, log_t, hi)
    return float(np.exp(log_t))


@dataclass
class AnswerRules:
    """What turns one model's logits into an answer a person can trust, fitted on real data (notebook 06).

    Attributes:
        temperature: logits are divided by it before the softmax (fitted on real held-out signers; 1 = not
            calibrated).
        calibrated: ``temperature`` was fitted (False: uncalibrated softmax).
        real_signs: the signs with real training recordings, and how many (None: not known, every sign counts).
        references: {sign: (n, MOTION_FRAMES, 12) :func:`motion` of its real training recordings}.
        threshold: a recording whose motion is farther than this from its top sign's references (mean of the
            :data:`NEIGHBOURS` nearest) is "not a sign this model knows" (inf: no distance rule).
        data: what the rules were fitted on, in words (data named, counts).
        fit: numbers of the fit (rows, ECE before/after, distances seen), for the record.
    """

    temperature: float = 1.0
    calibrated: bool = False
    real_signs: dict[str, int] | None = None
    references: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: float = float("inf")
    data: str = "no record: uncalibrated softmax, no open-set rule"
    fit: dict = field(default_factory=dict)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(..., 250) calibrated probabilities."""
        return np.exp(log_softmax(logits, self.temperature))

    def distance(self, moved: np.ndarray | None, sign: str) -> float:
        """Mean :func:`motion_distance` of a recording's motion to the :data:`NEIGHBOURS` nearest real training
        recordings of ``sign`` (inf when either is missing)."""
        refs = self.references.get(sign)
        if moved is None or refs is None or not len(refs):
            return float("inf")
        return float(np.sort(motion_distance(refs, moved))[:NEIGHBOURS].mean())

    def judge(self, sign: str, moved: np.ndarray | None) -> str:
        """Why the model's top sign ``sign`` is not a trustworthy answer for a recording that moves as ``moved``
        (:func:`motion`), or ``""`` when it is."""
        if self.real_signs is not None and sign not in self.real_signs:
            return f"{sign} has no real training recordings (learnt from synthetic sequences only)"
        if np.isfinite(self.threshold):
            d = self.distance(moved, sign)
            if d > self.threshold:
                return (f"moves unlike the real training recordings of {sign} (distance {d:.2f} > {self.threshold:.2f})"
                        if np.isfinite(d) else f"no signing hand to compare with the real recordings of {sign}")
        return ""

    # -- storage ------------------------------------------------------------------------------------------------
    def save(self, model_path: str | Path) -> Path:
        """Write ``answer_rules.json`` (and the reference motions) next to ``model_path``."""
        folder = Path(model_path).parent
        np.savez_compressed(folder / REFERENCES_NAME, **{s: r.astype(np.float32) for s, r in self.references.items()})
        out = folder / RULES_NAME
        out.write_text(json.dumps({"temperature": self.temperature, "calibrated": self.calibrated,
                                   "real_signs": self.real_signs, "threshold": self.threshold,
                                   "neighbours": NEIGHBOURS, "motion_frames": MOTION_FRAMES,
                                   "references": REFERENCES_NAME, "data": self.data, "fit": self.fit},
                                  indent=1, allow_nan=True) + "\n")
        return out
    @classmethod
    def load(cls, model_path: str | Path | None) -> AnswerRules:
        """The rules stored next to ``model_path`` (a .tflite file or an ONNX folder), or the default rules
        (uncalibrated, no open-set rule) when there are none.

        Raises:
            ValueError: the record exists but cannot be read (names the file).
        """
        if model_path is None:
            return cls()
        model_path = Path(model_path)
        folder = model_path if model_path.is_dir() else model_path.parent
        path = folder / RULES_NAME
        if not path.exists() and model_path.is_dir():  # an ONNX folder inside the submission folder
            path = folder.parent / RULES_NAME
        if not path.exists():
            return cls()
        try:
            info = json.loads(path.read_text())
            with np.load(path.parent / info["references"]) as refs:
                references = {s: refs[s].astype(np.float32) for s in refs.files}
            shapes = {r.shape[1:] for r in references.values()}
            if shapes - {(MOTION_FRAMES, 12)}:
                raise ValueError(f"reference motions of shape {sorted(shapes)}, not (n, {MOTION_FRAMES}, 12): "
                                 f"written by another version; fit them again (notebook 06)")
            return cls(float(info["temperature"]), bool(info["calibrated"]), info["real_signs"], references,
                       float(info["threshold"]), info["data"], info.get("fit", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable answer-rules record ({exc})") from exc


# ---------------------------------------------------------------------------------------------------------------
# From landmarks to an answer
# ---------------------------------------------------------------------------------------------------------------

class Answerer:
    """Landmarks (T, 543, 3) → :class:`Answer`, by the rules of this module (the one place they are applied).

    Args:
        model: (T, 543, 3) → (250,) raw logits (a Kaggle-contract TFLite model, the ONNX ensemble, a checkpoint).
        rules: the model's :class:`AnswerRules` (default: none — uncalibrated, no open-set rule).
        sign_names: the 250 signs in label order (default :func:`islr.io.sign_names`).
        trim: score only the sign's span (:func:`islr.span.sign_span`).
        k: how many signs an answer lists.
    """

    def __init__(self, model, rules: AnswerRules | None = None, sign_names: list[str] | None = None,
                 trim: bool = True, k: int = 5):
        from islr.io import sign_names as all_signs

        self.model, self.rules = model, rules or AnswerRules()
        self.names = sign_names or all_signs()
        self.trim, self.k = trim, k
        self.last_logits: np.ndarray | None = None  # the logits of the last answer the model was asked for

    def span(self, x: np.ndarray) -> tuple[int, int]:
        """The frames to score: the sign's span, or all of them when not trimming."""
        return sign_span(x) if self.trim and len(x) else (0, len(x))

    def __call__(self, x: np.ndarray, score_anyway: bool = False) -> Answer:
        """The answer for landmarks ``x`` (T, 543, 3); the logits the model gave are kept in :attr:`last_logits`
        (None when it was not asked: no hands in view, unless ``score_anyway``, as ``islr evaluate`` needs a
        score for every labelled file)."""
        x = np.asarray(x, np.float32)
        start, stop = self.span(x)
        part = x[start:stop]
        base = {"frames": len(x), "span": (start, stop), "calibrated": self.rules.calibrated}
        no_hands = no_hands_in_view(part)
        self.last_logits = (np.asarray(self.model(part), np.float64).reshape(-1)
                            if score_anyway or not no_hands else None)
        if no_hands:
            return Answer(NO_HANDS, **base, reason="both hands missing in (nearly) every frame")
        return self.decide(self.last_logits, motion(part), **base)

    def decide(self, logits: np.ndarray, moved: np.ndarray | None = None, **base) -> Answer:
        """The answer for the model's logits on the scored frames, whose :func:`motion` is ``moved`` (``base``:
        frames, span, calibrated)."""
        p = self.rules.probabilities(logits)
        top = [(self.names[i], float(p[i])) for i in topk_indices(p, self.k)]
        why = self.rules.judge(top[0][0], moved)
        return Answer(UNKNOWN if why else SIGN, top, reason=why, **base)


# ---------------------------------------------------------------------------------------------------------------
# Fitting the rules (notebook 06, benchmarks/open_set.py)
# ---------------------------------------------------------------------------------------------------------------
def held_out_temperatures(logits: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) for each row the temperature fitted on the rows of the OTHER groups (participants): a calibration
    measured on people it was not fitted on (NaN for a row whose group is the only one)."""
    groups = np.asarray(groups)
    out = np.full(len(labels), np.nan)
    for g in np.unique(groups):
        rest = groups != g
        if rest.any():
            out[~rest] = fit_temperature(np.asarray(logits)[rest], np.asarray(labels)[rest])
    return out


def same_sign_distances(motions: list[np.ndarray | None], signs: list[str], participants: list[int]) -> np.ndarray:
    """For each recording, the mean distance to the :data:`NEIGHBOURS` nearest recordings of the same sign by OTHER
    participants (recordings without a motion, or without such others, are left out): how far apart real
    signers of one sign are."""
    signs, participants = np.asarray(signs), np.asarray(participants)
    out = []
    for i, m in enumerate(motions):
        others = [motions[j] for j in np.flatnonzero((signs == signs[i]) & (participants != participants[i]))
                  if motions[j] is not None]
        if m is not None and others:
            out.append(float(np.sort(motion_distance(np.stack(others), m))[:NEIGHBOURS].mean()))
    return np.asarray(out)


def fit_rules(motions: list[np.ndarray | None], signs: list[str], participants: list[int],
              held_logits: np.ndarray, held_labels: np.ndarray, held_groups: np.ndarray,
              real_signs: dict[str, int] | None, data: str) -> AnswerRules:
    """The answer rules of one model from real recordings.

    Args:
        motions, signs, participants: the :func:`motion` of each real recording the model was trained on, its sign
            and its participant: the open-set references, and (each against the other participants' recordings of
            its sign) the distance threshold.
        held_logits, held_labels, held_groups: the model's logits on real recordings of people it never saw, their
            labels and participants: the temperature, and the ECE before/after (each row calibrated with a
            temperature fitted on the other participants). No rows: no temperature (uncalibrated).
        real_signs: {sign: real training recordings} (None: every sign has them).
        data: what the rows are, in words (stored with the rules).
    """
    held_logits, held_labels = np.asarray(held_logits, np.float64), np.asarray(held_labels, np.int64)
    refs: dict[str, list[np.ndarray]] = {}
    for m, s in zip(motions, signs):
        if m is not None and len(refs.setdefault(s, [])) < MAX_REFERENCES:
            refs[s].append(m)
    spread = same_sign_distances(motions, signs, participants)
    rules = AnswerRules(real_signs=real_signs, references={s: np.stack(r) for s, r in refs.items() if r},
                        threshold=float(np.quantile(spread, THRESHOLD_QUANTILE)) if len(spread) else float("inf"),
                        data=data)
    rules.fit = {"reference_rows": int(sum(len(r) for r in refs.values())),
                 "same_sign_distance_median": float(np.median(spread)) if len(spread) else None,
                 "threshold_quantile": THRESHOLD_QUANTILE, "held_out_rows": int(len(held_labels))}
    if not len(held_labels):
        return rules
    rules.temperature, rules.calibrated = fit_temperature(held_logits, held_labels), True
    right = held_logits.argmax(1) == held_labels
    cv_t = held_out_temperatures(held_logits, held_labels, held_groups)
    ok = np.isfinite(cv_t)
    raw = np.exp(log_softmax(held_logits)).max(1)
    calibrated = np.exp(log_softmax(held_logits[ok], cv_t[ok][:, None])).max(1)
    rules.fit.update({
        "held_out_participants": int(len(np.unique(held_groups))), "held_out_top1": float(right.mean()),
        "ece_raw": expected_calibration_error(raw, right),
        "ece_calibrated": expected_calibration_error(calibrated, right[ok]),
        "ece_measured_on": "held-out rows; calibrated with a temperature fitted on the other held-out participants",
        "confidence_raw": raw.round(5).tolist(), "confidence_calibrated": calibrated.round(5).tolist(),
        "correct": right.tolist(), "correct_calibrated": right[ok].tolist()})
    return rules
