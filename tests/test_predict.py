"""`islr predict` and the live loop on real inputs, with a real (tiny, random-weight) 3-model ensemble TFLite."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from islr.io import sign_names
from islr.models import create_model
from islr.predict import TFLiteSignModel, predict_files

REPO_VIDEO = "data/videos/soup.mp4"
WEIGHTS = {"cnn": 0.5, "bert": 0.3, "deberta": 0.2}


@pytest.fixture(scope="module")
def members():
    """A tiny 3-model ensemble with large, non-trivial logits (so that its top-5 is well defined)."""
    from islr.export.checks import randomize_for_parity

    out = {}
    for seed, (name, arch) in enumerate(zip(WEIGHTS, ("effnet_test", "bert_test", "deberta_test"))):
        torch.manual_seed(seed)
        out[name] = randomize_for_parity(create_model(arch), seed=seed)
    return out


@pytest.fixture(scope="module")
def tflite_model(members, tmp_path_factory):
    from islr.export.tflite import build_ensemble_tflite, save_tflite

    return save_tflite(build_ensemble_tflite(members, WEIGHTS), tmp_path_factory.mktemp("model") / "model.tflite")


@pytest.fixture(scope="module")
def onnx_model(members, tmp_path_factory):
    from islr.export.onnx import save_onnx_ensemble

    return save_onnx_ensemble(members, WEIGHTS, tmp_path_factory.mktemp("model") / "onnx")


def test_predict_gives_the_torch_ensembles_top5_on_parquet_and_pose_files(tflite_model, members, sample_files):
    from islr.export.checks import single_torch_thread, torch_logits
    from islr.predict import read_any

    files = [*sample_files[:3], "tests/fixtures/example.pose", "tests/fixtures/hand_estimation_0ff215ef.pose"]
    preds = predict_files(files, TFLiteSignModel(tflite_model), sign_names())
    assert [p.error for p in preds] == [None] * 5
    names = sign_names()
    for f, p in zip(files, preds):
        x = read_any(f)
        start, stop = p.answer.span  # the sign's span: the frames the model was given
        with single_torch_thread():
            logits = sum(w * torch_logits(members[k], x[start:stop]) for k, w in WEIGHTS.items())
        probs = torch.softmax(torch.from_numpy(logits), 0).numpy()  # no answer rules beside this model: T = 1
        order = np.argsort(-probs)[:5]
        assert p.frames == len(x) > 0 and 0 <= start < stop <= len(x)
        assert [s for s, _ in p.top] == [names[i] for i in order], f
        assert np.allclose([v for _, v in p.top], probs[order], atol=1e-4), f


def test_onnx_backend_matches_tflite_on_real_files(tflite_model, onnx_model, sample_files):
    from islr.export.checks import PARITY_TOL
    from islr.predict import load_sign_model, read_any

    tfl, ort = load_sign_model(tflite_model), load_sign_model(onnx_model)  # backend chosen by file vs folder
    for f in [*sample_files[:4], "tests/fixtures/example.pose"]:
        x = read_any(f)
        a, b = tfl(x), ort(x)
        assert a.shape == b.shape == (250,)
        assert np.abs(a - b).max() <= PARITY_TOL * max(1.0, np.abs(a).max()), f


def test_bad_file_is_named_and_the_others_still_predicted(tflite_model, sample_files, tmp_path,
                                                          check_bad_file_report):
    bad, missing = tmp_path / "broken.parquet", tmp_path / "nowhere.parquet"
    bad.write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", str(sample_files[0]), str(bad),
                           "tests/fixtures/example.pose", str(missing), "--json", "--model", str(tflite_model)],
                          capture_output=True, text=True)
    check_bad_file_report(proc, "islr predict", {sample_files[0]: None, bad: "not a readable parquet file",
                                                 "tests/fixtures/example.pose": None, missing: "no such file"})
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["error"] is None for r in rows] == [True, False, True, False]
    assert "not a readable parquet file" in rows[1]["error"]
    assert len(rows[0]["top"]) == 5 and len(rows[2]["top"]) == 5


def test_each_kind_of_bad_file_is_named_in_the_table_mode(tflite_model, bad_input_dir, check_bad_file_report):
    folder, causes = bad_input_dir
    files = [folder / p for p, c in causes.items() if c is None or "parquet" in c or "column" in c]  # no train.csv
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", *map(str, files), "--model", str(tflite_model)],
                          capture_output=True, text=True)
    check_bad_file_report(proc, "islr predict", {f: causes[str(f.relative_to(folder))] for f in files})
    good = [f for f in files if causes[str(f.relative_to(folder))] is None]
    assert [line.split(" (")[0] for line in proc.stdout.splitlines()] == [str(f) for f in good]


def test_predict_cli_onnx_backend_gives_the_tflite_top5(tflite_model, onnx_model, sample_files):
    def top(backend_args):
        proc = subprocess.run([sys.executable, "-m", "islr", "predict", str(sample_files[1]), "--json",
                               *backend_args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return [t["sign"] for t in json.loads(proc.stdout)["top"]]

    assert top(["--backend", "onnx", "--model", str(onnx_model)]) == top(["--model", str(tflite_model)])


def test_predict_without_model_says_so(tmp_path, sample_files):
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", str(sample_files[0]), "--model",
                           str(tmp_path / "none.tflite")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no TFLite model" in proc.stderr


def test_predict_video_extracts_then_predicts(tflite_model):
    preds = predict_files([REPO_VIDEO], TFLiteSignModel(tflite_model), sign_names())
    assert preds[0].error is None and preds[0].frames == 41 and len(preds[0].top) == 5


def test_live_loop_on_a_video_gives_top5_updates(tflite_model, tmp_path):
    from islr.live import run

    out = tmp_path / "annotated.mp4"
    model = TFLiteSignModel(tflite_model)
    updates = run(REPO_VIDEO, model, sign_names(), window=16, every=4, out=str(out))
    assert len(updates) >= 5 and all(len(u.top) == 5 for u in updates)
    assert [u.frame for u in updates] == sorted(u.frame for u in updates)
    assert out.stat().st_size > 10_000
    # the last update scores exactly the last 16 frames the loop saw
    assert updates[-1].window_frames == 16


def test_sliding_window_skips_windows_without_hands():
    from islr.live import SlidingWindowRecognizer

    calls = []
    rec = SlidingWindowRecognizer(lambda x: (calls.append(x.shape), np.zeros(250))[1], sign_names(), window=8,
                                  every=2, min_hand_frames=3)
    empty = np.full((543, 3), np.nan, np.float32)
    assert all(u is None or u.no_hands for u in (rec.push(empty) for _ in range(6))) and not calls
    hand = empty.copy()
    hand[468:489] = 0.5
    updates = [rec.push(hand) for _ in range(6)]
    assert any(u is not None for u in updates) and calls[-1] == (8, 543, 3)


# --- "no hands in view" and the overlay --------------------------------------------------------------------------

def _no_model(x):
    raise AssertionError("the model must not be called without hands in view")


@pytest.mark.parametrize("frames", [1, 20])
def test_all_nan_sequence_says_no_hands_in_view(tmp_path, frames):
    from islr import landmarks as L
    from islr.live import SlidingWindowRecognizer

    x = np.full((frames, 543, 3), np.nan, np.float32)
    assert L.no_hands_in_view(x)
    rec = SlidingWindowRecognizer(_no_model, sign_names(), window=8, every=1)
    u = [rec.push(f) for f in x][-1]
    assert u.no_hands and u.top == [] and u.text() == L.NO_HANDS_TEXT
    # predict: a parquet of the same sequence, with the face present (only the hands decide)
    from islr.io import read_landmarks, write_landmarks

    x[:, L.FACE] = 0.5
    path = tmp_path / "nohands.parquet"
    write_landmarks(path, x)
    assert read_landmarks(path).shape == (frames, 543, 3)
    (p,) = predict_files([path], _no_model, sign_names())
    assert p.error is None and p.no_hands and p.top == [] and p.frames == frames
    from islr.predict import format_table

    assert format_table([p]).endswith(L.NO_HANDS_TEXT)


def test_no_hands_threshold_is_ninety_percent():
    from islr import landmarks as L

    x = np.full((20, 543, 3), np.nan, np.float32)
    x[:2, L.RIGHT_HAND] = 0.5  # hands in 10 % of the frames: 90 % without
    assert L.NO_HANDS_FRACTION == 0.9 and L.no_hands_in_view(x)
    x[:3, L.LEFT_HAND] = 0.5  # 15 % with a hand
    assert not L.no_hands_in_view(x)


def test_real_sample_still_gives_a_sign(tflite_model, sample_files):
    from islr import landmarks as L
    from islr.io import read_landmarks

    x = read_landmarks(sample_files[0])
    assert not L.no_hands_in_view(x)
    (p,) = predict_files([sample_files[0]], TFLiteSignModel(tflite_model), sign_names())
    assert not p.no_hands and len(p.top) == 5 and p.frames == len(x)
    proc = subprocess.run([sys.executable, "-m", "islr", "predict", str(sample_files[0]), "--model", str(tflite_model),
                           "--json"], capture_output=True, text=True)
    rec = json.loads(proc.stdout.splitlines()[0])
    assert proc.returncode == 0 and rec["no_hands"] is False and len(rec["top"]) == 5


def _panel(h, w, update):
    """The overlay drawn on a white frame without landmarks: (panel pixels' luminance, its bounding box)."""
    from islr.live import draw

    white = np.full((h, w, 3), 255, np.uint8)
    out = draw(white, np.full((543, 3), np.nan, np.float32), update)
    lum = out @ np.array([0.114, 0.587, 0.299])  # BGR → luminance
    ys, xs = np.nonzero((out != 255).any(2))
    return lum[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def test_overlay_is_a_dark_panel_with_bright_text_scaled_to_the_frame():
    from islr.live import LiveUpdate

    from islr.answer import SIGN, Answer

    top = [("soup", 0.81), ("sticky", 0.1), ("yummy", 0.04), ("drink", 0.02), ("hungry", 0.01)]
    update = LiveUpdate(7, 8, Answer(SIGN, top, 8, (0, 8), calibrated=True))
    heights = {}
    for h, w in ((480, 640), (1080, 1920)):
        panel = _panel(h, w, update)
        text = panel > 128
        assert 0.02 < text.mean() < 0.5
        background, letters = panel[~text].mean(), panel[panel > 180].mean()
        assert background < 80 and letters > 200, (h, background, letters)  # white wall → dark panel, bright text
        rows = np.nonzero(text.any(1))[0]
        heights[h] = (panel.shape[0], rows.max() - rows.min())
        assert panel.shape[0] > 0.2 * h  # the answer is not a corner footnote
    ratio = [heights[1080][i] / heights[480][i] for i in (0, 1)]
    assert all(1.8 < r < 2.7 for r in ratio), heights  # 1080 / 480 = 2.25


def test_overlay_states_waiting_no_hands_and_not_known():
    from islr.answer import NO_HANDS, UNKNOWN, Answer
    from islr.live import LiveUpdate, _overlay_lines

    no_hands = LiveUpdate(3, 4, Answer(NO_HANDS, [], 4, (0, 4)))
    unknown = LiveUpdate(3, 4, Answer(UNKNOWN, [("thankyou", 0.4), ("hello", 0.3)], 4, (0, 4), True, "far"))
    for update in (None, no_hands, unknown):
        panel = _panel(720, 1280, update)
        assert panel.shape[0] > 30 and (panel > 180).any() and panel[panel <= 128].mean() < 80
    assert _overlay_lines(unknown)[0][0] == "not a sign this model knows"
    assert "thankyou 40%" in _overlay_lines(unknown)[1][0]  # the best guesses, small, as guesses
    assert [t for t, *_ in _overlay_lines(no_hands)] == ["no hands in view"]


def test_overlay_can_be_left_out_for_a_landmarks_only_frame(sample_files):
    from islr import io, landmarks as L
    from islr.live import draw

    white = np.full((240, 320, 3), 255, np.uint8)
    x = io.read_landmarks(sample_files[0])
    t = int(np.argmax(~np.isnan(x[:, L.PART_SLICE["pose"], 0]).all(1)))
    lines = draw(white, x[t], None, panel=False)
    assert (lines != 255).any()  # the landmarks are drawn
    with_panel = draw(white, x[t], None)
    assert ((with_panel != lines).any(2)).mean() > 0.05  # the panel adds "waiting for frames"
