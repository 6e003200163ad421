import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.chdir(REPO)  # scripts are referenced relative to the repo in a few tests


@pytest.fixture(scope="session")
def outputs_at():
    """``with outputs_at(folder):`` — islr writes under ``folder`` ($ISLR_OUTPUTS) inside the block, as before after it
    (for module-scoped fixtures, where monkeypatch is not available)."""

    @contextlib.contextmanager
    def use(folder: Path):
        before = os.environ.get("ISLR_OUTPUTS")
        os.environ["ISLR_OUTPUTS"] = str(folder)
        try:
            yield folder
        finally:
            if before is None:
                del os.environ["ISLR_OUTPUTS"]
            else:
                os.environ["ISLR_OUTPUTS"] = before

    return use


@pytest.fixture(scope="session")
def islr_wheel(tmp_path_factory) -> Path:
    """islr's wheel, built once from a copy of the project files (nothing is written into the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "project"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = root / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    return next(dist.glob("islr-*.whl"))


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    from islr import paths

    return paths.SAMPLE_DIR


@pytest.fixture(scope="session")
def sample_files(sample_dir) -> list[Path]:
    return sorted(sample_dir.glob("train_landmark_files/*/*.parquet"))


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, sample_dir):
    """The bundled real sample packed by ``islr prepare`` once per test session (read-only memory maps)."""
    from islr.prepare import load_prepared, prepare

    out = tmp_path_factory.mktemp("prep")
    prepare(sample_dir, out, num_workers=1, show_progress=False)
    return load_prepared(out)


@pytest.fixture
def bad_input_dir(tmp_path, sample_dir):
    """An asl-signs folder with one good real file and one bad file of each kind the commands must name and skip: a
    truncated parquet, a parquet without its ``x`` column, and a train.csv row whose sign is not among the 250
    (a good file otherwise).

    Returns:
        (folder, {path in train.csv: words its cause must contain, None for the good file}).
    """
    import shutil

    import pandas as pd
    import pyarrow.parquet as pq

    out = tmp_path / "bad_input"
    (out / "train_landmark_files" / "1").mkdir(parents=True)
    shutil.copy(sample_dir / "sign_to_prediction_index_map.json", out)
    rows = pd.read_csv(sample_dir / "train.csv").iloc[:4].copy()
    sources = [sample_dir / p for p in rows["path"]]
    good, truncated, no_x, unknown = (f"train_landmark_files/1/{name}.parquet"
                                      for name in ("good", "truncated", "no_x", "unknown_sign"))
    shutil.copy(sources[0], out / good)
    data = sources[1].read_bytes()
    (out / truncated).write_bytes(data[:len(data) // 2])
    pq.write_table(pq.read_table(sources[2]).drop_columns(["x"]), out / no_x)
    shutil.copy(sources[3], out / unknown)
    rows["path"] = [good, truncated, no_x, unknown]
    rows.loc[rows.index[3], "sign"] = "hippogriff"  # not one of the 250
    rows.to_csv(out / "train.csv", index=False)
    return out, {good: None, truncated: "not a readable parquet file", no_x: "missing column(s) x",
                 unknown: "sign 'hippogriff'"}


@pytest.fixture(scope="session")
def check_bad_file_report():
    """The one rule for bad input files (islr.io.report_bad_files), as a check of a command's exit status and stderr:
    exit 1, one line ``FILE: cause`` per bad file, none for a good one, the count, and no traceback.

    Call it as ``check(proc, "islr predict", {file: words of its cause, or None for a good file})``.
    """

    def check(proc, prog: str, expected: dict) -> None:
        err = proc.stderr
        assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{err}"
        assert "Traceback" not in err, err
        lines = err.splitlines()
        for path, cause in expected.items():
            named = [line for line in lines if line.startswith(f"{path}: ")]
            if cause is None:
                assert named == [], err
            else:
                assert len(named) == 1 and cause in named[0], f"{path}: {cause!r} not in\n{err}"
        n_bad = sum(c is not None for c in expected.values())
        assert f"{prog}: {n_bad} of {len(expected)} files could not be read" in err, err

    return check
