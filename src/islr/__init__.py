"""islr: Isolated Sign Language Recognition on the Kaggle asl-signs data (2nd-place method, rewritten).

Stages (one notebook each): EDA → preprocessing → CNN → transformers → distillation → Keras/TFLite export →
ensemble/submission → video demo. See README.md.
"""

__version__ = "0.1.0"
