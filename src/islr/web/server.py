"""``islr live --web``: the recognition server behind the browser page (standard library ``http.server`` only).

Routes (all paths relative, so the page also works behind a notebook's port proxy):

* ``GET /`` the page; ``GET /static/NAME`` its script and style (package data, ``islr/web/static``);
  ``GET /mediapipe/NAME`` the MediaPipe Holistic files from the cache (:mod:`islr.web.assets`);
* ``GET /config``: Holistic's options (:class:`islr.extract.HolisticSettings`, the ones the Python extraction uses,
  plus ``refineFaceLandmarks: false`` for asl-signs' 468 face points, unmirrored input, CPU inference), the model's
  name and what it has real training data for, the window;
* ``POST /frames`` ``{"frames": [payload, ...]}`` (a batch, in order): pushed into the session
  (:class:`islr.web.session.LiveSession`); the reply is the counters and the latest live answer;
* ``GET /answer``: the same without sending frames;
* ``POST /take/start``, ``POST /take/stop`` (the whole take's answer and its parquet's ``path``), ``GET /take``.

A bad request gets status 400 and ``{"error": "..."}`` naming what was wrong. The server binds 127.0.0.1 unless told
otherwise: it accepts frames from anyone who can reach it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from islr.web.assets import AssetsError, assets_dir, ensure_assets
from islr.web.session import LiveSession

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Largest request body accepted (a batch of a few hundred frames).
MAX_BODY = 32 << 20
DEFAULT_PORT = 8765
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
          ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png"}


def holistic_options(model_complexity: int | None = None) -> dict:
    """The page's Holistic options: the extraction's settings (:class:`islr.extract.HolisticSettings`) in MediaPipe
    JS names, 468 face points (no iris refinement, as asl-signs), no selfie mirroring (asl-signs was made on
    unmirrored images) and CPU inference (WebGL inference is far slower where the GPU is emulated)."""
    from islr.extract import HolisticSettings

    settings = HolisticSettings() if model_complexity is None else HolisticSettings(model_complexity=model_complexity)
    camel = {f.name: "".join(w.title() if i else w for i, w in enumerate(f.name.split("_")))
             for f in dataclasses.fields(settings)}
    return {**{camel[k]: v for k, v in dataclasses.asdict(settings).items()},
            "refineFaceLandmarks": False, "selfieMode": False, "useCpuInference": True}


class _Handler(BaseHTTPRequestHandler):
    """One request; the server object carries ``session``, ``assets`` (folder) and ``config`` (dict)."""

    server: _Server

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=86400" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def _file(self, folder: Path, name: str, cache: bool) -> None:
        path = folder / name
        if "/" in name or name.startswith(".") or not path.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no file {name!r}")
            return
        self._send(HTTPStatus.OK, path.read_bytes(), _TYPES.get(path.suffix, "application/octet-stream"), cache)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        route = self.path.split("?", 1)[0]
        if route in ("/", "/index.html"):
            self._file(STATIC_DIR, "index.html", cache=False)
        elif route.startswith("/static/"):
            self._file(STATIC_DIR, route.removeprefix("/static/"), cache=False)
        elif route.startswith("/mediapipe/"):
            self._file(self.server.assets, route.removeprefix("/mediapipe/"), cache=True)
        elif route == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
        elif route == "/config":
            self._json(self.server.config)
        elif route == "/answer":
            self._json(self.server.session.status())
        elif route == "/take":
            self._json(self.server.session.last_take or {})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no page {route!r}")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"request body of {length} bytes, more than {MAX_BODY}")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"the body is not JSON ({err})") from err

    def do_POST(self) -> None:  # noqa: N802
        route, session = self.path.split("?", 1)[0], self.server.session
        try:
            body = self._body()
            if route == "/frames":
                frames = body.get("frames") if isinstance(body, dict) else None
                if not isinstance(frames, list):
                    raise ValueError('expected {"frames": [frame, ...]}')
                self._json(session.push(frames))
            elif route == "/take/start":
                self._json(session.start_take())
            elif route == "/take/stop":
                self._json(session.stop_take())
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no endpoint {route!r}")
        except ValueError as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, session: LiveSession, assets: Path, config: dict, verbose: bool):
        self.session, self.assets, self.config, self.verbose = session, Path(assets), config, verbose
        super().__init__(address, _Handler)


class WebServer:
    """The page's server for one :class:`LiveSession`; ``start()`` runs it in a background thread, ``stop()`` ends it.

    Args:
        session: the recogniser state the page feeds.
        assets: the MediaPipe Holistic folder (:func:`islr.web.assets.ensure_assets`).
        config: what ``GET /config`` returns (:func:`page_config`).
        host, port: where to listen (port 0: any free port; :attr:`url` says which).
        verbose: log every request on stderr.
    """

    def __init__(self, session: LiveSession, assets: Path, config: dict, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, verbose: bool = False):
        self.session = session
        self.httpd = _Server((host, port), session, assets, config, verbose)
        self.host, self.port = host, self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"islr-web:{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def page_config(model_path: str | Path, knows: str, window: int, model_complexity: int | None = None) -> dict:
    """``GET /config``: Holistic's options (:func:`holistic_options`), the model's name and what it has real training
    data for (``knows``, :func:`islr.live.model_knowledge`), the window, and what each answer state says
    (:data:`islr.answer.STATE_TEXT`, so the page shows the words of every other command)."""
    from islr.answer import STATE_TEXT

    return {"holistic": holistic_options(model_complexity), "model": Path(model_path).name, "knows": knows,
            "window": window, "state_text": STATE_TEXT}


def build_server(model_path: str | Path | None, backend: str | None, recognizer_for: Callable, knowledge: Callable,
                 window: int, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 model_complexity: int | None = None, takes_dir: str | Path | None = None, verbose: bool = False,
                 fetch: bool = True) -> WebServer:
    """A ready (not yet started) server for the model at ``model_path`` (default: notebook 06's submission).

    The recogniser and the line on what the model knows come from the caller (``recognizer_for(model)``,
    ``knowledge(model_path)``: :mod:`islr.live`'s, through :func:`islr.web.app.create_server` or ``islr live``), so
    this module never imports :mod:`islr.live`, which imports it. Fetches the MediaPipe files on first use
    (``fetch=False``: serve whatever the cache holds; without the files the page says so). Takes are written to
    ``takes_dir`` (default ``outputs/live_web/takes``).

    Raises:
        islr.web.assets.AssetsError: ``fetch`` and the MediaPipe files are not in the cache and cannot be
            downloaded.
        FileNotFoundError, ValueError: no usable model at ``model_path``.
        OSError: the port is taken.
    """
    from islr import paths
    from islr.io import sign_names
    from islr.predict import default_model, load_sign_model

    model_path = Path(model_path or default_model(backend))
    model = load_sign_model(model_path, backend)
    assets = ensure_assets() if fetch else assets_dir()
    takes = Path(takes_dir) if takes_dir else paths.outputs_dir() / "live_web" / "takes"
    session = LiveSession(recognizer_for(model), model, sign_names(), takes)
    config = page_config(model_path, knowledge(model_path), window, model_complexity)
    return WebServer(session, assets, config, host, port, verbose)


def add_arguments(parser) -> None:
    """``islr live``'s options of the browser page (used with ``--web``)."""
    web = parser.add_argument_group("browser page (--web)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    web.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    web.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    web.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=None,
                     help="Holistic's pose model in the page: 0 lite, 1 full (default, as `islr extract`), 2 heavy")
    web.add_argument("--takes", default=None, help="folder for the takes' parquet files "
                                                   "(default: outputs/live_web/takes)")
    web.add_argument("--setup", action="store_true", help="only fetch the MediaPipe files into the cache")


def main(args, recognizer_for: Callable, knowledge: Callable) -> int:
    """``islr live --web``: ``args`` as ``islr live`` parsed them (:func:`add_arguments` and its own: model, backend,
    window), the recogniser factory and the model-knowledge line from :mod:`islr.live` (:func:`build_server`)."""
    if args.setup:
        try:
            print(ensure_assets())
        except AssetsError as err:
            print(f"islr live: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        server = build_server(args.model or None, args.backend, recognizer_for, knowledge, args.window,
                              host=args.host, port=args.port, model_complexity=args.model_complexity,
                              takes_dir=args.takes)
    except (AssetsError, FileNotFoundError, ValueError, OSError) as err:
        print(f"islr live: {err}", file=sys.stderr)
        return 2
    print(f"[live] {server.httpd.config['knows']}", file=sys.stderr)
    print(f"[live] the browser page: {server.url}  (Ctrl-C ends it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
