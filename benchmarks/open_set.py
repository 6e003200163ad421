"""Does "not a sign this model knows" work? Leave-one-sign-out on the real recordings of the embedded default.

The situation of a user who signs something the model has no real recordings of: for each left-out sign S (by
default hello, then thankyou — the two signs the bundled sample has from all 21 participants), the default recipe's
three members (CNN, BERT, DeBERTa at the profile's size and epochs) are trained on every synthetic sequence (S's
included, as for the 246 signs the model knows from synthetic data only) plus the real recordings of the training
participants, WITHOUT any real recording of S. Participant fold 0 (of ``--folds`` participant-grouped folds over the
real recordings) is never trained on. The answer rules (:func:`islr.answer.fit_rules`) are then fitted as notebook
06 fits them — the open-set references and threshold from the motions of the real recordings the members trained
on, the temperature from fold 0 — and judged on rows they were not fitted on:

* **false accept** (FA): every real recording of S (all 21 participants) — the share answered with a sign instead of
  "not a sign this model knows";
* **false reject** (FR) and answered top-1: fold 0's real recordings of the signs the model does have real data for
  (people neither the members nor the references saw).

A second part needs no training: the model the chain shipped (``outputs/submission/model.tflite`` and the rules
notebook 06 stored next to it) — its expected calibration error on the held-out real signers before/after
calibration (as notebook 06 measured it), and its answers on the real recordings of signs outside its real data
that the repository carries (the two bundled videos and the two ``.pose`` recordings).

The members are combined with equal weights (no grid: fold 0 is the only unseen data and serves the rules) and the
data's synthetic signs are not fitted to the real recordings (``data.synth_fit_real`` off: a fitted synthetic S
would carry S's real recordings into training). The logits are kept (``outputs/benchmarks/open_set_logits.npz``)
so the rule's settings can be compared without retraining: ``--from-logits``.

    python benchmarks/open_set.py                  # both signs, ~12 min on 2 quiet cores
    python benchmarks/open_set.py --from-logits    # re-judge the kept logits (seconds)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from islr import answer as A
from islr import paths
from islr.config import get_config
from islr.data import is_real, load_dataset
from islr.evaluate import real_motions
from islr.io import sign_names
from islr.report import record_benchmark
from islr.splits import make_folds
from islr.train.run import train_fold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_holdout import held_out_logits  # noqa: E402  (the same evaluation pipeline per member)

MEMBERS = ("cnn", "bert", "deberta")


def logits_path() -> Path:
    return paths.outputs_dir() / "benchmarks" / "open_set_logits.npz"


def train_without(cfg, prepared, left_out: str, train_idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Equal-weight ensemble logits on ``rows`` of the members trained on ``train_idx``."""
    total = np.zeros((len(rows), len(prepared.sign_map)), np.float64)
    for family in MEMBERS:
        t0 = time.perf_counter()
        out = paths.run_dir(cfg.run_name) / f"{family}_without_{left_out}"
        model, _ = train_fold(cfg, prepared, family, out_dir=out, indices=(train_idx, np.zeros(0, np.int64)))
        total += held_out_logits(cfg, prepared, family, model.eval(), rows) / len(MEMBERS)
        print(f"[open_set] {family} without real {left_out}: {time.perf_counter() - t0:.0f} s", flush=True)
    return total


def loso_rows(prepared, fold: np.ndarray, real: np.ndarray, left_out: str) -> dict[str, np.ndarray]:
    """Row indices of the prepared data: the real recordings trained on, fold 0's (held out), and the left-out
    sign's; ``fold`` is the participant fold of each row of ``real``."""
    signs = np.asarray(prepared.signs)
    return {"train": real[(fold != 0) & (signs[real] != left_out)],
            "held": real[(fold == 0) & (signs[real] != left_out)],
            "left_out": real[signs[real] == left_out]}


def evaluate_sign(kept: dict, motions: dict[int, np.ndarray | None], names: list[str]) -> dict:
    """FA / FR / answered top-1 for one left-out sign from its kept logits, rows and the rows' motions."""
    lg, lab, pid, seq = kept["logits"], kept["labels"], kept["participants"], kept["sequence_ids"]
    role = kept["role"]  # "train", "held" or "left_out"
    real_signs = {str(s): int(n) for s, n in zip(kept["real_signs"], kept["real_counts"])}
    tr, held, out = role == "train", role == "held", role == "left_out"
    moved = [motions[int(i)] for i in seq]
    rules = A.fit_rules([m for m, t in zip(moved, tr) if t], [names[i] for i in lab[tr]], list(pid[tr]), lg[held],
                        lab[held], pid[held], real_signs, "leave-one-sign-out")
    answerer = A.Answerer(None, rules, names)
    states = np.array([answerer.decide(lg[i], moved[i]).state for i in range(len(lg))])
    top = lg.argmax(1)
    right = top == lab
    answered = states[held] == A.SIGN
    return {"false_accept": float((states[out] == A.SIGN).mean()), "n_left_out": int(out.sum()),
            "left_out_answered_as": {names[i]: int(((states[out] == A.SIGN) & (top[out] == i)).sum())
                                     for i in np.unique(top[out][states[out] == A.SIGN])},
            "left_out_top1_was": {names[i]: int((top[out] == i).sum()) for i in np.unique(top[out])},
            "false_reject": float(1 - answered.mean()), "n_known_held_out": int(held.sum()),
            "answered_top1": float(right[held][answered].mean()) if answered.any() else float("nan"),
            "model_top1_known_held_out": float(right[held].mean()), "threshold": round(rules.threshold, 4),
            "temperature": round(rules.temperature, 4)}


#: Real recordings of signs the shipped model has no real data for (SOUP is not even one of the 250).
OUTSIDE = ("data/videos/soup.mp4", "data/videos/pose_test_video.mp4", "tests/fixtures/example.pose",
           "tests/fixtures/hand_estimation_0ff215ef.pose")
REPO = Path(__file__).resolve().parents[1]


def shipped_rows(names: list[str]) -> list[dict]:
    """The shipped model's calibration (from its rules) and its answers on :data:`OUTSIDE`; none without it."""
    from islr.predict import default_model, load_sign_model, predict_files

    model_path = default_model()
    if not model_path.exists():
        print(f"[open_set] no shipped model at {model_path}: run the chain first for the second part")
        return []
    rules = A.AnswerRules.load(model_path)
    f = rules.fit
    rows = [{"left_out": "shipped model: calibration", "rules_data": rules.data,
             "temperature": round(rules.temperature, 4), "threshold": round(rules.threshold, 4),
             **{k: f.get(k) for k in ("held_out_rows", "held_out_participants", "held_out_top1", "ece_raw",
                                      "ece_calibrated")}}]
    preds = predict_files([REPO / p for p in OUTSIDE], load_sign_model(model_path), names)
    for path, p in zip(OUTSIDE, preds):
        a = p.answer
        rows.append({"left_out": "shipped model: outside its real data", "file": path, "frames": p.frames,
                     "span": list(a.span) if a else None, "state": a.state if a else p.error,
                     "top": a.top[0][0] if a and a.top else None, "p": round(a.p, 4) if a and a.p else None})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signs", nargs="+", default=["hello", "thankyou"])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--folds", type=int, default=3, help="participant-grouped folds; fold 0 is held out")
    ap.add_argument("--overrides", default="{}", help="JSON config overrides on top of the profile")
    ap.add_argument("--from-logits", action="store_true", help="judge the kept logits again, no training")
    args = ap.parse_args()
    names = sign_names()
    overrides = {"data.synth_fit_real": False, **json.loads(args.overrides)}
    cfg = get_config(args.profile, overrides, run_name="open_set")
    started = time.perf_counter()
    prepared, source = load_dataset(cfg)
    real = np.flatnonzero(is_real(prepared.sequence_ids))
    labels, signs = np.asarray(prepared.labels), np.asarray(prepared.signs)
    pids, seqs = np.asarray(prepared.participant_ids), np.asarray(prepared.sequence_ids)
    fold = make_folds("participant", labels[real], pids[real], args.folds, cfg.split.seed)
    synth = np.setdiff1d(np.arange(len(prepared)), real)
    kept = {}
    if args.from_logits:
        with np.load(logits_path(), allow_pickle=False) as z:
            stored = {s: {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(s + "/")} for s in args.signs}
    for s in args.signs:
        parts = loso_rows(prepared, fold, real, s)
        rows = np.concatenate(list(parts.values()))
        role = np.concatenate([[name] * len(r) for name, r in parts.items()])
        known, counts = np.unique(signs[parts["train"]], return_counts=True)
        kept[s] = {"labels": labels[rows], "participants": pids[rows], "sequence_ids": seqs[rows], "role": role,
                   "real_signs": known, "real_counts": counts}
        if args.from_logits:
            if not np.array_equal(stored[s]["labels"], labels[rows]):
                raise SystemExit(f"{logits_path()}: its rows for {s} are not this data's; train again")
            kept[s]["logits"] = stored[s]["logits"]
        else:
            kept[s]["logits"] = train_without(cfg, prepared, s, np.concatenate([synth, parts["train"]]),
                                              rows).astype(np.float32)
    if not args.from_logits:
        logits_path().parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(logits_path(), **{f"{s}/{k}": v for s, d in kept.items() for k, v in d.items()})
    motions = real_motions(source.path, seqs[real])
    motions = dict(zip(motions["sequence_id"].astype(int), motions["motion"]))
    data = source.label
    rows = [{"left_out": s, **evaluate_sign(kept[s], motions, names)} for s in args.signs] + shipped_rows(names)
    for r in rows:
        print(json.dumps(r), flush=True)
    record_benchmark("open_set", rows, data=data, notes=(
        f"{args.profile} profile, overrides {overrides}; leave-one-sign-out: the three members trained without "
        f"any real recording of the left-out sign and without participant fold 0 of {args.folds}; equal-weight "
        f"ensemble; rules: motion references and threshold (quantile {A.THRESHOLD_QUANTILE}, {A.NEIGHBOURS} "
        f"neighbours) from the real recordings trained on; FA on every real recording of the left-out sign, FR on "
        f"fold 0's real recordings of the other signs; shipped-model rows: the chain's model and the rules notebook "
        f"06 stored; {time.perf_counter() - started:.0f} s wall"))


if __name__ == "__main__":
    main()
