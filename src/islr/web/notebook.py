"""The browser page inside a notebook's output (notebook 07's last section): :func:`show_in_notebook`.

The server runs in a background thread of the kernel and the page is shown in an output frame that may use the
camera. Where that works, and where it cannot:

* **Jupyter / JupyterLab on your own machine**: an ``<iframe allow="camera">`` to ``http://127.0.0.1:PORT/``; the
  browser and the kernel are on the same machine, and ``127.0.0.1`` counts as a secure origin, so ``getUserMedia``
  may ask for the camera. A Jupyter server on another machine: forward the port (``ssh -L PORT:127.0.0.1:PORT``) or
  run ``islr live --web`` where the camera is.
* **Colab**: ``google.colab.output.serve_kernel_port_as_iframe`` proxies the kernel's port to an https address and
  builds the frame with ``allow="camera; microphone; ..."``, so the page gets the camera of the computer the browser
  runs on (the browser asks first).
* **Kaggle**: the notebook editor has no proxy to a kernel's port: an output frame pointing at ``127.0.0.1:PORT``
  reaches the viewer's own machine, not the kernel (web apps in Kaggle notebooks are reached only through public
  tunnels, which islr does not open). Whether Kaggle's output frame may use the camera at all is not documented.
  So on Kaggle the function says this and shows no page; use ``islr live --web`` on your own computer, or Colab.

Under papermill (no browser) the frame is just an output: nothing waits for it.
"""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path

from islr.web.assets import AssetsError, ensure_assets
from islr.web.app import create_server
from islr.web.server import WebServer

#: Height of the output frame, pixels (the video and the answer panels side by side, or stacked when narrow).
FRAME_HEIGHT = 760


def where() -> str:
    """``"colab"``, ``"kaggle"`` or ``"jupyter"``: which notebook front end the kernel serves."""
    if "google.colab" in sys.modules:
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "kaggle"
    return "jupyter"


def show_in_notebook(model_path: str | Path | None = None, *, backend: str | None = None, port: int = 0,
                     height: int = FRAME_HEIGHT, model_complexity: int | None = None) -> WebServer:
    """Start the page's server in the kernel and show the page in this cell's output.

    Args:
        model_path: the model (default: notebook 06's submission).
        backend: "tflite" or "onnx" (default: from the model path).
        port: the kernel port (0: a free one).
        height: the frame's height in pixels.
        model_complexity: Holistic's pose model in the page (default 1, as ``islr extract``).

    Returns:
        The running server (``.url``, ``.session`` with the answers, ``.stop()`` ends it).
    """
    from IPython.display import HTML, IFrame, display

    front = where()
    if front != "kaggle":  # no page is shown there: nothing to fetch
        try:
            ensure_assets(progress=False)
        except AssetsError as err:  # the page then says the files are missing; the notebook goes on
            print(f"[web] {err}", file=sys.stderr)
    server = create_server(model_path, backend, port=port, model_complexity=model_complexity, fetch=False).start()
    if front == "colab":
        from google.colab import output

        output.serve_kernel_port_as_iframe(server.port, path="/", height=str(height))
    elif front == "kaggle":
        display(HTML("<p><b>The live page cannot be shown on Kaggle</b>: its notebooks have no proxy to a kernel's "
                     "port, so a browser cannot reach the page's server. Run <code>islr live --web</code> on your "
                     "own computer (or this notebook on Colab or Jupyter) to sign in front of your camera.</p>"))
    else:
        display(IFrame(server.url, width="100%", height=height, extras=['allow="camera"', 'style="border:0"']))
        display(HTML(f'<p>The page: <a href="{html.escape(server.url)}" target="_blank">{html.escape(server.url)}'
                     "</a> (allow the camera; <code>.stop()</code> on the returned server ends it)</p>"))
    return server
