"""Running a Kaggle-contract model without TensorFlow: the one TFLite runner and the default model location.

The competition harness calls ``Interpreter(path).get_signature_runner("serving_default")(inputs=x)["outputs"]``
with one raw sequence ``x`` (T, 543, 3) float32 (NaN = missing) and reads 250 logits. Only ``ai_edge_litert`` is
imported here (no TensorFlow), so ``islr predict``, ``islr live`` and ``islr evaluate`` start quickly;
:mod:`islr.export.tflite` builds the models and re-exports these names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from islr import extras, paths

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "inputs"
OUTPUT_NAME = "outputs"


def submission_dir() -> Path:
    """``outputs/submission`` (model.tflite, submission.zip), written by notebook 06."""
    return paths.outputs_dir() / "submission"


#: Inference backends of ``islr predict``/``live``: the Kaggle-contract TFLite file (LiteRT) or the same ensemble
#: as ONNX members (onnxruntime, torch preprocessing; :class:`islr.export.onnx.OnnxEnsembleModel`).
BACKENDS = ("tflite", "onnx")
#: The faster of the two on a 1-thread x86 CPU, whole ensemble with preprocessing, as measured by
#: ``benchmarks/bench_export_latency.py`` (see the README's results).
DEFAULT_BACKEND = "tflite"


def default_model(backend: str | None = None) -> Path:
    """Where ``islr predict``/``live``/``evaluate`` look first: notebook 06's ``model.tflite`` or its ``onnx/``
    ensemble folder (``backend``; None = :data:`DEFAULT_BACKEND`)."""
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return submission_dir() / ("model.tflite" if backend == "tflite" else "onnx")


def load_sign_model(model: str | Path | None = None, backend: str | None = None, threads: int = 1):
    """A callable (T, 543, 3) landmarks → (250,) logits.

    Args:
        model: a .tflite file, or a folder holding an ONNX ensemble (``ensemble.json``); None = :func:`default_model`.
        backend: "tflite" or "onnx"; None = "onnx" for a folder, "tflite" for a file, :data:`DEFAULT_BACKEND` when
            ``model`` is None.
        threads: inference threads.

    Raises:
        FileNotFoundError: nothing at the model path.
        islr.extras.MissingExtraError: the ONNX backend without torch and onnxruntime (the "export" extra).
    """
    if model is None or str(model) == "":
        model = default_model(backend)
    model = Path(model)
    backend = backend or ("onnx" if model.is_dir() else "tflite")
    if backend == "onnx":
        extras.require("export", "the ONNX backend", modules=("torch", "onnxruntime"))
        from islr.export.onnx import OnnxEnsembleModel

        return OnnxEnsembleModel(model, threads)
    if backend != "tflite":
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return TFLiteSignModel(model, threads)


def interpreter(model: str | Path | bytes, num_threads: int | None = None, xnnpack: bool = True):
    """A LiteRT ``Interpreter`` for a .tflite path or bytes.

    Args:
        model: Path or flatbuffer bytes.
        num_threads: CPU threads (None = the interpreter default).
        xnnpack: False disables the default XNNPACK delegate (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``).

    Raises:
        FileNotFoundError: ``model`` is a path that does not exist.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"num_threads": num_threads} if num_threads is not None else {}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), **kwargs)
    if not Path(model).exists():
        raise FileNotFoundError(f"no TFLite model at {model} (run the notebook chain, or pass --model)")
    return Interpreter(model_path=str(model), **kwargs)


def signature_runner(model: str | Path | bytes, num_threads: int | None = None, xnnpack: bool = True):
    """``interpreter(...).get_signature_runner("serving_default")``, with no explicit ``allocate_tensors``."""
    return interpreter(model, num_threads, xnnpack).get_signature_runner(SIGNATURE_KEY)


def run_tflite(runner, x: np.ndarray) -> np.ndarray:
    """Logits (250,) of one (T, 543, 3) sequence through a signature runner (the Kaggle harness call)."""
    return np.asarray(runner(**{INPUT_NAME: np.asarray(x, dtype=np.float32)})[OUTPUT_NAME]).reshape(-1)


class TFLiteSignModel:
    """A Kaggle-contract TFLite model (path or bytes), called exactly like the competition harness.

    Args:
        model: the .tflite file or its bytes.
        threads: interpreter threads (Kaggle scored on one CPU).
        xnnpack: False disables the default XNNPACK delegate.

    Raises:
        FileNotFoundError: no file at ``model``.
    """

    def __init__(self, model: str | Path | bytes, threads: int = 1, xnnpack: bool = True) -> None:
        self.path = None if isinstance(model, (bytes, bytearray)) else Path(model)
        self.runner = signature_runner(model, threads, xnnpack)

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, 543, 3) float32 with NaNs → (250,) scores (raw ensemble logits)."""
        return run_tflite(self.runner, landmarks)
