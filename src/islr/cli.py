"""Command line: ``python -m islr COMMAND [ARGS]`` (or the ``islr`` script).

Each command lives in its own module, which exposes ``main(argv) -> int``; modules are imported only when their
command runs, so ``islr synth`` does not pay for importing torch.

A command that needs a package of an extra the environment lacks ends with one line naming the extra and the pip
command (:func:`islr.extras.explain`) and exit status 2, not with a traceback; any other import error propagates.
"""

from __future__ import annotations

import importlib
import sys

from islr import extras

COMMANDS = {
    "prepare": ("islr.prepare", "pack an asl-signs folder into one contiguous array (+ offsets, labels, ids)"),
    "tune": ("islr.tune", "join (or create) a shared Optuna study and run trials (docs/method.md §6)"),
    "extract": ("islr.extract", "videos -> asl-signs landmark files with MediaPipe Holistic (own environment)"),
    "synth": ("islr.synth", "write a synthetic dataset in the exact asl-signs layout"),
    "predict": ("islr.predict", "top-5 signs of parquet, .pose or video files with the TFLite model"),
    "evaluate": ("islr.evaluate", "score a TFLite model or checkpoint on an asl-signs folder (table + plot)"),
    "live": ("islr.live", "sliding-window recognition from a camera (or a video replayed as one)"),
    "report": ("islr.report", "markdown tables of training runs and benchmarks from an outputs folder"),
    "doctor": ("islr.doctor", "what islr needs here: versions found, supported ranges, what an install would change"),
}


def _usage() -> str:
    lines = ["usage: python -m islr COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`python -m islr COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"islr: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest) or 0)
    except ImportError as exc:  # ModuleNotFoundError, and libraries' import errors raised from one
        text = extras.explain(exc)
        if text is None:  # not a missing extra: a bug, with its traceback
            raise
        print(f"islr {name}: {text}", file=sys.stderr)
        return 2
