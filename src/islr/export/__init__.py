"""Export of the trained torch models to Keras 3 / TFLite (the Kaggle submission format) and ONNX (docs/method.md §7).

Modules (imported on demand; those that build graphs import TensorFlow once, quietly, through ``_tf``):

* :mod:`islr.export.keras_models`: Keras inference graphs built from the torch module trees.
* :mod:`islr.export.transfer`: explicit torch → Keras weight transfer (every key by name, every shape asserted).
* :mod:`islr.export.tf_preprocess`: the torch preprocessing rules written in TF for one raw sequence.
* :mod:`islr.export.tflite`: the ``serving_default`` TFLite model of one model or a weighted ensemble, in fp32, fp16
  or dynamic-range int8.
* :mod:`islr.export.runtime`: running such a model (LiteRT, no TensorFlow import) and where the default one lives.
* :mod:`islr.export.onnx`: torch.onnx export and onnxruntime inference, one member or the whole ensemble.
* :mod:`islr.export.reference_style`: the reference-style ensemble graph, the latency baseline only.
* :mod:`islr.export.checks`: parity / fuzz / size / latency checks shared by the notebook and the tests.
"""
