#!/usr/bin/env python3
"""Install islr from this checkout into the current Python environment (a Kaggle/Colab image, a conda env, …)
without changing any installed package that already fits islr's supported ranges.

    python islr/scripts/install.py                 # the notebooks extra: everything run_all.sh needs
    python islr/scripts/install.py train export    # only these extras
    python islr/scripts/install.py --plan          # print what would be added or changed, install nothing

It runs before islr's dependencies exist, so it imports islr.doctor straight from the checkout (standard library and
``packaging`` only); the logic, and what it prints, is described there and in the README ("Kaggle and Colab").
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from islr import doctor  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--plan" not in args and "-h" not in args and "--help" not in args:
        args = ["--install", *args]
    sys.exit(doctor.main([*args, "--project", str(ROOT)]))
