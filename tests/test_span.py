"""islr.span.sign_span on real data: the competition's clips are left (nearly) whole, real rest frames added around
a clip are cut away, and the cases where it cannot tell return the whole sequence."""

from pathlib import Path

import numpy as np
import pytest

from islr import report, span
from islr.export.checks import sample_files, shared_real_sample
from islr.io import read_landmarks, read_pose
from islr.landmarks import LEFT_HAND, RIGHT_HAND, hand_frames, pose_id

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "fixtures" / "example.pose"
#: Real quiet frames of example.pose (no hand in view, pose wrists below the hips; the hands rise from frame 12 and
#: are back down at 66), the same as benchmarks/bench_trim.py's.
REST_BEFORE, REST_AFTER = slice(0, 11), slice(66, 97)


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """The real asl-signs clips: the bundled sample, plus shared/data/asl_signs_sample beside the checkout."""
    files = sample_files()
    shared = shared_real_sample(REPO)
    files += sample_files(shared) if shared is not None else []
    return {f.stem: read_landmarks(f) for f in files}


@pytest.fixture(scope="module")
def example() -> np.ndarray:
    return read_pose(EXAMPLE)


def _padded(clip: np.ndarray, example: np.ndarray, before: int, after: int) -> np.ndarray:
    return span.pad_with_rest(clip, example[REST_BEFORE], example[REST_AFTER], before, after)


def test_the_competition_clips_are_left_whole(clips):
    assert len(clips) >= 80
    cut = {name: (a, len(x) - b) for name, x in clips.items() for a, b in [span.sign_span(x)]}
    assert all(a <= 2 and b <= 2 for a, b in cut.values()), {k: v for k, v in cut.items() if max(v) > 2}


def test_real_rest_around_a_clip_is_cut_away(clips, example):
    rng = np.random.default_rng(0)
    misses = {}
    for name, x in clips.items():
        before, after = (int(v) for v in rng.integers(30, 71, 2))
        a, b = span.sign_span(_padded(x, example, before, after))
        start, stop = a - before, b - (before + len(x))  # 0, 0: exactly the clip
        if not (-span.MARGIN - 2 <= start <= 2 and -2 <= stop <= span.MARGIN + 2):
            misses[name] = (start, stop)
    assert not misses, misses


def test_a_real_recording_loses_its_lead_in_and_lead_out(example):
    a, b = span.sign_span(example)
    hands = np.flatnonzero(hand_frames(example))  # the hands are in view in frames 17–63
    assert a <= hands[0] and b > hands[-1]
    assert a >= REST_BEFORE.stop - 2 and b <= REST_AFTER.start + span.MARGIN + 2


def test_hands_found_at_rest_are_not_signing(clips, example):
    """The clip's real hands hanging from the rest frames' pose wrists (found, at rest) do not widen the span."""
    for x in list(clips.values())[:20]:
        resting = span.pad_with_rest(x, example[REST_BEFORE], example[REST_AFTER], 40, 40, hands_at_rest=True)
        height, detected = span.hand_heights(resting)
        assert detected[:40].all() and detected[-40:].all()
        assert (height[:40] > span.REST_LINE).all() and (height[-40:] > span.REST_LINE).all()
        assert span.sign_span(resting) == span.sign_span(_padded(x, example, 40, 40))


def test_a_dropout_inside_the_sign_is_bridged(example):
    x = example.copy()
    first = np.flatnonzero(hand_frames(x))[0]
    x[first] = np.nan  # the rising wrists before it (pose only, no hand found yet) still join the sign
    assert span.sign_span(x) == span.sign_span(example)
    x[35:35 + span.MAX_GAP] = np.nan  # nothing at all for MAX_GAP frames, mid-sign
    assert span.sign_span(x) == span.sign_span(example)
    x[30:35 + span.MAX_GAP + 10] = np.nan  # a long gap: still one span from the first to the last burst
    assert span.sign_span(x) == span.sign_span(example)


def test_one_hand_suffices(example):
    x = example.copy()
    x[:, LEFT_HAND] = np.nan
    x[:, pose_id(15)] = np.nan
    a, b = span.sign_span(x)
    assert (a, b) != (0, len(x)) and abs(a - span.sign_span(example)[0]) <= 2


@pytest.mark.parametrize("frames", [0, 1, span.MIN_FRAMES - 1])
def test_short_sequences_are_returned_whole(example, frames):
    assert span.sign_span(example[20:20 + frames]) == (0, frames)


def test_no_hands_means_the_whole_range(example):
    x = example.copy()
    x[:, np.r_[LEFT_HAND, RIGHT_HAND]] = np.nan
    assert span.sign_span(x) == (0, len(x))


def test_the_report_summarises_a_trim_record():
    rows = [{"what": "clips", "group": "all", "n": 86, "top1_original": 0.9, "top1_padded_untrimmed": 0.8,
             "top1_padded_trimmed": 0.85, "top1_hands_at_rest_untrimmed": 0.4, "top1_hands_at_rest_trimmed": 0.88,
             "clips_cut": 0, "frames_cut": 0, "frames": 2222, "padded_frames_median": 123.5,
             "span_within_2_frames": 86, "span_error_max": 2, "span_error_max_hands_at_rest": 1},
            {"what": "recording", "group": "example.pose", "n": 1, "frames": 97, "hand_frames": 47, "span": [14, 64],
             "kept": 50, "top1_untrimmed": "TV", "top1_trimmed": "hello"}]
    record = {"name": "trim", "script": "benchmarks/bench_trim.py", "data": "d", "machine": "m", "rows": rows}
    text = report.summarize(record)
    assert "all (86) 0.8 → **0.85** / 0.4 → **0.88** (the clip alone 0.9)" in text
    assert "at most 2 frames" in text and "cuts 0 of 2,222 frames" in text
    assert "example.pose 97 frames → [14, 64), TV → hello" in text


def test_a_raised_pose_wrist_without_a_hand_is_not_a_sign(example):
    x = example.copy()
    x[80:85, pose_id(16), 1] = x[80:85, pose_id(12), 1]  # the pose puts a wrist at the shoulder; no hand is found
    assert span.sign_span(x) == span.sign_span(example)
