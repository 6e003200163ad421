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
4. **Not a sign this model knows** (open set): the top sign has no real training recordings, or the recording's
   logit profile is farther from that sign's real training examples than real unseen signers of it ever were
   (:meth:`AnswerRules.judge`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from islr.landmarks import no_hands_in_view
from islr.metrics import expected_calibration_error, topk_indices

#: The states of an answer, and what each says when there is no sign to show.
SIGN, UNKNOWN, NO_HANDS, WAITING = "sign", "unknown", "no_hands", "waiting"
STATE_TEXT = {UNKNOWN: "not a sign this model knows", NO_HANDS: "no hands in view", WAITING: "waiting for frames"}


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
# The rules fitted for one model (notebook 06), stored next to it
# ---------------------------------------------------------------------------------------------------------------
#: The file next to a model that holds its answer rules (JSON; the reference profiles in the .npz beside it).
RULES_NAME = "answer_rules.json"
REFERENCES_NAME = "answer_references.npz"
#: Temperatures the fit may choose from (log-spaced search bounds): outside them the held-out rows are too few or
#: too easy to say anything (e.g. every row right with a wide margin pushes the optimum towards 0).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Neighbours averaged for the distance of a recording's profile to a sign's real training examples.
NEIGHBOURS = 3
#: Each sign keeps at most this many reference profiles (its real training examples, first ones by participant).
MAX_REFERENCES = 64


def profile(logits: np.ndarray) -> np.ndarray:
    """(..., 250) logits → unit vectors of the logits minus their mean: the shape of the model's whole answer (which
    signs it finds alike), not its scale, so one temperature does not move it."""
    z = np.asarray(logits, np.float64)
    z = z - z.mean(-1, keepdims=True)
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Log-probabilities of ``logits / temperature`` along the last axis."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of ``softmax(logits / T)`` on labelled rows
    (temperature scaling: one number, so the ranking of the signs never changes), within
    :data:`TEMPERATURE_BOUNDS`."""
    from scipy.optimize import minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if not len(labels):
        raise ValueError("no labelled rows to fit a temperature on")

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits, np.exp(log_t))[np.arange(len(labels)), labels].mean())

    lo, hi = np.log(TEMPERATURE_BOUNDS)
    return float(np.exp(minimize_scalar(nll, bounds=(lo, hi), method="bounded").x))


@dataclass
class AnswerRules:
    """What turns one model's logits into an answer a person can trust, fitted on real data (notebook 06).

    Attributes:
        temperature: logits are divided by it before the softmax (fitted on real held-out signers; 1 = not
            calibrated).
        calibrated: ``temperature`` was fitted (False: the default rules of a model without a record).
        real_signs: the signs with real training recordings, and how many (None: not known, every sign counts).
        references: {sign: (n, 250) profiles (:func:`profile`) of its real training examples} — the open-set
            rule's memory of what real signing of each sign looks like to the model.
        threshold: a recording whose profile is farther than this (mean cosine distance to its top sign's
            :data:`NEIGHBOURS` nearest references) is "not a sign this model knows" (inf: no distance rule).
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

    def distance(self, logits: np.ndarray, sign: str) -> float:
        """Mean cosine distance of the logits' profile to the :data:`NEIGHBOURS` nearest real training examples of
        ``sign`` (inf when it has none)."""
        refs = self.references.get(sign)
        if refs is None or not len(refs):
            return float("inf")
        d = np.sort(1.0 - refs @ profile(logits).reshape(-1))
        return float(d[:NEIGHBOURS].mean())

    def judge(self, logits: np.ndarray, sign: str) -> str:
        """Why the model's top sign ``sign`` is not a trustworthy answer, or ``""`` when it is."""
        if self.real_signs is not None and sign not in self.real_signs:
            return f"{sign} has no real training recordings (learnt from synthetic sequences only)"
        if np.isfinite(self.threshold):
            d = self.distance(logits, sign)
            if d > self.threshold:
                return (f"unlike the real training examples of {sign} (distance {d:.3f} > {self.threshold:.3f}, the "
                        f"farthest seen on real unseen signers)")
        return ""

    # -- storage ------------------------------------------------------------------------------------------------
    def save(self, model_path: str | Path) -> Path:
        """Write ``answer_rules.json`` (and the reference profiles) next to ``model_path``."""
        folder = Path(model_path).parent
        np.savez_compressed(folder / REFERENCES_NAME, **{s: r.astype(np.float32) for s, r in self.references.items()})
        out = folder / RULES_NAME
        out.write_text(json.dumps({"temperature": self.temperature, "calibrated": self.calibrated,
                                   "real_signs": self.real_signs, "threshold": self.threshold,
                                   "neighbours": NEIGHBOURS, "references": REFERENCES_NAME,
                                   "data": self.data, "fit": self.fit}, indent=1, allow_nan=True) + "\n")
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
                references = {s: refs[s].astype(np.float64) for s in refs.files}
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
        from islr.span import sign_span

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
        return self.decide(self.last_logits, **base)

    def decide(self, logits: np.ndarray, **base) -> Answer:
        """The answer for the model's logits on the scored frames (``base``: frames, span, calibrated)."""
        p = self.rules.probabilities(logits)
        top = [(self.names[i], float(p[i])) for i in topk_indices(p, self.k)]
        why = self.rules.judge(logits, top[0][0])
        return Answer(UNKNOWN if why else SIGN, top, reason=why, **base)


# ---------------------------------------------------------------------------------------------------------------
# Fitting the rules (notebook 06, benchmarks/open_set.py)
# ---------------------------------------------------------------------------------------------------------------
#: The distance threshold is the largest distance seen on real unseen signers of a known sign, times this margin
#: (a few held-out rows cannot show the farthest a new signer may be).
THRESHOLD_MARGIN = 1.25


def sign_references(logits: np.ndarray, labels: np.ndarray, sign_names: list[str],
                    signs: list[str] | None = None) -> dict[str, np.ndarray]:
    """{sign: (n, 250) profiles} of labelled rows (at most :data:`MAX_REFERENCES` a sign, in row order), for
    ``signs`` (default: every sign present)."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    wanted = set(signs) if signs is not None else {sign_names[i] for i in np.unique(labels)}
    return {sign_names[i]: profile(logits[labels == i][:MAX_REFERENCES])
            for i in np.unique(labels) if sign_names[i] in wanted}


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


def fit_rules(train_logits: np.ndarray, train_labels: np.ndarray, held_logits: np.ndarray,
              held_labels: np.ndarray, held_groups: np.ndarray, sign_names: list[str],
              real_signs: dict[str, int] | None, data: str) -> AnswerRules:
    """The answer rules of one model from its logits on real recordings.

    Args:
        train_logits, train_labels: the model's logits on the real recordings it was trained on (the open-set
            rule's references).
        held_logits, held_labels, held_groups: its logits on real recordings of people it never saw, their labels
            and participants (the temperature, the distance threshold, and the ECE before/after, measured with a
            temperature fitted on the other participants).
        sign_names: the 250 signs in label order.
        real_signs: {sign: real training recordings} (None: every sign has them).
        data: what the rows are, in words (stored with the rules).
    """
    held_logits, held_labels = np.asarray(held_logits, np.float64), np.asarray(held_labels, np.int64)
    temperature = fit_temperature(held_logits, held_labels)
    refs = sign_references(train_logits, train_labels, sign_names,
                           None if real_signs is None else list(real_signs))
    rules = AnswerRules(temperature, True, real_signs, refs, data=data)
    top = held_logits.argmax(1)
    right = top == held_labels
    dist = np.array([rules.distance(lg, sign_names[t]) for lg, t in zip(held_logits, top)])
    seen = dist[right & np.isfinite(dist)]
    rules.threshold = float(seen.max() * THRESHOLD_MARGIN) if len(seen) else float("inf")

    cv_t = held_out_temperatures(held_logits, held_labels, held_groups)
    ok = np.isfinite(cv_t)
    raw = np.exp(log_softmax(held_logits)).max(1)
    calibrated = np.exp(log_softmax(held_logits[ok], cv_t[ok][:, None])).max(1)
    rules.fit = {"held_out_rows": int(len(held_labels)), "held_out_participants": int(len(np.unique(held_groups))),
                 "reference_rows": int(sum(len(r) for r in refs.values())),
                 "held_out_top1": float(right.mean()) if len(right) else float("nan"),
                 "ece_raw": expected_calibration_error(raw, right),
                 "ece_calibrated": expected_calibration_error(calibrated, right[ok]),
                 "ece_measured_on": "held-out rows; calibrated with a temperature fitted on the other held-out "
                                    "participants",
                 "confidence_raw": raw.round(5).tolist(), "confidence_calibrated": calibrated.round(5).tolist(),
                 "correct": right.tolist(), "correct_calibrated": right[ok].tolist(),
                 "held_out_distances": [round(float(d), 4) for d in seen]}
    return rules
