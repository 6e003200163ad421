"""islr.extract: real MediaPipe Holistic on the two bundled real videos, in the extraction environment."""

import ast
from pathlib import Path
import contextlib
import io as stdio
import json
import subprocess
import zlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from islr import extract, io, landmarks, paths

REPO = Path(__file__).resolve().parents[1]  # the checkout (islr itself may be installed, paths.REPO_ROOT None)
VIDEOS = REPO / "data" / "videos"
SOUP = VIDEOS / "soup.mp4"
POSE_TEST = VIDEOS / "pose_test_video.mp4"


def cv2_frame_counts(video):
    """(header frame count, frames actually decoded) by OpenCV in the extraction environment."""
    code = ("import cv2, json, sys\n"
            "c = cv2.VideoCapture(sys.argv[1]); n = 0\n"
            "while c.read()[0]: n += 1\n"
            "print(json.dumps([int(c.get(cv2.CAP_PROP_FRAME_COUNT)), n]))")
    done = subprocess.run([str(extract.extract_python()), "-I", "-c", code, str(video)], capture_output=True,
                          text=True, check=True)
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`python -m islr extract` on both real videos and a corrupt .mp4 (random bytes) between them, in one call."""
    out = tmp_path_factory.mktemp("extracted")
    corrupt = tmp_path_factory.mktemp("bad") / "corrupt_clip.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    stdout, stderr = stdio.StringIO(), stdio.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = extract.main([str(SOUP), str(corrupt), str(POSE_TEST), "--out", str(out), "--participant-id", "7",
                             "--sign", "hello", "--quiet"])
    rows = io.read_train_index(out).set_index("sequence_id")
    return {"out": out, "code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "corrupt": corrupt,
            "rows": rows}


def landmarks_of(run, video):
    return io.read_landmarks(run["out"] / run["rows"].loc[zlib.crc32(video.read_bytes()), "path"])


def test_worker_layout_is_the_asl_signs_layout():
    # The worker cannot import islr (numpy<2 there); its restated layout must equal islr.landmarks.PARTS.
    tree = ast.parse((REPO / "src" / "islr" / "_extract_worker.py").read_text())
    parts = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PARTS")
    assert [(name, size) for name, size in parts] == [(name, size) for name, _, size in landmarks.PARTS]


def test_soup_one_block_per_frame_and_hands_found(cli_run):
    row = cli_run["rows"].loc[zlib.crc32(SOUP.read_bytes())]
    assert row.participant_id == 7 and row.sign == "hello" and row.label == io.read_sign_map(cli_run["out"])["hello"]
    parquet = cli_run["out"] / row.path
    io.check_schema(parquet)

    header_count, decoded = cv2_frame_counts(SOUP)
    assert header_count == decoded == 41
    table = pq.read_table(parquet)
    assert table.num_rows == decoded * landmarks.N_LANDMARKS
    frames = table["frame"].to_numpy()
    assert np.array_equal(frames, np.repeat(np.arange(decoded), landmarks.N_LANDMARKS))
    # Rows of a frame in the real files' order: face 468, left_hand 21, pose 33, right_hand 21.
    types = table["type"].to_pylist()[:landmarks.N_LANDMARKS]
    assert types == [name for name, _, size in landmarks.PARTS for _ in range(size)]

    xyz = io.read_landmarks(parquet)
    assert xyz.shape == (decoded, landmarks.N_LANDMARKS, 3)
    assert extract.hand_rate(xyz) > 0.5
    assert np.isfinite(xyz[:, landmarks.PART_SLICE["pose"]]).all()  # a person in every frame
    # Undetected parts are whole: a hand is either all 21 points or none.
    hand = np.isnan(xyz[:, landmarks.PART_SLICE["left_hand"], 0])  # (T, 21)
    assert (hand.all(axis=1) | ~hand.any(axis=1)).all()


def test_corrupt_video_is_named_and_the_good_one_still_written(cli_run):
    assert cli_run["code"] == 1
    assert "corrupt_clip.mp4" in cli_run["stderr"]
    assert "2 of 3 video(s) written" in cli_run["stdout"]
    # The video after the corrupt one was extracted too.
    assert len(cli_run["rows"]) == 2
    assert len(list((cli_run["out"] / "train_landmark_files").rglob("*.parquet"))) == 2
    assert landmarks_of(cli_run, POSE_TEST).shape == (cv2_frame_counts(POSE_TEST)[1], landmarks.N_LANDMARKS, 3)
    with pytest.raises(extract.VideoError, match="corrupt_clip.mp4"):
        extract.extract_video(cli_run["corrupt"])
    with pytest.raises(extract.VideoError, match="corrupt_clip.mp4"):
        extract.decode_frames(cli_run["corrupt"])


def test_live_extractor_matches_batch(cli_run):
    frames = extract.decode_frames(POSE_TEST)  # (T, H, W, 3) uint8 BGR, decoded by the main environment's OpenCV
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[0] == 58 and frames.shape[3] == 3
    assert frames.shape[0] == cv2_frame_counts(POSE_TEST)[1]  # the extraction environment decodes as many
    # Batch result as written to parquet (float64 there, float32-exact: MediaPipe's landmarks are float32).
    batch = landmarks_of(cli_run, POSE_TEST)
    # The first 30 frames (tracking is causal, so a prefix must match the prefix); 30 keeps the test short while
    # covering frames with and without a hand.
    n = 30
    with extract.LiveExtractor() as live:
        streamed = np.stack([live.process(frame) for frame in frames[:n]])
        live.reset()  # a new sequence tracks from scratch, like a new batch video
        again = np.stack([live.process(frame) for frame in frames[:5]])
    # Same frames, same Holistic graph, same simulated timestamps: the results are bit-identical on CPU.
    assert np.array_equal(streamed, batch[:n], equal_nan=True)
    assert np.array_equal(again, batch[:5], equal_nan=True)
    assert 0 < extract.hand_rate(batch[:n]) < 1  # frames with and without hands: NaNs are exercised


def test_settings_are_checked():
    with pytest.raises(ValueError, match="model_complexity"):
        extract.HolisticSettings(model_complexity=3)
    with pytest.raises(ValueError, match="min_detection_confidence"):
        extract.HolisticSettings(min_detection_confidence=1.5)
