"""islr.prepare on the bundled real sample: round trip, no-op re-run, bad files, point subsets, CLI."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from islr import io, landmarks, prepare


@pytest.fixture(scope="module")
def prepared_all(sample_dir, tmp_path_factory) -> Path:
    return prepare.prepare(sample_dir, tmp_path_factory.mktemp("prep") / "all", num_workers=1,
                           show_progress=False)


def _copy_sample(sample_dir: Path, dest: Path) -> Path:
    shutil.copytree(sample_dir, dest)
    return dest


def test_round_trip_every_sequence_equals_its_file(sample_dir, prepared_all):
    data = prepare.load_prepared(prepared_all)
    train = io.read_train_index(sample_dir)
    assert len(data) == len(train) == 80
    assert data.sequence_ids.tolist() == train["sequence_id"].tolist()
    assert data.participant_ids.tolist() == train["participant_id"].tolist()
    assert data.labels.dtype == np.int64 and data.labels.tolist() == train["label"].tolist()
    assert data.signs.tolist() == train["sign"].tolist()
    assert data.point_ids.tolist() == list(range(543))
    assert data.sign_map == io.read_sign_map(sample_dir)
    assert data.offsets[0] == 0 and data.offsets[-1] == data.array.shape[0] == data.lengths.sum()
    for i, rel in enumerate(train["path"]):
        expected = io.read_landmarks(sample_dir / rel)
        got = data.sequence(i)
        assert got.dtype == np.float32 and not isinstance(got, np.memmap)
        assert np.array_equal(got, expected, equal_nan=True), rel
        assert np.array_equal(data.sequence(i, points=landmarks.LIP), expected[:, landmarks.LIP], equal_nan=True)


def test_rerun_with_unchanged_inputs_is_a_no_op(sample_dir, prepared_all, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in prepared_all.iterdir()}
    prepare.prepare(sample_dir, prepared_all, num_workers=1)
    assert "unchanged, nothing to do" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in prepared_all.iterdir()} == before


def test_changed_file_or_options_rebuild(tmp_path, sample_dir):
    data_dir = _copy_sample(sample_dir, tmp_path / "data")
    out = prepare.prepare(data_dir, tmp_path / "out", num_workers=1, show_progress=False)
    first = (out / "manifest.json").read_text()
    victim = next(data_dir.glob("train_landmark_files/*/*.parquet"))
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    prepare.prepare(data_dir, out, num_workers=1, show_progress=False)
    second = (out / "manifest.json").read_text()
    assert second != first
    prepare.prepare(data_dir, out, num_workers=1, show_progress=False, points="model")  # other options
    assert (out / "manifest.json").read_text() != second
    rebuilt = prepare.load_prepared(out)
    assert rebuilt.manifest["points"] == "model" and len(rebuilt.point_ids) == 105
    assert not list(tmp_path.glob(".out.*")), "temporary folders left behind"


def test_incomplete_output_is_not_accepted(tmp_path, sample_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "landmarks.npy").write_bytes(b"half written")
    with pytest.raises(FileNotFoundError):
        prepare.load_prepared(out)
    prepare.prepare(sample_dir, out, num_workers=1, show_progress=False)
    assert len(prepare.load_prepared(out)) == 80


def test_bad_files_are_listed_and_the_rest_prepared(tmp_path, sample_dir, capsys):
    data_dir = _copy_sample(sample_dir, tmp_path / "data")
    train = io.read_train_index(data_dir)
    # File 3: garbage (fails at the footer); file 10: readable footer, unknown type inside (fails while filling,
    # so the sequences after it must slide down); file 17: deleted.
    (data_dir / train["path"][3]).write_bytes(b"garbage")
    table = pq.read_table(data_dir / train["path"][10])
    types = table["type"].to_pylist()
    types[0] = "eyebrow"
    pq.write_table(table.set_column(2, "type", pa.array(types)), data_dir / train["path"][10])
    (data_dir / train["path"][17]).unlink()

    out = prepare.prepare(data_dir, tmp_path / "out", num_workers=1)
    err = capsys.readouterr().err  # each bad file named on stderr (between progress lines), then the count
    named = [line for line in err.splitlines() if line.startswith(str(data_dir.resolve()))]
    assert [line.split(": ")[0] for line in named] == [str(data_dir.resolve() / train["path"][i]) for i in (3, 10, 17)]
    assert "eyebrow" in named[1] and "islr prepare: 3 of 80 files could not be read" in err
    bad = pd.read_csv(out / "bad_files.csv")
    assert bad["sequence_id"].tolist() == train["sequence_id"][[3, 10, 17]].tolist()
    assert "not a readable parquet" in bad["reason"][0] and "eyebrow" in bad["reason"][1]

    data = prepare.load_prepared(out)
    kept = [i for i in range(len(train)) if i not in (3, 10, 17)]
    assert data.sequence_ids.tolist() == train["sequence_id"][kept].tolist()
    assert data.manifest["counts"] == {"sequences": 77, "frames": int(data.lengths.sum()), "bad_files": 3,
                                       "listed": 80}
    assert data.array.shape[0] == data.lengths.sum()  # the slice reserved for file 10 was removed
    for j, i in enumerate(kept):
        assert np.array_equal(data.sequence(j), io.read_landmarks(data_dir / train["path"][i]), equal_nan=True)
    prepare.prepare(data_dir, out, num_workers=1)
    printed = capsys.readouterr()
    assert "3 bad file(s) listed" in printed.out  # nothing rebuilt, and the bad files are named again
    assert printed.err.splitlines()[:3] == named and "3 of 80 files could not be read" in printed.err


def test_cli_names_each_bad_file_packs_the_good_one_and_exits_1(tmp_path, bad_input_dir, check_bad_file_report):
    folder, causes = bad_input_dir
    for run in range(2):  # the no-op re-run reports them again
        proc = subprocess.run([sys.executable, "-m", "islr", "prepare", "--data", str(folder), "--out",
                               str(tmp_path / "out"), "--workers", "1", "--quiet"], capture_output=True, text=True)
        check_bad_file_report(proc, "islr prepare", {folder.resolve() / p: c for p, c in causes.items()})
    data = prepare.load_prepared(tmp_path / "out")
    good = [p for p, c in causes.items() if c is None]
    assert data.index["path"].tolist() == good
    assert np.array_equal(data.sequence(0), io.read_landmarks(folder / good[0]), equal_nan=True)
    assert sorted(pd.read_csv(tmp_path / "out" / "bad_files.csv")["path"]) == sorted(p for p, c in causes.items() if c)


def test_model_points_equal_the_full_arrays_columns(tmp_path, sample_dir, prepared_all):
    full = prepare.load_prepared(prepared_all)
    model = prepare.load_prepared(prepare.prepare(sample_dir, tmp_path / "model", num_workers=1, points="model",
                                                  show_progress=False))
    ids = model.point_ids
    assert len(ids) == 105 and set(landmarks.CNN_AUG_POINTS) <= set(ids) and set(landmarks.LIP) <= set(ids)
    assert np.array_equal(model.array, full.array[:, ids], equal_nan=True)
    for i in range(len(model)):
        for wanted in (landmarks.TRANSFORMER_POINTS, landmarks.CNN_AUG_POINTS, landmarks.CNN_POINTS):
            assert np.array_equal(model.sequence(i, wanted), full.sequence(i, wanted), equal_nan=True)
    with pytest.raises(KeyError, match="not stored"):
        model.sequence(0, points=[0, 1, 2, 3])  # face points outside the lips


def test_multiple_workers_give_the_same_output(tmp_path, sample_dir, prepared_all):
    one = prepare.load_prepared(prepared_all)
    two = prepare.load_prepared(prepare.prepare(sample_dir, tmp_path / "two", num_workers=2, show_progress=False))
    assert np.array_equal(one.array, two.array, equal_nan=True)
    assert one.index.equals(two.index)


def test_prepared_pickles_without_the_array(prepared_all):
    data = prepare.load_prepared(prepared_all)
    _ = data.sequence(0)  # opens the memmap
    blob = pickle.dumps(data)
    assert len(blob) < data.array.nbytes / 10
    assert np.array_equal(pickle.loads(blob).sequence(5), data.sequence(5), equal_nan=True)


def test_cli(tmp_path, sample_dir, monkeypatch, capsys):
    assert prepare.main(["--data", str(sample_dir), "--out", str(tmp_path / "cli"), "--workers", "1",
                         "--points", "model", "--quiet"]) == 0
    assert prepare.load_prepared(tmp_path / "cli").manifest["points"] == "model"
    monkeypatch.delenv("ISLR_DATA", raising=False)
    monkeypatch.setattr(prepare.paths, "KAGGLE_DATA", tmp_path / "no-kaggle-here")
    assert prepare.main(["--out", str(tmp_path / "x")]) == 2
    assert "no data folder" in capsys.readouterr().err
    assert prepare.main(["--data", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "has no train.csv" in capsys.readouterr().err
