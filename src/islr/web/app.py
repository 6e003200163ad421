"""The page's server with :mod:`islr.live`'s recogniser: what notebook 07, the tests and ``benchmarks/bench_web.py``
start (``islr live --web`` builds the same in :func:`islr.live.main`). Kept apart from :mod:`islr.web.server`, which
:mod:`islr.live` imports and which therefore must not import it back."""

from __future__ import annotations

from pathlib import Path

from islr.io import sign_names
from islr.live import SlidingWindowRecognizer, model_knowledge
from islr.web.server import DEFAULT_PORT, WebServer, build_server


def create_server(model_path: str | Path | None = None, backend: str | None = None, *, host: str = "127.0.0.1",
                  port: int = DEFAULT_PORT, window: int = 48, every: int = 4, model_complexity: int | None = None,
                  takes_dir: str | Path | None = None, verbose: bool = False, fetch: bool = True) -> WebServer:
    """A ready (not yet started: ``.start()``) server answering with :class:`islr.live.SlidingWindowRecognizer`
    (``window`` frames, every ``every`` frames), as ``islr live --web``; the arguments of
    :func:`islr.web.server.build_server`."""
    return build_server(model_path, backend, lambda model: SlidingWindowRecognizer(model, sign_names(), window, every),
                        model_knowledge, window, host=host, port=port, model_complexity=model_complexity,
                        takes_dir=takes_dir, verbose=verbose, fetch=fetch)
