"""Reading and writing asl-signs files: landmark parquet files, ``train.csv``, the sign map and the 250 signs.

A landmark file holds one row per (frame, landmark) with the Kaggle schema :data:`KAGGLE_SCHEMA`; a frame has
543 rows (face 468, left_hand 21, pose 33, right_hand 21, :data:`islr.landmarks.PARTS`). Missing landmarks are
nulls in the real files (pandas wrote NaN, pyarrow stored it as null); both nulls and NaNs read as NaN.

:func:`read_landmarks` places every row by its (frame, type, landmark_index) key, not by its position in the file,
so it does not depend on the row order the real files happen to use. It reads only the six columns it needs with
pyarrow and scatters the values with numpy in one pass (no pandas, no pivot): about 2.7 ms of CPU for a typical
real file, against ~17 ms for pandas read + pivot (benchmarks/bench_prepare.py).

Bad input files: the commands that read many files (``islr prepare``, ``islr predict``, ``islr evaluate``) follow
one rule, :func:`report_bad_files`: a file that cannot be used (unreadable, wrong schema, empty, missing, or a
``train.csv`` row whose sign is not one of the signs) is named on stderr with its cause (``FILE: cause``, a
:class:`BadFile`), the others are still processed, a summary counts them, and the command exits with status 1.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from islr import landmarks, paths
from islr.landmarks import N_LANDMARKS, PARTS

#: Column names and arrow types of a real asl-signs landmark file, in file order.
KAGGLE_SCHEMA = pa.schema([
    ("frame", pa.int16()),
    ("row_id", pa.string()),
    ("type", pa.string()),
    ("landmark_index", pa.int16()),
    ("x", pa.float64()),
    ("y", pa.float64()),
    ("z", pa.float64()),
])
#: Columns :func:`read_landmarks` needs (``row_id`` is redundant with frame/type/landmark_index and optional).
READ_COLUMNS = ("frame", "type", "landmark_index", "x", "y", "z")
TRAIN_COLUMNS = ("path", "participant_id", "sequence_id", "sign")
SIGN_MAP_NAME = "sign_to_prediction_index_map.json"

_PART_NAMES = tuple(name for name, _, _ in PARTS)
_PART_START = np.array([start for _, start, _ in PARTS], dtype=np.int64)
_PART_COUNT = np.array([count for _, _, count in PARTS], dtype=np.int64)


class LandmarkFileError(ValueError):
    """A landmark file that cannot be read as asl-signs landmarks.

    Attributes:
        path: the offending file.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class BadFile:
    """An input file a command could not use, and why: one line ``path: cause`` of :func:`report_bad_files`."""

    path: str
    cause: str

    @classmethod
    def of(cls, err: LandmarkFileError) -> BadFile:
        """The bad file a :class:`LandmarkFileError` names."""
        return cls(str(err.path), err.reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.cause}"


def report_bad_files(prog: str, bad: Sequence[BadFile], total: int, note: str = "") -> int:
    """The one rule for bad input files of ``islr prepare``, ``predict`` and ``evaluate``: one line ``FILE: cause``
    per bad file on stderr, then the summary ``PROG: N of M files could not be read`` (nothing when none was bad).

    Args:
        prog: the command, e.g. "islr predict".
        bad: the files that could not be used, in input order.
        total: how many files the command was given (the good and the bad).
        note: appended to the summary (e.g. where the list is kept).

    Returns:
        The command's exit status: 1 if any file was bad, else 0.
    """
    if not bad:
        return 0
    for b in bad:
        print(b, file=sys.stderr)
    print(f"{prog}: {len(bad)} of {total} files could not be read{note}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------------------------
# Landmark files
# ---------------------------------------------------------------------------------------------------------------
def read_landmarks(path: str | Path) -> np.ndarray:
    """Read one asl-signs landmark file into a dense array.

    Frames are kept in ascending frame-number order; frame numbers may start anywhere and have gaps (each present
    frame becomes one row, nothing is filled in).

    Args:
        path: a parquet file with at least the columns frame, type, landmark_index, x, y, z.

    Returns:
        (T, 543, 3) float32, NaN where a landmark is missing; axis 1 in frame-row order (face 0–467,
        left_hand 468–488, pose 489–521, right_hand 522–542).

    Raises:
        LandmarkFileError: unreadable or corrupt parquet, missing columns, empty file, unknown ``type``, a
            landmark_index out of range or duplicated within a frame, a frame without exactly 543 rows, or a
            coordinate that is ±inf or not numeric.
    """
    path = Path(path)
    table = _read_table(path)
    frame = _int_column(path, table, "frame")
    part = _part_codes(path, table)
    index = _int_column(path, table, "landmark_index")
    bad = (index < 0) | (index >= _PART_COUNT[part])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LandmarkFileError(path, f"landmark_index {index[i]} out of range for type {_PART_NAMES[part[i]]!r} "
                                      f"(0–{_PART_COUNT[part[i]] - 1}) at frame {frame[i]}")
    row = _PART_START[part] + index  # (R,) frame-row id 0–542

    # Dense rank of each row's frame number, O(R): frame numbers are int16, so a bincount over their range is cheap.
    first = int(frame.min())
    present = np.bincount(frame - first) > 0
    rank = np.cumsum(present) - 1  # (frame range,)
    slot = rank[frame - first] * N_LANDMARKS + row  # (R,) position in the flattened (T*543) output
    n_frames = int(present.sum())
    _check_frames(path, rank[frame - first], slot, np.flatnonzero(present) + first)

    out = np.empty((n_frames * N_LANDMARKS, 3), dtype=np.float32)
    for axis, name in enumerate("xyz"):
        out[slot, axis] = _float_column(path, table, name)
    return out.reshape(n_frames, N_LANDMARKS, 3)


def _read_table(path: Path) -> pa.Table:
    try:
        # `type` read as a dictionary column: 4 distinct strings, so mapping them to parts costs 4 lookups.
        with pq.ParquetFile(path, read_dictionary=["type"]) as parquet:
            names = parquet.schema_arrow.names
            missing = [c for c in READ_COLUMNS if c not in names]
            if missing:
                raise LandmarkFileError(path, f"missing column(s) {', '.join(missing)} (has {', '.join(names)})")
            table = parquet.read(columns=list(READ_COLUMNS), use_threads=False)
    except (pa.ArrowException, OSError) as err:
        raise LandmarkFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})") from err
    if table.num_rows == 0:
        raise LandmarkFileError(path, "empty file (no rows)")
    return table


def _int_column(path: Path, table: pa.Table, name: str) -> np.ndarray:
    column = table[name]
    if not pa.types.is_integer(column.type):
        raise LandmarkFileError(path, f"column {name} has type {column.type}, expected an integer type")
    if column.null_count:
        raise LandmarkFileError(path, f"column {name} has {column.null_count} null value(s)")
    return column.to_numpy().astype(np.int64, copy=False)


def _part_codes(path: Path, table: pa.Table) -> np.ndarray:
    """(R,) int64 index into PARTS of each row's ``type``."""
    column = table["type"]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            or pa.types.is_dictionary(column.type)):
        raise LandmarkFileError(path, f"column type has arrow type {column.type}, expected string")
    if column.null_count:
        raise LandmarkFileError(path, f"column type has {column.null_count} null value(s)")
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    encoded = column.combine_chunks()  # DictionaryArray: a few names + (R,) int32 codes
    names = encoded.dictionary.to_pylist()
    unknown = sorted(set(names) - set(_PART_NAMES))
    if unknown:
        raise LandmarkFileError(path, f"unknown type value(s) {unknown} (expected one of {list(_PART_NAMES)})")
    lookup = np.array([_PART_NAMES.index(n) for n in names], dtype=np.int64)
    return lookup[encoded.indices.to_numpy()]


def _check_frames(path: Path, frame_rank: np.ndarray, slot: np.ndarray, frame_numbers: np.ndarray) -> None:
    """Every frame must hold each of the 543 landmarks exactly once.

    Args:
        frame_rank: (R,) output frame of each row; slot: (R,) flat output position; frame_numbers: (T,).
    """
    n_frames = len(frame_numbers)
    rows_per_frame = np.bincount(frame_rank, minlength=n_frames)  # (T,)
    wrong = np.flatnonzero(rows_per_frame != N_LANDMARKS)
    if wrong.size:
        t = int(wrong[0])
        raise LandmarkFileError(path, f"frame {frame_numbers[t]} has {rows_per_frame[t]} rows, expected "
                                      f"{N_LANDMARKS} ({wrong.size} frame(s) of {n_frames} wrong)")
    hits = np.bincount(slot, minlength=n_frames * N_LANDMARKS)
    if (hits != 1).any():
        s = int(np.flatnonzero(hits > 1)[0])
        t, r = divmod(s, N_LANDMARKS)
        name, start = next((n, st) for n, st, c in PARTS if st <= r < st + c)
        raise LandmarkFileError(path, f"landmark {name} {r - start} duplicated in frame {frame_numbers[t]}")


def _float_column(path: Path, table: pa.Table, name: str) -> np.ndarray:
    column = table[name]
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise LandmarkFileError(path, f"column {name} has type {column.type}, expected a floating-point number")
    # Nulls become NaN (how the real files store a missing landmark); float64 → float32 is the only rounding.
    values = column.to_numpy().astype(np.float64, copy=False)
    inf = np.isinf(values)
    if inf.any():
        raise LandmarkFileError(path, f"column {name} has {int(inf.sum())} infinite value(s); missing landmarks "
                                      "must be NaN/null")
    return values


def write_landmarks(path: str | Path, array: np.ndarray, first_frame: int = 0,
                    frames: Sequence[int] | None = None) -> Path:
    """Write a dense landmark array as a file with the exact Kaggle schema (:data:`KAGGLE_SCHEMA`).

    Rows are written frame by frame, each frame in frame-row order (face, left_hand, pose, right_hand), as in the
    real files; NaN coordinates are stored as nulls, as in the real files.

    Args:
        path: output parquet file (parent folders are created).
        array: (T, 543, 3) landmarks, any float dtype; values are stored as float64.
        first_frame: frame number of ``array[0]``; frames are numbered consecutively from it.
        frames: explicit frame numbers (T,), strictly increasing; overrides ``first_frame`` (to write gaps).

    Returns:
        ``path``.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[1:] != (N_LANDMARKS, 3) or array.shape[0] == 0:
        raise ValueError(f"expected a (T>0, {N_LANDMARKS}, 3) array, got shape {array.shape}")
    n_frames = array.shape[0]
    numbers = np.arange(first_frame, first_frame + n_frames) if frames is None else np.asarray(frames, np.int64)
    if numbers.shape != (n_frames,) or (np.diff(numbers) <= 0).any():
        raise ValueError(f"frames must be {n_frames} strictly increasing numbers")
    if numbers[0] < np.iinfo(np.int16).min or numbers[-1] > np.iinfo(np.int16).max:
        raise ValueError("frame numbers must fit in int16")

    type_name = np.repeat(np.array(_PART_NAMES), _PART_COUNT)  # (543,)
    landmark_index = np.concatenate([np.arange(c) for c in _PART_COUNT]).astype(np.int16)  # (543,)
    suffix = pa.array([f"-{t}-{i}" for t, i in zip(type_name, landmark_index)])
    frame_column = pa.array(np.repeat(numbers, N_LANDMARKS).astype(np.int16))  # (T*543,)
    row_id = pc.binary_join_element_wise(pc.cast(frame_column, pa.string()),
                                         pa.concat_arrays([suffix] * n_frames), "")
    flat = array.reshape(-1, 3).astype(np.float64)  # (T*543, 3)
    columns = [
        frame_column,
        row_id,
        pa.array(np.tile(type_name, n_frames), pa.string()),
        pa.array(np.tile(landmark_index, n_frames), pa.int16()),
        *(pa.array(flat[:, k], pa.float64(), mask=np.isnan(flat[:, k])) for k in range(3)),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(columns, schema=KAGGLE_SCHEMA), path)
    return path


def check_schema(path: str | Path) -> None:
    """Raise :class:`LandmarkFileError` unless ``path``'s arrow schema is the Kaggle one (names, types, order).

    Schema metadata (the real files carry pandas metadata) is ignored.
    """
    path = Path(path)
    try:
        schema = pq.read_schema(path).remove_metadata()
    except (pa.ArrowException, OSError) as err:
        raise LandmarkFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})") from err
    if not schema.equals(KAGGLE_SCHEMA):
        got = ", ".join(f"{f.name}:{f.type}" for f in schema)
        want = ", ".join(f"{f.name}:{f.type}" for f in KAGGLE_SCHEMA)
        raise LandmarkFileError(path, f"schema ({got}) differs from the Kaggle schema ({want})")


def num_frames_from_metadata(path: str | Path) -> int:
    """Frame count of a landmark file from its parquet footer alone (rows / 543), without reading any data.

    Raises:
        LandmarkFileError: unreadable footer, or a row count that is not a multiple of 543.
    """
    path = Path(path)
    try:
        with pq.ParquetFile(path) as parquet:
            rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise LandmarkFileError(path, f"not a readable parquet file ({type(err).__name__}: {err})") from err
    if rows == 0:
        raise LandmarkFileError(path, "empty file (no rows)")
    if rows % N_LANDMARKS:
        raise LandmarkFileError(path, f"{rows} rows is not a whole number of {N_LANDMARKS}-row frames")
    return rows // N_LANDMARKS


# ---------------------------------------------------------------------------------------------------------------
# train.csv and the sign map
# ---------------------------------------------------------------------------------------------------------------
def read_sign_map(data_dir: str | Path) -> dict[str, int]:
    """The sign → label map of an asl-signs folder (``sign_to_prediction_index_map.json``).

    Raises:
        ValueError: the file is not a JSON object of str → int with labels 0..n-1, each once (names the file).
    """
    path = Path(data_dir) / SIGN_MAP_NAME
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in raw.items()):
        raise ValueError(f"{path}: expected a JSON object mapping sign names to integer labels")
    if sorted(raw.values()) != list(range(len(raw))):
        raise ValueError(f"{path}: labels must be 0..{len(raw) - 1}, each used once")
    return dict(raw)


@functools.lru_cache(maxsize=1)
def _packaged_signs() -> tuple[str, ...]:
    mapping = read_sign_map(paths.SIGN_MAP_JSON.parent)
    return tuple(s for s, _ in sorted(mapping.items(), key=lambda kv: kv[1]))


def sign_names() -> list[str]:
    """The 250 signs in the models' label order (label → sign name), from the packaged sign map
    (:data:`islr.paths.SIGN_MAP_JSON`): the names of every model's 250 outputs."""
    return list(_packaged_signs())


def read_train_index(data_dir: str | Path, *, sign_map: dict[str, int] | None = None, unknown: str = "raise",
                     unlabelled: bool = False) -> pd.DataFrame:
    """The sequences of an asl-signs folder, from its ``train.csv``, with integer labels.

    Args:
        data_dir: a folder in the asl-signs layout (train.csv, the sign map, train_landmark_files/).
        sign_map: sign → label (default: the folder's own sign map).
        unknown: what to do with a row whose sign is not in the map: "raise" (ValueError naming train.csv), or
            "keep": keep it with label -1 and its cause in an extra column ``cause`` ("" for every usable row),
            so that a command can report it as a bad file (:func:`report_bad_files`) and go on.
        unlabelled: a row with an empty sign is usable, with label -1 (``islr extract`` writes such rows for videos
            of a sign outside the 250); otherwise an empty sign is an unknown one.

    Returns:
        DataFrame with columns path (as written in train.csv, relative to ``data_dir``), participant_id (int64),
        sequence_id (int64), sign (str), label (int64) (and ``cause`` with ``unknown="keep"``), in train.csv order.

    Raises:
        ValueError: train.csv lacks a column, or (``unknown="raise"``) names a sign that is not in the sign map
            (names the file).
    """
    if unknown not in ("raise", "keep"):
        raise ValueError(f"unknown must be 'raise' or 'keep', got {unknown!r}")
    data_dir = Path(data_dir)
    csv = data_dir / "train.csv"
    frame = pd.read_csv(csv, dtype={"path": str, "sign": str}, keep_default_na=False)  # an empty sign stays ""
    missing = [c for c in TRAIN_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{csv}: missing column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns))})")
    sign_map = read_sign_map(data_dir) if sign_map is None else sign_map
    known = frame["sign"].isin(list(sign_map)) | ((frame["sign"] == "") if unlabelled else False)
    if unknown == "raise" and not known.all():
        names = sorted(set(frame["sign"][~known]))
        raise ValueError(f"{csv}: {len(names)} sign(s) not in {SIGN_MAP_NAME}: {names[:10]}")
    out = frame[list(TRAIN_COLUMNS)].copy()
    out["participant_id"] = out["participant_id"].astype(np.int64)
    out["sequence_id"] = out["sequence_id"].astype(np.int64)
    out["label"] = out["sign"].map(sign_map).fillna(-1).astype(np.int64)
    if unknown == "keep":
        out["cause"] = [("" if ok else "no sign given in train.csv (an unlabelled row)" if s == "" else
                         f"sign {s!r} in train.csv is not one of the {len(sign_map)} signs of {SIGN_MAP_NAME}")
                        for s, ok in zip(out["sign"], known)]
    return out


#: pose-format component name → asl-signs part, for MediaPipe Holistic ``.pose`` files.
POSE_FORMAT_COMPONENTS = {"FACE_LANDMARKS": "face", "LEFT_HAND_LANDMARKS": "left_hand", "POSE_LANDMARKS": "pose",
                          "RIGHT_HAND_LANDMARKS": "right_hand"}


def read_pose(path: str | Path) -> np.ndarray:
    """Read a MediaPipe Holistic recording in the ``.pose`` format (pose-format package) as (T, 543, 3) float32.

    pose-format stores x and y in pixels of the header's frame size and z as MediaPipe gave it; asl-signs stores
    MediaPipe's normalised image coordinates. So x /= width, y /= height, z unchanged; points with confidence 0
    (not detected) become NaN. Only the first person is read; ``POSE_WORLD_LANDMARKS`` is not used.

    Raises:
        LandmarkFileError: unreadable file, or a component of the asl-signs layout missing / of the wrong size.
    """
    from pose_format import Pose

    path = Path(path)
    try:
        pose = Pose.read(path.read_bytes())
    except Exception as exc:  # pose-format raises assorted errors on bad bytes
        raise LandmarkFileError(path, f"not a readable .pose file ({type(exc).__name__}: {exc})") from exc
    header = pose.header
    data = np.ma.getdata(pose.body.data)[:, 0].astype(np.float32)  # (T, points, 3)
    conf = np.asarray(pose.body.confidence)[:, 0]  # (T, points)
    data[conf <= 0] = np.nan
    out = np.full((data.shape[0], landmarks.N_LANDMARKS, 3), np.nan, np.float32)
    start = 0
    found = set()
    for comp in header.components:
        n = len(comp.points)
        part = POSE_FORMAT_COMPONENTS.get(comp.name)
        if part is not None:
            if n != landmarks.PART_SIZE[part]:
                raise LandmarkFileError(path, f"component {comp.name} has {n} points, expected "
                                              f"{landmarks.PART_SIZE[part]}")
            out[:, landmarks.PART_SLICE[part]] = data[:, start:start + n, :3]
            found.add(comp.name)
        start += n
    missing = sorted(set(POSE_FORMAT_COMPONENTS) - found)
    if missing:
        raise LandmarkFileError(path, f"no {', '.join(missing)} component (not a MediaPipe Holistic recording?)")
    out[..., 0] /= header.dimensions.width
    out[..., 1] /= header.dimensions.height
    return out
