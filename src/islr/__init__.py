"""islr: Isolated Sign Language Recognition on the Kaggle asl-signs data (2nd-place method, rewritten).

Stages (one notebook each): EDA → preprocessing → CNN → transformers → distillation → Keras/TFLite export →
ensemble/submission → video demo. See README.md.
"""

__version__ = "0.1.0"

import warnings as _warnings

# In a Jupyter kernel without ipywidgets (papermill runs, the tested environment), tqdm.auto falls back to text
# bars — which is what an executed notebook should store — but first warns "IProgress not found" at the top of the
# notebook. Where ipywidgets is installed (Colab, Kaggle) tqdm.auto draws widgets and never warns.
_warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
