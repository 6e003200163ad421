"""Quantised submission variants: size, latency and top-1 against fp32, on real and synthetic rows (docs/method.md §7).

Reads the models of a ``benchmarks/real_holdout.py`` run (``--holdout-run``, default ``real_holdout``): for every
participant-grouped fold, its CNN, BERT and DeBERTa (trained without that fold's real participants) are combined
with the fold's cross-fitted ensemble weights into one graph, frozen once and converted to fp32, fp16 (float16
weights) and dynamic-range int8 (int8 weights of the dense/conv layers; the preprocessing stays float32). Each
variant is scored in the Kaggle harness call on

* real held-out participants: the fold's held-out real sequences of the bundled sample;
* synthetic rows: fresh synthetic sequences (``--synthetic-per-sign`` per sign, a dataset seed the training never
  used; same sign definitions, fitted to the fold's training participants where the run fitted them).

Per precision, over all folds: top-1, its delta to fp32, the share of sequences whose top-1 equals fp32's, the largest
logit difference to fp32; size; per-sequence latency (interleaved, 1 thread) on the real sequences, as a ratio to
fp32 measured in the same run.

Run: ``python benchmarks/bench_quantisation.py [--holdout-run real_holdout]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from islr import paths, runs
from islr.config import get_config
from islr.export import checks
from islr.export.runtime import TFLiteSignModel
from islr.export.tflite import PRECISIONS, ServingModule, convert_variants, keras_ensemble, save_tflite
from islr.io import read_landmarks, read_sign_map, read_train_index
from islr.report import record_benchmark
from islr.synth import synthesize

FAMILIES = ("cnn", "bert", "deberta")


def labelled_files(folder: Path, sign_map: dict[str, int], participants=None) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences of an asl-signs folder (only ``participants`` if given) and their labels."""
    index = read_train_index(folder)
    if participants is not None:
        index = index[index["participant_id"].isin(participants)]
    return [read_landmarks(folder / p) for p in index["path"]], index["sign"].map(sign_map).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout-run", default="real_holdout", help="run folder of benchmarks/real_holdout.py")
    parser.add_argument("--synthetic-per-sign", type=int, default=1)
    parser.add_argument("--synthetic-seed", type=int, default=9001)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run = paths.run_dir(args.holdout_run)
    layout_file = run / "holdout_folds.json"
    if not layout_file.exists():
        raise SystemExit(f"{layout_file} not found: run benchmarks/real_holdout.py --run-name {args.holdout_run} first")
    layout = json.loads(layout_file.read_text())
    if "weights" not in layout:
        raise SystemExit(f"{layout_file} has no ensemble weights: that real_holdout run did not finish")
    cfg = get_config(layout["profile"], layout["overrides"])
    sign_map = read_sign_map(paths.SAMPLE_DIR)
    all_participants = set(read_train_index(paths.SAMPLE_DIR)["participant_id"])

    logits = {p: {"real": [], "synthetic": []} for p in PRECISIONS}
    labels = {"real": [], "synthetic": []}
    times, sizes = {p: [] for p in PRECISIONS}, {p: [] for p in PRECISIONS}
    for fold, held in layout["folds"].items():
        models = {f: runs.load_model(run / f"{f}_heldout_f{fold}") for f in FAMILIES}
        keras_models, kinds = keras_ensemble(models)
        variants = convert_variants(ServingModule(keras_models, kinds, layout["weights"][fold]), PRECISIONS)
        real, real_y = labelled_files(paths.SAMPLE_DIR, sign_map, held)
        fit = sorted(all_participants - set(held)) if cfg.data.synth_fit_real else None
        with tempfile.TemporaryDirectory() as tmp:
            synth_dir = synthesize(Path(tmp) / "synth", args.synthetic_per_sign, args.synthetic_seed,
                                   show_progress=False, fit_participants=fit)
            synth, synth_y = labelled_files(synth_dir, sign_map)
            runners = {p: TFLiteSignModel(save_tflite(b, Path(tmp) / f"{p}.tflite")) for p, b in variants.items()}
            for p, r in runners.items():
                logits[p]["real"].append(np.stack([r(x) for x in real]))
                logits[p]["synthetic"].append(np.stack([r(x) for x in synth]))
                sizes[p].append(len(variants[p]) / 1e6)
            fold_ms = checks.interleaved_ms(runners, real, rounds=args.rounds)
        for p in PRECISIONS:
            times[p].append(fold_ms[p] / fold_ms["fp32"])
        labels["real"].append(real_y)
        labels["synthetic"].append(synth_y)
        print(f"fold {fold}: {len(real)} real, {len(synth)} synthetic sequences scored", flush=True)

    rows = []
    for p in PRECISIONS:
        ratio = np.concatenate(times[p])
        row = {"precision": p, "size_mb": float(np.mean(sizes[p])), "latency_ratio_to_fp32": float(np.median(ratio))}
        for part in ("real", "synthetic"):
            y = np.concatenate(labels[part])
            out, ref = np.concatenate(logits[p][part]), np.concatenate(logits["fp32"][part])
            top1 = float((out.argmax(1) == y).mean())
            row |= {f"{part}_top1": top1, f"{part}_top1_delta": top1 - float((ref.argmax(1) == y).mean()),
                    f"{part}_same_top1_as_fp32": float((out.argmax(1) == ref.argmax(1)).mean()),
                    f"{part}_max_abs_logit_diff": float(np.abs(out - ref).max()), f"{part}_n": int(len(y))}
        rows.append(row)
    table = pd.DataFrame(rows).set_index("precision")
    described = (f"models of {args.holdout_run} ({layout['profile']} profile, {len(layout['folds'])} participant-"
                 f"grouped folds); real: each fold's held-out participants of the bundled real sample; synthetic: "
                 f"{args.synthetic_per_sign} fresh sequence(s) per sign per fold (dataset seed {args.synthetic_seed})")
    print(described)
    print(table.T.to_string(float_format="{:.4f}".format))
    record_benchmark("quantisation", json.loads(table.reset_index().to_json(orient="records")), data=described,
                     notes=f"1 thread, Kaggle harness call; latency per real sequence, interleaved, fastest of "
                           f"{args.rounds} rounds, median of the per-sequence ratio to fp32")


if __name__ == "__main__":
    main()
