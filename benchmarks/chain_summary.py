"""What did one `./run_all.sh` produce, and how long did it take? A record of a finished notebook chain.

Reads the run of a chain (``--profile``; the outputs folder is ``$ISLR_OUTPUTS`` or the usual one) and, optionally,
the log that ``run_all.sh`` printed (``--log``: its ``=== <notebook> done in N s`` lines). Rows:

* one per ensemble member and split kind the chain trained (``islr.splits.chain_kinds``), fold 0: top-1 / top-5 on
  its synthetic validation rows and on its real validation rows (random split: those participants also appear in
  training; participant split: people the model never saw);
* one per notebook with its wall time, and the total.

    ISLR_OUTPUTS=chain-out ./run_all.sh 2>&1 | tee chain.log
    ISLR_OUTPUTS=chain-out python benchmarks/chain_summary.py --log chain.log
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from islr import data, runs
from islr.config import get_config
from islr.ensemble import real_rows
from islr.metrics import topk_accuracy
from islr.report import record_benchmark
from islr.splits import chain_kinds

DONE = re.compile(r"^=== (\d\d_\w+)\.ipynb done in (\d+) s")


def accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float | None, float | None, int]:
    """top-1, top-5 and the row count (None for no rows)."""
    if not len(labels):
        return None, None, 0
    return topk_accuracy(logits, labels, 1), topk_accuracy(logits, labels, 5), int(len(labels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--run-name", default="")
    ap.add_argument("--log", type=Path, default=None, help="the output of run_all.sh")
    ap.add_argument("--name", default="default_chain", help="benchmark file stem")
    args = ap.parse_args()
    cfg = get_config(args.profile, run_name=args.run_name or None)
    prepared, source = data.load_dataset(cfg)
    real = real_rows(prepared, source)
    labels = np.asarray(prepared.labels)
    rows = []
    for kind in chain_kinds(cfg.split):  # the split kinds the chain trained
        for family, folder in runs.member_folders(cfg, kind, fold=0).items():
            logits, index = runs.load_oof(folder)
            row = {"what": f"{family}, {kind} split fold 0"}
            for part, mask in (("synthetic", ~real[index]), ("real", real[index])):
                top1, top5, n = accuracy(logits[mask], labels[index][mask])
                row |= {f"{part}_top1": top1, f"{part}_top5": top5, f"{part}_n": n}
            rows.append(row)
    if args.log is not None:
        times = [m.groups() for m in map(DONE.match, args.log.read_text().splitlines()) if m]
        rows += [{"what": f"notebook {name}", "seconds": int(s)} for name, s in times]
        rows.append({"what": "whole chain", "seconds": sum(int(s) for _, s in times)})
    for row in rows:
        print(row)
    record_benchmark(args.name, rows, data=source.label,
                     notes=f"{args.profile} profile, run {cfg.run_name}; validation rows of fold 0 (random split: the "
                           "real rows' participants are also in training; participant split: they are not); "
                           "seconds from run_all.sh's log")


if __name__ == "__main__":
    main()
