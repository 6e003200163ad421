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


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_grid_finds_a_known_best_weighting():
    # labels defined as the argmax of one grid point's mix: only that point (and none before it) reaches 100 %
    rng = np.random.default_rng(3)
    cnn, bert, deberta = (rng.normal(size=(2000, 20)) for _ in range(3))
    labels = (0.3 * cnn + 0.7 * (0.25 * bert + 0.75 * deberta)).argmax(1)
    w = ensemble.grid_search(cnn, bert, deberta, labels)
    assert (w.k, w.b, w.accuracy) == (0.3, 0.25, 1.0)
    assert w.as_dict() == pytest.approx({"cnn": 0.3, "bert": 0.175, "deberta": 0.525})
    assert w.grid[0, 0] == (deberta.argmax(1) == labels).mean()  # k = 0, b = 0: DeBERTa alone


def test_logits_and_probabilities_are_different_mixes():
    # models on very different logit scales: a mix of raw logits is not a mix of their softmax probabilities
    rng = np.random.default_rng(4)
    cnn, bert, deberta = (s * rng.normal(size=(1500, 20)) for s in (6.0, 1.0, 0.3))
    from_logits = (0.5 * cnn + 0.5 * (0.5 * bert + 0.5 * deberta)).argmax(1)
    out = ensemble.compare_logits_vs_probs(cnn, bert, deberta, from_logits)
    assert out["probabilities"] < out["logits"] == 1.0
    p = [_softmax(m) for m in (cnn, bert, deberta)]
    from_probs = (0.5 * p[0] + 0.5 * (0.5 * p[1] + 0.5 * p[2])).argmax(1)
    out = ensemble.compare_logits_vs_probs(cnn, bert, deberta, from_probs)
    assert out["logits"] < out["probabilities"] == 1.0


def test_aligned_oof_keeps_common_rows_in_one_order(tmp_path):
    for name, idx in {"a": [5, 3, 9, 1], "b": [1, 9, 5, 7]}.items():
        d = tmp_path / name
        d.mkdir()
        np.save(d / "oof_index.npy", np.array(idx))
        np.save(d / "oof_logits.npy", np.array(idx, float)[:, None] * np.ones((1, 3)))
    logits, common = ensemble.aligned_oof({"a": tmp_path / "a", "b": tmp_path / "b"})
    assert common.tolist() == [1, 5, 9]
    assert logits["a"][:, 0].tolist() == [1, 5, 9] == logits["b"][:, 0].tolist()


def _three(rng, labels, strengths):
    return dict(zip(("cnn", "bert", "deberta"), (_logits(rng, labels, s) for s in strengths)))


def test_real_rows_decide_where_their_optimum_differs_from_all_rows():
    """Real held-out rows: only the CNN is right; synthetic rows (ten times more): only the transformers are."""
    rng = np.random.default_rng(3)
    y_real, y_syn = rng.integers(0, 20, 40), rng.integers(0, 20, 400)
    real, syn = _three(rng, y_real, (4.0, 0.0, 0.0)), _three(rng, y_syn, (0.0, 4.0, 4.0))
    pooled = ensemble.grid_search(*(np.concatenate([real[m], syn[m]]) for m in ("cnn", "bert", "deberta")),
                                  np.concatenate([y_real, y_syn]))
    w = ensemble.fit_weights((real, y_real), (syn, y_syn), "real held-out rows", "synthetic OOF rows")
    assert pooled.k < 0.5 < w.k  # all rows pooled favour the transformers; the real rows the CNN

    def acc(weights, part, y):
        d = weights.as_dict()
        return (sum(d[m] * part[m] for m in d).argmax(1) == y).mean()

    assert w.accuracy == pytest.approx(acc(w, real, y_real)) == pytest.approx(w.grid.max())
    assert acc(w, real, y_real) > acc(pooled, real, y_real) + 0.2
    assert w.other_accuracy == pytest.approx(acc(w, syn, y_syn))
    assert (w.n_real, w.n_other) == (40, 400)
    assert w.rows == ("fitted on 40 real held-out rows; ties broken by their mean log-probability of the true sign, "
                      "then by 400 synthetic OOF rows")


def test_real_confidence_breaks_ties_before_the_synthetic_rows():
    """Every member is right on every real row, but BERT is far surer there; the synthetic rows favour the CNN."""
    rng = np.random.default_rng(5)
    y_real, y_syn = rng.integers(0, 20, 8), rng.integers(0, 20, 300)
    real = {"cnn": _logits(rng, y_real, 1.5), "bert": _logits(rng, y_real, 12.0), "deberta": _logits(rng, y_real, 1.5)}
    for m in real:  # make every member right on every real row, with its own margin
        real[m][np.arange(8), y_real] = real[m].max(1) + (5.0 if m == "bert" else 0.1)
    syn = _three(rng, y_syn, (3.0, 0.0, 0.0))
    w = ensemble.fit_weights((real, y_real), (syn, y_syn))
    assert w.grid.min() == 1.0  # the real rows alone tie everywhere
    # (almost) all weight on BERT, the surest on the real rows; not the synthetic rows' favourite, the CNN
    assert w.k <= 0.1 and w.b == 1.0
    assert ensemble.grid_search(syn["cnn"], syn["bert"], syn["deberta"], y_syn).k >= 0.5
    chosen = ensemble.mean_log_likelihood(real, y_real, w.k, w.b)
    assert all(chosen >= ensemble.mean_log_likelihood(real, y_real, k, b) - 1e-5 for k in ensemble.K_GRID[::10]
               for b in ensemble.B_GRID[::5])
    assert w.rows.startswith("fitted on 8 real held-out rows; ties broken by their mean log-probability")


def test_synthetic_rows_break_ties_among_equal_real_scores():
    rng = np.random.default_rng(4)
    y_real, y_syn = rng.integers(0, 20, 10), rng.integers(0, 20, 300)
    same = _logits(rng, y_real, 5.0)
    real = {"cnn": same, "bert": same.copy(), "deberta": same.copy()}  # every grid point scores the same here
    syn = _three(rng, y_syn, (0.0, 3.0, 0.0))  # only BERT is informative on the synthetic rows
    w = ensemble.fit_weights((real, y_real), (syn, y_syn))
    assert w.accuracy == 1.0 and w.grid.min() == 1.0
    best_syn = ensemble.grid_search(syn["cnn"], syn["bert"], syn["deberta"], y_syn)
    assert (w.k, w.b) == (best_syn.k, best_syn.b) and w.other_accuracy == pytest.approx(best_syn.accuracy)
    assert ensemble.fit_weights(None, (syn, y_syn)).rows.endswith("(no real rows)")


def test_fit_ensemble_uses_real_rows_of_participant_split_runs(tmp_path, monkeypatch):
    """Run folders with constructed OOF logits: the real rows come from the participant-split runs."""
    from islr.config import get_config
    from islr import runs
    from islr.export import stage

    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    cfg = get_config("smoke", {"split.n_folds": 2})
    rng = np.random.default_rng(5)
    n = 200
    labels = rng.integers(0, 20, n)
    real = np.zeros(n, bool)
    real[:40] = True
    # random split fold 0: 20 real + 80 synthetic rows; participant split folds 0 and 1: the 40 real rows
    random_rows = np.r_[0:20, 40:120]
    logits = {"random": (random_rows, _three(rng, labels[random_rows], (0.0, 4.0, 4.0))),
              "p0": (np.arange(0, 20), _three(rng, labels[:20], (4.0, 0.0, 0.0))),
              "p1": (np.arange(20, 40), _three(rng, labels[20:40], (4.0, 0.0, 0.0)))}
    for key, (rows, per) in logits.items():
        kind, fold = ("random", 0) if key == "random" else ("participant", int(key[1]))
        for m, x in per.items():
            runs.save_oof(runs.run_folder(cfg, m, kind, fold), x, rows)
    w, _, table = stage.fit_ensemble(cfg, labels, "random", 0, real=real)
    assert w.n_real == 40 and w.n_other == 80 and w.k > 0.5  # CNN: right on the held-out real rows
    assert "participant split, fold 0, 1" in w.rows and "80 synthetic OOF rows" in w.rows
    assert list(table["n"]) == [40, 80] and table["ensemble"].iloc[0] == pytest.approx(w.accuracy)
    plain, _, _ = stage.fit_ensemble(cfg, labels, "random", 0)  # no real mask: the reference's recipe
    assert plain.k < 0.5 and plain.n_real == 0 and plain.n_other == 100


def test_real_rows_marks_the_bundled_sample_in_embedded_data(sample_dir):
    from types import SimpleNamespace

    from islr.data import DataSource, real_sample_ids

    real_id = sorted(real_sample_ids())[0]
    prepared = SimpleNamespace(sequence_ids=np.array([7, real_id, 8]))
    embedded = DataSource(sample_dir, "embedded", "synthetic + sample")
    assert ensemble.real_rows(prepared, embedded).tolist() == [False, True, False]
    assert ensemble.real_rows(prepared, DataSource(sample_dir, "folder", "x")).all()
