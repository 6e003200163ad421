"""One model registry for the CNN and the transformers (docs/architecture.md, pattern "A registry of model names").

Model families register their factory functions with :func:`register_model`, each under its family ("cnn",
"bert" or "deberta": the keys of :data:`islr.models.families.FAMILIES`, which say how a family is fed and trained;
:func:`model_family` reads it back); :func:`create_model` builds one by name with keyword overrides (e.g.
``create_model("bert", **asdict(cfg.transformer))``). The family modules (:mod:`islr.models.effnet`,
:mod:`islr.models.transformer`) import timm / transformers, so they are loaded only when a model is first listed or
created.

Every model :func:`create_model` returns carries its **spec** ``{"model": name, "kwargs": {...}, "input": {...}}``
(read it with :func:`model_spec`): the registry name, every factory argument, defaults included, and the settings of
its input (:mod:`islr.preprocess.settings`: the CNN's ``n_frames`` / ``points`` / ``dominant_hand``, a transformer's
``max_len`` / ``features``), as timm models carry their input config. The training loop saves the spec in each
checkpoint, so ``create_model(spec["model"], input_config=spec["input"], **spec["kwargs"])`` rebuilds the
architecture of any checkpoint, and :func:`model_inputs` tells every consumer how to feed it, without knowing which
config or code path made it (:func:`islr.runs.open_checkpoint`). A spec saved before specs held input settings gets
those of the run config stored beside it (:func:`stored_inputs`).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable

from torch import nn

from islr.config import Config
from islr.preprocess.settings import CNNInput, ModelInput, TransformerInput

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


def create_model(name: str, input_config: ModelInput | dict | None = None, **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models` ("effnet_b0", "bert", "deberta", and their ``*_test`` variants).
        input_config: the settings of the input the model is trained on (:class:`~islr.preprocess.settings.CNNInput`
            for a CNN, :class:`~islr.preprocess.settings.TransformerInput` for a transformer, or their ``to_dict``);
            None = the config's defaults (a transformer: its own ``max_len``). A transformer's ``max_len`` may not
            exceed the model's.
        **kwargs: Overrides of the factory's defaults (see each factory's docstring).

    Returns:
        The model, in train mode, on CPU, carrying its spec (:func:`model_spec`, :func:`model_inputs`).

    Raises:
        KeyError: ``name`` is unknown (the message lists the known names).
        ValueError: input settings that do not fit the model.
    """
    _load_families()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    factory = _REGISTRY[name]
    model = factory(**kwargs)
    inputs = _resolved_inputs(name, model, input_config)
    object.__setattr__(model, _SPEC_ATTR, {"model": name, "kwargs": _resolved_kwargs(factory, kwargs),
                                           "input": inputs.to_dict()})
    return model


def input_type(family: str) -> type:
    """The input settings class of a model family: :class:`~islr.preprocess.settings.CNNInput` for "cnn",
    :class:`~islr.preprocess.settings.TransformerInput` for "bert" and "deberta"."""
    from islr.models.families import FAMILIES

    return FAMILIES[family].pipeline.input_type


def _resolved_inputs(name: str, model: nn.Module, given: ModelInput | dict | None) -> ModelInput:
    """The input settings of a freshly built model: ``given`` (checked against the model), else the defaults."""
    kind = input_type(_FAMILY_OF[name])
    if given is None:
        return TransformerInput(max_len=model.max_len) if kind is TransformerInput else kind()
    if isinstance(given, dict):
        inputs = kind.from_dict(given)
    elif isinstance(given, kind):
        inputs = given
    else:
        raise ValueError(f"model {name!r} takes {kind.__name__} input settings, got {type(given).__name__}")
    if kind is TransformerInput and inputs.max_len > model.max_len:
        raise ValueError(f"model {name!r}: input max_len {inputs.max_len} exceeds the model's {model.max_len} "
                         "positions")
    return inputs


def model_inputs(model: nn.Module) -> ModelInput:
    """The settings of the input ``model`` is fed with (:mod:`islr.preprocess.settings`), from its spec.

    Every consumer builds the model's input from these: the training pipelines, the TF graph of the TFLite export,
    the ONNX export, the parity checks and ``islr evaluate``. (A copy of the model, ``copy.deepcopy``, keeps the
    spec.)

    Raises:
        TypeError: a model not built by :func:`create_model` (it has no spec, so nothing says how to feed it).
    """
    spec = getattr(model, _SPEC_ATTR, None)
    if spec is None:
        raise TypeError(f"{type(model).__name__} carries no model spec (not built by islr.models.create_model), so "
                        "nothing says how to feed it")
    return input_type(model_family(spec["model"])).from_dict(spec["input"])


def stored_inputs(spec: dict, config: Config | None = None) -> dict | None:
    """The input settings of a stored spec, as :func:`create_model`'s ``input_config``.

    A spec saved before specs held input settings has no ``"input"``: its CNN gets those of the run config that
    trained it (``cnn.n_frames``, ``cnn.dominant_hand``: what its training pipeline used), or the config defaults
    when the checkpoint stores no config; its transformer gets None (:func:`create_model`'s default, the model's own
    ``max_len``, which training always set to ``transformer.max_len``).

    Args:
        spec: ``{"model": name, "kwargs": {...}[, "input": {...}]}`` as read from a checkpoint.
        config: the run config stored in the same checkpoint (None if it stores none).
    """
    if spec.get("input") is not None:
        return spec["input"]
    if input_type(model_family(spec["model"])) is CNNInput:
        return (CNNInput.from_config(config) if config is not None else CNNInput()).to_dict()
    return None


def model_spec(model: nn.Module) -> dict | None:
    """``{"model": registry name, "kwargs": {...}, "input": {...}}`` of a model built by :func:`create_model` (None
    otherwise).

    ``create_model(spec["model"], input_config=spec["input"], **spec["kwargs"])`` builds the same architecture (with
    fresh weights) fed the same input. The spec holds plain JSON values only, so it can be stored in a
    ``weights_only`` checkpoint.
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
