"""`islr live --web`: the page's landmarks → asl-signs frames, the server's endpoints with a real (tiny) TFLite model,
and the page itself in headless Chromium with the bundled real video as its camera."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from islr import landmarks as L
from islr import paths
from islr.answer import AnswerRules
from islr.io import read_landmarks, sign_names
from islr.predict import TFLiteSignModel
from islr.web.session import LiveSession, _update_json, payload_to_frame

VIDEO = "data/videos/soup.mp4"
ANSWER_KEYS = {"state", "sign", "p", "text", "top", "frames", "span", "calibrated", "reason"}


@pytest.fixture(scope="module")
def tflite_model(tmp_path_factory):
    """A real one-member (tiny CNN, random weights) Kaggle-contract TFLite model."""
    import torch

    from islr.export.checks import randomize_for_parity
    from islr.export.tflite import build_ensemble_tflite, save_tflite
    from islr.models import create_model

    from islr.answer import AnswerRules
    from islr.io import read_train_index
    from islr.paths import SAMPLE_DIR

    torch.manual_seed(0)
    members = {"cnn": randomize_for_parity(create_model("effnet_test"), seed=0)}
    path = save_tflite(build_ensemble_tflite(members, {"cnn": 1.0}), tmp_path_factory.mktemp("model") / "model.tflite")
    # The default model's knowledge: real recordings of the bundled sample's signs only (the open-set rule's first
    # part; no temperature or distance rule without held-out signers).
    real = read_train_index(SAMPLE_DIR)["sign"].value_counts()
    AnswerRules(real_signs={s: int(n) for s, n in real.items()}, data="the bundled sample's real signs").save(path)
    return path


def to_payload(frame: np.ndarray) -> dict:
    """A (543, 3) frame as the page sends it: each part a list of [x, y, z], or None when it is all NaN."""
    out = {}
    for name, start, size in L.PARTS:
        part = frame[start:start + size]
        out[name] = None if np.isnan(part).all() else part.tolist()
    return out


# --- the page's landmarks → one asl-signs frame --------------------------------------------------------------------

def test_payload_parts_land_in_the_asl_signs_rows_and_missing_parts_are_nan():
    rng = np.random.default_rng(0)
    parts = {name: rng.random((size, 3)).astype(np.float32) for name, _, size in L.PARTS}
    frame = payload_to_frame({name: p.tolist() for name, p in parts.items()})
    assert frame.shape == (543, 3) and frame.dtype == np.float32
    np.testing.assert_array_equal(frame[L.FACE], parts["face"])
    np.testing.assert_array_equal(frame[L.LEFT_HAND], parts["left_hand"])  # leftHandLandmarks → rows 468-488
    np.testing.assert_array_equal(frame[L.POSE], parts["pose"])
    np.testing.assert_array_equal(frame[L.RIGHT_HAND], parts["right_hand"])

    no_hands = payload_to_frame({"face": parts["face"].tolist(), "left_hand": None, "pose": parts["pose"].tolist()})
    assert np.isnan(no_hands[L.LEFT_HAND]).all() and np.isnan(no_hands[L.RIGHT_HAND]).all()
    assert not np.isnan(no_hands[L.FACE]).any() and not np.isnan(no_hands[L.POSE]).any()
    assert np.isnan(payload_to_frame({})).all()


@pytest.mark.parametrize(("payload", "words"), [
    ({"left_hand": [[0.1, 0.2, 0.3]] * 20}, "left_hand: expected 21 points"),
    ({"face": [[0.1, 0.2]] * 468}, "face: expected 468 points"),
    ({"pose": [["a", 1, 2]] * 33}, "pose: not a list of [x, y, z] numbers"),
    ({"lefthand": None}, "unknown part(s) ['lefthand']"),
    ([1, 2], "a frame must be an object"),
])
def test_a_bad_payload_is_named(payload, words):
    with pytest.raises(ValueError) as err:
        payload_to_frame(payload)
    assert words in str(err.value)


def test_the_update_json_has_the_answer_keys_before_the_first_update():
    waiting = _update_json(None)
    assert ANSWER_KEYS <= set(waiting) and waiting["state"] == "waiting" and waiting["text"] == "waiting for frames"


# --- the server, with the real model -----------------------------------------------------------------------------

@pytest.fixture
def server(tflite_model, tmp_path):
    from islr.live import SlidingWindowRecognizer
    from islr.web.server import WebServer, page_config

    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "holistic.js").write_text("// stand-in\n")
    model = TFLiteSignModel(tflite_model)
    session = LiveSession(SlidingWindowRecognizer(model, sign_names(), window=16, every=4), model, sign_names(),
                          takes_dir=tmp_path / "takes")
    with WebServer(session, assets, page_config(tflite_model, "what it knows", 16), port=0) as web:
        yield web


def _call(server, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()


def _json(server, path, body=None):
    status, _, raw = _call(server, path, body)
    assert status == 200, raw
    return json.loads(raw)


def test_server_answers_frames_and_a_take_as_islr_predict_does(server, tflite_model, sample_files):
    x = read_landmarks(sample_files[0])
    assert _json(server, "answer")["update"]["state"] == "waiting"
    config = _json(server, "config")
    assert config["holistic"]["refineFaceLandmarks"] is False and config["holistic"]["selfieMode"] is False
    assert config["holistic"]["modelComplexity"] == 1 and config["window"] == 16

    assert _json(server, "take/start", {})["recording"] is True
    for start in range(0, len(x), 5):  # batches of 5 frames, as the page sends them
        status = _json(server, "frames", {"frames": [to_payload(f) for f in x[start:start + 5]]})
    assert status["received"] == len(x) and status["take_frames"] == len(x)
    assert status["hand_frames"] == int(L.hand_frames(x).sum())
    live = status["update"]
    assert ANSWER_KEYS <= set(live) and live["state"] in ("sign", "unknown") and len(live["top"]) == 5

    take = _json(server, "take/stop", {})
    assert ANSWER_KEYS <= set(take) and take["frames"] == len(x) and len(take["top"]) == 5
    np.testing.assert_array_equal(read_landmarks(take["path"]), x)  # the take is exactly the frames sent
    assert _json(server, "take") == take
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", take["path"], "--json", "--model",
                           str(tflite_model)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    predicted = json.loads(proc.stdout.splitlines()[0])
    assert [t["sign"] for t in take["top"]] == [t["sign"] for t in predicted["top"]]
    np.testing.assert_allclose([t["p"] for t in take["top"]], [t["p"] for t in predicted["top"]], rtol=1e-5)


def test_server_serves_the_page_and_the_mediapipe_files_and_names_bad_requests(server):
    status, kind, body = _call(server, "")
    assert status == 200 and kind.startswith("text/html") and b"mediapipe/holistic.js" in body
    status, kind, _ = _call(server, "static/app.js")
    assert status == 200 and kind.startswith("text/javascript")
    assert _call(server, "mediapipe/holistic.js")[0] == 200
    for path in ("mediapipe/../session.py", "static/..%2Fserver.py", "mediapipe/nothing.wasm", "nowhere"):
        assert _call(server, path)[0] == 404, path
    status, _, body = _call(server, "frames", {"frames": [{"left_hand": [[0, 0, 0]] * 3}]})
    assert status == 400 and "frame 0 of the batch: left_hand: expected 21 points" in json.loads(body)["error"]
    status, _, body = _call(server, "frames", {"nope": 1})
    assert status == 400 and "frames" in json.loads(body)["error"]
    empty = _json(server, "take/stop", {})  # nothing recording, no take yet
    assert empty["state"] == "waiting" and empty["frames"] == 0


# --- the page in headless Chromium, the bundled video as the camera ----------------------------------------------

def _browser_or_skip():
    """Chromium + chromedriver + selenium, or a skip (a failure when ISLR_REQUIRE_BROWSER=1)."""
    from islr.web.headless import find_browser

    missing = []
    if find_browser() is None:
        missing.append("chromium and chromedriver (scripts/browser.sh)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (requirements.txt)")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}"
        if os.environ.get("ISLR_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (ISLR_REQUIRE_BROWSER=1)")
        pytest.skip(message)


def _wait(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_the_page_in_chromium_recognises_the_bundled_video_and_its_take_matches_islr_predict(tflite_model, tmp_path):
    _browser_or_skip()
    from selenium.webdriver.common.by import By

    from islr.web.headless import start_chromium, write_y4m
    from islr.web.app import create_server

    camera = write_y4m(VIDEO, tmp_path / "camera.y4m")
    server = create_server(tflite_model, port=0, window=32, takes_dir=tmp_path / "takes").start()
    driver = start_chromium(camera, tmp_path / "profile")
    try:
        driver.get(server.url)
        stats = "return window.islrStats && {error: islrStats.error, processed: islrStats.processed}"

        def page_running():
            s = driver.execute_script(stats)
            assert not (s and s["error"]), f"the page failed: {s['error']}"
            return server.session.status()["hand_frames"] >= 8

        _wait("landmarks with hands from the page", page_running, 180)
        button = driver.find_element(By.ID, "take")
        button.click()
        _wait("the take to record", lambda: server.session.status()["take_frames"] >= 24, 120)
        button.click()
        _wait("the take's answer in the page", lambda: driver.find_element(By.ID, "take-panel").is_displayed(), 60)
        live = server.session.status()
        assert live["update"]["state"] in ("sign", "unknown") and len(live["update"]["top"]) == 5
        take = server.session.last_take
        assert take["frames"] >= 24 and take["state"] in ("sign", "unknown"), take
        shown = driver.find_element(By.ID, "take-top").text
        assert take["top"][0]["sign"] in shown

        x = read_landmarks(take["path"])
        assert L.hand_frames(x).mean() > 0.5  # soup: the hands are in view throughout
        assert not np.isnan(x[:, L.FACE]).all(axis=1).any()  # 468 face points in every frame
        # Same layout as the Python extraction of the same video: each part where MediaPipe in Python puts it (a
        # mirrored image or swapped hands would move the hands' mean x by far more than 0.03).
        from islr.extract import extract_video

        reference = extract_video(VIDEO, progress=False)
        for part in ("left_hand", "right_hand", "pose", "face"):
            rows = L.PART_SLICE[part]
            np.testing.assert_allclose(np.nanmean(x[:, rows, :2], axis=(0, 1)),
                                       np.nanmean(reference[:, rows, :2], axis=(0, 1)), atol=0.03, err_msg=part)
        proc = subprocess.run([sys.executable, "-m", "islr", "predict", take["path"], "--json", "--model",
                               str(tflite_model)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        predicted = json.loads(proc.stdout.splitlines()[0])
        assert (take["state"], take["top"]) == (predicted["state"], predicted["top"]), (take, predicted)
        # SOUP is not one of the 250 signs, let alone one the model has real recordings of: the right answer is
        # "not a sign this model knows" (unless the top sign is one with real data, which the rules then accept).
        known = AnswerRules.load(tflite_model).real_signs
        assert take["state"] == "unknown" or take["sign"] in known, take
        if take["state"] == "unknown":
            assert "not a sign this model knows" in driver.find_element(By.ID, "take-panel").text
        shot = paths.figures_dir("web") / "page_in_chromium.png"  # look at it: what a person sees
        driver.save_screenshot(str(shot))
        print(f"\n[web] screenshot: {shot}; {take['frames']} frames in the take, top sign {take['top'][0]['sign']}")
    finally:
        driver.quit()
        server.stop()


@pytest.mark.slow
def test_the_page_ships_in_the_wheel(islr_wheel):
    import zipfile

    from islr.web.server import STATIC_DIR

    names = set(zipfile.ZipFile(islr_wheel).namelist())
    page = {f"islr/web/static/{p.name}" for p in STATIC_DIR.iterdir()}
    assert {"islr/web/static/index.html", "islr/web/static/app.js", "islr/web/static/style.css"} <= page
    assert page <= names, sorted(page - names)
