"""``islr evaluate MODEL DIR``: score a model on a folder of labelled landmark files.

MODEL is either a Kaggle-contract TFLite file (called per file exactly like the competition harness, through
:class:`islr.predict.TFLiteSignModel`) or a training checkpoint (``best.pt``, or the run folder holding it), read
through :func:`islr.runs.open_checkpoint` (model, family, input settings and config from the file) and run with the
training's own deterministic preprocessing (the ``eval`` transform of its family's pipeline, with the input settings
stored in the checkpoint's model spec: ``n_frames``, ``dominant_hand``, ``max_len``). :func:`open_scorer` turns
either into a scoring function. DIR is any folder in the asl-signs layout (``train.csv`` +
``train_landmark_files/``). Every file is scored on its own (no batching, no padding), so the numbers are those of a
user calling the model on that file.

The result (:class:`Evaluation`) holds one row per sequence and gives: top-1 / top-5 over the 250 signs, top-1 among
only the signs present in the folder (e.g. hello vs thankyou), per-participant and per-sign accuracy, and the
confusion matrix among the signs present. Rows of ``train.csv`` whose sign is empty (videos of a sign outside the
250, written by ``islr extract``) are predicted but not scored. A file that cannot be used (missing, unreadable, wrong
schema, empty, or listed with a sign outside the 250) is skipped and kept in :attr:`Evaluation.skipped`; ``islr
evaluate`` names each on stderr with its cause, counts them and exits with status 1
(:func:`islr.io.report_bad_files`, the rule of every command that reads many files).

:func:`real_training_signs` says which signs a run's training data holds *real* recordings of (the rest of the
250 are known from synthetic sequences only), for the demo (notebook 07, ``islr live``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from islr import extras, io, paths
from islr.answer import NO_HANDS, SIGN, UNKNOWN, Answerer, AnswerRules
from islr.metrics import topk_indices

#: Scores a model returns: raw logits (the ensemble is a weighted sum of raw logits, docs/method.md §7).
SCORE_KIND = "raw logit"


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------
class CheckpointModel:
    """A training checkpoint as a (T, 543, 3) → (250,) raw-logit function, with the training's eval preprocessing.

    The model, its family, its input settings and its run config come from the file
    (:func:`islr.runs.open_checkpoint`); the family's pipeline (:data:`islr.models.families.FAMILIES`) with those
    input settings gives the eval transform.

    Args:
        path: ``best.pt`` or the run folder holding it.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        ValueError: not a ``best.pt``, or (:class:`islr.runs.CheckpointError`) a file that cannot be rebuilt into
            its model (names it).
    """

    def __init__(self, path: str | Path):
        from islr import runs
        from islr.config import Config
        from islr.models.families import FAMILIES

        path = Path(path)
        if path.is_dir():
            path = runs.checkpoint_path(path, "best")
        if not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}")
        if path.name != "best.pt":
            raise ValueError(f"{path}: pass a run's best.pt (or its run folder); other checkpoints are not supported")
        ckpt = runs.open_checkpoint(path)
        self.path, self.family, self.model = path, ckpt.family, ckpt.model
        self.config = ckpt.config or Config()
        pipeline = FAMILIES[self.family].pipeline
        self.points = np.asarray(pipeline.points)
        # The eval transform the training loop used, fed as the model was trained (the settings in its spec).
        self.transform = pipeline(self.config, train=False, inputs=ckpt.inputs)
        self.name = f"{self.family} checkpoint {path.parent.name}/{path.name}"

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, 543, 3) float32 with NaNs → (250,) raw logits."""
        import torch

        from islr.data import pad_sequences
        from islr.train.loop import forward
        from islr.train.losses import main_logits

        seq, lengths = pad_sequences([np.asarray(landmarks, np.float32)[:, self.points]])  # (1, T, P, 3), (1,)
        batch = {"seq": seq, "lengths": lengths, "y": torch.zeros(1, dtype=torch.int64),
                 "index": torch.zeros(1, dtype=torch.int64)}
        with torch.no_grad():
            return main_logits(forward(self.model, self.transform(batch)["x"]))[0].float().numpy()


def open_scorer(path: str | Path, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """A model file as a (T, 543, 3) → (250,) raw-logit function with a ``name``.

    Args:
        path: a ``.tflite`` (Kaggle contract) or a training checkpoint (``best.pt`` or its run folder).
        threads: TFLite interpreter threads.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: neither a TFLite file nor a checkpoint.
    """
    from islr.predict import TFLiteSignModel

    path = Path(path)
    if path.suffix == ".tflite":
        model = TFLiteSignModel(path, threads)
        model.name = f"TFLite {path.name}"
        return model
    if path.is_dir() or path.suffix == ".pt":
        return CheckpointModel(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    raise ValueError(f"{path}: not a model (a .tflite file, a best.pt checkpoint or a run folder)")


class WeightedEnsemble:
    """Weighted sum of several models' raw logits (the submission's formula, docs/method.md §7), for checkpoints.

    Args:
        members: {name: model} — callables (T, 543, 3) → (250,).
        weights: {name: weight}, same names.
    """

    def __init__(self, members: dict, weights: dict[str, float]):
        if set(members) != set(weights):
            raise ValueError(f"members {sorted(members)} and weights {sorted(weights)} differ")
        self.members, self.weights = members, weights
        self.name = "ensemble " + " + ".join(f"{w:.2f}·{n}" for n, w in weights.items())

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        return sum(w * np.asarray(self.members[n](landmarks), np.float64) for n, w in self.weights.items())


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
def read_folder(data_dir: str | Path) -> pd.DataFrame:
    """The sequences of an asl-signs folder with labels in the models' 250-sign order (-1 = unlabelled row), and in
    column ``cause`` why a row cannot be scored ("" for every usable row: a sign outside the 250 is not an error
    here, the row is a bad file that :func:`evaluate` skips and reports).

    Raises:
        FileNotFoundError: ``data_dir`` is not a folder or has no train.csv (names it).
        ValueError: train.csv lacks a column (names the file).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such folder")
    if not (data_dir / "train.csv").exists():
        raise FileNotFoundError(f"{data_dir}: not an asl-signs folder (no train.csv)")
    models_order = {s: i for i, s in enumerate(io.sign_names())}  # the models' label order, not the folder's map
    return io.read_train_index(data_dir, sign_map=models_order, unknown="keep", unlabelled=True)


def describe_data(data_dir: str | Path, sequence_ids: Sequence[int] | None = None) -> str:
    """What a folder (or the chosen sequences of it) holds, in the words figures use: "bundled real sample",
    "synthetic", "full Kaggle set", or the folder's name."""
    from islr.data import real_sample_ids
    from islr.synth import INFO_NAME

    data_dir = Path(data_dir).resolve()
    ids = pd.read_csv(data_dir / "train.csv", usecols=["sequence_id"])["sequence_id"].astype(np.int64)
    if sequence_ids is not None:
        ids = ids[ids.isin(set(int(i) for i in sequence_ids))]
    n = len(ids)
    if data_dir == paths.SAMPLE_DIR.resolve():
        return f"bundled real sample ({n} sequences)"
    if data_dir == paths.KAGGLE_DATA or n > 90_000:
        return f"full Kaggle set ({n:,} sequences)"
    if (data_dir / INFO_NAME).exists():  # written by islr.synth: synthetic, maybe + the bundled real sample
        n_real = int(ids.isin(real_sample_ids()).sum())
        if n_real == n:
            return f"bundled real sample ({n} sequences, from {data_dir.name})"
        return f"synthetic ({n - n_real} sequences)" + (f" + bundled real sample ({n_real})" if n_real else "")
    return f"folder {data_dir.name} ({n:,} sequences)"


# ---------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------
class NothingScored(ValueError):
    """No file of the selection could be scored; ``skipped`` holds the bad files (:class:`islr.io.BadFile`) and
    ``total`` how many were selected."""

    def __init__(self, message: str, skipped: list[io.BadFile], total: int):
        super().__init__(message)
        self.skipped, self.total = skipped, total


@dataclass
class Evaluation:
    """Per-sequence predictions of one model on one folder, and the tables and plot made from them.

    Attributes:
        rows: one row per scored sequence: path, participant_id, sequence_id, sign, label (-1 = unlabelled), frames,
            predicted (top-1 sign), top5 (signs), correct, in_top5, predicted_present (top-1 among the signs
            present), correct_present.
        logits: (N, 250) raw logits, in ``rows`` order.
        model: the model's name.
        data: what the folder holds (:func:`describe_data`).
        skipped: the files of the selection that could not be used, with their causes (:class:`islr.io.BadFile`).
        rules: what the answer rules were fitted on (:attr:`islr.answer.AnswerRules.data`).

    ``rows`` also holds each file's answer (:mod:`islr.answer`): frames, span (the frames scored), answer (sign,
    unknown, no_hands) and p (the calibrated probability of the top sign).
    """

    rows: pd.DataFrame
    logits: np.ndarray
    model: str
    data: str
    skipped: list[io.BadFile] = field(default_factory=list)
    rules: str = ""

    @property
    def scored(self) -> pd.DataFrame:
        """The labelled rows (those that count in the accuracies)."""
        return self.rows[self.rows["label"] >= 0]

    def summary(self) -> dict:
        """top1, top5 (250-way), top1_present (among the signs present), the shares of answers (answered with a
        sign, not_known: "not a sign this model knows", no_hands) and the top-1 of the answered files, and the
        counts (``n_skipped``: files that could not be used)."""
        s = self.scored
        return {"model": self.model, "data": self.data, "n": int(len(s)),
                "n_unlabelled": int(len(self.rows) - len(s)), "n_skipped": len(self.skipped),
                "participants": int(s["participant_id"].nunique()), "signs": int(s["sign"].nunique()),
                "top1": _mean(s["correct"]), "top5": _mean(s["in_top5"]),
                "top1_present": _mean(s["correct_present"]),
                "answered": _mean(s["answer"] == SIGN), "not_known": _mean(s["answer"] == UNKNOWN),
                "no_hands": _mean(s["answer"] == NO_HANDS),
                "answered_top1": _mean(s.loc[s["answer"] == SIGN, "correct"])}

    def table(self) -> pd.DataFrame:
        """The summary as a one-row table."""
        return pd.DataFrame([self.summary()])

    def per_participant(self) -> pd.DataFrame:
        """n, top1, top5 and top1 among the signs present, per participant (worst first)."""
        return self._grouped("participant_id")

    def per_sign(self) -> pd.DataFrame:
        """n, top1, top5 and top1 among the signs present, per sign (worst first)."""
        return self._grouped("sign")

    def _grouped(self, key: str) -> pd.DataFrame:
        g = self.scored.groupby(key)
        out = pd.DataFrame({"n": g.size(), "top1": g["correct"].mean(), "top5": g["in_top5"].mean(),
                            "top1_present": g["correct_present"].mean()})
        return out.sort_values(["top1", "n"], ascending=[True, False])

    def confusion(self) -> pd.DataFrame:
        """Counts of true sign (rows) → predicted sign (columns) among the signs present; a 250-way prediction of
        any other sign is counted in the column "other"."""
        s = self.scored
        present = sorted(s["sign"].unique())
        pred = s["predicted"].where(s["predicted"].isin(present), "other")
        table = pd.crosstab(pd.Categorical(s["sign"], present), pd.Categorical(pred, [*present, "other"]),
                            rownames=["true"], colnames=["predicted"], dropna=False)
        return table

    def as_dict(self) -> dict:
        """Everything as plain JSON-able values (the CLI's ``--json``)."""
        return {"summary": self.summary(),
                "per_participant": _records(self.per_participant(), "participant_id"),
                "per_sign": _records(self.per_sign(), "sign"),
                "confusion": {"signs": list(self.confusion().index), "columns": list(self.confusion().columns),
                              "counts": self.confusion().to_numpy().tolist()},
                "rules": self.rules,
                "predictions": [{"path": r.path, "sign": r.sign, "answer": r.answer, "span": list(r.span),
                                 "p": None if np.isnan(r.p) else round(float(r.p), 4), "top5": list(r.top5),
                                 "top5_raw_logits": [round(float(v), 4) for v in r.top5_logits]}
                                for r in self.rows.itertuples()],
                "skipped": [{"path": b.path, "cause": b.cause} for b in self.skipped]}

    def predictions(self, k: int = 5) -> pd.DataFrame:
        """Per file: true sign, frames and span scored, the answer (a sign with its calibrated probability, "not a
        sign this model knows", "no hands in view"), then the model's top-k signs with their raw logits."""
        from islr.answer import STATE_TEXT

        rows = []
        for r in self.rows.itertuples():
            answer = f"{r.top5[0]} {r.p:.2f}" if r.answer == SIGN else STATE_TEXT[r.answer]
            rows.append({"path": r.path, "sign": r.sign or "(unlabelled)", "frames": r.frames,
                         "span": f"{r.span[0]}-{r.span[1] - 1}", "answer": answer,
                         **{f"top{i + 1} ({SCORE_KIND})": f"{s} {v:.2f}"
                            for i, (s, v) in enumerate(zip(r.top5[:k], r.top5_logits[:k]))}})
        return pd.DataFrame(rows)

    def plot(self, fig=None):
        """Per-participant top-1/top-5 bars and the confusion matrix among the signs present; the title names the
        model and the data."""
        import matplotlib.pyplot as plt

        fig = fig or plt.figure(figsize=(12, 4.2))
        ax_p, ax_c = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        pp = self.per_participant().sort_index()
        x = np.arange(len(pp))
        ax_p.bar(x - 0.2, pp["top1"], 0.4, label="top-1 (250-way)", color="tab:blue")
        ax_p.bar(x + 0.2, pp["top5"], 0.4, label="top-5 (250-way)", color="tab:cyan")
        ax_p.plot(x, pp["top1_present"], "k_", ms=14, mew=2, label="top-1 among the signs present")
        ax_p.set_xticks(x, [f"{p}\n({n})" for p, n in zip(pp.index, pp["n"])], fontsize=7)
        ax_p.set_xlabel("participant (sequences)")
        ax_p.set_ylim(0, 1.05)
        ax_p.set_ylabel("accuracy")
        ax_p.legend(fontsize=7, loc="lower right")
        s = self.summary()
        ax_p.set_title(f"per participant — overall top-1 {s['top1']:.3f}, top-5 {s['top5']:.3f}, "
                       f"among present {s['top1_present']:.3f} (n={s['n']})", fontsize=9)
        conf = self.confusion()
        ax_c.imshow(conf.to_numpy(), cmap="Blues", aspect="auto")
        counts = conf.to_numpy()
        for (i, j), v in np.ndenumerate(counts):
            if len(conf) <= 20 and v:
                ax_c.text(j, i, str(v), ha="center", va="center", fontsize=7,
                          color="white" if v > counts.max() / 2 else "black")
        ax_c.set_xticks(range(conf.shape[1]), conf.columns, rotation=90, fontsize=7)
        ax_c.set_yticks(range(conf.shape[0]), conf.index, fontsize=7)
        ax_c.set_xlabel("predicted (250-way top-1; other = a sign not in this folder)")
        ax_c.set_ylabel("true")
        ax_c.set_title("confusion among the signs present", fontsize=9)
        fig.suptitle(f"{self.model} on {self.data}", fontsize=10)
        fig.tight_layout()
        return fig


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _records(df: pd.DataFrame, key: str) -> list[dict]:
    return [{key: (int(k) if isinstance(k, (np.integer, int)) else k),
             **{c: (int(v) if c == "n" else float(v)) for c, v in r.items()}} for k, r in df.iterrows()]


def evaluate(model, data_dir: str | Path, *, sequence_ids: Sequence[int] | None = None,
             participants: Sequence[int] | None = None, data_label: str | None = None,
             progress: bool = True, rules=None, trim: bool = True) -> Evaluation:
    """Score ``model`` on every (chosen) sequence of an asl-signs folder, one file at a time.

    A file that cannot be used — missing, unreadable, wrong schema, empty, or listed with a sign outside the 250 —
    is skipped and kept in :attr:`Evaluation.skipped` with its cause; the others are scored.

    Args:
        model: a model file (``.tflite``, ``best.pt``, a run folder; :func:`open_scorer`) or a callable
            (T, 543, 3) → (250,) logits.
        data_dir: folder in the asl-signs layout.
        sequence_ids: score only these sequences (e.g. held-out participants' real rows).
        participants: score only these participants.
        data_label: how figures name the data (default :func:`describe_data`).
        progress: tqdm bar.
        rules: the model's answer rules (:class:`islr.answer.AnswerRules`; default: those stored next to a TFLite
            or ONNX model, none for a checkpoint): the answer per file (a sign, "not a sign this model knows", "no
            hands in view") and its calibrated probability. The accuracies are the model's top-k on every labelled
            file whatever the answer; the abstentions are counted apart.
        trim: score only the sign's span of each file (:func:`islr.span.sign_span`).

    Returns:
        :class:`Evaluation`.

    Raises:
        FileNotFoundError: no folder / train.csv (names it), or no model file.
        NothingScored: every file of the selection was bad (holds them).
        ValueError: the selection is empty, or the model does not return 250 scores.
    """
    from islr.progress import progress_bar

    data_dir = Path(data_dir)
    index = read_folder(data_dir)
    if sequence_ids is not None:
        index = index[index["sequence_id"].isin({int(i) for i in sequence_ids})]
    if participants is not None:
        index = index[index["participant_id"].isin({int(p) for p in participants})]
    if index.empty:
        raise ValueError(f"{data_dir}: no sequence to score (empty train.csv or nothing matches the selection)")
    if not callable(model):
        model = open_scorer(model)
    name = getattr(model, "name", None) or (f"TFLite {Path(model.path).name}" if hasattr(model, "path")
                                             else type(model).__name__)
    signs = io.sign_names()
    if rules is None:
        rules = AnswerRules.load(getattr(model, "path", None))
    answerer = Answerer(model, rules, signs, trim=trim)
    logits, answers, scored, skipped = [], [], [], []
    listed = list(zip(index["path"], index["cause"]))
    for pos, (rel, cause) in enumerate(progress_bar(listed, desc="evaluate", unit="file", disable=not progress,
                                                    mininterval=2.0)):
        path = data_dir / rel
        if cause:  # a sign outside the 250
            skipped.append(io.BadFile(str(path), cause))
            continue
        if not path.exists():
            skipped.append(io.BadFile(str(path), f"listed in {data_dir / 'train.csv'} but missing"))
            continue
        try:
            x = io.read_landmarks(path)
        except io.LandmarkFileError as err:
            skipped.append(io.BadFile.of(err))
            continue
        answers.append(answerer(x, score_anyway=True))
        out = answerer.last_logits
        if out.shape != (len(signs),) or not np.isfinite(out).all():
            raise ValueError(f"{name} gave {out.shape} scores (finite: {np.isfinite(out).all()}) for {path}; "
                             f"expected {len(signs)} finite logits")
        logits.append(out)
        scored.append(pos)
    if not scored:
        raise NothingScored(f"{data_dir}: none of the {len(index)} selected files could be read", skipped,
                            len(index))
    logits = np.stack(logits)  # (N, 250)
    rows = index.iloc[scored].drop(columns="cause").reset_index(drop=True)
    labels = rows["label"].to_numpy()
    order = topk_indices(logits, 5)  # (N, 5)
    present = np.unique(labels[labels >= 0])
    rows["frames"] = [a.frames for a in answers]
    rows["span"] = [a.span for a in answers]
    rows["answer"] = [a.state for a in answers]
    rows["p"] = [a.p if a.p is not None else np.nan for a in answers]
    rows["predicted"] = [signs[i] for i in order[:, 0]]
    rows["top5"] = [[signs[i] for i in o] for o in order]
    rows["top5_logits"] = [logits[r, o].tolist() for r, o in enumerate(order)]
    rows["correct"] = order[:, 0] == labels
    rows["in_top5"] = (order == labels[:, None]).any(1)
    if len(present):
        best_present = present[logits[:, present].argmax(1)]  # (N,) label of the best sign among those present
        rows["predicted_present"] = [signs[i] for i in best_present]
        rows["correct_present"] = best_present == labels
    else:
        rows["predicted_present"], rows["correct_present"] = "", False
    return Evaluation(rows, logits.astype(np.float32), name,
                      data_label or describe_data(data_dir, rows["sequence_id"].tolist()), skipped, rules.data)


# ---------------------------------------------------------------------------------------------------------------
# Held-out real participants (notebook 06)
# ---------------------------------------------------------------------------------------------------------------
def held_out_real_ids(cfg, prepared, real: np.ndarray, fold: int = 0) -> np.ndarray:
    """Sequence ids of the real recordings in the validation part of participant-split fold ``fold``: people the
    participant-split runs of that fold never saw (none when the chain trains no participant split,
    :func:`islr.splits.chain_kinds`).

    Args:
        cfg: run config (``split``).
        prepared: the prepared data of the run.
        real: (N,) bool, True for real recordings (:func:`islr.ensemble.real_rows`).
        fold: participant-split fold.
    """
    from islr.splits import chain_kinds
    from islr.train.run import split

    if "participant" not in chain_kinds(cfg.split):  # the chain trained no participant-split runs
        return np.zeros(0, dtype=np.asarray(prepared.sequence_ids).dtype)
    valid = split(cfg, prepared, "participant", fold)[1]
    return np.asarray(prepared.sequence_ids)[valid[np.asarray(real, bool)[valid]]]


def run_ensemble(cfg, weights: dict[str, float], kind: str = "participant", fold: int = 0) -> WeightedEnsemble:
    """The weighted sum of the best checkpoints of the runs (``kind``, ``fold``) of each member in ``weights``."""
    from islr import runs

    ens = WeightedEnsemble({m: CheckpointModel(runs.run_folder(cfg, m, kind, fold)) for m in weights}, weights)
    ens.name = f"{kind}-split fold-{fold} checkpoints, " + ens.name
    return ens


def submitted_saw(cfg) -> bool:
    """Whether the submitted models trained on the participants that participant-split fold 0 holds out (any
    split other than participant, or transformers trained on all data)."""
    return cfg.split.kind != "participant" or bool(cfg.split.full_data_transformers)


def real_motions(data_dir: str | Path, sequence_ids: Sequence[int]) -> pd.DataFrame:
    """The :func:`islr.answer.motion` of the sign's span (:func:`islr.span.sign_span`) of each listed recording of
    an asl-signs folder, with its sign and participant (rows whose file cannot be read are left out)."""
    from islr.answer import motion
    from islr.span import sign_span

    data_dir = Path(data_dir)
    index = read_folder(data_dir)
    index = index[index["sequence_id"].isin({int(i) for i in sequence_ids}) & (index["cause"] == "")]
    rows = []
    for r in index.itertuples():
        try:
            x = io.read_landmarks(data_dir / r.path)
        except io.LandmarkFileError:
            continue
        rows.append({"sequence_id": r.sequence_id, "sign": r.sign, "participant_id": r.participant_id,
                     "motion": motion(x[slice(*sign_span(x))])})
    return pd.DataFrame(rows, columns=["sequence_id", "sign", "participant_id", "motion"])


def fit_answer_rules(cfg, model_path: str | Path, prepared, real: np.ndarray, data_dir: str | Path,
                     weights: dict[str, float] | None = None, fold: int = 0):
    """Fit the answer rules (:func:`islr.answer.fit_rules`) of the submitted model at ``model_path`` on the real
    recordings of the run, and store them next to it (``answer_rules.json``).

    The open-set references are the real recordings the submitted models trained on. The temperature comes from
    real signers the model never saw: the participants that participant-split fold ``fold`` held out. When the
    submitted models did train on them (:func:`submitted_saw`, e.g. the full profile), the fold's own checkpoints
    combined with ``weights`` (the same recipe) stand in for it, and the record says so. Without held-out real
    signers the probabilities stay uncalibrated.

    Returns:
        The :class:`islr.answer.AnswerRules` written.
    """
    from islr.answer import fit_rules
    from islr.predict import TFLiteSignModel

    known = real_training_signs(cfg)
    real_signs = {s: int(n) for s, n in known["real_sequences"].items()} if len(known) < len(io.sign_names()) else None
    held = held_out_real_ids(cfg, prepared, real, fold)
    seq = np.asarray(prepared.sequence_ids)
    trained = seq[np.asarray(real, bool)] if submitted_saw(cfg) else np.setdiff1d(seq[np.asarray(real, bool)], held)
    motions = real_motions(data_dir, np.union1d(trained, held))  # every file read once
    refs, unseen = motions[motions["sequence_id"].isin(trained)], motions[motions["sequence_id"].isin(held)]
    parts = [f"open-set references: {len(refs)} real training recordings ({known.attrs['data']})"]
    logits, labels, groups = np.zeros((0, len(io.sign_names()))), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(held):
        if submitted_saw(cfg):
            if weights is None:
                raise ValueError("the submitted models trained on the held-out signers: pass the ensemble weights "
                                 "so the participant-split checkpoints can stand in")
            model, who = run_ensemble(cfg, weights, "participant", fold), "participant-split fold-0 checkpoints"
        else:
            model, who = TFLiteSignModel(model_path), Path(model_path).name
        on_held = evaluate(model, data_dir, sequence_ids=held, progress=False, rules=AnswerRules())  # raw logits
        keep = on_held.rows["label"].to_numpy() >= 0
        logits, labels = on_held.logits[keep], on_held.rows["label"].to_numpy()[keep]
        groups = on_held.rows["participant_id"].to_numpy()[keep]
        parts.insert(0, f"temperature: {who} on {len(labels)} real recordings of {len(np.unique(groups))} "
                        f"participants it never saw")
    else:
        parts.insert(0, "no real held-out signers: uncalibrated")
    rules = fit_rules(list(refs["motion"]), list(refs["sign"]), list(refs["participant_id"]), logits, labels,
                      groups, real_signs, "; ".join(parts))
    if len(held):  # the rule on people it was not fitted on: how many of their real recordings it refuses
        rules.fit["held_out_refused"] = int(sum(bool(rules.judge(s, m)) for s, m in zip(unseen["sign"],
                                                                                        unseen["motion"])))
    rules.save(model_path)
    return rules


# ---------------------------------------------------------------------------------------------------------------
# What a run's model knows from real recordings
# ---------------------------------------------------------------------------------------------------------------
def real_training_signs(cfg) -> pd.DataFrame:
    """Signs with REAL recordings in the training data of ``cfg``'s run, with their counts.

    The data is the run's recorded data source (:func:`islr.runs.run_data_source`: the ``data_source.json`` of its
    trained members) when there is one, else the source ``cfg`` resolves to. In the embedded default every other sign is
    known from synthetic sequences only.

    Returns:
        DataFrame indexed by sign: real_sequences, real_participants (most sequences first); the attribute
        ``attrs["data"]`` names the data.
    """
    from islr import runs
    from islr.data import DataSource, real_ids_of, resolve_source

    info = runs.run_data_source(cfg)
    if info is not None:
        source = DataSource(Path(info["path"]), info["kind"], info["label"])
    else:
        source = resolve_source(cfg)
    table = read_folder(source.path)
    table = table[table["cause"] == ""]  # a row with a sign outside the 250 is no training data of a model
    real = real_ids_of(source)
    if real is not None:
        table = table[table["sequence_id"].isin(real)]
    out = table.groupby("sign").agg(real_sequences=("sequence_id", "size"),
                                    real_participants=("participant_id", "nunique"))
    out = out.sort_values(["real_sequences", "real_participants"], ascending=False)
    out.attrs["data"] = source.label
    return out


#: Written next to a submitted model: which run and data it came from and the signs it has real recordings of.
KNOWN_SIGNS_NAME = "known_signs.json"


def save_known_signs(cfg, model_path: str | Path) -> Path:
    """Record :func:`real_training_signs` of ``cfg``'s run next to ``model_path`` (read by ``islr live``)."""
    known = real_training_signs(cfg)
    out = Path(model_path).parent / KNOWN_SIGNS_NAME
    out.write_text(json.dumps({"run": cfg.run_name, "data": known.attrs["data"],
                               "real_signs": {s: int(n) for s, n in known["real_sequences"].items()}}, indent=1) + "\n")
    return out


def known_signs(model_path: str | Path) -> pd.DataFrame | None:
    """The record :func:`save_known_signs` wrote next to ``model_path`` (None if there is none)."""
    path = Path(model_path).parent / KNOWN_SIGNS_NAME
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    out = pd.DataFrame({"real_sequences": pd.Series(info["real_signs"], dtype=np.int64)})
    out.index.name = "sign"
    out.attrs["data"] = info["data"]
    return out


def knows_line(real_signs: pd.DataFrame, limit: int = 12) -> str:
    """One sentence for the demo: which signs the model has real training data for."""
    signs = list(real_signs.index)
    if len(signs) >= 250:
        return f"trained on real recordings of all 250 signs ({real_signs.attrs.get('data', '')})"
    shown = ", ".join(f"{s} ({n})" for s, n in real_signs["real_sequences"].head(limit).items())
    more = f" and {len(signs) - limit} more" if len(signs) > limit else ""
    return (f"real training data for {len(signs)} of 250 signs: {shown}{more}; the others were learnt from "
            f"synthetic sequences only")


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="islr evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a .tflite model, a best.pt checkpoint or a run folder")
    ap.add_argument("data_dir", help="a folder in the asl-signs layout (train.csv + train_landmark_files/)")
    ap.add_argument("--participants", type=int, nargs="+", default=None, help="score only these participants")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--plot", default="", help="save the figure here (default: outputs/figures/evaluate/...png)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw the figure")
    ap.add_argument("--threads", type=int, default=1,
                    help="TFLite / torch threads (one file at a time: more rarely helps)")
    ap.add_argument("--no-trim", action="store_true", help="score every frame, not only the sign's span")
    args = ap.parse_args(argv)
    checkpoint = Path(args.model).suffix != ".tflite"
    if checkpoint:  # the extras up front, not after scoring every file
        extras.require("train", "a checkpoint (best.pt or a run folder)")
    if not args.no_plot:
        extras.require("train", "the plot (--no-plot skips it)", modules=("matplotlib",))
    if checkpoint:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        model = open_scorer(args.model, args.threads)
        result = evaluate(model, args.data_dir, participants=args.participants, progress=not args.json,
                          trim=not args.no_trim)
    except NothingScored as exc:  # every file was bad: each is named, then the count
        io.report_bad_files("islr evaluate", exc.skipped, exc.total)
        print(f"islr evaluate: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # missing/bad model or folder: the message names it
        print(f"islr evaluate: {exc}", file=sys.stderr)
        return 2
    status = io.report_bad_files("islr evaluate", result.skipped, len(result.rows) + len(result.skipped))
    plot_path = None
    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        plot_path = Path(args.plot) if args.plot else (
            paths.figures_dir("evaluate") / f"{Path(args.model).stem}__{Path(args.data_dir).resolve().name}.png")
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        result.plot().savefig(plot_path, dpi=110)
    if args.json:
        print(json.dumps({**result.as_dict(), "plot": str(plot_path) if plot_path else None}))
        return status
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.table().drop(columns=["model", "data"]).to_string(index=False, float_format="%.4f"))
        print(f"\nmodel: {result.model}\ndata: {result.data}\nanswers: {result.rules}\n\nper participant:")
        print(result.per_participant().to_string(float_format="%.3f"))
        print("\nper sign:")
        print(result.per_sign().to_string(float_format="%.3f"))
        print("\nconfusion among the signs present (rows true, columns predicted):")
        print(result.confusion().to_string())
    if plot_path:
        print(f"\nfigure: {plot_path}")
    return status
