"""ONNX export of the torch inference heads and ONNX Runtime inference (docs/method.md §7: "ONNX was about 5×
faster than TFLite for EfficientNet" in the reference's README; ``benchmarks/bench_export_latency.py`` measures it).

ONNX holds the networks only; preprocessing stays the torch code (:mod:`islr.preprocess`), so an ONNX pipeline is
``torch preprocessing → onnxruntime``, and the preprocessing needs the model's input settings
(:mod:`islr.preprocess.settings`), which travel with the files:

* CNN: input ``image`` (1, 3, n_frames, 80) float32 → ``logits`` (1, C), n_frames of the model's settings (160 by
  default). The training-only hypercolumn head is not exported (eval mode runs the main head only).
* Transformers: input ``features`` (1, T, 972), T dynamic in 1..max_len (the real frames, no mask, as the TFLite
  graph) → ``logits`` (1, C).
* Every ``.onnx`` file :func:`export_onnx` writes holds the model's spec with its input settings as metadata
  (``metadata_props`` :data:`SPEC_METADATA`, JSON; :func:`onnx_model_spec` reads it back).

:func:`save_onnx_ensemble` writes the members, their logit weights and their input settings (``ensemble.json``) to
one folder; :class:`OnnxEnsembleModel` runs it on raw (T, 543, 3) landmarks (torch preprocessing once per distinct
input setting, with the settings stored there — a folder written before islr stored them gets the defaults, 160
frames / 96 frames / mirror on, which is what such an export was fed —, then the sessions, then the weighted sum):
the same call as :class:`islr.export.runtime.TFLiteSignModel`, held equal to it by ``tests/test_export.py``.
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
from islr.models import model_inputs, model_spec
from islr.preprocess.settings import INPUT_TYPES, ModelInput

OPSET = 18
#: ``metadata_props`` key of an exported ``.onnx`` file: the model spec (with its input settings) as JSON.
SPEC_METADATA = "islr_model_spec"


def export_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Export a torch model's inference path to ONNX, its spec and input settings in the file's metadata.

    Args:
        model: HypercolumnEfficientNet or FrameTransformer (not modified; an eval-mode copy is exported).
        path: Output .onnx file.

    Returns:
        ``path``.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = model_inputs(model)
    spec = model_spec(model) or {}
    spec = {**spec, "input": inputs.to_dict(), "kind": inputs.kind}
    model = copy.deepcopy(model).eval()
    kind = model_kind(model)
    if kind == "cnn":
        example = torch.zeros(1, 3, inputs.n_frames, inputs.points)
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
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {SPEC_METADATA: json.dumps(spec)})
    onnx.save(proto, str(path))
    return path


def onnx_model_spec(path: str | Path) -> dict | None:
    """The spec :func:`export_onnx` stored in an ``.onnx`` file (``{"model", "kwargs", "input", "kind"}``), or None
    for a file written without one."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(props[SPEC_METADATA]) if SPEC_METADATA in props else None


def session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU ``InferenceSession`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(sess, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Logits (1, C) of one model input (image (1, 3, n_frames, 80) or features (1, T, 972)) through a session."""
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x.astype(np.float32)})[0]


ENSEMBLE_JSON = "ensemble.json"


def model_input(inputs: ModelInput, x: np.ndarray) -> torch.Tensor:
    """The ONNX input of one raw (T, 543, 3) sequence for a model with input settings ``inputs``: the training's eval
    preprocessing (:func:`islr.pipeline.eval_input`): the image (1, 3, n_frames, 80) for a CNN, or the features of
    the real frames (1, n ≤ max_len, 972) for a transformer (n = 0 only for T = 0: one zero frame stands in, as in
    the TFLite graph)."""
    from islr.pipeline import eval_input

    out = eval_input(inputs, x)
    return out["x"] if isinstance(out, dict) else out  # batch of one: the mask is all ones, the graph has none


def save_onnx_ensemble(models: Mapping[str, torch.nn.Module], weights: Mapping[str, float], out_dir: str | Path
                       ) -> Path:
    """Write ``<name>.onnx`` per member and ``ensemble.json`` (name → file, kind, weight, input settings, model spec)
    to ``out_dir``.

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
        inputs = model_inputs(model)
        members[name] = {"file": f"{name}.onnx", "kind": inputs.kind, "weight": float(weights[name]),
                         "input": inputs.to_dict(), "model_spec": model_spec(model)}
    (out_dir / ENSEMBLE_JSON).write_text(json.dumps(members, indent=1) + "\n")
    return out_dir


def member_inputs(member: dict) -> ModelInput:
    """The input settings of one ``ensemble.json`` member; a member written before islr stored them gets the
    defaults of its kind (160 frames and the mirror for a CNN, 96 frames for a transformer: what it was fed)."""
    return INPUT_TYPES[member["kind"]].from_dict(member.get("input") or {})


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
        #: name → the member's input settings, as stored with it (:func:`member_inputs`).
        self.inputs = {name: member_inputs(m) for name, m in self.members.items()}
        self.sessions = {name: session(self.path / m["file"], threads) for name, m in self.members.items()}

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, 543, 3) float32 with NaNs → (C,) weighted raw logits."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # batch-1 preprocessing: a thread pool only costs time
        try:  # once per distinct input setting, shared by the members that have it
            inputs = {s: model_input(s, landmarks) for s in set(self.inputs.values())}
        finally:
            torch.set_num_threads(threads)
        total = None
        for name, m in self.members.items():
            logits = run_onnx(self.sessions[name], inputs[self.inputs[name]])[0] * m["weight"]
            total = logits if total is None else total + logits
        return total
