"""ONNX export of the torch inference heads and ONNX Runtime inference (METHOD_FACTS §7: "ONNX was about 5×
faster than TFLite for EfficientNet" in the reference's README; ``benchmarks/bench_export_latency.py`` measures it).

ONNX holds the networks only; preprocessing stays the torch code (:mod:`islr.preprocess`), so an ONNX pipeline is
``torch preprocessing → onnxruntime``:

* CNN: input ``image`` (1, 3, 160, 80) float32 → ``logits`` (1, C). The training-only hypercolumn head is not
  exported (eval mode runs the main head only).
* Transformers: input ``features`` (1, T, 972), T dynamic in 1..96 (the real frames, no mask, as the TFLite graph)
  → ``logits`` (1, C).
"""

from __future__ import annotations

import copy
import warnings
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
