"""The one import of TensorFlow and Keras inside :mod:`islr.export`, with TensorFlow's start-up noise filtered.

Importing TensorFlow 2.21 writes, from C++ and before any logging is configured, "All log messages before
absl::InitializeLog() is called are written to STDERR", the "oneDNN custom operations are on" notice and CPU-feature
lines; ``TF_CPP_MIN_LOG_LEVEL`` no longer silences them. Every export module imports ``tf``/``keras`` from here, so
the import happens once, with file descriptor 2 captured and only those known lines dropped: anything else
TensorFlow writes while importing (a real warning or error) is passed on to ``sys.stderr``.

The Python-side notice "Importing a function … with ops with unsaved custom gradients", logged by ``absl`` when
:func:`islr.export.tflite.convert` reloads its SavedModel, is dropped by a filter on the ``absl`` logger (that
SavedModel is converted, never differentiated); other ``absl`` messages pass.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

#: Lines TensorFlow writes to stderr on import that carry no information for a user.
IMPORT_NOISE = re.compile(r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
                          r"cpu_feature_guard|To enable the following instructions|"
                          r"rebuild TensorFlow with the appropriate compiler flags")
#: ``absl`` Python log messages dropped (see the module docstring).
ABSL_NOISE = re.compile(r"with ops with unsaved custom gradients")


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern = IMPORT_NOISE):
    """Capture file descriptor 2 inside the block; afterwards write every captured line not matching ``noise``
    to ``sys.stderr`` (native C++ logging bypasses Python's ``sys.stderr``, so only the descriptor sees it)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable descriptor 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode(errors="replace").splitlines(keepends=True)
                    if not noise.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _DropMessages(logging.Filter):
    def __init__(self, pattern: re.Pattern) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


# TensorFlow's own C++ INFO lines after start-up (SavedModel loading, MLIR passes): errors still show; a user's
# own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with filtered_stderr():
    import tensorflow as tf
    import keras
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

logging.getLogger("absl").addFilter(_DropMessages(ABSL_NOISE))

__all__ = ["tf", "keras", "convert_variables_to_constants_v2", "filtered_stderr"]
