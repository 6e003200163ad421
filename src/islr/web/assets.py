"""The MediaPipe Holistic files the browser page runs (npm package ``@mediapipe/holistic``), fetched once.

The page never loads anything from a CDN: :func:`ensure_assets` downloads the pinned tarball from the npm registry
(:data:`TARBALL_URL`), checks it against the sha512 the registry published for that version (:data:`INTEGRITY`, the
package's ``dist.integrity``), and unpacks its files (``holistic.js``, the wasm binaries, the packed models) into
``<cache>/mediapipe-holistic-<version>/`` (:func:`islr.extract.cache_dir`: ``$ISLR_CACHE`` or ``~/.cache/islr``), from
where :mod:`islr.web.server` serves them. One download per machine (about 53 MB); ``islr live --web --setup`` only
fetches.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

#: The pinned release of ``@mediapipe/holistic`` (the newest on npm; the package is no longer updated).
VERSION = "0.5.1675471629"
TARBALL_URL = f"https://registry.npmjs.org/@mediapipe/holistic/-/holistic-{VERSION}.tgz"
#: ``dist.integrity`` of that version in the npm registry (Subresource Integrity format: sha512, base64).
INTEGRITY = "sha512-qY+cxtDeSOvVtevrLgnodiwXYaAtPi7dHZtNv/bUCGEjFicAOYtMmrZSqMmbPkTB2+4jLnPF1vgshkAqQRSYAw=="
#: The file the page loads first; its presence (with the marker below) means the folder is complete.
ENTRY = "holistic.js"
_COMPLETE = ".complete"


class AssetsError(RuntimeError):
    """The MediaPipe files could not be fetched or unpacked (the message names the URL or the file)."""


def assets_dir() -> Path:
    """Where the unpacked package lives: ``<cache>/mediapipe-holistic-<VERSION>``."""
    from islr.extract import cache_dir

    return cache_dir() / f"mediapipe-holistic-{VERSION}"


def _download(url: str, progress: bool) -> bytes:
    """The bytes at ``url``, with a progress line on stderr."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            chunks, done = [], 0
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                done += len(chunk)
                if progress:
                    of = f" of {total / 1e6:.1f}" if total else ""
                    print(f"\r[web] MediaPipe Holistic {VERSION}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr,
                          flush=True)
            if progress:
                print(file=sys.stderr)
            return b"".join(chunks)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AssetsError(f"cannot download the MediaPipe Holistic files from {url} ({reason}); the browser page "
                          "needs them once per machine: connect to the internet and run `islr live --web --setup`, "
                          f"or unpack that tarball's package/ folder into {assets_dir()}") from err


def _check_integrity(data: bytes, url: str) -> None:
    algorithm, _, expected = INTEGRITY.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise AssetsError(f"{url}: the download's {algorithm} is {actual}, not the pinned {expected} "
                          "(a corrupt or altered download): not using it")


def _unpack(data: bytes, into: Path) -> None:
    """The regular files under ``package/`` of the tarball, flat into ``into`` (the package has no sub-folders)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if not member.isfile() or "/" in name or name.startswith("."):
                continue
            source = tar.extractfile(member)
            (into / name).write_bytes(source.read())


def ensure_assets(progress: bool = True) -> Path:
    """The folder of the unpacked ``@mediapipe/holistic`` files, downloading and checking them the first time.

    Raises:
        AssetsError: no network (names the URL and what to do), a download that fails its sha512 check, or a cache
            folder that cannot be written.
    """
    target = assets_dir()
    if (target / _COMPLETE).is_file() and (target / ENTRY).is_file():
        return target
    data = _download(TARBALL_URL, progress)
    _check_integrity(data, TARBALL_URL)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            _unpack(data, staging)
            if not (staging / ENTRY).is_file():
                raise AssetsError(f"{TARBALL_URL}: no package/{ENTRY} in the tarball")
            (staging / _COMPLETE).write_text(f"{TARBALL_URL}\n{INTEGRITY}\n")
            if target.exists() and not (target / _COMPLETE).is_file():  # an incomplete earlier attempt
                shutil.rmtree(target)
            try:
                staging.rename(target)
            except OSError:
                if not (target / _COMPLETE).is_file():  # not another process that finished first
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    except OSError as err:
        raise AssetsError(f"cannot write the MediaPipe Holistic files into {target}: {err}") from err
    return target
