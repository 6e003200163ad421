"""Augmentation figures a person can read (islr.explore + islr.viz.plot_demos) and the augmentation explorer.

Each augmentation panel must show a change: the before/after arrays the figure draws differ, in the region drawn, by at
least islr.explore.VISIBLE of that region's extent (View.change), or the panel carries its "not active" note. The
explorer's logic is tested through AugmentationExplorer.update, the function its widgets call (no browser).
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from islr import explore, landmarks, viz  # noqa: E402
from islr.config import get_config  # noqa: E402

#: Every augmentation of docs/method.md §3a/§3b, by figure.
EXPECTED = {
    "augment_cnn_points": ["global affine", "flip", "part shift", "part scale", "part rotation",
                           "finger-tree rotation"],
    "augment_time": ["temporal interpolation", "random frame pick", "time masking"],
    "augment_cnn_image": ["point masking", "replace", "mixup"],
    "augment_transformer": ["global affine", "finger-tree rotation", "flip"],
}
#: Config switches that turn every augmentation off.
ALL_OFF = {"cnn_aug.affine_prob": 0.0, "cnn_aug.interpol_prob": 0.0, "cnn_aug.flip_prob": 0.0,
           "cnn_aug.shift_prob": 0.0, "cnn_aug.scale_prob": 0.0, "cnn_aug.rotate_prob": 0.0,
           "cnn_aug.tree_rot_prob": 0.0, "cnn_aug.random_frame_pick_prob": 0.0, "cnn_aug.masking_prob": 0.0,
           "cnn_aug.replace_prob": 0.0, "cnn_aug.mixup_prob": 0.0, "transformer_aug.affine_prob": 0.0,
           "transformer_aug.interpol_prob": 0.0, "transformer_aug.tree_rot_hand_prob": 0.0,
           "transformer_aug.flip_prob": 0.0}


@pytest.fixture(scope="module")
def inputs(prepared):
    return explore.DemoInputs.from_prepared(prepared, "hello", 160, "bundled real sample")


@pytest.fixture(scope="module")
def demos(inputs):
    return explore.augmentation_demos(get_config("default"), inputs)


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_demo_inputs_are_real_sequences_with_hands(inputs, prepared):
    assert "hello" in inputs.label and "bundled real sample" in inputs.label
    assert explore.hand_frames(inputs.seq) >= 0.9 * len(inputs.seq)
    assert inputs.donor is not None and inputs.partner is not None and inputs.partner_sign != "hello"
    assert len(inputs.long_seq) > 160 and "synthetic" in inputs.long_label  # the sample has none that long


def test_every_augmentation_has_a_panel_that_shows_a_change(demos):
    assert {name: [d.name for d in ds] for name, ds in demos.items()} == EXPECTED
    assert set(demos) == set(explore.FIGURES)
    for figure, ds in demos.items():
        for demo in ds:
            assert demo.active, f"{figure}/{demo.name}: {demo.note}"
            assert demo.views, f"{figure}/{demo.name}: no views"
            for view in demo.views:
                assert view.change() >= explore.VISIBLE, f"{figure}/{demo.name}/{view.title}: {view.change():.3f}"
            assert demo.shown.startswith("seed ")


def test_hand_augmentations_are_drawn_as_hand_close_ups(demos):
    hand_rows = set(landmarks.LEFT_HAND) | set(landmarks.RIGHT_HAND)
    for figure in ("augment_cnn_points", "augment_transformer"):
        tree = next(d for d in demos[figure] if d.name == "finger-tree rotation")
        for view in tree.views:
            assert view.kind == "skeleton" and set(view.rows) <= hand_rows and len(view.rows) == 21
    time_views = [v for d in demos["augment_time"] for v in d.views]
    assert all(v.kind in ("series", "frames") for v in time_views)
    masked = next(d for d in demos["augment_time"] if d.name == "time masking")
    assert all(v.masked is not None and v.masked.any() for v in masked.views)


def test_the_figure_draws_the_demo_arrays(demos):
    """plot_demos draws each view's after coordinates: the lines of a close-up pass through the after points."""
    tree = next(d for d in demos["augment_cnn_points"] if d.name == "finger-tree rotation")
    fig = viz.plot_demos([tree], "t", "data")
    view = tree.views[0]
    ax = next(a for a in fig.axes if a.get_title() == view.title)
    drawn = np.concatenate([np.column_stack(line.get_data()) for line in ax.lines])
    after = view.after[view.rows, :2]
    for point in after[np.isfinite(after).all(1)]:
        assert np.abs(drawn - point).sum(1).min() < 1e-6
    assert tree.name in " ".join(a.get_title("left") for a in fig.axes)
    plt.close(fig)


def test_an_augmentation_switched_off_says_so_instead_of_a_copy(inputs):
    cfg = get_config("default", ALL_OFF)
    for figure, ds in explore.augmentation_demos(cfg, inputs).items():
        fig = viz.plot_demos(ds, explore.FIGURES[figure], inputs.label)
        text = _texts(fig)
        for demo in ds:
            assert not demo.active and not demo.views, f"{figure}/{demo.name}"
            assert "not active in this config" in demo.note and " = 0" in demo.note
            assert "not active in this config" in text
        plt.close(fig)
    one_off = explore.cnn_point_demos(get_config("default", {"cnn_aug.tree_rot_deg": 0.0}), inputs)
    tree = next(d for d in one_off if d.name == "finger-tree rotation")
    assert "cnn_aug.tree_rot_deg = 0.0" in tree.note
    assert all(d.active for d in one_off if d is not tree)


def test_change_measure_sees_no_change_and_small_changes():
    frame = np.full((543, 3), np.nan, np.float32)
    rows = landmarks.LEFT_HAND
    frame[rows] = np.random.default_rng(0).uniform(0.4, 0.6, (21, 3))
    same = explore.View("t", "skeleton", frame, frame.copy(), rows=rows)
    assert same.change() == 0.0
    moved = frame.copy()
    moved[rows[8], 0] += 0.001  # a hundredth of a fingertip's hand: below VISIBLE
    assert 0 < explore.View("t", "skeleton", frame, moved, rows=rows).change() < explore.VISIBLE
    gone = frame.copy()
    gone[rows[8]] = np.nan
    assert explore.View("t", "skeleton", frame, gone, rows=rows).change() == 1.0
    series = np.linspace(0, 1, 20)
    assert explore.View("t", "series", series, series.copy()).change() == 0.0
    assert explore.View("t", "series", series, series[:15]).change() == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------------ the explorer
@pytest.fixture
def explorer(inputs):
    sequences = {"real hello": inputs.seq, "long synthetic": inputs.long_seq}
    return explore.AugmentationExplorer(sequences, get_config("default"))


def _all_off(**on) -> dict:
    return {**{key: False for key, _, _ in explore.CONTROLS}, **on}


def test_explorer_update_redraws_with_each_setting(explorer):
    state = explorer.update(**_all_off())
    assert state.applied == [] and state.frame == explore.best_frame(state.before)
    pts = landmarks.CNN_AUG_POINTS
    np.testing.assert_array_equal(state.after, landmarks.scatter_to_543(state.before[:, pts], pts))  # NaN = NaN
    assert "nothing (every augmentation switched off)" in explorer.figure._suptitle.get_text()

    hand = landmarks.LEFT_HAND if np.isfinite(state.before[state.frame, landmarks.LEFT_HAND, 0]).all() \
        else landmarks.RIGHT_HAND
    bent = explorer.update(finger_trees=True, tree_rot_tree_prob=1.0, tree_rot_deg=30.0)
    assert bent.applied == ["finger-tree rotation"]
    diff = np.nanmax(np.abs(bent.after[:, hand] - bent.before[:, hand]))
    assert diff > 0.01
    other_angle = explorer.update(tree_rot_deg=5.0).after.copy()
    assert not np.allclose(np.nan_to_num(other_angle), np.nan_to_num(bent.after))
    assert not np.allclose(np.nan_to_num(explorer.update(seed=1).after), np.nan_to_num(other_angle))
    assert "finger-tree rotation" in explorer.figure._suptitle.get_text()

    stretched = explorer.update(**_all_off(interpolation=True), interpol_factor=(2.0, 2.0), interpol_offset=0.0)
    assert len(stretched.after) == round(2 * len(stretched.before))
    assert stretched.frame_after == round(stretched.frame * (len(stretched.after) - 1) / (len(stretched.before) - 1))

    hid_frames = hid_rows = 0
    for seed in range(10):
        masked = explorer.update(**_all_off(frame_mask=True, point_mask=True), frame_mask_max=160,
                                 point_mask_max=80, seed=seed)
        assert np.isnan(masked.after[masked.hidden_frames]).all()
        assert np.isnan(masked.after[:, masked.hidden_rows]).all()
        kept = np.setdiff1d(pts, masked.hidden_rows)
        np.testing.assert_array_equal(masked.after[~masked.hidden_frames][:, kept],
                                      masked.before[~masked.hidden_frames][:, kept])
        hid_frames += masked.hidden_frames.any()
        hid_rows += len(masked.hidden_rows) > 0
    assert hid_frames >= 5 and hid_rows >= 5

    flipped = explorer.update(**_all_off(flip=True))
    assert flipped.flipped
    np.testing.assert_allclose(flipped.after[:, landmarks.RIGHT_HAND, 0], 1 - flipped.before[:, landmarks.LEFT_HAND, 0],
                               atol=1e-6)
    assert "after the flip" in " ".join(ax.get_title() for ax in explorer.figure.axes)


def test_explorer_sequence_and_frame(explorer):
    state = explorer.update(sequence="long synthetic")
    assert len(state.before) > 160 and state.frame == explore.best_frame(state.before)
    assert explorer.update(frame=10_000).frame == len(state.before) - 1  # clipped to the sequence
    assert "long synthetic" in explorer.figure._suptitle.get_text()
    with pytest.raises(KeyError, match="unknown explorer setting"):
        explorer.update(no_such_setting=1)
    with pytest.raises(KeyError, match="no sequence"):
        explorer.update(sequence="missing")


def test_explorer_without_ipywidgets_prints_one_line_and_shows_the_figure(inputs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets → ModuleNotFoundError
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    assert explore.augmentation_explorer({"a": inputs.seq}, get_config("default")) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "pip install ipywidgets" in out[0]
    assert len(shown) == 1 and isinstance(shown[0], matplotlib.figure.Figure)


def test_explorer_widget_calls_the_update(inputs, monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    ui = explore.augmentation_explorer({"a": inputs.seq, "b": inputs.long_seq}, get_config("default"))
    assert isinstance(ui, widgets.VBox)
    boxes = {c.description: c for row in ui.children if isinstance(row, widgets.HBox) for c in row.children
             if isinstance(c, widgets.Checkbox)}
    assert set(boxes) == {label for _, label, _ in explore.CONTROLS}
    before = ui.explorer.state.after.copy()
    boxes["flip"].value = True
    assert ui.explorer.settings["flip"] and ui.explorer.state.flipped
    assert not np.allclose(np.nan_to_num(ui.explorer.state.after), np.nan_to_num(before))
    picker = ui.children[0].children[0]
    picker.value = "b"
    assert len(ui.explorer.state.before) == len(inputs.long_seq)


# ------------------------------------------------------------------------------------------------ long titles
def test_finish_wraps_a_suptitle_wider_than_the_figure():
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax in axes:
        ax.set_title("panel")
    fig.suptitle("participant-split fold-0 checkpoints, ensemble 0.00·cnn + 1.00·bert + 0.00·deberta on held-out "
                 "participants: bundled real sample (10 sequences, from embedded_k1_s0_sample)", fontsize=10)
    viz.finish(fig, "data")
    renderer = fig.canvas.get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.get_figwidth() * fig.dpi
    assert "\n" in fig._suptitle.get_text()
    assert all(ax.get_tightbbox(renderer).y1 <= box.y0 + 1 for ax in axes)  # the axes stay below it
    plt.close(fig)
