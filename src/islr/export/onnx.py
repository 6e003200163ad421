"""ONNX export of the torch inference heads and ONNX Runtime inference (docs/method.md §7: "ONNX was about 5×
faster than TFLite for EfficientNet" in the reference's README; ``benchmarks/bench_export_latency.py`` measures it).

ONNX holds the networks only; preprocessing stays the torch code (:mod:`islr.preprocess`), so an ONNX pipeline is
``torch preprocessing → onnxruntime``:

* CNN: input ``image`` (1, 3, 160, 80) float32 → ``logits`` (1, C). The training-only hypercolumn head is not
  exported (eval mode runs the main head only).
* Transformers: input ``features`` (1, T, 972), T dynamic in 1..96 (the real frames, no mask, as the TFLite graph)
  → ``logits`` (1, C).

:func:`save_onnx_ensemble` writes the members and their logit weights to one folder; :class:`OnnxEnsembleModel`
runs it on raw (T, 543, 3) landmarks (torch preprocessing once per input kind, then the sessions, then the weighted
sum): the same call as :class:`islr.export.runtime.TFLiteSignModel`, held equal to it by ``tests/test_export.py``.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from islr.export.transfer import model_kind

OPSET = 18


def export_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Export a torch model's inference path to ONNX.

    Args:
        model: HypercolumnEfficientNet or FrameTransformer (not modified; an eval-mode copy is exported).
        path: Output .onnx file.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).eval()
    kind = model_kind(model)
    if kind == "cnn":
        example = torch.zeros(1, 3, 160, 80)
        names, dynamic = ["image"], None
    else:
        example = torch.zeros(1, 8, model.proj.in_features)
        names, dynamic = ["features"], {"features": {1: "frames"}}
    with torch.no_grad(), warnings.catch_warnings():
        # Tracer warnings about Python control flow on shapes: the branches taken hold for every T ≥ 1.
        warnings.simplefilter("ignore")
        # The TorchScript exporter: it handles the HF layers and a dynamic frame axis without extra annotations.
        torch.onnx.export(model, (example,), str(path), input_names=names, output_names=["logits"],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    return path


def session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU ``InferenceSession`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(sess, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Logits (1, C) of one model input (image (1,3,160,80) or features (1,T,972)) through a session."""
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x.astype(np.float32)})[0]


ENSEMBLE_JSON = "ensemble.json"


def model_input(kind: str, x: np.ndarray) -> torch.Tensor:
    """The ONNX input of one raw (T, 543, 3) sequence: image (1, 3, 160, 80) for "cnn", or the features of the real
    frames (1, n, 972) for "transformer" (n = 0 only for T = 0: one zero frame stands in, as in the TFLite graph)."""
    from islr.preprocess.cnn import cnn_input_single
    from islr.preprocess.transformer import transformer_input_single

    if kind == "cnn":
        return cnn_input_single(x)[None]
    feats, mask = transformer_input_single(x)
    return feats[None, : max(int(mask.sum()), 1)]


def save_onnx_ensemble(models: Mapping[str, torch.nn.Module], weights: Mapping[str, float], out_dir: str | Path
                       ) -> Path:
    """Write ``<name>.onnx`` per member and ``ensemble.json`` (name → file, kind, weight) to ``out_dir``.

    Args:
        models: name → torch model.
        weights: name → weight on that model's raw logits.
        out_dir: folder (created).

    Returns:
        ``out_dir``.
    """
    if set(models) != set(weights):
        raise ValueError(f"models {sorted(models)} and weights {sorted(weights)} must name the same members")
    out_dir = Path(out_dir)
    members = {}
    for name, model in models.items():
        export_onnx(model, out_dir / f"{name}.onnx")
        members[name] = {"file": f"{name}.onnx", "kind": model_kind(model), "weight": float(weights[name])}
    (out_dir / ENSEMBLE_JSON).write_text(json.dumps(members, indent=1) + "\n")
    return out_dir


class OnnxEnsembleModel:
    """An ensemble folder of :func:`save_onnx_ensemble` run with onnxruntime: (T, 543, 3) landmarks → (C,) logits.

    Args:
        folder: holds ``ensemble.json`` and the member ``.onnx`` files.
        threads: intra-op threads per session.

    Raises:
        FileNotFoundError: no ``ensemble.json`` in ``folder``.
    """

    def __init__(self, folder: str | Path, threads: int = 1) -> None:
        self.path = Path(folder)
        spec = self.path / ENSEMBLE_JSON
        if not spec.exists():
            raise FileNotFoundError(f"no ONNX ensemble at {self.path} (missing {ENSEMBLE_JSON})")
        self.members = json.loads(spec.read_text())
        self.sessions = {name: session(self.path / m["file"], threads) for name, m in self.members.items()}

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, 543, 3) float32 with NaNs → (C,) weighted raw logits."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # batch-1 preprocessing: a thread pool only costs time
        try:
            inputs = {kind: model_input(kind, landmarks) for kind in {m["kind"] for m in self.members.values()}}
        finally:
            torch.set_num_threads(threads)
        total = None
        for name, m in self.members.items():
            logits = run_onnx(self.sessions[name], inputs[m["kind"]])[0] * m["weight"]
            total = logits if total is None else total + logits
        return total
