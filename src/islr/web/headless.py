"""The browser page in headless Chromium with a video file as its camera: how the tests and ``benchmarks/bench_web.py``
run the page without a person or a camera.

Chromium's fake capture device plays a raw ``.y4m`` file in a loop (:func:`write_y4m` converts any video OpenCV
decodes), the permission prompt is answered yes, and WebGL runs on SwiftShader (a CPU renderer; MediaPipe's
image stages need WebGL even with CPU inference). Needs Chromium, its chromedriver (Debian: ``chromium``,
``chromium-driver``; ``scripts/browser.sh`` installs them) and the ``selenium`` package (a test dependency).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

#: Where Debian puts them; ``$PATH`` is searched first.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_NAMES = ("chromedriver",)


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = next((p for p in map(shutil.which, CHROMEDRIVER_NAMES) if p), None)
    return (browser, driver) if browser and driver else None


def write_y4m(video: str | Path, out: str | Path, max_frames: int | None = None) -> Path:
    """Decode ``video`` with OpenCV and write it as an uncompressed YUV4MPEG2 file (4:2:0, ``C420``), the format of
    Chromium's ``--use-file-for-fake-video-capture``; odd widths/heights are cropped by one pixel (4:2:0 needs even).

    Raises:
        ValueError: ``video`` cannot be opened or has no frame (names it).
    """
    import cv2

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: cannot be opened as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    out = Path(out)
    frames = 0
    try:
        with out.open("wb") as f:
            while max_frames is None or frames < max_frames:
                ok, bgr = capture.read()
                if not ok:
                    break
                h, w = bgr.shape[0] & ~1, bgr.shape[1] & ~1
                if frames == 0:
                    f.write(f"YUV4MPEG2 W{w} H{h} F{round(fps * 1000)}:1000 Ip A1:1 C420\n".encode())
                f.write(b"FRAME\n")
                f.write(np.ascontiguousarray(cv2.cvtColor(bgr[:h, :w], cv2.COLOR_BGR2YUV_I420)).tobytes())
                frames += 1
    finally:
        capture.release()
    if frames == 0:
        out.unlink(missing_ok=True)
        raise ValueError(f"{video}: no frame could be decoded")
    return out


def chromium_options(fake_video: str | Path, user_data_dir: str | Path) -> list[str]:
    """Command-line switches: headless, camera = ``fake_video`` (a .y4m) with permission granted, WebGL on
    SwiftShader, no background traffic or throttling, a throw-away profile."""
    return ["--headless=new", "--no-sandbox", "--window-size=1280,900",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_video}",
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--autoplay-policy=no-user-gesture-required",
            f"--user-data-dir={user_data_dir}"]


def start_chromium(fake_video: str | Path, user_data_dir: str | Path):
    """A Selenium driver of headless Chromium whose camera plays ``fake_video`` (:func:`chromium_options`).

    Raises:
        RuntimeError: Chromium or chromedriver is not installed (says how to install them).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise RuntimeError("Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; "
                           "or scripts/browser.sh)")
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for switch in chromium_options(fake_video, user_data_dir):
        options.add_argument(switch)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
