"""Does synthetic data transfer to real signers? Train on synthetic hello/thankyou only, score the real ones.

A model of the default profile's size is trained on ``--per-sign`` synthetic sequences of each of hello and thankyou
(:func:`islr.synth.synthesize` with ``signs=``; no real sequence in training) and scored on the bundled real sample's
hello/thankyou sequences (argmax of the two logits; chance 0.5). With ``--fitted`` the synthetic hello/thankyou are
fitted to real recordings (:func:`islr.synth.fit_sign_specs`), cross-fitted: for each of ``--folds``
participant-grouped folds, the specs are fitted on the other folds' participants only and the model is scored on
the fold's participants, so no scored recording shaped the training data.

    python benchmarks/synth_transfer.py --family bert            # random sign definitions (the generator's default)
    python benchmarks/synth_transfer.py --family bert --fitted   # definitions fitted from real recordings
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from islr import paths
from islr.config import get_config
from islr.data import DataSource, load_dataset, prepared_dir
from islr.models.families import FAMILIES
from islr.prepare import load_prepared, prepare
from islr.report import record_benchmark
from islr.splits import make_folds
from islr.synth import synthesize
from islr.train.run import train_fold
from real_holdout import PAIR, held_out_logits, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="bert", choices=sorted(FAMILIES))
    ap.add_argument("--per-sign", type=int, default=60)
    ap.add_argument("--fitted", action="store_true", help="fit hello/thankyou to real recordings (cross-fitted)")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--overrides", default="{}", help="JSON config overrides on top of the default profile")
    args = ap.parse_args()

    cfg = get_config("default", json.loads(args.overrides), run_name="synth_transfer")
    real, _ = load_dataset(cfg.override({"data.data_dir": str(paths.SAMPLE_DIR)}))
    pair_rows = np.flatnonzero(np.isin(np.asarray(real.signs), PAIR))
    folds = (make_folds("participant", real.labels[pair_rows], real.participant_ids[pair_rows], args.folds,
                        cfg.split.seed) if args.fitted else np.zeros(len(pair_rows), np.int64))
    logits = np.zeros((len(pair_rows), len(real.sign_map)), np.float32)
    tag = "fitted" if args.fitted else "random"
    for f in np.unique(folds):
        fit_on = sorted(set(real.participant_ids[pair_rows[folds != f]].tolist())) if args.fitted else None
        out = paths.generated_data_dir() / f"synth_transfer_{tag}_k{args.per_sign}_f{f}"
        if not (out / ".complete").exists():
            synthesize(out, per_sign=args.per_sign, seed=0, signs=list(PAIR), show_progress=False,
                       fit_participants=fit_on)
            (out / ".complete").write_text("ok\n")
        source = DataSource(out, "folder", out.name)
        prep = load_prepared(prepare(out, prepared_dir(source), show_progress=False))
        run = paths.run_dir(cfg.run_name) / f"{args.family}_{tag}_k{args.per_sign}_f{f}"
        model, _ = train_fold(cfg, prep, args.family, out_dir=run,
                              indices=(np.arange(len(prep)), np.zeros(0, np.int64)), progress=False)
        test = folds == f
        logits[test] = held_out_logits(cfg, real, args.family, model.eval(), pair_rows[test])
    s = scores(logits, real.labels[pair_rows], np.asarray(real.signs)[pair_rows], real.sign_map)
    row = {"family": args.family, "synthetic": tag, "per_sign": args.per_sign, **s}
    print(json.dumps(row))
    record_benchmark(f"synth_transfer_{args.family}_{tag}", [row],
                     data=f"train: synthetic hello/thankyou only ({args.per_sign} per sign); test: bundled real "
                          f"sample hello/thankyou ({len(pair_rows)} sequences)",
                     notes=f"default profile + {args.overrides}; fitted specs cross-fitted over {args.folds} "
                           "participant folds" if args.fitted else f"default profile + {args.overrides}")


if __name__ == "__main__":
    main()
