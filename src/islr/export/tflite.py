"""TFLite models with the Kaggle signature: raw landmarks in, 250 logits out (docs/method.md §7 "tf.Module").

Signature (the competition harness): ``serving_default``, input ``inputs`` float32 [None, 543, 3] (one sequence,
NaN = missing), output ``outputs`` float32 [250]. The graph is TF preprocessing (:mod:`islr.export.tf_preprocess`,
built from each model's input settings — :func:`islr.models.model_inputs`: the CNN's ``n_frames`` and mirror, a
transformer's ``max_len`` — and computed once per distinct setting, shared by the models that have it) → Keras
models (:mod:`islr.export.keras_models`, weights from torch via :mod:`islr.export.transfer`) → the weighted sum of
their raw logits (the reference's ensemble is ``0.58·CNN + 0.42·(0.85·BERT + 0.15·DeBERTa)``: weights {cnn: 0.58,
bert: 0.357, deberta: 0.063}).

**Conversion.** A ``tf.Module`` that merely holds a Keras 3 model can convert with variable ops left in and then
return garbage without an error on this stack. We therefore trace the serving function to a concrete function,
freeze every variable into a constant (``convert_variables_to_constants_v2``) and convert that frozen function;
:func:`islr.export.checks.parity` then compares every converted model with its torch source on real inputs.
fp16 weights (``optimizations`` + ``supported_types=[tf.float16]``) are an option, off by default as in the
reference.

Run it as the harness does: ``Interpreter(path).get_signature_runner("serving_default")(inputs=x)["outputs"]``
(:func:`islr.export.runtime.run_tflite`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from torch import nn

from islr.export import tf_preprocess
from islr.export._tf import convert_variables_to_constants_v2, keras, tf
# The runtime side (no TensorFlow) lives in islr.export.runtime; re-exported here for the build-and-check code.
from islr.export.runtime import (INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY, TFLiteSignModel, interpreter,  # noqa: F401
                                 run_tflite, signature_runner)
from islr.export.transfer import to_keras
from islr.models import model_inputs
from islr.preprocess.settings import ModelInput

# The SavedModel round trip of :func:`convert` logs "Assets written" and a custom-gradient warning per call; both
# are expected (inference needs no gradients) and only bury the notebook's output.
tf.get_logger().setLevel("ERROR")

N_LANDMARKS = 543

#: Input kind → TF preprocessing of one raw (T, 543, 3) sequence for a model with these input settings.
PREPROCESSORS: dict[str, Callable[[tf.Tensor, ModelInput], tf.Tensor]] = {
    "cnn": tf_preprocess.model_input, "transformer": tf_preprocess.model_input}

#: The reference's submitted ensemble (docs/method.md §0, §7) as weights on raw logits.
REFERENCE_WEIGHTS = {"cnn": 0.58, "bert": 0.42 * 0.85, "deberta": 0.42 * 0.15}


class ServingModule(tf.Module):
    """Preprocessing once per distinct input setting + weighted sum of Keras models' logits, with the Kaggle
    signature.

    Args:
        keras_models: name → Keras model ((1, n_frames, 80, 3) image or (1, T, 972) features → (1, C) logits).
        inputs: name → the torch model's input settings (:func:`islr.models.model_inputs`; :func:`keras_ensemble`
            returns them): which input the model reads and with which sizes. Members with equal settings share one
            preprocessing; members of one kind with different settings (e.g. two CNNs of different ``n_frames``)
            each get their own.
        weights: name → weight on that model's raw logits.
        preprocessors: kind → ((T, 543, 3) tensor, settings) → model input; None = :data:`PREPROCESSORS`. (Only the
            benchmark swaps in a reference-style preprocessing as its timing baseline.)
    """

    def __init__(self, keras_models: Mapping[str, keras.Model], inputs: Mapping[str, ModelInput],
                 weights: Mapping[str, float], preprocessors: Mapping[str, Callable] | None = None) -> None:
        super().__init__()
        if set(keras_models) != set(weights) or set(keras_models) != set(inputs):
            raise ValueError(f"models {sorted(keras_models)}, inputs {sorted(inputs)} and weights {sorted(weights)} "
                             "must name the same models")
        for name, settings in inputs.items():
            if not isinstance(settings, ModelInput):
                raise TypeError(f"inputs[{name!r}] must be the model's input settings (islr.models.model_inputs), "
                                f"got {settings!r}")
        self.keras_models = dict(keras_models)
        self.inputs = dict(inputs)
        self.weights = {k: float(v) for k, v in weights.items()}
        self.preprocessors = dict(preprocessors if preprocessors is not None else PREPROCESSORS)

    @tf.function(input_signature=[tf.TensorSpec([None, N_LANDMARKS, 3], tf.float32, name=INPUT_NAME)])
    def serve(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """(T, 543, 3) raw landmarks → {"outputs": (C,) weighted logits}."""
        # Once per distinct input setting, shared by the models that have it: (1, n_frames, 80, 3) image,
        # (1, n ≤ max_len, 972) features. Sorted by repr: the same graph whatever the members' order.
        distinct = sorted(set(self.inputs.values()), key=repr)
        model_inputs_ = {settings: self.preprocessors[settings.kind](inputs, settings) for settings in distinct}
        total = None
        for name, model in self.keras_models.items():
            logits = model(model_inputs_[self.inputs[name]], training=False)[0] * self.weights[name]  # (C,)
            total = logits if total is None else total + logits
        return {OUTPUT_NAME: total}


#: Weight/compute formats :func:`convert` can write (measured in ``benchmarks/bench_export_latency.py``):
#: "fp32"; "fp16" (float16 weights, float32 compute on CPU); "dynamic_int8" (int8 weights of the dense and conv
#: layers, activations quantised per call by the kernels; everything else, including the preprocessing, float32).
PRECISIONS = ("fp32", "fp16", "dynamic_int8")
#: The precision of the submitted ``model.tflite`` (notebook 06). On the default profile's trained models
#: (``benchmarks/bench_quantisation.py``, README) fp16 and dynamic int8 kept every held-out real top-1 but were not
#: faster (1.09× and 1.05× the fp32 time; only the full-size graph of ``bench_export_latency.py`` gained, 0.85×), so
#: fp32 stays the default; notebook 06 shows all three side by side.
SUBMISSION_PRECISION = "fp32"
#: int8 weights and activations (:func:`convert_concrete` with calibration inputs); measured on the CNN branch alone
#: in ``benchmarks/bench_cnn_quantisation.py``, not a submission variant.
FULL_INT8 = "full_int8"


def convert(module: ServingModule, fp16: bool = False, precision: str | None = None) -> bytes:
    """Freeze the module's serving function and convert it to a TFLite flatbuffer.

    Args:
        module: The serving module.
        fp16: Shortcut for ``precision="fp16"``.
        precision: One of :data:`PRECISIONS` (None = "fp16" if ``fp16`` else "fp32").

    Returns:
        The .tflite bytes with the ``serving_default`` signature.
    """
    precision = precision or ("fp16" if fp16 else "fp32")
    return convert_variants(module, (precision,))[precision]


def convert_variants(module: ServingModule, precisions=PRECISIONS) -> dict[str, bytes]:
    """:func:`convert` to several precisions from one frozen graph (traced and saved once)."""
    spec = tf.TensorSpec([None, N_LANDMARKS, 3], tf.float32, name=INPUT_NAME)
    return convert_concrete(module.serve.get_concrete_function(), spec, precisions=precisions)


def convert_concrete(concrete, input_spec: tf.TensorSpec, fp16: bool = False, precisions=None,
                     representative=None):
    """TFLite bytes of a one-input concrete function returning ``{"outputs": tensor}``.

    Args:
        concrete: ``tf.function(...).get_concrete_function()``; may read Keras 3 variables.
        input_spec: Its input spec; its name becomes the signature's input name.
        fp16: float16 weights (when ``precisions`` is None).
        precisions: Several of :data:`PRECISIONS` (or :data:`FULL_INT8` with ``representative``): then a dict
            precision → bytes is returned.
        representative: for :data:`FULL_INT8`, the calibration inputs (arrays of ``input_spec``'s shape).
    """
    allowed = PRECISIONS + ((FULL_INT8,) if representative is not None else ())
    for p in precisions or ():
        if p not in allowed:
            raise ValueError(f"precision must be one of {allowed}, got {p!r}")
    # Freeze: every variable read becomes a constant. A tf.Module does not track Keras 3 variables (its
    # `variables` is empty), so converting the live function (by concrete function or SavedModel) dropped the
    # weights here and returned NaN with no error.
    frozen = convert_variables_to_constants_v2(concrete)
    # The frozen function has lost the structured signature: re-wrap it and go through a SavedModel so that the
    # flatbuffer carries the `serving_default` signature with the Kaggle names.
    wrapper = _FrozenServing(frozen, input_spec)
    with tempfile.TemporaryDirectory() as tmp:
        # Keras' SiLU carries a custom gradient whose captures cannot be saved; inference needs no gradients.
        tf.saved_model.save(wrapper, tmp, signatures={SIGNATURE_KEY: wrapper.serve.get_concrete_function()},
                            options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
        if precisions is None:
            return _convert_saved(tmp, "fp16" if fp16 else "fp32")
        return {p: _convert_saved(tmp, p, representative) for p in precisions}


def _convert_saved(saved_dir: str, precision: str, representative=None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_dir, signature_keys=[SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # fail loudly on a non-builtin op
    if precision in ("fp16", "dynamic_int8", FULL_INT8):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if precision == FULL_INT8:
        # int8 activations too, calibrated on these inputs; float input/output, float fallback where an op has no
        # int8 kernel. Only for static-shape graphs without NaN inputs (the calibration would see NaN ranges).
        converter.representative_dataset = lambda: ([x] for x in representative)
    return converter.convert()


def keras_to_tflite(keras_model: keras.Model, fp16: bool = False) -> bytes:
    """TFLite bytes of a fixed-shape Keras model alone (signature input ``inputs``, output ``outputs``)."""
    spec = tf.TensorSpec(keras_model.inputs[0].shape, tf.float32, name=INPUT_NAME)
    fn = tf.function(lambda x: {OUTPUT_NAME: keras_model(x, training=False)}, input_signature=[spec])
    return convert_concrete(fn.get_concrete_function(), spec, fp16)

class _FrozenServing(tf.Module):
    """A signature around a frozen (variable-free) graph, imported as a GraphDef so that it can be saved."""

    def __init__(self, frozen, input_spec: tf.TensorSpec) -> None:
        super().__init__()
        self._graph_def = frozen.graph.as_graph_def()
        self._input_name = frozen.inputs[0].name
        self._output_name = frozen.outputs[0].name
        self.serve = tf.function(self._serve, input_signature=[input_spec])

    def _serve(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        (out,) = tf.graph_util.import_graph_def(self._graph_def, input_map={self._input_name: inputs},
                                                return_elements=[self._output_name], name="frozen")
        return {OUTPUT_NAME: out}

def keras_ensemble(models: Mapping[str, nn.Module], depthwise: str | None = None
                   ) -> tuple[dict[str, keras.Model], dict[str, ModelInput]]:
    """Keras ports (weights transferred) and input settings of torch models.

    Args:
        models: name → torch model (its train/eval mode does not matter: only structure, weights and spec are read).
        depthwise: CNN depthwise implementation (None = default).

    Returns:
        ``(keras_models, inputs)``: inputs = name → the model's input settings (:func:`islr.models.model_inputs`),
        which :class:`ServingModule` builds each model's preprocessing from.
    """
    inputs = {name: model_inputs(model) for name, model in models.items()}
    keras_models = {name: to_keras(model, depthwise, inputs[name]) for name, model in models.items()}
    return keras_models, inputs


def build_ensemble_tflite(models: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None,
                          fp16: bool = False, depthwise: str | None = None, precision: str | None = None) -> bytes:
    """One TFLite model computing each preprocessing once and the weighted sum of the models' raw logits.

    Args:
        models: name → torch model (HypercolumnEfficientNet and/or FrameTransformer); each is fed as its input
            settings say (:func:`islr.models.model_inputs`).
        weights: name → weight (None = 1 for a single model; required for several).
        fp16: float16 weights (shortcut for ``precision="fp16"``).
        depthwise: CNN depthwise implementation ("shift_add" / "keras"; None = default).
        precision: One of :data:`PRECISIONS` (None = fp32, or fp16 if ``fp16``).

    Returns:
        The .tflite bytes (signature ``serving_default``: ``inputs`` [None, 543, 3] → ``outputs`` [C]).
    """
    if weights is None:
        if len(models) != 1:
            raise ValueError("weights are required for an ensemble of several models")
        weights = {name: 1.0 for name in models}
    keras_models, inputs = keras_ensemble(models, depthwise)
    return convert(ServingModule(keras_models, inputs, weights), fp16=fp16, precision=precision)


def build_tflite(model: nn.Module, fp16: bool = False, depthwise: str | None = None) -> bytes:
    """TFLite bytes of one torch model with its own preprocessing (see :func:`build_ensemble_tflite`)."""
    return build_ensemble_tflite({"model": model}, None, fp16=fp16, depthwise=depthwise)


def save_tflite(data: bytes, path: str | Path) -> Path:
    """Write TFLite bytes to ``path`` (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
