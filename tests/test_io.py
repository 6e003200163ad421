"""islr.io against direct pyarrow reads of the real asl-signs files, and every bad-file case by name."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from islr import io
from islr.landmarks import N_LANDMARKS, PARTS

def _brute_force(path: Path) -> np.ndarray:
    """(T, 543, 3) by a per-row Python loop over a full pyarrow read: the slow, obvious reference."""
    rows = pq.read_table(path).to_pylist()
    start = {name: s for name, s, _ in PARTS}
    frames = sorted({r["frame"] for r in rows})
    pos = {f: t for t, f in enumerate(frames)}
    out = np.full((len(frames), N_LANDMARKS, 3), -123.0, dtype=np.float64)
    for r in rows:
        values = [np.nan if r[k] is None else r[k] for k in "xyz"]
        out[pos[r["frame"]], start[r["type"]] + r["landmark_index"]] = values
    assert not (out == -123.0).any()
    return out.astype(np.float32)


def _write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def _set(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


@pytest.fixture(scope="module")
def real_file(sample_files) -> Path:
    return sample_files[0]


@pytest.fixture(scope="module")
def real_table(real_file) -> pa.Table:
    return pq.read_table(real_file)


# ---------------------------------------------------------------------------------------------------------------
# Reading real files
# ---------------------------------------------------------------------------------------------------------------
def test_reader_equals_direct_pyarrow_read_on_every_real_file(sample_files):
    assert len(sample_files) >= 24
    for path in sample_files:
        got = io.read_landmarks(path)
        table = pq.read_table(path)
        # Real files list frames in order, each frame's 543 rows in frame-row order: a plain reshape is the
        # direct read; float64 -> float32 is the only rounding.
        n_frames = len(np.unique(table["frame"].to_numpy()))
        direct = np.stack([table[k].to_numpy() for k in "xyz"], axis=-1).reshape(n_frames, N_LANDMARKS, 3)
        assert got.dtype == np.float32 and got.shape == (n_frames, N_LANDMARKS, 3)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(direct), err_msg=str(path))
        assert np.array_equal(got, direct.astype(np.float32), equal_nan=True), path


def test_reader_equals_row_by_row_reference(sample_files):
    for path in sample_files[:6]:
        assert np.array_equal(io.read_landmarks(path), _brute_force(path), equal_nan=True), path


def test_row_order_does_not_matter(tmp_path, real_file, real_table):
    perm = np.random.default_rng(0).permutation(real_table.num_rows)
    shuffled = _write(real_table.take(perm), tmp_path / "shuffled.parquet")
    assert np.array_equal(io.read_landmarks(shuffled), io.read_landmarks(real_file), equal_nan=True)


def test_file_without_row_id_reads_fine(tmp_path, real_file, real_table):
    path = _write(real_table.drop(["row_id"]), tmp_path / "no_row_id.parquet")
    assert np.array_equal(io.read_landmarks(path), io.read_landmarks(real_file), equal_nan=True)


def test_frames_start_at_186_with_gaps(tmp_path, real_file, real_table):
    frames = real_table["frame"].to_numpy().astype(np.int64)
    unique = np.unique(frames)
    assert len(unique) >= 4
    # Renumber frame k as 186 + 3k and drop the second frame: numbers 186, 192, 195, ...
    renumbered = 186 + 3 * np.searchsorted(unique, frames)
    keep = renumbered != 189
    table = _set(real_table, "frame", renumbered.astype(np.int16)).filter(pa.array(keep))
    got = io.read_landmarks(_write(table, tmp_path / "gaps.parquet"))
    full = io.read_landmarks(real_file)
    expected = np.delete(full, 1, axis=0)
    assert got.shape[0] == len(unique) - 1
    assert np.array_equal(got, expected, equal_nan=True)


# ---------------------------------------------------------------------------------------------------------------
# Bad files: each gets its own named error
# ---------------------------------------------------------------------------------------------------------------
def _bad_cases(real_table: pa.Table) -> dict[str, tuple[pa.Table | bytes, str]]:
    n = real_table.num_rows
    type_col = real_table["type"].to_pylist()
    index_col = real_table["landmark_index"].to_numpy().copy()
    x = real_table["x"].to_numpy(zero_copy_only=False).copy()

    unknown_type = list(type_col)
    unknown_type[5] = "hand"
    out_of_range = index_col.copy()
    out_of_range[3] = 468  # face has 0..467
    duplicated = index_col.copy()
    duplicated[1] = duplicated[0]  # frame keeps 543 rows, face 0 twice and face 1 missing
    inf = np.where(np.isnan(x), np.nan, x)
    inf[10] = np.inf
    neg_inf = inf.copy()
    neg_inf[10] = -np.inf
    return {
        "missing column": (real_table.drop(["x"]), "missing column(s) x"),
        "frame short a row": (real_table.filter(pa.array(np.arange(n) != 7)), "has 542 rows, expected 543"),
        "unknown type": (_set(real_table, "type", unknown_type), "unknown type value(s) ['hand']"),
        "index out of range": (_set(real_table, "landmark_index", out_of_range), "landmark_index 468 out of range"),
        "duplicated landmark": (_set(real_table, "landmark_index", duplicated), "landmark face 0 duplicated"),
        "inf value": (_set(real_table, "x", inf), "infinite"),
        "-inf value": (_set(real_table, "x", neg_inf), "infinite"),
        "text coordinates": (real_table.set_column(5, "y", pa.array(["0.5"] * n)), "expected a floating-point number"),
        "empty table": (real_table.slice(0, 0), "empty file"),
        "garbage bytes": (b"this is not a parquet file" * 10, "not a readable parquet file"),
        "truncated parquet": (None, "not a readable parquet file"),
    }


@pytest.mark.parametrize("case", ["missing column", "frame short a row", "unknown type", "index out of range",
                                  "duplicated landmark", "inf value", "-inf value", "text coordinates",
                                  "empty table", "garbage bytes", "truncated parquet"])
def test_bad_file_gets_named_error(tmp_path, real_file, real_table, case):
    content, message = _bad_cases(real_table)[case]
    path = tmp_path / "bad.parquet"
    if isinstance(content, pa.Table):
        _write(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        data = real_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.LandmarkFileError) as info:
        io.read_landmarks(path)
    assert info.value.path == path
    assert message in info.value.reason, info.value.reason
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


def test_missing_file_is_a_landmark_error(tmp_path):
    with pytest.raises(io.LandmarkFileError, match="not a readable parquet"):
        io.read_landmarks(tmp_path / "absent.parquet")


def test_nan_stored_as_nan_reads_as_nan(tmp_path, real_file, real_table):
    # The real files store missing values as nulls; a writer that keeps float NaN must read the same.
    x = real_table["x"].to_numpy(zero_copy_only=False)
    table = _set(real_table, "x", pa.array(x, pa.float64(), from_pandas=False))
    assert table["x"].null_count == 0 and np.isnan(x).any()
    got = io.read_landmarks(_write(table, tmp_path / "nan.parquet"))
    assert np.array_equal(got, io.read_landmarks(real_file), equal_nan=True)


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------
def test_write_read_round_trip_is_bit_exact_and_schema_matches(tmp_path, sample_files):
    for path in sample_files[:8]:
        original = io.read_landmarks(path)
        first = int(pq.read_table(path, columns=["frame"])["frame"].to_numpy().min())
        out = io.write_landmarks(tmp_path / path.name, original, first_frame=first)
        io.check_schema(out)
        assert np.array_equal(io.read_landmarks(out), original, equal_nan=True)
        # Every non-coordinate column, and the null pattern, equal the real file's.
        written, real = pq.read_table(out), pq.read_table(path)
        for name in ("frame", "row_id", "type", "landmark_index"):
            assert written[name].equals(real[name]), name
        for name in "xyz":
            assert written[name].null_count == real[name].null_count


def test_write_with_frame_gaps_and_random_values(tmp_path):
    rng = np.random.default_rng(1)
    array = rng.normal(size=(5, N_LANDMARKS, 3)).astype(np.float32)
    array[2, 468:489] = np.nan
    out = io.write_landmarks(tmp_path / "g.parquet", array, frames=[186, 187, 190, 191, 300])
    io.check_schema(out)
    table = pq.read_table(out)
    assert np.unique(table["frame"].to_numpy()).tolist() == [186, 187, 190, 191, 300]
    assert table["row_id"][N_LANDMARKS * 2 + 468].as_py() == "190-left_hand-0"
    assert np.array_equal(io.read_landmarks(out), array, equal_nan=True)


def test_write_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="543"):
        io.write_landmarks(tmp_path / "a.parquet", np.zeros((3, 542, 3)))
    with pytest.raises(ValueError, match="increasing"):
        io.write_landmarks(tmp_path / "a.parquet", np.zeros((2, 543, 3)), frames=[5, 5])


def test_check_schema(tmp_path, real_file, real_table):
    io.check_schema(real_file)
    with pytest.raises(io.LandmarkFileError, match="differs from the Kaggle schema"):
        io.check_schema(_write(real_table.drop(["row_id"]), tmp_path / "no_row_id.parquet"))
    with pytest.raises(io.LandmarkFileError, match="differs"):
        io.check_schema(_write(real_table.cast(real_table.schema.set(0, pa.field("frame", pa.int32()))),
                               tmp_path / "int32.parquet"))
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(io.LandmarkFileError, match="not a readable"):
        io.check_schema(tmp_path / "junk.parquet")


def test_num_frames_from_metadata(sample_files):
    for path in sample_files:
        assert io.num_frames_from_metadata(path) == io.read_landmarks(path).shape[0]


# ---------------------------------------------------------------------------------------------------------------
# train.csv and sign map
# ---------------------------------------------------------------------------------------------------------------
def test_read_train_index(sample_dir):
    index = io.read_train_index(sample_dir)
    raw = pd.read_csv(sample_dir / "train.csv")
    sign_map = json.loads((sample_dir / "sign_to_prediction_index_map.json").read_text())
    assert list(index.columns) == ["path", "participant_id", "sequence_id", "sign", "label"]
    assert index["path"].tolist() == raw["path"].tolist()
    assert index["label"].tolist() == [sign_map[s] for s in raw["sign"]]
    assert io.read_sign_map(sample_dir) == sign_map and len(sign_map) == 250


def test_train_index_errors_name_the_file(tmp_path, sample_dir):
    shutil.copy(sample_dir / "sign_to_prediction_index_map.json", tmp_path)
    raw = pd.read_csv(sample_dir / "train.csv")
    raw.drop(columns=["sign"]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train\.csv: missing column\(s\) sign"):
        io.read_train_index(tmp_path)
    raw.assign(sign=["not-a-sign"] + raw["sign"].tolist()[1:]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train\.csv: 1 sign\(s\) not in .*not-a-sign"):
        io.read_train_index(tmp_path)
    (tmp_path / "sign_to_prediction_index_map.json").write_text(json.dumps({"a": 0, "b": 0}))
    with pytest.raises(ValueError, match="sign_to_prediction_index_map.json: labels must be"):
        io.read_sign_map(tmp_path)



# ------------------------------------------------------------------------------------------ .pose files
POSE_FILES = sorted((Path(__file__).parent / "fixtures").glob("*.pose"))


@pytest.mark.parametrize("path", POSE_FILES, ids=lambda p: p.name)
def test_read_pose_maps_components_to_the_asl_signs_layout(path):
    from pose_format import Pose

    from islr.io import read_pose

    arr = read_pose(path)
    pose = Pose.read(path.read_bytes())
    data = np.ma.getdata(pose.body.data)[:, 0]
    conf = np.asarray(pose.body.confidence)[:, 0]
    w, h = pose.header.dimensions.width, pose.header.dimensions.height
    assert arr.shape == (len(data), 543, 3) and arr.dtype == np.float32
    # pose-format order: POSE 0-32, FACE 33-500, LEFT_HAND 501-521, RIGHT_HAND 522-542
    for src, dst in ((slice(0, 33), slice(489, 522)), (slice(33, 501), slice(0, 468)),
                     (slice(501, 522), slice(468, 489)), (slice(522, 543), slice(522, 543))):
        seen = conf[:, src] > 0
        assert np.array_equal(~np.isnan(arr[:, dst, 0]), seen)
        np.testing.assert_allclose(arr[:, dst, 0][seen], (data[:, src, 0] / w)[seen], rtol=1e-6)
        np.testing.assert_allclose(arr[:, dst, 1][seen], (data[:, src, 1] / h)[seen], rtol=1e-6)
        np.testing.assert_allclose(arr[:, dst, 2][seen], data[:, src, 2][seen], rtol=1e-6)


def test_read_pose_rejects_garbage(tmp_path):
    from islr.io import read_pose

    bad = tmp_path / "bad.pose"
    bad.write_bytes(b"not a pose file at all")
    with pytest.raises(io.LandmarkFileError, match="bad.pose"):
        read_pose(bad)
