"""Quantised submission variants: size, latency and top-1 against fp32, on real and synthetic rows (docs/method.md §7).

The trained fold-0 CNN, BERT and DeBERTa of a run (``--profile``/``--run-name``; notebooks 02–03 or ``train_fold``)
are combined with the reference's weights into one graph, frozen once and converted to fp32, fp16 (float16
weights) and dynamic-range int8 (int8 weights of the dense/conv layers; the preprocessing stays float32). Each
variant is scored, in the Kaggle harness call, on

* real held-out participants: the real asl-signs files of ``--real-dir`` (default ``shared/data/asl_signs_sample``
  beside the checkout) whose participants are not in the run's training data;
* synthetic validation rows: the run's fold-0 validation sequences that are not real.

For each: top-1, the top-1 delta to fp32, the share of sequences whose top-1 equals fp32's, the largest logit
difference to fp32; and per-sequence latency (interleaved, 1 thread) on the real sequences.

Run: ``python benchmarks/bench_quantisation.py --profile default --run-name NAME``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from islr import data, runs
from islr.config import get_config
from islr.eda import full_sequence
from islr.export import checks
from islr.export.runtime import TFLiteSignModel
from islr.export.tflite import PRECISIONS, REFERENCE_WEIGHTS, ServingModule, convert_variants, keras_ensemble, \
    save_tflite
from islr.io import read_landmarks, read_train_index
from islr.train.run import split

DEFAULT_REAL_DIR = checks.shared_real_sample(Path(__file__))


def real_held_out(real_dir: Path, prepared, sign_map: dict[str, int]) -> tuple[list[np.ndarray], np.ndarray]:
    """Real sequences of participants absent from the prepared (training) data, with their labels."""
    index = read_train_index(real_dir)
    seen = set(np.asarray(prepared.participant_ids).tolist())
    index = index[~index["participant_id"].isin(seen)]
    if index.empty:
        raise ValueError(f"{real_dir}: every participant also appears in the training data")
    return [read_landmarks(real_dir / p) for p in index["path"]], index["sign"].map(sign_map).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--run-name", default="")
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL_DIR)
    parser.add_argument("--max-synthetic", type=int, default=300, help="synthetic validation rows scored")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cfg = get_config(args.profile, run_name=args.run_name or None)
    prepared, source = data.load_dataset(cfg)
    models = runs.trained_models(cfg, fold=0)
    keras_models, kinds = keras_ensemble(models)
    variants = convert_variants(ServingModule(keras_models, kinds, REFERENCE_WEIGHTS), PRECISIONS)

    real, real_y = real_held_out(args.real_dir, prepared, prepared.sign_map)
    valid = split(cfg, prepared, "random", 0)[1]
    real_ids = data.real_sample_ids()
    synth_rows = [int(i) for i in valid if int(prepared.sequence_ids[i]) not in real_ids][: args.max_synthetic]
    synth = [full_sequence(prepared, i) for i in synth_rows]
    synth_y = np.asarray(prepared.labels)[synth_rows]

    with tempfile.TemporaryDirectory() as tmp:
        runners = {p: TFLiteSignModel(save_tflite(b, Path(tmp) / f"{p}.tflite")) for p, b in variants.items()}
        logits = {p: {"real": np.stack([r(x) for x in real]), "synthetic": np.stack([r(x) for x in synth])}
                  for p, r in runners.items()}
        times = checks.interleaved_ms(runners, real, rounds=args.rounds)
    rows = []
    for p in variants:
        row = {"precision": p, "size_mb": len(variants[p]) / 1e6, "median_ms": float(np.median(times[p])),
               "ratio_to_fp32": float(np.median(times[p] / times["fp32"]))}
        for part, y in (("real", real_y), ("synthetic", synth_y)):
            out, ref = logits[p][part], logits["fp32"][part]
            top1 = float((out.argmax(1) == y).mean())
            row |= {f"{part}_top1": top1, f"{part}_top1_delta": top1 - float((ref.argmax(1) == y).mean()),
                    f"{part}_same_top1_as_fp32": float((out.argmax(1) == ref.argmax(1)).mean()),
                    f"{part}_max_abs_logit_diff": float(np.abs(out - ref).max())}
        rows.append(row)
    table = pd.DataFrame(rows).set_index("precision")
    described = (f"trained on {source.label} ({args.profile} profile sizes, run {cfg.run_name}); real: "
                 f"{len(real)} held-out-participant files of {args.real_dir.name}; synthetic: {len(synth)} fold-0 "
                 f"validation rows")
    print(described)
    print(table.T.to_string(float_format="{:.4f}".format))
    from islr.report import record_benchmark

    record_benchmark("quantisation", json.loads(table.reset_index().to_json(orient="records")), data=described,
                     notes=f"1 thread, Kaggle harness call; latency interleaved, fastest of {args.rounds} rounds")


if __name__ == "__main__":
    main()
