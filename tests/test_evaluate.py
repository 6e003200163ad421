"""`islr evaluate` on the bundled real sample with real small models: numbers equal a per-file computation."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from islr import evaluate as ev
from islr import io
from islr.config import get_config
from islr.io import sign_names
from islr.predict import TFLiteSignModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prepared):
    """A smoke-sized BERT and CNN trained one short epoch on the real sample (participant split, 4 folds)."""
    from islr.train.run import train_fold

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    cfg = get_config("smoke", {"split.n_folds": 4})
    return {f: train_fold(cfg, prepared, f, out_dir=root / f"{f}_participant_f0", kind="participant",
                          progress=False)[1].out_dir for f in ("bert", "cnn")}


@pytest.fixture(scope="module")
def tflite_model(tmp_path_factory, trained):
    """The trained BERT exported to a Kaggle-contract TFLite file (its own preprocessing in the graph)."""
    from islr import runs
    from islr.export.tflite import build_tflite, save_tflite

    model = runs.load_model(trained["bert"])
    return save_tflite(build_tflite(model), tmp_path_factory.mktemp("model") / "model.tflite")


def _direct(model, sample_dir):
    """Per file, by hand: read train.csv, call the model, take argmax / top-5."""
    index = pd.read_csv(sample_dir / "train.csv")
    names = sign_names()
    logits = np.stack([np.asarray(model(io.read_landmarks(sample_dir / p)), np.float64) for p in index["path"]])
    truth = np.array([names.index(s) for s in index["sign"]])
    top1 = logits.argmax(1) == truth
    top5 = (np.argsort(-logits, 1)[:, :5] == truth[:, None]).any(1)
    return index, logits, top1, top5


@pytest.mark.parametrize("family", ["bert", "cnn"])
def test_checkpoint_numbers_equal_a_direct_computation(trained, prepared, sample_dir, family):
    from islr import runs
    from islr.pipeline import CNNPipeline, TransformerPipeline

    result = ev.evaluate(trained[family] / "best.pt", sample_dir, progress=False)
    assert result.model.startswith(family)  # family read from the checkpoint's stored model spec

    # Direct: the training's own model + eval transform, called per file here.
    model = runs.load_model(trained[family])
    cfg = get_config("smoke", {"split.n_folds": 4})
    pipe = (CNNPipeline if family == "cnn" else TransformerPipeline)(cfg, train=False)

    def call(x):
        seq = torch.from_numpy(x[:, pipe.points])[None]
        batch = {"seq": seq, "lengths": torch.tensor([len(x)]), "y": torch.zeros(1, dtype=torch.long),
                 "index": torch.zeros(1, dtype=torch.long)}
        inp = pipe(batch)["x"]
        with torch.no_grad():
            out = model(**inp) if isinstance(inp, dict) else model(inp)
        return (out[0] if isinstance(out, tuple) else out)[0].numpy()

    index, logits, top1, top5 = _direct(call, sample_dir)
    np.testing.assert_allclose(result.logits, logits, atol=1e-4)
    s = result.summary()
    assert s["n"] == len(index) and s["top1"] == pytest.approx(top1.mean()) and s["top5"] == pytest.approx(top5.mean())
    pp = result.per_participant()
    for pid, grp in index.assign(ok=top1).groupby("participant_id"):
        assert pp.loc[pid, "top1"] == pytest.approx(grp["ok"].mean()) and pp.loc[pid, "n"] == len(grp)
    ps = result.per_sign()
    for sign, grp in index.assign(ok5=top5).groupby("sign"):
        assert ps.loc[sign, "top5"] == pytest.approx(grp["ok5"].mean())
    conf = result.confusion()
    assert conf.to_numpy().sum() == len(index)
    assert np.trace(conf.to_numpy()) == top1.sum()  # diagonal = right 250-way top-1 predictions

    # The same numbers as the training loop's own validation logits (batched over the prepared memmap).
    oof, oof_idx = np.load(trained[family] / "oof_logits.npy"), np.load(trained[family] / "oof_index.npy")
    pos = {int(s): i for i, s in enumerate(result.rows["sequence_id"])}
    rows = [pos[int(prepared.sequence_ids[i])] for i in oof_idx]
    np.testing.assert_allclose(result.logits[rows], oof, atol=1e-3)


def test_tflite_numbers_and_present_signs(tflite_model, sample_dir):
    result = ev.evaluate(tflite_model, sample_dir, progress=False)
    index, logits, top1, top5 = _direct(TFLiteSignModel(tflite_model), sample_dir)
    np.testing.assert_allclose(result.logits, logits, atol=1e-5)
    s = result.summary()
    assert (s["top1"], s["top5"]) == (pytest.approx(top1.mean()), pytest.approx(top5.mean()))
    # top-1 among the signs present: argmax over those signs' columns only
    names = sign_names()
    present = sorted({names.index(x) for x in index["sign"]})
    truth = np.array([names.index(x) for x in index["sign"]])
    expected = (np.array(present)[logits[:, present].argmax(1)] == truth).mean()
    assert s["top1_present"] == pytest.approx(expected)
    assert s["data"].startswith("bundled real sample") and "TFLite" in s["model"]
    assert list(result.confusion().columns) == [*sorted(set(index["sign"])), "other"]
    preds = result.predictions()
    assert "top1 (raw logit)" in preds.columns and len(preds) == len(index)


def test_selection_and_unlabelled_rows(tflite_model, sample_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sample_dir, data)
    table = pd.read_csv(data / "train.csv")
    table.loc[0, "sign"] = ""  # e.g. a video of a sign outside the 250, written by islr extract
    table.to_csv(data / "train.csv", index=False)
    result = ev.evaluate(tflite_model, data, progress=False)
    assert result.summary()["n"] == len(table) - 1 and result.summary()["n_unlabelled"] == 1
    assert result.predictions().loc[0, "sign"] == "(unlabelled)"
    one = int(table["participant_id"].iloc[1])
    part = ev.evaluate(tflite_model, data, participants=[one], progress=False)
    assert set(part.rows["participant_id"]) == {one}
    ids = table["sequence_id"].iloc[2:5].tolist()
    assert ev.evaluate(tflite_model, data, sequence_ids=ids, progress=False).rows["sequence_id"].tolist() == ids


def test_bad_files_are_skipped_and_named_and_a_bad_folder_stops(tflite_model, sample_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sample_dir, data)
    table = pd.read_csv(data / "train.csv")
    victim, gone = data / table["path"].iloc[3], data / table["path"].iloc[5]
    victim.write_bytes(b"not a parquet")
    gone.unlink()
    result = ev.evaluate(tflite_model, data, progress=False)
    assert [(b.path, b.cause.split(" (")[0]) for b in result.skipped] == [
        (str(victim), "not a readable parquet file"), (str(gone), f"listed in {data / 'train.csv'} but missing")]
    assert result.summary()["n"] == len(table) - 2 and result.summary()["n_skipped"] == 2
    assert table["sequence_id"].iloc[3] not in set(result.rows["sequence_id"])
    assert [s["path"] for s in result.as_dict()["skipped"]] == [str(victim), str(gone)]
    with pytest.raises(ev.NothingScored) as info:  # every selected file bad: nothing to score
        ev.evaluate(tflite_model, data, sequence_ids=[table["sequence_id"].iloc[3]], progress=False)
    assert [b.path for b in info.value.skipped] == [str(victim)] and info.value.total == 1
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ev.evaluate(tflite_model, tmp_path / "nowhere", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no train.csv"):
        ev.evaluate(tflite_model, tmp_path / "empty", progress=False)
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        ev.open_scorer(tmp_path / "missing.tflite")


def test_cli_names_each_bad_file_scores_the_good_one_and_exits_1(tflite_model, bad_input_dir,
                                                                 check_bad_file_report):
    folder, causes = bad_input_dir
    proc = subprocess.run([sys.executable, "-m", "islr", "evaluate", str(tflite_model), str(folder), "--json",
                           "--no-plot"], capture_output=True, text=True)
    check_bad_file_report(proc, "islr evaluate", {folder / p: c for p, c in causes.items()})
    out = json.loads(proc.stdout)
    good = [p for p, c in causes.items() if c is None]
    assert [r["path"] for r in out["predictions"]] == good and out["summary"]["n_skipped"] == 3
    assert sorted(s["path"] for s in out["skipped"]) == sorted(str(folder / p) for p, c in causes.items() if c)


def test_a_corrupt_checkpoint_is_named(tmp_path, sample_dir):
    bad = tmp_path / "run" / "best.pt"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint")
    proc = subprocess.run([sys.executable, "-m", "islr", "evaluate", str(bad.parent), str(sample_dir), "--no-plot"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}: not a readable checkpoint" in proc.stderr


def test_cli_table_json_and_plot(tflite_model, sample_dir, tmp_path):
    plot = tmp_path / "fig.png"
    proc = subprocess.run([sys.executable, "-m", "islr", "evaluate", str(tflite_model), str(sample_dir), "--json",
                           "--plot", str(plot)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    direct = ev.evaluate(tflite_model, sample_dir, progress=False).summary()
    assert out["summary"]["top1"] == pytest.approx(direct["top1"]) and out["summary"]["n"] == direct["n"]
    assert len(out["predictions"]) == direct["n"] and plot.stat().st_size > 10_000
    proc = subprocess.run([sys.executable, "-m", "islr", "evaluate", str(tflite_model), str(sample_dir),
                           "--no-plot"], capture_output=True, text=True)
    assert proc.returncode == 0 and "per participant" in proc.stdout and "bundled real sample" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "islr", "evaluate", str(tflite_model), str(tmp_path / "nodata")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "nodata" in proc.stderr


def test_real_training_signs_from_the_run_data_source(tmp_path, monkeypatch, sample_dir):
    """An embedded-style folder (real sample + a synthetic row): only the real rows' signs count."""
    from islr import runs
    from islr.data import DataSource

    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path / "outputs"))
    data = tmp_path / "embedded"
    shutil.copytree(sample_dir, data)
    sample = pd.read_csv(sample_dir / "train.csv")
    synthetic = {"path": sample["path"].iloc[0], "participant_id": 1, "sequence_id": 7, "sign": "zebra"}
    pd.concat([sample, pd.DataFrame([synthetic])]).to_csv(data / "train.csv", index=False)
    cfg = get_config("smoke", run_name="known")
    runs.write_data_source(runs.run_folder(cfg, "cnn"), DataSource(data, "embedded", "synthetic + sample"))
    known = ev.real_training_signs(cfg)
    assert set(known.index) == set(sample["sign"]) and "zebra" not in known.index
    assert known["real_sequences"].sum() == len(sample)
    assert known.loc["hello", "real_participants"] == sample[sample.sign == "hello"].participant_id.nunique()
    line = ev.knows_line(known)
    assert f"{len(known)} of 250 signs" in line and known.index[0] in line and "synthetic" in line


def test_held_out_ids_and_weighted_checkpoints(trained, prepared, sample_dir):
    cfg = get_config("smoke", {"split.n_folds": 4})
    real = np.ones(len(prepared), bool)
    real[0] = False
    ids = ev.held_out_real_ids(cfg, prepared, real)
    valid = np.load(trained["bert"] / "oof_index.npy")  # the participant-split fold-0 run's validation rows
    assert set(ids) == set(prepared.sequence_ids[valid]) - {prepared.sequence_ids[0]}
    members = {f: ev.CheckpointModel(trained[f]) for f in ("bert", "cnn")}
    ens = ev.WeightedEnsemble(members, {"bert": 0.25, "cnn": 0.75})
    got = ev.evaluate(ens, sample_dir, sequence_ids=ids, progress=False)
    each = {f: ev.evaluate(m, sample_dir, sequence_ids=ids, progress=False).logits for f, m in members.items()}
    np.testing.assert_allclose(got.logits, 0.25 * each["bert"] + 0.75 * each["cnn"], atol=1e-4)
    assert set(got.rows["sequence_id"]) == set(ids)


def test_known_signs_and_live_line(tmp_path, monkeypatch):
    from islr import runs
    from islr.data import DataSource
    from islr.live import model_knowledge

    model = tmp_path / "submission" / "model.tflite"
    model.parent.mkdir()
    model.write_bytes(b"")
    assert "no record" in model_knowledge(model)
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path / "outputs"))
    runs.write_data_source(runs.run_folder(get_config("smoke", run_name="k"), "cnn"),
                           DataSource(ev.paths.SAMPLE_DIR, "sample", "bundled real sample"))
    ev.save_known_signs(get_config("smoke", run_name="k"), model)
    known = ev.known_signs(model)
    sample = pd.read_csv(ev.paths.SAMPLE_DIR / "train.csv")
    assert known["real_sequences"].to_dict() == sample["sign"].value_counts().to_dict()
    line = model_knowledge(model)
    assert f"{sample['sign'].nunique()} of 250 signs" in line and "bundled real sample" in line
