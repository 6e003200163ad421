"""Tests of islr.synth: layout, schema, determinism and the real statistics it is meant to reproduce."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from islr import synth
from islr.io import check_schema, read_landmarks, read_sign_map, read_train_index
from islr.landmarks import PART_SLICE
from islr.paths import SAMPLE_DIR, SIGN_MAP_JSON

SIGNS = ["TV", "after", "airplane", "hello"]


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return synth.synthesize(out, per_sign=2, seed=3, signs=SIGNS, show_progress=False, num_workers=2)


def _digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_layout_and_train_csv_like_real(synth_dir, sample_dir):
    real = pd.read_csv(sample_dir / "train.csv")
    ours = pd.read_csv(synth_dir / "train.csv")
    assert list(ours.columns) == list(real.columns)
    assert (ours.dtypes == real.dtypes).all()
    assert len(ours) == 2 * len(SIGNS)
    assert set(ours["sign"]) == set(SIGNS)
    assert read_sign_map(synth_dir) == json.loads(SIGN_MAP_JSON.read_text())
    real_ids = set(pd.read_csv(SAMPLE_DIR / "train.csv")["sequence_id"])
    assert ours["sequence_id"].min() >= synth.SYNTH_SEQUENCE_ID_BASE > 2 ** 32 > max(real_ids)
    assert ours["sequence_id"].is_unique
    index = read_train_index(synth_dir)
    for row in index.itertuples():
        assert row.path == f"train_landmark_files/{row.participant_id}/{row.sequence_id}.parquet"
        assert row.participant_id in synth._context().stats.participant_counts


def test_files_have_the_real_schema_and_read_back(synth_dir, sample_files):
    check_schema(sample_files[0])  # the reference: a real file passes
    ref = pd.read_parquet(sample_files[0])
    for path in sorted(synth_dir.rglob("*.parquet")):
        check_schema(path)
        array = read_landmarks(path)
        assert array.shape[1:] == (543, 3)
        assert 2 <= len(array) <= 272
        assert not np.isnan(array[:, PART_SLICE["pose"]]).any()  # pose is never missing (real: 0%)
        frame = pd.read_parquet(path)
        assert (frame.dtypes == ref.dtypes).all()
        expected = frame["frame"].astype(str) + "-" + frame["type"] + "-" + frame["landmark_index"].astype(str)
        assert (frame["row_id"] == expected).all()


def test_same_seed_same_bytes_other_seed_differs(synth_dir, tmp_path):
    again = synth.synthesize(tmp_path / "a", per_sign=2, seed=3, signs=SIGNS, show_progress=False, num_workers=1)
    assert _digest(again) == _digest(synth_dir)
    assert (again / "train.csv").read_bytes() == (synth_dir / "train.csv").read_bytes()
    other = synth.synthesize(tmp_path / "b", per_sign=2, seed=4, signs=SIGNS, show_progress=False, num_workers=1)
    a = read_landmarks(synth_dir / pd.read_csv(synth_dir / "train.csv")["path"][0])
    b = read_landmarks(other / pd.read_csv(other / "train.csv")["path"][0])
    assert a.shape != b.shape or not np.allclose(a, b, equal_nan=True)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "train.csv").write_text("path\n")
    with pytest.raises(FileExistsError):
        synth.synthesize(tmp_path, per_sign=1, seed=0, signs=["TV"], show_progress=False)


@pytest.fixture(scope="module")
def many_sequences():
    ctx = synth._context()
    pids = sorted(ctx.bodies)
    out = []
    for k in range(300):
        pid = pids[k % len(pids)]
        array, first = synth.make_sequence(k % 250, pid, 11, k)
        out.append((pid, array, first))
    return out


def test_lengths_and_missing_rates_match_the_real_statistics(many_sequences):
    lengths = np.array([len(a) for _, a, _ in many_sequences])
    assert lengths.min() >= 2 and lengths.max() <= 272
    assert 12 <= np.median(lengths) <= 26  # real median 18
    frames = np.concatenate([a for _, a, _ in many_sequences])
    left = np.isnan(frames[:, PART_SLICE["left_hand"], 0]).all(1)
    right = np.isnan(frames[:, PART_SLICE["right_hand"], 0]).all(1)
    face = np.isnan(frames[:, PART_SLICE["face"], 0]).all(1)
    assert abs((left & right).mean() - 0.34) < 0.06  # real 0.34
    assert 0.5 < left.mean() < 0.8 and 0.5 < right.mean() < 0.8  # real 0.71 / 0.62
    assert face.mean() < 0.05
    firsts = np.array([f for _, _, f in many_sequences])
    assert firsts.min() >= 0 and firsts.max() <= 186


def test_dominant_hand_is_consistent_per_participant(many_sequences):
    ctx = synth._context()
    one_handed = 0
    for k, (pid, array, _) in enumerate(many_sequences):
        dominant = ctx.bodies[pid].dominant
        assert dominant == ("right_hand" if ctx.stats.right_share[pid] >= 0.5 else "left_hand")
        other = "left_hand" if dominant == "right_hand" else "right_hand"
        shown = {part: int((~np.isnan(array[:, PART_SLICE[part], 0]).all(1)).sum()) for part in (dominant, other)}
        assert shown[dominant] >= 1  # every sequence shows its signing hand
        if synth.sign_spec(k % 250).second == "none":
            one_handed += 1
            assert shown[other] == 0, (pid, shown)  # one-handed signs: the other hand is never detected
    assert one_handed > len(many_sequences) // 2


def test_hand_bones_keep_real_proportions(many_sequences):
    """A rigid hand model: bone lengths of a hand vary only by jitter across frames and signs."""
    from islr.landmarks import HAND_BONES

    aspect = synth._context().stats.aspect
    pid, _, _ = many_sequences[0]
    hands = []
    for p, a, _ in many_sequences:
        if p != pid:
            continue
        h = a[:, PART_SLICE[synth._context().bodies[pid].dominant]]
        hands.append(h[~np.isnan(h[:, 0, 0])])
    h = np.concatenate(hands).astype(float) * [aspect, 1.0, aspect]
    bones = np.linalg.norm(h[:, HAND_BONES[:, 1]] - h[:, HAND_BONES[:, 0]], axis=-1)  # (F, 20)
    palm = np.median(bones[:, [8]])  # middle finger metacarpal (0 -> 9)
    assert (np.std(bones, axis=0) / palm).max() < 0.12


def test_with_sample_includes_the_real_files(tmp_path):
    out = synth.synthesize(tmp_path, per_sign=1, seed=0, include_sample=True, signs=["TV", "hello"],
                           show_progress=False, num_workers=1)
    real = pd.read_csv(SAMPLE_DIR / "train.csv")
    ours = pd.read_csv(out / "train.csv")
    assert len(ours) == 2 + len(real)
    assert set(real["sequence_id"]) <= set(ours["sequence_id"])
    for path in real["path"]:
        assert (out / path).read_bytes() == (SAMPLE_DIR / path).read_bytes()


def test_plan_apportions_by_real_frequency():
    rows = synth.plan(6, 0)
    assert len(rows) == 6 * 250
    counts = rows["sign"].value_counts()
    assert counts.min() >= 1 and set(counts.index) == set(json.loads(SIGN_MAP_JSON.read_text()))
    # One per sign, plus the sign's share of the other 5 × 250 by its count in the real train.csv, rounded.
    real = pd.Series(synth._context().stats.sign_counts)
    quota = real / real.sum() * 5 * 250
    assert ((counts[real.index] - 1 - quota).abs() < 1).all()
    assert counts[real.idxmax()] > counts[real.idxmin()]


def test_cli_main(tmp_path):
    assert synth.main(["--out", str(tmp_path / "d"), "--per-sign", "1", "--seed", "0", "--signs", "TV",
                       "--quiet", "--workers", "1"]) == 0
    assert len(pd.read_csv(tmp_path / "d" / "train.csv")) == 1


@pytest.fixture(scope="module")
def fitted():
    return synth.fit_sign_specs()


def test_fitted_specs_cover_the_real_signs_and_only_the_given_participants(fitted):
    ctx = synth._context()
    assert sorted(ctx.signs[k] for k in fitted) == ["cloud", "fall", "hello", "thankyou"]
    # cloud's only recording is participant 16069's: without that participant there is no cloud to fit
    others = sorted(set(read_train_index(SAMPLE_DIR)["participant_id"]) - {16069})
    assert ctx.signs.index("cloud") not in synth.fit_sign_specs(participants=others)
    assert synth.fit_sign_specs(participants=[]) == {}
    hello = fitted[ctx.signs.index("hello")]
    assert hello.second == "none" and np.isfinite(hello.path).all() and np.isfinite(hello.hand.orient).all()


@pytest.mark.parametrize("sign", ["hello", "thankyou"])
def test_fitting_a_synthetic_sign_recovers_its_definition(fitted, sign):
    # Sequences generated from a fitted spec, fitted again, give back its palm orientation and path: the
    # orientation convention of the fit is the inverse of the generator's (a sign flip or axis swap would not).
    ctx = synth._context()
    label = ctx.signs.index(sign)
    spec = fitted[label]
    for pid in (62590, 2044):  # a right- and a left-handed participant's body
        fits = [synth._fit_one(synth.make_sequence(label, pid, 0, row, spec)[0], ctx.bodies[pid], ctx.stats.aspect)
                for row in range(12)]
        orient = np.median([f["orient"] for f in fits if f], axis=0)
        diff = (orient - spec.hand.orient + 180) % 360 - 180
        assert np.abs(diff).max() < 30  # generator noise: 20° per sequence + the participant's style
        path = np.median([f["path"] for f in fits if f], axis=0)
        assert np.abs(path - spec.path[:, 1:]).max() < 0.3  # shoulder widths; path noise 0.15 + style


def test_synthesize_with_fitted_signs_records_them(tmp_path):
    out = synth.synthesize(tmp_path / "fit", per_sign=1, seed=0, signs=["hello", "TV"], show_progress=False,
                           num_workers=1, fit_participants=[2044, 62590])
    info = json.loads((out / synth.INFO_NAME).read_text())
    assert info["fitted_signs"] == ["fall", "hello", "thankyou"] and info["fit_participants"] == [2044, 62590]
