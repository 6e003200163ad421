"""One model registry for the CNN and the transformers (STYLE.md pattern 5, after timm's ``create_model``).

Model families register their factory functions with :func:`register_model`; :func:`create_model` builds one by
name with keyword overrides (e.g. ``create_model("bert", **asdict(cfg.transformer))``). The family modules
(:mod:`islr.models.effnet`, :mod:`islr.models.transformer`) import timm / transformers, so they are loaded only
when a model is first listed or created.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

#: Modules whose import registers models.
_FAMILY_MODULES = ("islr.models.effnet", "islr.models.transformer")
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model factory under ``name``.

    Args:
        name: Registry name; must be new.

    Returns:
        The decorator (it returns the factory unchanged).
    """

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorate


def _load_families() -> None:
    for module in _FAMILY_MODULES:
        importlib.import_module(module)


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    _load_families()
    return sorted(_REGISTRY)


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
    return _REGISTRY[name](**kwargs)
