"""islr.extras: the module → extra map agrees with pyproject.toml, and a missing extra ends a command with one line.

Missing packages are simulated with ``sys.modules[name] = None``, which makes ``import name`` raise
ModuleNotFoundError (checked below) without touching the environment.
"""
import importlib.metadata
import pickle
import re
import sys
import types
from pathlib import Path

import pytest

from islr import cli, extras

REPO = Path(__file__).resolve().parents[1]
#: Distributions that install the same module as the one pyproject.toml names (requirements.txt installs
#: tensorflow-cpu instead of tensorflow; an image may have opencv-python, onnxruntime-gpu, psycopg2).
SAME_MODULE = {"tensorflow-cpu": "tensorflow", "opencv-python": "opencv-python-headless",
               "opencv-contrib-python": "opencv-python-headless",
               "opencv-contrib-python-headless": "opencv-python-headless", "onnxruntime-gpu": "onnxruntime",
               "psycopg2": "psycopg2-binary"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_extras() -> dict[str, tuple[set[str], set[str]]]:
    """extra → (distributions it lists itself, extras it includes through ``islr[...]``)."""
    tomllib = pytest.importorskip("tomllib")
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    out = {}
    for extra, requirements in optional.items():
        dists, included = set(), set()
        for req in requirements:
            name, _, rest = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?", req).groups()
            if _normalise(name) == "islr":
                included |= {e.strip() for e in rest.split(",")}
            else:
                dists.add(_normalise(name))
        out[extra] = (dists, included)
    return out


def test_the_map_matches_pyproject_extras():
    declared = _pyproject_extras()
    assert set(extras.INCLUDES) == set(declared)
    for extra, (_, included) in declared.items():
        assert set(extras.INCLUDES[extra]) == included, extra
    for module, (extra, dist) in extras.PACKAGES.items():  # every module belongs to a distribution of its extra
        assert _normalise(dist) in declared[extra][0], f"{module}: {dist} is not in the {extra!r} extra"
    covered = {(extra, _normalise(dist)) for extra, dist in extras.PACKAGES.values()}
    for extra, (dists, _) in declared.items():  # and every distribution of every extra has its module
        for dist in dists:
            assert (extra, dist) in covered, f"{dist} of the {extra!r} extra has no module in islr.extras.PACKAGES"
    assert extras.EXTRA_OF == {m: e for m, (e, _) in extras.PACKAGES.items()}


def test_each_mapped_module_comes_from_its_distribution_where_installed():
    providers = importlib.metadata.packages_distributions()
    checked = 0
    for module, (_, dist) in extras.PACKAGES.items():
        if module not in providers:
            continue
        found = {SAME_MODULE.get(_normalise(d), _normalise(d)) for d in providers[module]}
        assert _normalise(dist) in found, f"{module} is installed by {sorted(found)}, not {dist}"
        checked += 1
    assert checked or not extras.installed("torch")  # the full environment checks them all


def test_modules_of_an_extra_include_the_extras_it_pulls_in():
    assert extras.modules_of("video") == ("pose_format", "cv2")
    assert {"torch", "onnxruntime", "tensorflow"} <= set(extras.modules_of("export"))
    assert extras.modules_of("tune")[-1] == "optuna" and "torch" in extras.modules_of("tune")
    assert set(extras.modules_of("all")) == set(extras.PACKAGES)
    with pytest.raises(ValueError, match="not an extra"):
        extras.modules_of("gpu")


def test_message_names_modules_extra_and_pip_command():
    assert (extras.message("export", ["torch", "onnxruntime"], "the ONNX backend")
            == 'the ONNX backend needs torch, onnxruntime (the "export" extra): pip install "islr[export]"')
    assert (extras.message("train", ["torch"])
            == 'needs torch, which is not installed (the "train" extra): pip install "islr[train]"')


def test_a_none_entry_in_sys_modules_raises_module_not_found(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError) as info:
        import torch  # noqa: F401
    assert info.value.name == "torch" and not extras.installed("torch")
    with pytest.raises(ModuleNotFoundError) as info:
        from torch import nn  # noqa: F401
    assert info.value.name == "torch"


def test_require_raises_a_module_not_found_error_naming_the_extra(monkeypatch):
    extras.require("video", "x", modules=())  # nothing needed, nothing raised
    extras.require("train", "sys and os", modules=("sys", "os"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModuleNotFoundError) as info:
        extras.require("export", "the ONNX backend", modules=("sys", "onnxruntime"))
    err = info.value
    assert isinstance(err, extras.MissingExtraError)
    assert (err.extra, err.modules, err.name) == ("export", ("onnxruntime",), "onnxruntime")
    assert str(err) == 'the ONNX backend needs onnxruntime (the "export" extra): pip install "islr[export]"'
    assert extras.explain(err) == str(err)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again), again.name) == (type(err), str(err), err.name)
    with pytest.raises(ValueError, match="not an extra"):
        extras.require("gpu", modules=())


def test_explain_tells_a_missing_extra_from_a_bug(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    missing = ModuleNotFoundError("No module named 'optuna'", name="optuna")
    assert extras.explain(missing) == ('needs optuna, which is not installed (the "tune" extra): '
                                       'pip install "islr[tune]"')
    sub = ModuleNotFoundError("No module named 'optuna.nope'", name="optuna.nope")
    assert extras.explain(sub) == extras.explain(missing)  # the top-level module is what is missing
    # A library that re-raises (optuna's RDBStorage: ImportError("Failed to import DB access module…") from it).
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    wrapped = ImportError("Failed to import DB access module")
    wrapped.__cause__ = ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")
    assert '"postgres" extra' in extras.explain(wrapped)
    # Bugs: an unmapped module; a missing submodule of an installed package; a name an installed package lacks.
    assert extras.explain(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    assert extras.explain(ModuleNotFoundError("No module named 'os.nope'", name="os.nope")) is None
    assert extras.installed("numpy")
    monkeypatch.setitem(extras.PACKAGES, "numpy", ("train", "numpy"))
    monkeypatch.setitem(extras.EXTRA_OF, "numpy", "train")
    assert extras.explain(ModuleNotFoundError("No module named 'numpy.nope'", name="numpy.nope")) is None
    assert extras.explain(ImportError("cannot import name 'x' from 'numpy'", name="numpy")) is None
    context_only = ImportError("other")
    context_only.__context__ = missing  # raised while handling, not from: not the reason
    assert extras.explain(context_only) is None


# ------------------------------------------------------------------------------------------------------ the CLI
def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_cli_a_command_whose_import_fails_names_the_extra(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "islr.tune", raising=False)  # imported afresh, so its `import optuna` runs
    monkeypatch.setitem(sys.modules, "optuna", None)
    for argv in (["tune", "--help"], ["tune", "--model", "cnn", "--trials", "1"]):
        code, err = _cli(capsys, *argv)
        assert code == 2
        assert err == 'islr tune: needs optuna, which is not installed (the "tune" extra): pip install "islr[tune]"\n'


def test_cli_predict_onnx_backend_names_the_export_extra(monkeypatch, capsys, tmp_path):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"not a model")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, err = _cli(capsys, "predict", "--model", tmp_path / "onnx", tmp_path / "x.parquet")
    assert code == 2
    assert err == ('islr predict: the ONNX backend needs torch, onnxruntime (the "export" extra): '
                   'pip install "islr[export]"\n')


def test_cli_predict_pose_files_name_the_video_extra_before_loading_the_model(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pose_format", None)
    # The model does not exist: the extra is asked for first.
    code, err = _cli(capsys, "predict", "--model", tmp_path / "none.tflite", REPO / "tests/fixtures/example.pose")
    assert code == 2
    assert err == 'islr predict: reading .pose files needs pose_format (the "video" extra): pip install "islr[video]"\n'


def test_cli_live_names_the_video_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)
    code, err = _cli(capsys, "live", "--video", REPO / "data/videos/soup.mp4", "--model", tmp_path / "none.tflite")
    assert code == 2 and '(the "video" extra): pip install "islr[video]"' in err and "cv2" in err


def test_cli_evaluate_checkpoint_and_plot_name_the_train_extra(monkeypatch, capsys, tmp_path, sample_dir):
    monkeypatch.setitem(sys.modules, "timm", None)
    code, err = _cli(capsys, "evaluate", tmp_path / "x.pt", sample_dir)
    assert code == 2
    assert err == ('islr evaluate: a checkpoint (best.pt or a run folder) needs timm (the "train" extra): '
                   'pip install "islr[train]"\n')
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, err = _cli(capsys, "evaluate", tmp_path / "model.tflite", sample_dir)
    assert code == 2
    assert err == ('islr evaluate: the plot (--no-plot skips it) needs matplotlib (the "train" extra): '
                   'pip install "islr[train]"\n')


def test_cli_tune_postgres_storage_names_the_postgres_extra(monkeypatch, capsys):
    pytest.importorskip("optuna")
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    code, err = _cli(capsys, "tune", "--model", "cnn", "--trials", "1", "--objective", "tune_toy:ToyObjective",
                     "--storage", "postgresql+psycopg2://nobody@localhost:1/none")
    assert code == 2
    assert err == ('islr tune: a PostgreSQL storage needs psycopg2 (the "postgres" extra): '
                   'pip install "islr[postgres]"\n')


def test_cli_lets_other_import_errors_propagate(monkeypatch):
    def fails(exc):
        def main(argv):
            raise exc
        module = types.ModuleType("islr_test_failing_command")
        module.main = main
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setitem(cli.COMMANDS, "failing", (module.__name__, "test"))

    for exc in (ModuleNotFoundError("No module named 'not_an_extra'", name="not_an_extra"),
                ModuleNotFoundError("No module named 'numpy.nope'", name="numpy.nope"),
                ImportError("cannot import name 'nope' from 'numpy'", name="numpy")):
        fails(exc)
        with pytest.raises(ImportError) as info:
            cli.main(["failing"])
        assert info.value is exc
