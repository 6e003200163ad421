"""The chain that the README's Kaggle recipe ran (CI's simulated-image leg, scripts/test_image.sh), checked here.

The leg sets $ISLR_RECIPE_OUTPUTS to the outputs folder of that run; elsewhere there is no such run and these tests are
skipped (the main leg runs the chain itself, tests/test_notebooks.py).
"""
import os
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OUTPUTS = os.environ.get("ISLR_RECIPE_OUTPUTS")

pytestmark = pytest.mark.skipif(not OUTPUTS, reason="no recipe run here: $ISLR_RECIPE_OUTPUTS is set by the image leg")


def test_recipe_ran_every_notebook_without_error():
    out = Path(OUTPUTS)
    for name in NOTEBOOKS:
        path = out / "notebooks" / name
        assert path.exists(), f"the recipe's chain did not run {name}"
        nb = nbformat.read(path, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"


def test_recipe_chain_used_the_installed_package_and_wrote_where_run_all_says():
    out = Path(OUTPUTS)
    import islr

    assert "site-packages" in islr.__file__, islr.__file__  # the installed package, not the clone's src/
    with zipfile.ZipFile(out / "submission" / "submission.zip") as zf:
        assert zf.namelist() == ["model.tflite"]
    # notebook 07 extracted landmarks with MediaPipe and scored the bundled videos
    assert any((out / "figures" / "07_video_demo").glob("*.png"))
    assert any((out / "runs").glob("*/bundled_videos/train.csv"))
