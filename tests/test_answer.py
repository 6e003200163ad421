"""The answer rules (islr.answer): temperature, open-set distance, no hands, the record next to a model, and the
same answer in predict, evaluate and live."""
import json

import numpy as np
import pytest

from islr import answer as A
from islr.io import read_landmarks, sign_names
from islr.metrics import expected_calibration_error, reliability

NAMES = sign_names()


def _sampled(temperature: float, n: int = 4000, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): a model whose true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 20))
    p = np.exp(A.log_softmax(logits, temperature))
    labels = np.array([rng.choice(20, p=row) for row in p])
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_finds_the_temperature_the_labels_were_drawn_with(true_t):
    logits, labels = _sampled(true_t)
    assert A.fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.1)


def test_calibration_lowers_the_ece_on_rows_it_was_not_fitted_on():
    logits, labels = _sampled(2.0, n=6000)
    t = A.fit_temperature(logits[:3000], labels[:3000])
    right = logits[3000:].argmax(1) == labels[3000:]
    raw = np.exp(A.log_softmax(logits[3000:])).max(1)
    cal = np.exp(A.log_softmax(logits[3000:], t)).max(1)
    assert expected_calibration_error(cal, right) < 0.03 < expected_calibration_error(raw, right)


def test_reliability_bins_and_ece_by_hand():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    right = np.array([True, False, True, True])
    table = reliability(conf, right, bins=10)
    assert table["n"].tolist() == [2, 2] and table["accuracy"].tolist() == [1.0, 0.5]
    assert expected_calibration_error(conf, right, bins=10) == pytest.approx((2 * 0.45 + 2 * 0.45) / 4)
    assert np.isnan(expected_calibration_error(np.zeros(0), np.zeros(0, bool)))


@pytest.fixture(scope="module")
def sample_motions(sample_dir):
    """The motion of the sign's span of every real recording of the bundled sample, with sign and participant."""
    from islr.evaluate import real_motions
    from islr.io import read_train_index

    return real_motions(sample_dir, read_train_index(sample_dir)["sequence_id"])


def _rules(threshold=0.5, real_signs=("hello", "thankyou")):
    """Rules whose references are a straight path of the right hand for each real sign (hello rising)."""
    path = np.zeros((A.MOTION_FRAMES, 12), np.float32)
    path[:, 1] = -np.linspace(0, 1, A.MOTION_FRAMES)
    refs = {s: np.stack([path + 0.01 * i for i in range(3)]) * (1 if s == "hello" else -1) for s in real_signs}
    return A.AnswerRules(2.0, True, {s: 3 for s in real_signs}, refs, threshold, "test rows")


def test_judge_rejects_signs_without_real_data_and_motions_far_from_the_references():
    rules = _rules()
    near = rules.references["hello"][0] + 0.05
    assert rules.judge("hello", near) == ""
    assert "moves unlike the real training recordings of hello" in rules.judge("hello", -near)
    assert "no real training recordings" in rules.judge("apple", near)
    assert "no signing hand" in rules.judge("hello", None)
    assert A.AnswerRules().judge("apple", None) == ""  # no record: no open-set rule


def test_motion_is_the_same_for_left_and_right_handed_signing_and_any_framing(sample_files):
    from islr import landmarks as L

    x = read_landmarks(sample_files[0])
    m = A.motion(x)
    assert m.shape == (A.MOTION_FRAMES, 12) and np.isfinite(m).all()
    mirrored = x.copy()
    mirrored[..., 0] = 1 - mirrored[..., 0]  # the picture flipped, and every left point swapped with its twin
    swapped = mirrored.copy()
    for a, b in L.MIRROR.items():
        swapped[:, a] = mirrored[:, b]
    np.testing.assert_allclose(A.motion(swapped), m, atol=1e-4)  # a left-handed signer of the same sign
    zoomed = x.copy()
    zoomed[..., :2] = 0.2 + 0.5 * zoomed[..., :2]  # farther from the camera, elsewhere in the picture
    np.testing.assert_allclose(A.motion(zoomed), m, atol=1e-4)
    assert A.motion(np.full((10, 543, 3), np.nan, np.float32)) is None


def test_rules_round_trip_next_to_a_model_and_a_broken_record_is_named(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"")
    rules = _rules()
    rules.fit = {"ece_raw": 0.3}
    rules.save(model)
    back = A.AnswerRules.load(model)
    assert (back.temperature, back.calibrated, back.real_signs, back.threshold, back.data, back.fit) == \
        (2.0, True, {"hello": 3, "thankyou": 3}, 0.5, "test rows", {"ece_raw": 0.3})
    assert np.allclose(back.references["hello"], rules.references["hello"], atol=1e-6)
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    assert A.AnswerRules.load(onnx).threshold == 0.5  # the ONNX folder beside the TFLite model
    assert A.AnswerRules.load(tmp_path / "elsewhere" / "m.tflite").calibrated is False
    (tmp_path / A.RULES_NAME).write_text(json.dumps({"temperature": 1}))
    with pytest.raises(ValueError, match=A.RULES_NAME):
        A.AnswerRules.load(model)


def test_answerer_on_a_real_sequence_and_without_hands(sample_files):
    x = read_landmarks(sample_files[0])
    calls = []

    def model(seq):
        calls.append(len(seq))
        out = np.zeros(len(NAMES), np.float32)
        out[NAMES.index("hello")] = 8
        return out

    answerer = A.Answerer(model, _rules(threshold=np.inf), NAMES)
    a = answerer(x)
    assert a.state == A.SIGN and a.sign == "hello" and a.calibrated and a.frames == len(x)
    assert 0 <= a.span[0] < a.span[1] <= len(x) and calls == [a.span[1] - a.span[0]]
    assert a.p == pytest.approx(float(np.exp(A.log_softmax(model(x), 2.0)).max()))
    assert a.as_dict()["sign"] == "hello" and a.text().startswith("hello ")
    empty = np.full((30, 543, 3), np.nan, np.float32)
    calls.clear()
    b = answerer(empty)
    assert b.state == A.NO_HANDS and b.top == [] and not calls and b.text() == "no hands in view"
    c = answerer(empty, score_anyway=True)
    assert c.state == A.NO_HANDS and calls and answerer.last_logits is not None


def test_fit_rules_on_the_real_sample_accepts_unseen_signers_and_refuses_other_real_signs(sample_motions):
    """Each participant left out in turn: references and threshold from the others' real hello/thankyou, and the
    left-out person's real recordings are accepted as their sign (nearly all); with every participant, the four
    real recordings of other signs in the repository are refused."""
    from islr.predict import read_any
    from islr.span import sign_span

    rows = sample_motions[sample_motions["sign"].isin(["hello", "thankyou"])]

    def fit(ref):
        return A.fit_rules(list(ref["motion"]), list(ref["sign"]), list(ref["participant_id"]), np.zeros((0, 250)),
                           np.zeros(0), np.zeros(0), {"hello": 30, "thankyou": 30}, "test")

    accepted = []
    for p in rows["participant_id"].unique():
        rules = fit(rows[rows["participant_id"] != p])
        mine = rows[rows["participant_id"] == p]
        accepted += [rules.judge(s, m) == "" for s, m in zip(mine["sign"], mine["motion"])]
    assert np.mean(accepted) >= 0.9, np.mean(accepted)
    rules = fit(rows)
    assert not rules.calibrated and np.isfinite(rules.threshold)
    for f in ("data/videos/soup.mp4", "data/videos/pose_test_video.mp4", "tests/fixtures/example.pose",
              "tests/fixtures/hand_estimation_0ff215ef.pose"):
        x = read_any(f)
        moved = A.motion(x[slice(*sign_span(x))])
        assert all(rules.judge(s, moved) for s in ("hello", "thankyou")), f


def test_fit_rules_calibrates_on_held_out_rows_and_measures_ece_on_other_participants(sample_motions):
    rng = np.random.default_rng(1)
    hello = NAMES.index("hello")
    logits = rng.normal(0, 1, (12, len(NAMES)))
    labels = np.full(12, hello)
    logits[:, hello] += 5
    rules = A.fit_rules(list(sample_motions["motion"]), list(sample_motions["sign"]),
                        list(sample_motions["participant_id"]), logits, labels, np.repeat([1, 2, 3], 4), None, "t")
    assert rules.calibrated and A.TEMPERATURE_BOUNDS[0] <= rules.temperature <= A.TEMPERATURE_BOUNDS[1]
    assert set(rules.fit) >= {"ece_raw", "ece_calibrated", "held_out_rows", "confidence_raw", "reference_rows"}
    assert rules.fit["held_out_rows"] == 12 and rules.fit["held_out_participants"] == 3
    assert rules.real_signs is None and set(rules.references) == set(sample_motions["sign"])


def test_a_few_held_out_rows_all_right_do_not_make_every_answer_certain():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1, (8, 250))
    labels = rng.integers(0, 250, 8)
    logits[np.arange(8), labels] += 12  # all 8 right, by a wide margin: the likelihood alone wants T → 0
    t = A.fit_temperature(logits, labels)
    confidence = np.exp(A.log_softmax(logits, t)).max(1).mean()
    assert t > A.TEMPERATURE_BOUNDS[0] and confidence == pytest.approx(9 / 10, abs=1e-3)  # (8 + 1) / (8 + 2)


def test_a_record_of_another_version_is_named_not_misread(tmp_path):
    model = tmp_path / "model.tflite"
    _rules().save(model)
    np.savez_compressed(tmp_path / A.REFERENCES_NAME, hello=np.zeros((3, 250), np.float32))  # logit profiles
    with pytest.raises(ValueError, match="another version"):
        A.AnswerRules.load(model)
