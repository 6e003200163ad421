"""Export of the trained torch models to Keras 3 / TFLite (the Kaggle submission format) and ONNX (METHOD_FACTS §7).

Modules (imported on demand: each pulls in TensorFlow or onnxruntime):

* :mod:`islr.export.keras_models`: Keras inference graphs built from the torch module trees.
* :mod:`islr.export.transfer`: explicit torch → Keras weight transfer (every key by name, every shape asserted).
* :mod:`islr.export.tf_preprocess`: the torch preprocessing rules written in TF for one raw sequence.
* :mod:`islr.export.tflite`: the ``serving_default`` TFLite model of one model or a weighted ensemble.
* :mod:`islr.export.onnx`: torch.onnx export and onnxruntime inference.
* :mod:`islr.export.checks`: parity / fuzz / size / latency checks shared by the notebook and the tests.
"""

import os as _os

# TensorFlow's C++ INFO/WARNING lines (CPU features, SavedModel loading, MLIR passes) bury notebook output; errors
# still show. Set before any submodule imports tensorflow; a user's own setting wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
