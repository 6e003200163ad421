"""Progress bars that read well wherever they are shown: a terminal, a notebook, or a plain log file.

Every long loop of islr makes its bar with :func:`progress_bar` (same arguments as ``tqdm``):

* in a terminal (stderr is a TTY): an ordinary tqdm bar that redraws in place;
* in a Jupyter notebook: ``tqdm.auto`` (a widget where ipywidgets is installed, else a text bar that Jupyter redraws
  on ``\\r``), redrawn at most every :data:`NOTEBOOK_INTERVAL_S` seconds, because an executed notebook stores every
  redraw as an output;
* anywhere else — output piped to a file, CI, ``run_all.sh > log 2>&1`` — a redraw is not possible: tqdm's
  ``\\r`` updates would pile up into one line of hundreds of kilobytes. There the bar prints a status line only every
  :data:`LOG_INTERVAL_S` seconds (``$TQDM_MININTERVAL`` overrides it, tqdm's own variable), each on its own line,
  plus a final line; a loop shorter than the interval prints nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from tqdm import tqdm as _std_tqdm
from tqdm.auto import tqdm as _auto_tqdm

#: Seconds between two status lines of a bar written to a log (not a terminal, not a notebook).
LOG_INTERVAL_S = 30.0
#: Least seconds between two redraws of a bar in a notebook.
NOTEBOOK_INTERVAL_S = 1.0


def progress_bar(iterable: Any = None, **kwargs: Any) -> _std_tqdm:
    """A tqdm bar, set up for where its output goes (see the module docstring).

    Args:
        iterable: what to iterate over (as for ``tqdm``); None for a manual bar (``total=``, ``update()``).
        **kwargs: any ``tqdm`` argument (``desc``, ``total``, ``unit``, ``disable``, ``leave``, ``mininterval``…).

    Returns:
        The bar (use it as ``tqdm``: iterate, ``update()``, ``close()`` or ``with``).
    """
    stream = kwargs.get("file") or sys.stderr
    if _in_notebook():
        kwargs["mininterval"] = max(NOTEBOOK_INTERVAL_S, kwargs.get("mininterval", 0.0))
        return _auto_tqdm(iterable, **kwargs)
    if _is_terminal(stream):
        return _std_tqdm(iterable, **kwargs)
    interval = float(os.environ.get("TQDM_MININTERVAL", LOG_INTERVAL_S))
    kwargs.update(file=LineStream(stream), mininterval=max(interval, kwargs.get("mininterval", 0.0)),
                  delay=interval, ascii=True, dynamic_ncols=False, leave=True)
    return _std_tqdm(iterable, **kwargs)


class LineStream:
    """A file for tqdm that turns each in-place redraw (``"\\r" + status``) into one line of its own.

    Empty redraws (a bar clearing itself) and a repeat of the previous line are dropped.

    Args:
        stream: where the lines go (a text file, e.g. ``sys.stderr``).
    """

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").replace("\x1b[A", "").strip()
        if line and line != self._last:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (the same test ``tqdm.autonotebook`` makes)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False
