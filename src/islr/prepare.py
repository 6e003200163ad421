"""Pack an asl-signs folder into one contiguous array, once: ``python -m islr prepare --data DIR --out DIR``.

Output folder:

* ``landmarks.npy``: (total_frames, P, 3) float32, every sequence's frames back to back, NaN kept; opened as a
  memmap, so training reads a sequence as one contiguous slice instead of decoding a parquet file.
* ``index.parquet``: one row per sequence, in train.csv order: sequence_id, participant_id, sign, label, path,
  start, length (``landmarks[start:start + length]`` is the sequence).
* ``bad_files.csv``: every file that could not be used (path, sequence_id, reason): unreadable, wrong schema, empty,
  missing, or listed in train.csv with a sign that is not in the sign map; they are not in the index. Each is also
  named on stderr, with a count (the rule of every command that reads many files, :func:`islr.io.report_bad_files`),
  and ``islr prepare`` then exits with status 1.
* ``manifest.json``: schema version, input fingerprint, stored point ids, counts, sign map.

How: frame counts come from the parquet footers (rows / 543, no data read) so the array is allocated up front;
worker processes then each read a chunk of files with :func:`islr.io.read_landmarks` and write their slices into
the memmap. A file whose footer looks right but whose content is bad is removed afterwards by sliding the later
sequences down (rare; nothing is silently dropped). The whole output is built in a temporary folder and renamed
into place, so an interrupted run never leaves a folder that the "unchanged" check would accept.

``points="model"`` keeps only the landmarks some model reads (40 lips, both hands, the 86 CNN points with their
mirror twins: 105 of 543), which brings the full 94,477-sequence set from ~23 GB to ~4.5 GB (Kaggle's disk).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from islr import io, landmarks, paths
from islr.progress import progress_bar

#: Bump when the output layout changes: an output with another version is rebuilt.
SCHEMA_VERSION = 1
POINT_SETS = ("all", "model")
INDEX_NAME = "index.parquet"
ARRAY_NAME = "landmarks.npy"
MANIFEST_NAME = "manifest.json"
BAD_FILES_NAME = "bad_files.csv"
# Files per task handed to a worker: large enough to amortise process round trips, small enough for a smooth bar.
_MAX_CHUNK = 256


def point_ids(points: str) -> np.ndarray:
    """Frame-row ids (sorted) stored for a point-set name.

    Args:
        points: "all" (543 landmarks) or "model" (union of LIP, both hands and CNN_AUG_POINTS: 105).
    """
    if points == "all":
        return np.arange(landmarks.N_LANDMARKS)
    if points == "model":
        used = [landmarks.LIP, landmarks.LEFT_HAND, landmarks.RIGHT_HAND, landmarks.CNN_AUG_POINTS,
                landmarks.TRANSFORMER_POINTS, landmarks.CNN_POINTS]
        return np.unique(np.concatenate(used))
    raise ValueError(f"points must be one of {POINT_SETS}, got {points!r}")


# ---------------------------------------------------------------------------------------------------------------
# Prepare
# ---------------------------------------------------------------------------------------------------------------
def prepare(data_dir: str | Path, out_dir: str | Path, num_workers: int = 0, points: str = "all",
            show_progress: bool = True) -> Path:
    """Pack every sequence of an asl-signs folder into ``out_dir`` (see the module docstring); a no-op if unchanged.

    Args:
        data_dir: asl-signs layout folder (train.csv, sign map, train_landmark_files/).
        out_dir: output folder; replaced atomically when rebuilt.
        num_workers: worker processes (0 = all cores; 1 = in this process).
        points: "all" or "model" (see :func:`point_ids`).
        show_progress: show a tqdm bar and print the summary (bad files are printed either way).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: train.csv lacks a column, or the sign map is not valid (names the file).
    """
    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir).resolve()
    ids = point_ids(points)
    say = print if show_progress else _silent
    table = io.read_train_index(data_dir, unknown="keep")  # a row with an unknown sign is a bad file, not an error
    sign_map = io.read_sign_map(data_dir)
    fingerprint = input_fingerprint(data_dir, table, points)
    existing = _read_manifest(out_dir)
    if existing is not None and existing.get("fingerprint") == fingerprint:
        n_bad = existing["counts"]["bad_files"]
        say(f"prepare: inputs unchanged, nothing to do ({out_dir}: {existing['counts']['sequences']:,} sequences"
            + (f", {n_bad} bad file(s) listed in {BAD_FILES_NAME})" if n_bad else ")"))
        if n_bad:  # still bad: said again, so that a re-run does not look clean
            listed = pd.read_csv(out_dir / BAD_FILES_NAME, dtype={"path": str, "reason": str}, keep_default_na=False)
            _report_bad(data_dir, out_dir, zip(listed["path"], listed["reason"]), len(table))
        return out_dir

    started = time.perf_counter()
    workers = _worker_count(num_workers, len(table))
    files = [str(data_dir / p) for p in table["path"]]
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # spawn, not fork: the parent may hold pyarrow / torch thread pools, which fork does not copy safely.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    try:
        bad: dict[int, str] = {i: cause for i, cause in enumerate(table["cause"]) if cause}  # unknown signs
        lengths = _frame_counts(files, [i for i in range(len(files)) if i not in bad], pool, workers, bad,
                                show_progress)
        good = np.array([i for i in range(len(files)) if i not in bad], dtype=np.int64)
        starts = np.zeros(len(files), dtype=np.int64)
        starts[good] = np.concatenate([[0], np.cumsum(lengths[good])[:-1]]) if good.size else []
        total = int(lengths[good].sum())
        array_path = tmp / ARRAY_NAME
        # Shape (total, P, 3): a zero-frame array is legal .npy, so an all-bad folder still gives a loadable output.
        np.lib.format.open_memmap(array_path, mode="w+", dtype=np.float32, shape=(total, len(ids), 3)).flush()
        tasks = [(files[i], int(starts[i]), int(lengths[i]), int(i)) for i in good]
        _fill(array_path, tasks, ids, pool, workers, bad, show_progress)
        keep = np.array([i for i in good if i not in bad], dtype=np.int64)
        if len(keep) < len(good):
            starts, total = _compact(array_path, starts, lengths, keep, len(ids))
        _write_outputs(tmp, table, sign_map, keep, starts, lengths, bad, ids, points, fingerprint, data_dir,
                       total)
        _replace(tmp, out_dir)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)

    seconds = time.perf_counter() - started
    say(f"prepare: {len(keep):,} sequences, {total:,} frames × {len(ids)} points from {data_dir} → {out_dir} in "
        f"{seconds:.1f}s ({len(files) / max(seconds, 1e-9):.0f} files/s, {workers} worker(s))")
    # Reported even when quiet: nothing is dropped silently.
    _report_bad(data_dir, out_dir, ((table["path"].iloc[i], bad[i]) for i in sorted(bad)), len(table))
    return out_dir


def _silent(*_args, **_kwargs) -> None:
    return None


def _report_bad(data_dir: Path, out_dir: Path, bad, total: int) -> int:
    """Name every bad file (path relative to ``data_dir``, reason) on stderr with the count
    (:func:`islr.io.report_bad_files`); the exit status."""
    return io.report_bad_files("islr prepare", [io.BadFile(str(data_dir / p), r) for p, r in bad], total,
                               note=f"; they are left out and listed in {out_dir / BAD_FILES_NAME}")


def input_fingerprint(data_dir: Path, table: pd.DataFrame, points: str) -> str:
    """Hash of everything the output depends on: train.csv and sign map bytes, each listed file's size and mtime,
    the point set and the schema version (sha256 hex)."""
    digest = hashlib.sha256()
    digest.update(f"schema={SCHEMA_VERSION}|points={points}|".encode())
    digest.update((data_dir / "train.csv").read_bytes())
    digest.update((data_dir / io.SIGN_MAP_NAME).read_bytes())
    for rel in table["path"]:
        try:
            st = os.stat(data_dir / rel)
            digest.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{rel}|missing\n".encode())
    return digest.hexdigest()


def _read_manifest(out_dir: Path) -> dict | None:
    """The manifest of a complete previous output, or None (absent, unreadable, or from another schema)."""
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    complete = all((out_dir / name).exists() for name in (ARRAY_NAME, INDEX_NAME, BAD_FILES_NAME))
    if not complete or manifest.get("schema_version") != SCHEMA_VERSION:
        return None
    return manifest


def _worker_count(num_workers: int, n_files: int) -> int:
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if num_workers:
        return max(1, min(num_workers, n_files))
    # Starting a process costs ~0.5 s (spawn + imports): by default a small folder is read in this process.
    return max(1, min(_available_cores(), n_files // 256))


def _available_cores() -> int:
    """Cores this process may run on (respects taskset / container limits, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS / Windows
        return os.cpu_count() or 1


def _chunks(items: list, workers: int) -> list[list]:
    size = max(1, min(_MAX_CHUNK, -(-len(items) // (workers * 8))))
    return [items[k:k + size] for k in range(0, len(items), size)]


def _run(func, jobs: list[tuple[object, int]], pool: ProcessPoolExecutor | None, show_progress: bool,
         desc: str) -> list:
    """Apply ``func`` to every (argument, n_files) job, in ``pool`` if given; results in completion order."""
    results = []
    with progress_bar(total=sum(n for _, n in jobs), desc=desc, unit="file", disable=not show_progress,
              mininterval=0.5) as bar:
        if pool is None:
            for arg, n in jobs:
                results.append(func(arg))
                bar.update(n)
            return results
        futures = {pool.submit(func, arg): n for arg, n in jobs}
        for future in as_completed(futures):
            results.append(future.result())
            bar.update(futures[future])
    return results


def _frame_counts(files: list[str], todo: list[int], pool: ProcessPoolExecutor | None, workers: int,
                  bad: dict[int, str], show_progress: bool) -> np.ndarray:
    """(N,) frames per file from the parquet footers of the files ``todo`` (0 for the others); files that fail are
    added to ``bad``."""
    lengths = np.zeros(len(files), dtype=np.int64)
    jobs = [(chunk, len(chunk)) for chunk in _chunks([(i, files[i]) for i in todo], workers)]
    for part in _run(_count_chunk, jobs, pool, show_progress, "footers"):
        for i, n, reason in part:
            if reason is None:
                lengths[i] = n
            else:
                bad[i] = reason
    return lengths


def _count_chunk(chunk: list[tuple[int, str]]) -> list[tuple[int, int, str | None]]:
    out = []
    for i, path in chunk:
        try:
            out.append((i, io.num_frames_from_metadata(path), None))
        except io.LandmarkFileError as err:
            out.append((i, 0, err.reason))
        except OSError as err:
            out.append((i, 0, f"cannot open ({type(err).__name__}: {err})"))
    return out


def _fill(array_path: Path, tasks: list, ids: np.ndarray, pool: ProcessPoolExecutor | None, workers: int,
          bad: dict[int, str], show_progress: bool) -> None:
    """Read every file of ``tasks`` into its slice of the memmap; failures are added to ``bad``."""
    jobs = [((str(array_path), ids, chunk), len(chunk)) for chunk in _chunks(tasks, workers)]
    for part in _run(_fill_chunk, jobs, pool, show_progress, "prepare"):
        bad.update(part)


def _fill_chunk(job: tuple[str, np.ndarray, list]) -> dict[int, str]:
    array_path, ids, tasks = job
    out = np.load(array_path, mmap_mode="r+")  # (total, P, 3)
    take_all = len(ids) == landmarks.N_LANDMARKS
    failures = {}
    for path, start, length, i in tasks:
        try:
            seq = io.read_landmarks(path)  # (T, 543, 3)
        except io.LandmarkFileError as err:
            failures[i] = err.reason
            continue
        if len(seq) != length:
            failures[i] = f"{len(seq)} frames read but the footer says {length}"
            continue
        out[start:start + length] = seq if take_all else seq[:, ids]
    out.flush()
    return failures


def _compact(array_path: Path, starts: np.ndarray, lengths: np.ndarray, keep: np.ndarray,
             n_points: int) -> tuple[np.ndarray, int]:
    """Slide the kept sequences down over the slices of files that failed, then shrink the .npy to fit.

    Returns:
        (new starts (N,), new total frames).
    """
    out = np.load(array_path, mmap_mode="r+")
    new_starts = starts.copy()
    cursor = 0
    for i in keep:  # ascending old starts, so each destination is at or before its source: a forward copy is safe
        if starts[i] != cursor:
            out[cursor:cursor + lengths[i]] = out[starts[i]:starts[i] + lengths[i]]
        new_starts[i] = cursor
        cursor += int(lengths[i])
    out.flush()
    del out
    _shrink_npy(array_path, cursor, n_points)
    return new_starts, cursor


def _shrink_npy(path: Path, rows: int, n_points: int) -> None:
    """Rewrite a (R, P, 3) float32 .npy's header to (rows, P, 3) in place and truncate the file; the header keeps
    its length (padded with spaces, as the format allows), so the data does not move."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        if version != (1, 0):
            raise ValueError(f"{path}: unexpected .npy version {version}")
        np.lib.format.read_array_header_1_0(f)
        data_offset = f.tell()
        header = repr({"descr": "<f4", "fortran_order": False, "shape": (rows, n_points, 3)})
        prefix = 10  # magic (6) + version (2) + header length (2)
        f.seek(prefix)
        f.write(header.ljust(data_offset - prefix - 1).encode("latin1") + b"\n")
        f.truncate(data_offset + rows * n_points * 3 * 4)


def _write_outputs(tmp: Path, table: pd.DataFrame, sign_map: dict[str, int], keep: np.ndarray,
                   starts: np.ndarray, lengths: np.ndarray, bad: dict[int, str], ids: np.ndarray, points: str,
                   fingerprint: str, data_dir: Path, total: int) -> None:
    index = table.iloc[keep][["sequence_id", "participant_id", "sign", "label", "path"]].reset_index(drop=True)
    index["start"] = starts[keep]
    index["length"] = lengths[keep]
    index.to_parquet(tmp / INDEX_NAME, index=False)
    order = sorted(bad)
    pd.DataFrame({"path": table["path"].iloc[order].to_numpy(),
                  "sequence_id": table["sequence_id"].iloc[order].to_numpy(),
                  "reason": [bad[i] for i in order]}).to_csv(tmp / BAD_FILES_NAME, index=False)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "fingerprint": fingerprint,
        "data_dir": str(data_dir),
        "points": points,
        "point_ids": ids.tolist(),
        "counts": {"sequences": int(len(keep)), "frames": int(total), "bad_files": len(bad),
                   "listed": int(len(table))},
        "sign_map": sign_map,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # Written last: a folder without it is never taken for a finished output.
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")


def _replace(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` to ``out_dir``; an old output is moved aside first and deleted after."""
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A prepared folder, read-only. Sequences come from a memmap that is opened lazily in each process (pickling
    a Prepared, e.g. into DataLoader workers, sends only the metadata, never the array)."""

    root: Path
    index: pd.DataFrame
    point_ids: np.ndarray
    sign_map: dict[str, int]
    manifest: dict
    labels: np.ndarray = field(init=False)
    participant_ids: np.ndarray = field(init=False)
    sequence_ids: np.ndarray = field(init=False)
    signs: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)
    offsets: np.ndarray = field(init=False)
    _array: np.ndarray | None = field(init=False, default=None, repr=False)
    _column_of: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.labels = self.index["label"].to_numpy(np.int64)
        self.participant_ids = self.index["participant_id"].to_numpy(np.int64)
        self.sequence_ids = self.index["sequence_id"].to_numpy(np.int64)
        self.signs = self.index["sign"].to_numpy(str)
        self.lengths = self.index["length"].to_numpy(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)  # (N+1,)
        if not np.array_equal(self.offsets[:-1], self.index["start"].to_numpy(np.int64)):
            raise ValueError(f"{self.root / INDEX_NAME}: sequences are not stored back to back")
        # (543,) stored column of each frame-row id, -1 where not stored.
        self._column_of = np.full(landmarks.N_LANDMARKS, -1, dtype=np.int64)
        self._column_of[self.point_ids] = np.arange(len(self.point_ids))

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    @property
    def array(self) -> np.ndarray:
        """The whole (total_frames, P, 3) float32 memmap."""
        if self._array is None:
            self._array = np.load(self.root / ARRAY_NAME, mmap_mode="r")
        return self._array

    def columns(self, points) -> np.ndarray:
        """Stored column of each requested frame-row id.

        Raises:
            KeyError: a requested id is not stored in this folder.
        """
        points = np.asarray(points, dtype=np.int64)
        if points.size and (points.min() < 0 or points.max() >= landmarks.N_LANDMARKS):
            raise KeyError(f"point ids must be in 0..{landmarks.N_LANDMARKS - 1}")
        cols = self._column_of[points]
        if (cols < 0).any():
            missing = np.unique(points[cols < 0]).tolist()
            raise KeyError(f"point id(s) {missing[:20]} not stored in {self.root} "
                           f"(points={self.manifest.get('points')!r}; prepare with points='all')")
        return cols

    def sequence(self, i: int, points=None) -> np.ndarray:
        """Sequence ``i`` (index order) as a fresh (T, P, 3) float32 array.

        Args:
            i: row of the index, 0..len-1.
            points: frame-row ids (0–542) to take, in the order wanted; None = every stored point.
        """
        block = self.array[self.offsets[i]:self.offsets[i + 1]]  # (T, P_stored, 3) memmap view
        if points is None:
            return np.array(block)
        return np.asarray(block[:, self.columns(points)])  # fancy indexing copies; drop the memmap subclass


def load_prepared(out_dir: str | Path) -> Prepared:
    """Open a folder written by :func:`prepare`.

    Raises:
        FileNotFoundError: no finished output there.
    """
    root = Path(out_dir).resolve()
    manifest = _read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"{root} holds no finished prepared output (run `python -m islr prepare`)")
    index = pd.read_parquet(root / INDEX_NAME)
    return Prepared(root, index, np.asarray(manifest["point_ids"], dtype=np.int64), manifest["sign_map"],
                    manifest)


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m islr prepare --data DIR --out DIR [--workers N] [--points all|model]``."""
    parser = argparse.ArgumentParser(prog="islr prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="asl-signs folder (default: $ISLR_DATA, else /kaggle/input/asl-signs)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = all cores)")
    parser.add_argument("--points", choices=POINT_SETS, default="all",
                        help="store all 543 landmarks or only the 105 the models use")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    args = parser.parse_args(argv)
    data = args.data or paths.find_kaggle_data()
    if data is None:
        print("islr prepare: no data folder given and none found: pass --data DIR, set $ISLR_DATA, or attach the "
              "competition data at /kaggle/input/asl-signs", file=sys.stderr)
        return 2
    if not (Path(data) / "train.csv").exists():
        print(f"islr prepare: {data} has no train.csv (expected the asl-signs layout)", file=sys.stderr)
        return 2
    try:
        out = prepare(data, args.out, num_workers=args.workers, points=args.points, show_progress=not args.quiet)
    except ValueError as exc:  # train.csv without a column, or a broken sign map: the message names the file
        print(f"islr prepare: {exc}", file=sys.stderr)
        return 2
    # Bad files were named with their causes by prepare(); the status says that some were left out.
    return 1 if _read_manifest(out)["counts"]["bad_files"] else 0
