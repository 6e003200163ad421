import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.chdir(REPO)  # scripts are referenced relative to the repo in a few tests


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
