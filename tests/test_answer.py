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


def _rules(real_signs=("hello", "thankyou"), threshold=0.2):
    """Rules whose references are one-hot-like profiles of the real signs."""
    refs = {}
    for s in real_signs:
        lg = np.zeros((3, len(NAMES)))
        lg[:, NAMES.index(s)] = 10 + np.arange(3)
        refs[s] = A.profile(lg)
    return A.AnswerRules(2.0, True, {s: 3 for s in real_signs}, refs, threshold, "test rows")


def test_judge_rejects_signs_without_real_data_and_profiles_far_from_the_references():
    rules = _rules()
    near = np.zeros(len(NAMES))
    near[NAMES.index("hello")] = 10
    assert rules.judge(near, "hello") == ""
    far = near.copy()
    far[NAMES.index("cloud")] = 9.5  # hello on top, but the model sees a second sign as strongly: unlike hello
    assert "unlike the real training examples of hello" in rules.judge(far, "hello")
    no_data = np.zeros(len(NAMES))
    no_data[NAMES.index("apple")] = 10
    assert "no real training recordings" in rules.judge(no_data, "apple")
    assert A.AnswerRules().judge(no_data, "apple") == ""  # no record: no open-set rule


def test_rules_round_trip_next_to_a_model_and_a_broken_record_is_named(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"")
    rules = _rules()
    rules.fit = {"ece_raw": 0.3}
    rules.save(model)
    back = A.AnswerRules.load(model)
    assert (back.temperature, back.calibrated, back.real_signs, back.threshold, back.data, back.fit) == \
        (2.0, True, {"hello": 3, "thankyou": 3}, 0.2, "test rows", {"ece_raw": 0.3})
    assert np.allclose(back.references["hello"], rules.references["hello"], atol=1e-6)
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    assert A.AnswerRules.load(onnx).threshold == 0.2  # the ONNX folder beside the TFLite model
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

    answerer = A.Answerer(model, _rules(threshold=1.0), NAMES)
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


def test_fit_rules_threshold_covers_the_held_out_rows_and_measures_ece_cross_fitted():
    rng = np.random.default_rng(1)
    hello, thanks = NAMES.index("hello"), NAMES.index("thankyou")

    def rows(label, n):
        lg = rng.normal(0, 0.2, (n, len(NAMES)))
        lg[:, label] += 6
        return lg

    train = np.concatenate([rows(hello, 10), rows(thanks, 10)])
    train_labels = np.array([hello] * 10 + [thanks] * 10)
    held = np.concatenate([rows(hello, 6), rows(thanks, 6)])
    held_labels = np.array([hello] * 6 + [thanks] * 6)
    groups = np.repeat([1, 2, 3], 4)
    rules = A.fit_rules(train, train_labels, held, held_labels, groups, NAMES, {"hello": 10, "thankyou": 10}, "t")
    assert rules.calibrated and A.TEMPERATURE_BOUNDS[0] <= rules.temperature <= A.TEMPERATURE_BOUNDS[1]
    assert all(rules.judge(lg, NAMES[lg.argmax()]) == "" for lg in held)  # every unseen real row is accepted
    other = rows(NAMES.index("apple"), 5)
    other[:, hello] += 6.5  # hello on top, but with another sign as strong: unlike real hello
    assert all(rules.judge(lg, "hello") for lg in other)
    assert set(rules.fit) >= {"ece_raw", "ece_calibrated", "held_out_rows", "confidence_raw"}
    assert rules.fit["held_out_rows"] == 12 and rules.fit["held_out_participants"] == 3
