"""Models: EfficientNet-B0 with a hypercolumn head, BERT / DeBERTa-v2 frame transformers (docs/method.md §4)."""

from islr.models.registry import create_model, list_models, model_family, model_inputs, model_spec, register_model, \
    stored_inputs

__all__ = ["create_model", "list_models", "model_family", "model_inputs", "model_spec", "register_model",
           "stored_inputs"]
