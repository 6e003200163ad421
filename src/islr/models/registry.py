"""One model registry for the CNN and the transformers (docs/architecture.md, pattern "A registry of model names").

Model families register their factory functions with :func:`register_model`, each under its family ("cnn",
"bert" or "deberta": the keys of :data:`islr.models.families.FAMILIES`, which say how a family is fed and trained;
:func:`model_family` reads it back); :func:`create_model` builds one by name with keyword overrides (e.g.
``create_model("bert", **asdict(cfg.transformer))``). The family modules (:mod:`islr.models.effnet`,
:mod:`islr.models.transformer`) import timm / transformers, so they are loaded only when a model is first listed or
created.

Every model :func:`create_model` returns carries its **spec** ``{"model": name, "kwargs": {...}}`` (read it with
:func:`model_spec`): the registry name and every factory argument, defaults included. The training loop saves the
spec in each checkpoint, so ``create_model(spec["model"], **spec["kwargs"])`` rebuilds the architecture of any
checkpoint without knowing which config or code path made it (:func:`islr.runs.open_checkpoint`).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable

from torch import nn

#: Modules whose import registers models.
_FAMILY_MODULES = ("islr.models.effnet", "islr.models.transformer")
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_FAMILY_OF: dict[str, str] = {}
#: Factory arguments that only choose the initial weights: a spec leaves them out (the checkpoint's weights replace
#: whatever they loaded, and the file they name need not exist where the checkpoint is loaded).
INIT_ONLY_KWARGS = frozenset({"pretrained_path"})
_SPEC_ATTR = "_islr_model_spec"


def register_model(name: str, family: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model factory under ``name``.

    Args:
        name: Registry name; must be new.
        family: the model family it belongs to ("cnn" | "bert" | "deberta"), which decides its input pipeline
            (:data:`islr.models.families.FAMILIES`).

    Returns:
        The decorator (it returns the factory unchanged).
    """

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = factory
        _FAMILY_OF[name] = family
        return factory

    return decorate


def _load_families() -> None:
    for module in _FAMILY_MODULES:
        importlib.import_module(module)


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    _load_families()
    return sorted(_REGISTRY)


def model_family(name: str) -> str:
    """The family ("cnn" | "bert" | "deberta") a registered model was registered under.

    Raises:
        KeyError: ``name`` is unknown (the message lists the known names).
    """
    _load_families()
    if name not in _FAMILY_OF:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _FAMILY_OF[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models` ("effnet_b0", "bert", "deberta", and their ``*_test`` variants).
        **kwargs: Overrides of the factory's defaults (see each factory's docstring).

    Returns:
        The model, in train mode, on CPU.

    Raises:
        KeyError: ``name`` is unknown (the message lists the known names).
    """
    _load_families()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    factory = _REGISTRY[name]
    model = factory(**kwargs)
    object.__setattr__(model, _SPEC_ATTR, {"model": name, "kwargs": _resolved_kwargs(factory, kwargs)})
    return model


def model_spec(model: nn.Module) -> dict | None:
    """``{"model": registry name, "kwargs": {...}}`` of a model built by :func:`create_model` (None otherwise).

    ``create_model(spec["model"], **spec["kwargs"])`` builds the same architecture (with fresh weights). The spec
    holds plain JSON values only, so it can be stored in a ``weights_only`` checkpoint.
    """
    spec = getattr(model, _SPEC_ATTR, None)
    return json.loads(json.dumps(spec)) if spec is not None else None


def _resolved_kwargs(factory: Callable[..., nn.Module], kwargs: dict) -> dict:
    """Every argument of the factory call (defaults filled in), minus :data:`INIT_ONLY_KWARGS`, as plain JSON."""
    bound = inspect.signature(factory).bind(**kwargs)
    bound.apply_defaults()
    params = inspect.signature(factory).parameters
    resolved: dict = {}
    for key, value in bound.arguments.items():
        if params[key].kind is inspect.Parameter.VAR_KEYWORD:
            resolved.update(value)
        else:
            resolved[key] = value
    return json.loads(json.dumps({k: v for k, v in resolved.items() if k not in INIT_ONLY_KWARGS}, default=str))
