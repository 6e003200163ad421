"""Which extra provides which optional package, and the one message that says so.

The base install (``pip install islr``) has numpy, pandas, pyarrow, scipy, tqdm and ai-edge-litert; everything else
comes with an extra of ``pyproject.toml`` (``pip install "islr[train]"`` etc.). Code that needs an optional package
either imports it where it is used — :func:`islr.cli.main` turns the resulting ``ModuleNotFoundError`` into
:func:`message` — or, where a command would otherwise do long work before the import fails, asks for it up front
with :func:`require`::

    from islr import extras

    extras.require("export", "the ONNX backend", modules=("torch", "onnxruntime"))
    # MissingExtraError: the ONNX backend needs torch, onnxruntime (the "export" extra): pip install "islr[export]"

:data:`PACKAGES` and :data:`INCLUDES` are checked against ``pyproject.toml`` by ``tests/test_extras.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

#: Importable top-level module → (extra that provides it, the distribution as ``pyproject.toml`` names it).
PACKAGES: dict[str, tuple[str, str]] = {
    "torch": ("train", "torch"),
    "timm": ("train", "timm"),
    "transformers": ("train", "transformers"),
    "sklearn": ("train", "scikit-learn"),
    "matplotlib": ("train", "matplotlib"),
    "tensorflow": ("export", "tensorflow"),
    "keras": ("export", "keras"),
    "onnx": ("export", "onnx"),
    "onnxruntime": ("export", "onnxruntime"),
    "onnxscript": ("export", "onnxscript"),
    "optuna": ("tune", "optuna"),
    "psycopg2": ("postgres", "psycopg2-binary"),
    "pose_format": ("video", "pose-format"),
    "cv2": ("video", "opencv-python-headless"),
    "papermill": ("notebooks", "papermill"),
    "nbclient": ("notebooks", "nbclient"),
    "nbformat": ("notebooks", "nbformat"),
    "ipykernel": ("notebooks", "ipykernel"),
}
#: Importable top-level module → the extra that provides it.
EXTRA_OF: dict[str, str] = {module: extra for module, (extra, _) in PACKAGES.items()}
#: Extras that pull in other extras (``export = ["islr[train]", …]``).
INCLUDES: dict[str, tuple[str, ...]] = {
    "train": (),
    "export": ("train",),
    "tune": ("train",),
    "postgres": (),
    "video": (),
    "notebooks": ("train", "export", "tune", "video"),
    "all": ("train", "export", "tune", "postgres", "video", "notebooks"),
}


class MissingExtraError(ModuleNotFoundError):
    """An optional package is not installed; the message names the extra that provides it and the pip command.

    A ``ModuleNotFoundError`` (``name`` = the first missing module), so ``except ImportError`` keeps working.

    Attributes:
        extra: the extra to install.
        modules: the missing top-level modules.
        what: what needs them ("the ONNX backend"), or None.
    """

    def __init__(self, extra: str, modules: Iterable[str], what: str | None = None) -> None:
        self.extra, self.modules, self.what = extra, tuple(modules), what
        super().__init__(message(extra, self.modules, what), name=self.modules[0] if self.modules else None)

    def __reduce__(self):  # pickles (e.g. out of a worker process) with its own arguments
        return type(self), (self.extra, self.modules, self.what)


def pip_command(extra: str) -> str:
    """``pip install "islr[EXTRA]"``."""
    return f'pip install "islr[{extra}]"'


def message(extra: str, modules: Iterable[str], what: str | None = None) -> str:
    """The user message for missing ``modules`` of ``extra``, e.g.
    ``the ONNX backend needs torch, onnxruntime (the "export" extra): pip install "islr[export]"``; without ``what``:
    ``needs torch, which is not installed (the "train" extra): pip install "islr[train]"``."""
    names = ", ".join(modules)
    head = f"{what} needs {names}" if what else f"needs {names}, which is not installed"
    return f'{head} (the "{extra}" extra): {pip_command(extra)}'


def modules_of(extra: str) -> tuple[str, ...]:
    """The top-level modules ``extra`` provides, those of the extras it includes first.

    Raises:
        ValueError: not an extra of islr.
    """
    if extra not in INCLUDES:
        raise ValueError(f"{extra!r} is not an extra of islr (one of {', '.join(INCLUDES)})")
    return tuple(m for e in (*INCLUDES[extra], extra) for m, (x, _) in PACKAGES.items() if x == e)


def installed(module: str) -> bool:
    """Whether the top-level ``module`` can be imported (already imported, or found on the path; nothing is
    imported here). A ``None`` entry in ``sys.modules`` (an import blocked on purpose) counts as missing."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or a module whose __spec__ is None
        return False


def missing(modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that cannot be imported, in order."""
    return [m for m in modules if not installed(m)]


def require(extra: str, what: str | None = None, modules: Iterable[str] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` (default: all of ``extra``'s) can be imported.

    Call it before long work that would otherwise end in an import error (loading many files, then importing torch).

    Args:
        extra: the extra to name ("train", "export", "tune", "postgres", "video", "notebooks").
        what: what needs it, for the message ("the ONNX backend").
        modules: the top-level modules actually needed (default: :func:`modules_of` ``extra``).

    Raises:
        MissingExtraError: some are missing (names them, the extra and the pip command).
        ValueError: ``extra`` is not an extra of islr.
    """
    if extra not in INCLUDES:
        raise ValueError(f"{extra!r} is not an extra of islr (one of {', '.join(INCLUDES)})")
    needed = modules_of(extra) if modules is None else tuple(modules)
    absent = missing(needed)
    if absent:
        raise MissingExtraError(extra, absent, what)


def explain(exc: BaseException) -> str | None:
    """The user message for an import error that means "install an extra", else None (a bug: let it propagate).

    That is a :class:`MissingExtraError`, or a ``ModuleNotFoundError`` (itself or the ``__cause__`` of an import
    error a library raised ``from`` it) whose top-level module is in :data:`EXTRA_OF` and is indeed not installed
    (``torch.nonexistent`` with torch installed is a bug, not a missing extra).
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MissingExtraError):
            return str(exc)
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            top = exc.name.partition(".")[0]
            if top in EXTRA_OF and not installed(top):
                return message(EXTRA_OF[top], [top])
        exc = exc.__cause__
    return None
