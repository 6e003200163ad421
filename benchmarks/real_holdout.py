"""Is the default recipe right on real signers it never saw? Participant-grouped folds over the real sequences.

The default chain's recipe — its data mix (``data.synth_per_sign`` synthetic sequences per sign + the bundled real
sample, ``data.real_share`` of every epoch real), its models (CNN, BERT, DeBERTa at the profile's size and epochs)
and a grid-searched ensemble — is trained once per fold with that fold's real participants left out entirely
(3 folds of 7 participants by default; all synthetic sequences are in every training set; with
``data.synth_fit_real`` the synthetic signs are fitted to the fold's training participants only). Each model is
scored on the held-out participants' real sequences:

* hello vs thankyou: argmax of the two logits, on the held-out hello/thankyou sequences;
* 250-way top-1 / top-5 on every held-out real sequence.

Models are scored at their last epoch (no checkpoint is picked on the held-out rows). The ensemble weights of fold
``f`` are chosen by :func:`islr.ensemble.fit_weights` (the chain's rule) on the other folds' held-out real
predictions (cross-fitted: never on the rows they are scored on). Results are written after every model, so a stopped
run leaves its finished folds; a rerun resumes finished trainings from their run folders.

    python benchmarks/real_holdout.py                      # the default profile, 3 folds (~40 min on 2 quiet cores)
    python benchmarks/real_holdout.py --families bert --overrides '{"transformer_train.epochs": 3}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from islr import paths
from islr.config import get_config
from islr.data import SequenceDataset, collate_sequences, is_real, load_dataset
from islr.ensemble import fit_weights
from islr.metrics import topk_accuracy
from islr.models import model_inputs
from islr.models.families import FAMILIES
from islr.report import record_benchmark
from islr.splits import make_folds
from islr.train.loop import BatchHooks, StepContext, make_loader, validate
from islr.train.run import train_fold

PAIR = ("hello", "thankyou")
#: File in the run folder: held-out participants per fold and, once known, each fold's ensemble weights.
HOLDOUT_LAYOUT = "holdout_folds.json"


def held_out_logits(cfg, prepared, family: str, model: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
    """(len(rows), C) logits of ``model`` on ``rows`` through the family's evaluation pipeline."""
    spec = FAMILIES[family]
    loader = make_loader(SequenceDataset(prepared, rows, spec.pipeline.points), 64, train=False,
                         collate_fn=collate_sequences)
    ctx = StepContext.for_model(model)
    ctx.hooks = BatchHooks(eval_transform=spec.pipeline(cfg, train=False, inputs=model_inputs(model)))
    return validate(model, loader, ctx)[1]


def scores(logits: np.ndarray, labels: np.ndarray, signs: np.ndarray, sign_map: dict[str, int]) -> dict:
    """hello-vs-thankyou accuracy and 250-way top-1 / top-5 of ``logits`` (N, C)."""
    pair = np.isin(signs, PAIR)
    cols = [sign_map[s] for s in PAIR]
    two_way = np.asarray(PAIR)[logits[pair][:, cols].argmax(1)]
    return {"hello_vs_thankyou": float((two_way == signs[pair]).mean()), "n_pair": int(pair.sum()),
            "top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5),
            "n": int(len(labels))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--folds", type=int, default=3, help="participant-grouped folds over the real sequences")
    ap.add_argument("--families", nargs="+", default=["cnn", "bert", "deberta"], choices=sorted(FAMILIES))
    ap.add_argument("--overrides", default="{}", help="JSON config overrides on top of the profile")
    ap.add_argument("--run-name", default="real_holdout", help="run folder under outputs/runs")
    ap.add_argument("--name", default="real_holdout", help="benchmark file stem under outputs/benchmarks")
    args = ap.parse_args()

    cfg = get_config(args.profile, json.loads(args.overrides), run_name=args.run_name)
    prepared, source = load_dataset(cfg)
    real_rows = np.flatnonzero(is_real(prepared.sequence_ids))
    if not len(real_rows):
        raise SystemExit(f"{source.label} has no real sequences to hold out")
    labels, signs = np.asarray(prepared.labels), np.asarray(prepared.signs)
    pids = np.asarray(prepared.participant_ids)
    fold_of = make_folds("participant", labels[real_rows], pids[real_rows], args.folds, cfg.split.seed)
    synth_rows = np.setdiff1d(np.arange(len(prepared)), real_rows)
    # Which participants each fold holds out (read by benchmarks/bench_quantisation.py --holdout-run).
    layout = {"folds": {f: sorted(np.unique(pids[real_rows][fold_of == f]).tolist()) for f in range(args.folds)},
              "families": list(args.families), "profile": args.profile, "overrides": json.loads(args.overrides)}
    layout_path = paths.run_dir(cfg.run_name) / HOLDOUT_LAYOUT
    layout_path.write_text(json.dumps(layout, indent=1) + "\n")
    logits = {f: np.zeros((len(real_rows), len(prepared.sign_map)), np.float32) for f in args.families}
    done = {f: np.zeros(len(real_rows), bool) for f in args.families}
    rows, started = [], time.perf_counter()

    def record(final: bool) -> None:
        note = (f"{args.profile} profile + overrides {args.overrides}; {args.folds} participant-grouped folds over "
                f"{len(real_rows)} real sequences of {len(np.unique(pids[real_rows]))} participants; each fold trains "
                f"on all {len(synth_rows)} synthetic + the other folds' real sequences; models at their last epoch; "
                f"ensemble weights cross-fitted on the other folds' held-out rows; "
                f"{'complete' if final else 'PARTIAL (run still going or stopped)'}; "
                f"{time.perf_counter() - started:.0f} s wall")
        record_benchmark(args.name, rows, data=source.label, notes=note)

    for f in range(args.folds):
        test = fold_of == f
        held = real_rows[test]
        train_idx = np.concatenate([synth_rows, real_rows[~test]])
        data = prepared
        if cfg.data.synth_fit_real:
            # Synthetic signs fitted to this fold's TRAINING participants only; same rows, same order.
            data, _ = load_dataset(cfg, fit_participants=np.unique(pids[real_rows[~test]]).tolist())
            if not np.array_equal(data.sequence_ids, prepared.sequence_ids):
                raise RuntimeError("the fold's fitted dataset does not list the same sequences")
        for family in args.families:
            t0 = time.perf_counter()
            out = paths.run_dir(cfg.run_name) / f"{family}_heldout_f{f}"
            model, _ = train_fold(cfg, data, family, out_dir=out, indices=(train_idx, np.zeros(0, np.int64)))
            logits[family][test] = held_out_logits(cfg, data, family, model.eval(), held)
            done[family][test] = True
            s = scores(logits[family][test], labels[held], signs[held], prepared.sign_map)
            rows.append({"fold": f, "model": family, "participants": sorted(np.unique(pids[held]).tolist()), **s,
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
            record(final=False)

    if {"cnn", "bert", "deberta"} <= set(args.families):
        ens = np.zeros_like(logits["cnn"])
        for f in range(args.folds):
            fit = fold_of != f
            # The chain's rule (notebook 06): accuracy on real held-out rows, ties by their log-likelihood.
            w = fit_weights(({m: logits[m][fit] for m in ("cnn", "bert", "deberta")}, labels[real_rows][fit]), None)
            parts = w.as_dict()
            test = fold_of == f
            ens[test] = sum(parts[m] * logits[m][test] for m in parts)
            s = scores(ens[test], labels[real_rows][test], signs[real_rows][test], prepared.sign_map)
            rows.append({"fold": f, "model": "ensemble", "weights": {m: round(v, 3) for m, v in parts.items()}, **s})
            layout.setdefault("weights", {})[f] = parts
        layout_path.write_text(json.dumps(layout, indent=1) + "\n")
        logits["ensemble"] = ens
    for name, lg in logits.items():
        s = scores(lg, labels[real_rows], signs[real_rows], prepared.sign_map)
        per_p = pd.DataFrame({"p": pids[real_rows], "ok": lg.argmax(1) == labels[real_rows]}).groupby("p").ok.mean()
        rows.append({"fold": "all", "model": name, **s, "worst_participant_top1": float(per_p.min())})
    print(pd.DataFrame([r for r in rows if r["fold"] == "all"]).to_string(index=False))
    record(final=True)


if __name__ == "__main__":
    main()
