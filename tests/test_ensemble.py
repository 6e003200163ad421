import numpy as np
import pytest

from islr import ensemble


def _logits(rng, labels, strength, n_classes=20):
    x = rng.normal(size=(len(labels), n_classes))
    x[np.arange(len(labels)), labels] += strength
    return x


def test_grid_finds_the_informative_model_and_reports_accuracy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 20, 400)
    cnn, bert = _logits(rng, labels, 3.0), _logits(rng, labels, 0.0)
    deberta = _logits(rng, labels, 0.0)
    w = ensemble.grid_search(cnn, bert, deberta, labels)
    assert w.k >= 0.5 and w.accuracy == pytest.approx(w.grid.max())
    assert w.accuracy >= (cnn.argmax(1) == labels).mean()  # k = 1 is on the grid
    assert w.grid.shape == (101, 21)
    # the chosen point's accuracy recomputed by hand
    pred = (w.k * cnn + (1 - w.k) * (w.b * bert + (1 - w.b) * deberta)).argmax(1)
    assert (pred == labels).mean() == pytest.approx(w.accuracy)
    assert sum(w.as_dict().values()) == pytest.approx(1.0)


def test_complementary_models_are_mixed():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 20, 600)
    cnn, bert, deberta = (_logits(rng, labels, 1.5) for _ in range(3))
    w = ensemble.grid_search(cnn, bert, deberta, labels)
    assert 0.0 < w.k < 1.0
    single = max((m.argmax(1) == labels).mean() for m in (cnn, bert, deberta))
    assert w.accuracy > single


def test_logits_vs_probabilities_compare_on_same_rows():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 20, 300)
    out = ensemble.compare_logits_vs_probs(*(_logits(rng, labels, 1.0) for _ in range(3)), labels)
    assert set(out) == {"logits", "probabilities"} and all(0 < v <= 1 for v in out.values())


def test_aligned_oof_keeps_common_rows_in_one_order(tmp_path):
    for name, idx in {"a": [5, 3, 9, 1], "b": [1, 9, 5, 7]}.items():
        d = tmp_path / name
        d.mkdir()
        np.save(d / "oof_index.npy", np.array(idx))
        np.save(d / "oof_logits.npy", np.array(idx, float)[:, None] * np.ones((1, 3)))
    logits, common = ensemble.aligned_oof({"a": tmp_path / "a", "b": tmp_path / "b"})
    assert common.tolist() == [1, 5, 9]
    assert logits["a"][:, 0].tolist() == [1, 5, 9] == logits["b"][:, 0].tolist()
