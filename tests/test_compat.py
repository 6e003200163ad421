"""Supported versions: the installed set lies in the ranges pyproject.toml declares, the simulated image's set sits on
their floors, and the one transformers adapter (islr.models.transformer.layer_states) works under the installed major.

CI runs this file in both legs: the newest pinned set (requirements.txt) and the simulated Kaggle image with the
oldest one (requirements-image.txt), installed with the README's recipe (scripts/test_image.sh).
"""
import re
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from islr import doctor
from islr.models import create_model
from islr.models.transformer import layer_states

REPO = Path(__file__).resolve().parents[1]
#: Packages the simulated image lacks on purpose: the recipe adds them (the newest release that fits the image).
ADDED_BY_THE_RECIPE = {"ai-edge-litert", "onnxscript", "pose-format", "psycopg2-binary"}


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra if not r.startswith("islr[")]
    return reqs


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = Version(m.group(2))
    return pins


def _floor(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(lows) if lows else None


def _pinned(pins: dict[str, Version], name: str) -> Version | None:
    """The pin of ``name`` or of an installed alternative that provides it (tensorflow-cpu, opencv-python, ...)."""
    for alternative in doctor.PROVIDERS.get(name, (name,)):
        if alternative in pins:
            return pins[alternative]
    return None


def test_installed_versions_lie_in_the_declared_ranges():
    """Every package islr declares is installed here (through any of its providers) and inside its range."""
    needs = doctor.survey(("all",), REPO / "pyproject.toml")
    assert [n.requirement.name for n in needs if n.status == "missing"] == []
    assert [f"{n.provider} {n.version} not in {n.requirement.specifier}" for n in needs if n.status == "outside"] == []


def test_image_set_is_the_declared_floors_and_main_set_is_in_range():
    image, main = _pins(REPO / "requirements-image.txt"), _pins(REPO / "requirements.txt")
    for req in _declared():
        name = req.name.lower()
        if not req.specifier:
            continue  # any version (nbclient, nbformat, ipykernel: papermill's own dependencies decide)
        floor = _floor(req)
        assert floor is not None, f"{req.name}: declare a floor (>=) in pyproject.toml"
        pinned = _pinned(image, name)
        if name in ADDED_BY_THE_RECIPE:
            assert pinned is None, f"{req.name} is pinned in requirements-image.txt; take it out of ADDED_BY_THE_RECIPE"
        else:
            assert pinned == floor, f"{req.name}: requirements-image.txt pins {pinned}, pyproject's floor is {floor}"
        newest = _pinned(main, name)
        if newest is not None:
            assert req.specifier.contains(newest), f"{req.name}: requirements.txt pins {newest} outside {req.specifier}"


# ---------------------------------------------------------------- transformers: the one adapter

def test_layer_states_accepts_both_return_conventions():
    h = torch.randn(2, 5, 8)
    assert layer_states(h) is h  # transformers 5 BertLayer
    assert layer_states((h, None)) is h  # transformers 4.x BertLayer / DebertaV2Layer
    assert layer_states([h]) is h
    with pytest.raises(TypeError, match="dict"):
        layer_states({"hidden_states": h})


@pytest.mark.parametrize("arch", ["bert", "deberta"])
def test_real_layers_return_what_the_adapter_expects(arch):
    """Under the installed transformers: one layer call gives (B, L, H) states through the adapter, with a mask."""
    model = create_model(f"{arch}_test").eval()
    h = model.embeddings(inputs_embeds=torch.randn(2, 7, model.hf_config.hidden_size))
    keep = torch.ones(2, 7, dtype=torch.bool)
    keep[1, 5:] = False
    with torch.no_grad():
        out = layer_states(model.encoder.layer[0](h, **model._layer_inputs(keep, h)))
    assert out.shape == h.shape and torch.isfinite(out).all()


def test_bert_eager_and_sdpa_masks_give_the_same_states():
    """The mask formats of _layer_inputs (additive for eager, boolean for sdpa) agree under the installed version."""
    torch.manual_seed(0)
    sdpa = create_model("bert_test", attn_implementation="sdpa").eval()
    eager = create_model("bert_test", attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    x = torch.randn(3, 12, 972)
    mask = torch.ones(3, 12)
    mask[1, 8:] = 0
    mask[2, 3:] = 0
    with torch.no_grad():
        a, b = sdpa.forward_features(x, mask), eager.forward_features(x, mask)
    real = torch.cat([torch.ones(3, 1), mask], 1).bool()
    torch.testing.assert_close(a[real], b[real], rtol=1e-4, atol=1e-4)
