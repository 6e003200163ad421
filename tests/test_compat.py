"""Supported versions: the installed set lies in the ranges pyproject.toml declares, the compat set sits on their
floors, and the one transformers adapter (islr.models.transformer.layer_states) works under the installed major.

CI runs this file in both legs: the newest pinned set (requirements.txt) and the oldest (requirements-compat.txt).
"""
import re
from importlib import metadata
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from islr.models import create_model
from islr.models.transformer import layer_states

REPO = Path(__file__).resolve().parents[1]
#: Distributions that install the same module under another name (what requirements*.txt use instead).
ALIASES = {"tensorflow": "tensorflow-cpu"}
#: Floors that the compat set cannot sit on, and why.
FLOOR_EXCEPTIONS = {"torch": "only the local 2.13.0 CPU wheel is installable on the project machines"}


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


def _installed(name: str) -> Version | None:
    for candidate in (name, ALIASES.get(name)):
        if candidate is None:
            continue
        try:
            return Version(metadata.version(candidate))
        except metadata.PackageNotFoundError:
            pass
    return None


def _floor(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(lows) if lows else None


def test_installed_versions_lie_in_the_declared_ranges():
    bad = []
    for req in _declared():
        version = _installed(req.name)
        assert version is not None, f"{req.name} is declared in pyproject.toml but not installed in this environment"
        # the local CPU build of torch carries "+cpu"; compare the public version
        if not req.specifier.contains(Version(version.public), prereleases=True):
            bad.append(f"{req.name} {version} not in {req.specifier}")
    assert bad == []


def test_compat_set_is_the_declared_floors_and_main_set_is_in_range():
    compat, main = _pins(REPO / "requirements-compat.txt"), _pins(REPO / "requirements.txt")
    for req in _declared():
        name = req.name.lower()
        if not req.specifier:
            continue  # any version (nbclient, nbformat, ipykernel: papermill's own dependencies decide)
        pinned = compat.get(name) or compat.get(ALIASES.get(name, ""))
        floor = _floor(req)
        assert floor is not None, f"{req.name}: declare a floor (>=) in pyproject.toml"
        assert pinned is not None, f"{req.name} is not pinned in requirements-compat.txt"
        if name not in FLOOR_EXCEPTIONS:
            assert pinned == floor, f"{req.name}: compat pins {pinned}, pyproject's floor is {floor}"
        newest = main.get(name) or main.get(ALIASES.get(name, ""))
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
