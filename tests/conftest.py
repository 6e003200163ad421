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
