"""islr.doctor: what islr needs, what an environment has of it, and the constraints that hold an image's packages.

The install itself is exercised for real by the simulated-image leg (scripts/test_image.sh), which runs the README's
Kaggle recipe on a pre-built environment and checks that none of its packages changed.
"""
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from islr import doctor

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
#: A made-up image: canonical name -> (name as installed, version).
IMAGE = {"numpy": ("numpy", "1.26.4"), "pandas": ("pandas", "2.1.0"), "torch": ("torch", "2.4.1+cu121"),
         "tensorflow-cpu": ("tensorflow-cpu", "2.18.1"), "opencv-python": ("opencv-python", "4.10.0.84"),
         "protobuf": ("protobuf", "5.29.6"), "h5py": ("h5py", "3.16.0"), "islr": ("islr", "0.0.1"),
         "weird": ("weird", "not a version")}


def test_requirements_expand_nested_extras_and_combine_ranges():
    reqs = doctor.requirements(("notebooks",), PYPROJECT)
    # notebooks = train + export + tune + video + the runner; the base install comes along
    for name in ("numpy", "torch", "tensorflow", "optuna", "pose-format", "papermill", "ai-edge-litert"):
        assert name in reqs, name
    assert "islr" not in reqs and "psycopg2-binary" not in reqs  # postgres is not part of notebooks
    req, asked = reqs["torch"]
    assert asked == ["train"] and str(req.specifier) == ">=2.4.1"
    assert set(doctor.requirements((), PYPROJECT)) == {"numpy", "pandas", "pyarrow", "scipy", "tqdm",
                                                       "ai-edge-litert"}


def test_unknown_extra_is_named():
    with pytest.raises(SystemExit, match="unknown extra gpu"):
        doctor.requirements(("gpu",), PYPROJECT)


def test_survey_finds_alternative_providers_and_local_builds():
    needs = {n.requirement.name: n for n in doctor.survey(("notebooks",), PYPROJECT, IMAGE)}
    assert needs["torch"].status == "fits"  # 2.4.1+cu121 is compared as 2.4.1
    assert (needs["tensorflow"].provider, needs["tensorflow"].status) == ("tensorflow-cpu", "fits")
    assert (needs["opencv-python-headless"].provider, needs["opencv-python-headless"].status) == ("opencv-python",
                                                                                                  "fits")
    assert needs["pandas"].status == "outside"  # 2.1.0 is below the floor
    assert needs["optuna"].status == "missing"


def test_held_keeps_everything_that_fits_and_frees_what_must_change():
    needs = doctor.survey(("notebooks",), PYPROJECT, IMAGE)
    lines = doctor.held(needs, IMAGE)
    assert "numpy==1.26.4" in lines and "torch==2.4.1+cu121" in lines and "protobuf==5.29.6" in lines
    assert "tensorflow-cpu==2.18.1" in lines and "opencv-python==4.10.0.84" in lines
    assert not any(line.startswith(("pandas==", "islr==", "weird==")) for line in lines)
    assert not any(line.startswith("h5py==") for line in doctor.held(needs, IMAGE, release=("h5py",)))
    for line in lines:
        Requirement(line)  # every line is a valid pip constraint


def test_pip_is_asked_only_for_what_is_missing_or_outside_under_the_installed_name():
    needs = {n.requirement.name: n for n in doctor.survey(("notebooks",), PYPROJECT, IMAGE)}
    asked = doctor._to_install(list(needs.values()))
    assert any(a.startswith("pandas") for a in asked) and any(a.startswith("optuna") for a in asked)
    assert not any(a.startswith(("numpy", "torch", "tensorflow", "opencv")) for a in asked)
    outside_cpu = doctor.Need(Requirement("tensorflow>=2.18.1,<3"), ["export"], "tensorflow-cpu", "2.15.0")
    assert outside_cpu.pip_requirement() == "tensorflow-cpu<3,>=2.18.1"  # never a second TensorFlow next to it


def test_compare_snapshots():
    after = {**IMAGE, "optuna": ("optuna", "4.0.0"), "pandas": ("pandas", "2.2.3")}
    del after["weird"]
    added, changed, removed = doctor.compare(IMAGE, after)
    assert added == {"optuna": "4.0.0"} and changed == {"pandas": ("2.1.0", "2.2.3")}
    assert removed == {"weird": "not a version"}


def test_table_says_what_an_install_would_do():
    needs = doctor.survey(("tune",), PYPROJECT, IMAGE)
    text = doctor.table(needs, {"optuna": "4.1.0", "pandas": "2.2.3"})
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "add 4.1.0" in rows["optuna"] and "change it to 2.2.3" in rows["pandas"] and "keep it" in rows["numpy"]
    assert "tensorflow" not in rows  # not part of tune


def test_doctor_command_reports_this_environment():
    """`islr doctor` on the environment running the tests: every declared package is found and fits."""
    done = subprocess.run([sys.executable, "-m", "islr", "doctor", "all"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "psycopg2-binary" in done.stdout
    assert done.stdout.splitlines()[-1].endswith("0 missing, 0 outside the supported range")
