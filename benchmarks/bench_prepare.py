"""Files per second of ``islr prepare`` against the per-file pandas read + pivot of competition notebooks.

Measured in one run on the same real files (an asl-signs folder given by ``--data``, by default the bundled real sample
``islr/resources/sample``; its files are copied ``--replicate`` times under new sequence ids so the timings are long
enough to be stable; page cache warmed first so both sides read from memory):

* baseline, pandas pivot: ``pd.read_parquet(path)`` then a pivot of x/y/z on (frame) × (frame row) to (T, 543, 3);
* baseline, pandas reshape: Kaggle's ``load_relevant_data_subset`` (read x/y/z, reshape by row order), for context;
* ``io.read_landmarks`` alone, in one process (the reader gain);
* ``prepare`` end to end (footers, memmap, index, manifest) with 1 worker and with all cores (the parallel gain).

Usage: ``python benchmarks/bench_prepare.py [--data DIR] [--replicate 10] [--repeats 3]``. Records
``outputs/benchmarks/prepare.json`` (:func:`islr.report.record_benchmark`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from islr import io, paths, prepare
from islr.report import record_benchmark
from islr.landmarks import N_LANDMARKS, PART_OFFSET

FULL_SET_FILES = 94_477
FULL_SET_MEAN_FRAMES = 38.0


def pandas_pivot(path: Path) -> np.ndarray:
    """Competition-notebook style: read the whole file with pandas, pivot to (T, 543, 3)."""
    df = pd.read_parquet(path)
    df["row"] = df["type"].map(PART_OFFSET) + df["landmark_index"]
    wide = df.pivot(index="frame", columns="row", values=["x", "y", "z"])  # (T, 3*543), columns (coord, row)
    return wide.to_numpy(np.float32).reshape(len(wide), 3, N_LANDMARKS).transpose(0, 2, 1)


def pandas_reshape(path: Path) -> np.ndarray:
    """Kaggle's ``load_relevant_data_subset``: read x/y/z, reshape by row order (trusts the file's row order)."""
    data = pd.read_parquet(path, columns=["x", "y", "z"])
    return data.to_numpy(np.float32).reshape(len(data) // N_LANDMARKS, N_LANDMARKS, 3)


def make_dataset(source: Path, dest: Path, replicate: int) -> tuple[Path, list[Path], int]:
    """Copy the asl-signs folder ``source`` ``replicate`` times into ``dest``; returns (dir, files, total frames)."""
    train = io.read_train_index(source)
    rows = []
    for r in range(replicate):
        for rec in train.itertuples(index=False):
            seq = int(rec.sequence_id) * 100 + r
            rel = f"train_landmark_files/{rec.participant_id}/{seq}.parquet"
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rec.path, dest / rel)
            rows.append({"path": rel, "participant_id": rec.participant_id, "sequence_id": seq, "sign": rec.sign})
    pd.DataFrame(rows).to_csv(dest / "train.csv", index=False)
    shutil.copyfile(source / io.SIGN_MAP_NAME, dest / io.SIGN_MAP_NAME)
    files = [dest / r["path"] for r in rows]
    for f in files:  # warm the page cache: both sides then read from memory
        f.read_bytes()
    frames = sum(io.num_frames_from_metadata(f) for f in files)
    return dest, files, frames


def interleaved_best(methods: dict, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Smallest wall time and smallest CPU time (this process only) of each method over ``repeats`` rounds; every
    round runs every method once, so load from other processes on the machine falls on all methods alike."""
    wall = {name: float("inf") for name in methods}
    cpu = dict(wall)
    for _ in range(repeats):
        for name, func in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            func()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=paths.SAMPLE_DIR,
                        help="asl-signs folder of real files (default: the bundled sample)")
    parser.add_argument("--replicate", type=int, default=10, help="copies of each real file")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method (best kept)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, files, frames = make_dataset(args.data, Path(tmp) / "data", args.replicate)
        n = len(files)
        for f in files[: n // args.replicate]:  # the baselines read the same numbers as the reader
            assert np.array_equal(pandas_pivot(f), io.read_landmarks(f), equal_nan=True)

        def run_prepare(workers: int):
            out = Path(tmp) / f"out{workers}"
            shutil.rmtree(out, ignore_errors=True)
            prepare.prepare(data_dir, out, num_workers=workers, show_progress=False)

        methods = {
            "pivot": lambda: [pandas_pivot(f) for f in files],
            "reshape": lambda: [pandas_reshape(f) for f in files],
            "reader": lambda: [io.read_landmarks(f) for f in files],
            "prep1": lambda: run_prepare(1),
            "prep": lambda: run_prepare(prepare._available_cores()),
        }
        best, cpu = interleaved_best(methods, args.repeats)

    mean_frames = frames / n
    rate = {name: n / t for name, t in best.items()}
    print(f"{n} real files ({n // args.replicate} × {args.replicate}), {frames:,} frames, mean {mean_frames:.1f} "
          f"frames/file; {prepare._available_cores()} cores; best of {args.repeats}")
    print(f"  pandas read_parquet + pivot (baseline)   {rate['pivot']:8.0f} files/s")
    print(f"  pandas read x/y/z + reshape (Kaggle)     {rate['reshape']:8.0f} files/s")
    print(f"  io.read_landmarks, 1 process             {rate['reader']:8.0f} files/s  "
          f"(reader gain {rate['reader'] / rate['pivot']:.1f}× vs pivot)")
    print(f"  prepare, 1 worker (end to end)           {rate['prep1']:8.0f} files/s")
    print(f"  prepare, {prepare._available_cores()} workers (end to end)          {rate['prep']:8.0f} files/s  "
          f"(parallel gain {rate['prep'] / rate['prep1']:.2f}×)")
    print(f"  ratio prepare / pandas pivot: {rate['prep'] / rate['pivot']:.1f}× (target ≥ 5×); "
          f"prepare / Kaggle reshape: {rate['prep'] / rate['reshape']:.1f}×")
    print("  CPU ms per file in this process (robust to other load; single-process methods only): "
          + ", ".join(f"{name} {cpu[name] / n * 1e3:.2f}" for name in ("pivot", "reshape", "reader", "prep1"))
          + f"; reader gain by CPU time {cpu['pivot'] / cpu['reader']:.1f}×")
    # Time scales with frames (rows decoded), so project with the full set's mean length.
    scale = FULL_SET_MEAN_FRAMES / mean_frames
    for name, key in (("prepare", "prep"), ("pandas pivot", "pivot")):
        seconds = FULL_SET_FILES * scale / rate[key]
        print(f"  projected full set ({FULL_SET_FILES:,} files, mean {FULL_SET_MEAN_FRAMES:.0f} frames), {name}: "
              f"{seconds / 60:.1f} min")
    labels = {"pivot": "pandas read_parquet + pivot (baseline)", "reshape": "pandas read x/y/z + reshape (Kaggle)",
              "reader": "io.read_landmarks, 1 process", "prep1": "prepare, 1 worker",
              "prep": f"prepare, {prepare._available_cores()} workers"}
    rows = [{"method": labels[k], "files_per_s": round(rate[k], 1), "vs_pivot": round(rate[k] / rate["pivot"], 2),
             "cpu_ms_per_file": round(cpu[k] / n * 1e3, 3) if k != "prep" else None,
             "projected_full_set_min": round(FULL_SET_FILES * scale / rate[k] / 60, 1)} for k in labels]
    source = "the bundled real sample" if args.data.resolve() == paths.SAMPLE_DIR else f"folder {args.data.name}"
    record_benchmark("prepare", rows, data=f"{n // args.replicate} real asl-signs files ({source}) "
                     f"× {args.replicate} copies, {frames:,} frames", notes=f"best of {args.repeats} interleaved "
                     f"rounds, page cache warm; projection to {FULL_SET_FILES:,} files of mean "
                     f"{FULL_SET_MEAN_FRAMES:.0f} frames; cpu_ms_per_file counts this process only")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
