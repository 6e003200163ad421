"""Run folders: the one module that knows where a trained model's files live and how to read them back.

Training writes through it (:mod:`islr.train.loop`, :mod:`islr.train.run`, :mod:`islr.train.distill`); export,
ensembling, evaluation and the notebooks read through it. It depends on config, models, paths, splits and data only.

Layout under ``outputs/runs/<run_name>/`` (:func:`run_root`)::

    config.json, config_<stage>.json    resolved config of the latest / each notebook stage (islr.config.stage_config)
    <family>_<kind>_f<fold>/            one model trained on one fold (family cnn | bert | deberta, kind random |
                                        participant); <family>_all/ when trained on every sequence
    <family>_<kind>_f<fold>_kd/         distillation: the same-size student; ..._kd<n>l/ the n-layer student
    kd_sweep_<family>/                  the KD sweep: teacher/, student_nokd/, student_T<t>_w<w>/
    sample_<family>_<signs>_f<fold>/    held-out-participant experiment on the bundled real sample
    export/                             per-model TFLite and ONNX files (notebook 05)
    (also tables the notebooks save, e.g. cnn_fold0_summary.csv, and tuning's <space>_<run_name>_best.json)

One model folder holds:

* ``best.pt`` — ``{"model": state_dict, "model_spec": {"model": name, "kwargs": {...}, "input": {...}}, "epoch",
  "top1", "config": {"train": ..., "run": ...}}``: the spec rebuilds the architecture alone, names the model's family
  and holds its input settings (:func:`open_checkpoint`, :func:`load_model`, :func:`islr.models.model_inputs`);
* ``last.pt`` — the same plus optimiser, scheduler, grad scaler, training state and RNG states (resume);
* ``metrics.jsonl`` / ``metrics.csv`` — one row per epoch (:class:`MetricsLog`);
* ``oof_logits.npy`` (N_valid, C) float32 and ``oof_index.npy`` (N_valid,) int64 — validation logits of the best
  checkpoint and the sequence indices they belong to (absent for full-data training);
* ``data_source.json`` — the data the model trained on (:func:`record_data`).

Every checkpoint is read here (:func:`read_checkpoint`), with ``torch.load(weights_only=True)``; :func:`open_checkpoint`
turns one into its model, model spec, family and run config.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from islr import paths
from islr.config import Config
from islr.models import create_model, model_family, model_inputs, model_spec, stored_inputs
from islr.preprocess.settings import CNNInput, TransformerInput
from islr.splits import FULL_DATA

#: The ensemble members, in the order of the reference's formula (docs/method.md §7).
MEMBERS = ("cnn", "bert", "deberta")
#: Checkpoint files of a model folder.
CHECKPOINTS = {"best": "best.pt", "last": "last.pt"}
METRICS_CSV, METRICS_JSONL = "metrics.csv", "metrics.jsonl"
OOF_LOGITS, OOF_INDEX = "oof_logits.npy", "oof_index.npy"
DATA_SOURCE = "data_source.json"
#: Columns of metrics.csv (the training loop's per-epoch row).
METRIC_FIELDS = ("epoch", "train_loss", "valid_loss", "top1", "top3", "lr", "seconds", "samples_per_s")
#: Distillation stages (:func:`islr.train.distill.distill`) → suffix of their model folder
#: (None: the n-layer student).
DISTILL_SUFFIX = {"teacher": "", "student": "_kd", "student_small": None}


class CheckpointError(ValueError):
    """A checkpoint cannot be turned back into a model; ``str`` names the file and what is missing."""


# ----------------------------------------------------------------------------------------------- folder names
def run_root(cfg: Config) -> Path:
    """``outputs/runs/<run_name>``: every model folder, config and export of one run."""
    return paths.run_dir(cfg.run_name)


def run_folder(cfg: Config, family: str, kind: str = "random", fold: int | str = 0) -> Path:
    """The model folder of (family, split kind, fold): ``<family>_<kind>_f<fold>``, or ``<family>_all`` for full-data
    training (``fold`` -1 or "all")."""
    if fold in (FULL_DATA, "all"):
        return run_root(cfg) / f"{family}_all"
    return run_root(cfg) / f"{family}_{kind}_f{fold}"


def distill_folder(cfg: Config, family: str, kind: str, fold: int, stage: str) -> Path:
    """The model folder of a distillation stage ("teacher" | "student" | "student_small"); the teacher is the
    family's ordinary fold run, so notebook 03's run is reused."""
    if stage not in DISTILL_SUFFIX:
        raise ValueError(f"unknown distillation stage {stage!r}; stages: {', '.join(DISTILL_SUFFIX)}")
    suffix = DISTILL_SUFFIX[stage]
    if suffix is None:
        suffix = f"_kd{cfg.distill.student_layers}l"
    folder = run_folder(cfg, family, kind, fold)
    return folder.with_name(folder.name + suffix)


def kd_sweep_folder(cfg: Config, family: str) -> Path:
    """Root of the KD sweep of ``family`` (:func:`islr.train.distill.kd_sweep`)."""
    return run_root(cfg) / f"kd_sweep_{family}"


def kd_sweep_teacher(root: str | Path) -> Path:
    """The KD sweep's own teacher folder under the sweep's ``root`` (used when no teacher folder is given)."""
    return Path(root) / "teacher"


def kd_sweep_member(root: str | Path, temperature: float | None = None, kd_weight: float = 0.0) -> Path:
    """Folder of one KD-sweep student under ``root``: ``student_nokd`` for ``kd_weight`` 0 (plain cross-entropy),
    else ``student_T<t>_w<w>``."""
    return Path(root) / ("student_nokd" if kd_weight == 0 else f"student_T{temperature:g}_w{kd_weight:g}")


def sample_folder(cfg: Config, family: str, signs: tuple[str, ...], fold: int) -> Path:
    """Model folder of one fold of the held-out-participant experiment on the bundled real sample."""
    return run_root(cfg) / f"sample_{family}_{'_'.join(signs)}_f{fold}"


def export_folder(cfg: Config) -> Path:
    """Where the per-model TFLite / ONNX exports of a run go."""
    return run_root(cfg) / "export"


_FOLDER_NAME = re.compile(r"^(?P<family>[a-z]+)_(?:(?P<kind>[a-z]+)_f(?P<fold>\d+)|(?P<all>all))(?P<stage>_\w+)?$")


def parse_run_folder(name: str) -> dict[str, str]:
    """Model family, split kind, fold and stage encoded in a model folder's name (the inverse of :func:`run_folder`
    and :func:`distill_folder`) ("?" where the name has none).

    Examples: ``cnn_random_f0`` → cnn / random / 0; ``bert_all`` → bert / all data / all;
    ``bert_random_f0_kd3l`` → bert / random / 0 / stage kd3l.
    """
    m = _FOLDER_NAME.match(name)
    if not m:
        return {"family": "?", "split": "?", "fold": "?", "stage": ""}
    if m["all"]:
        return {"family": m["family"], "split": "all data", "fold": "all", "stage": (m["stage"] or "")[1:]}
    return {"family": m["family"], "split": m["kind"], "fold": m["fold"], "stage": (m["stage"] or "")[1:]}


# ----------------------------------------------------------------------------------------------- checkpoints
def checkpoint_path(folder: str | Path, which: str = "best") -> Path:
    """``folder/best.pt`` or ``folder/last.pt``."""
    if which not in CHECKPOINTS:
        raise ValueError(f"which must be one of {sorted(CHECKPOINTS)}, got {which!r}")
    return Path(folder) / CHECKPOINTS[which]


def save_checkpoint(path: str | Path, model: nn.Module, **fields) -> None:
    """Write ``{"model": state_dict, "model_spec": spec, **fields}`` atomically (a kill keeps the previous file).

    Args:
        path: target ``.pt`` file.
        model: the (unwrapped) model; its spec comes from :func:`islr.models.model_spec` (None for a model not
            built by :func:`islr.models.create_model`: such a checkpoint resumes training but cannot be rebuilt
            by :func:`load_model`).
        **fields: further entries (epoch, config, optimiser state, …); plain data and tensors only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"model": model.state_dict(), "model_spec": model_spec(model), **fields}, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path) -> dict:
    """The payload of a checkpoint, on CPU (``weights_only=True``: no code is unpickled).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is not a readable torch checkpoint (names it).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises assorted errors on bad bytes; each gets a message naming it
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"{path}: not an islr checkpoint (no model weights in it)")
    return payload


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back by :func:`open_checkpoint`.

    Attributes:
        path: the ``.pt`` file.
        model: the model rebuilt from the stored spec, with the stored weights, in eval mode.
        spec: ``{"model": registry name, "kwargs": {...}, "input": {...}}`` (:func:`islr.models.model_spec`; the input
            settings filled in for a checkpoint written before specs held them, :func:`islr.models.stored_inputs`).
        family: "cnn" | "bert" | "deberta", the family the spec's model is registered under.
        config: the resolved run config it was trained with (None for a checkpoint that stores none).
        epoch: the epoch it was saved at (None if not stored).
        inputs: the settings of the model's input (:mod:`islr.preprocess.settings`), from the spec.
    """

    path: Path
    model: nn.Module
    spec: dict
    family: str
    config: Config | None
    epoch: int | None
    inputs: CNNInput | TransformerInput


def open_checkpoint(source: str | Path, which: str = "best") -> Checkpoint:
    """Read a checkpoint and rebuild its model from the file alone: architecture, family and input settings from
    the stored spec, the run config it stores, the weights; the model in eval mode. A spec written before specs held
    input settings gets them from the stored run config (:func:`islr.models.stored_inputs`: the CNN's
    ``cnn.n_frames`` / ``cnn.dominant_hand``, else the defaults; a transformer's own ``max_len``).

    Args:
        source: a model folder (then ``which`` picks best.pt / last.pt) or a ``.pt`` file.
        which: "best" | "last".

    Raises:
        FileNotFoundError: no such checkpoint.
        CheckpointError: the file is not a readable checkpoint, has no model spec (written before islr stored one,
            or a model not built by :func:`islr.models.create_model`), names an unknown model, or its weights do not
            fit the spec.
    """
    path = Path(source)
    path = checkpoint_path(path, which) if path.is_dir() or not path.suffix else path
    ckpt = read_checkpoint(path)
    spec = ckpt.get("model_spec")
    if not spec:
        raise CheckpointError(f"{path} holds no model spec (written by an older islr, or by a model not built with "
                              "islr.models.create_model): retrain it to rebuild it from the file")
    try:
        family = model_family(spec["model"])
    except KeyError as err:
        raise CheckpointError(f"{path}: {err.args[0]}") from err
    run = (ckpt.get("config") or {}).get("run")
    config = Config().override(run) if run else None
    try:
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG stream alone
            model = create_model(spec["model"], input_config=stored_inputs(spec, config), **spec["kwargs"])
    except ValueError as err:  # input settings this islr cannot build, or that do not fit the model
        raise CheckpointError(f"{path}: {err}") from err
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: the weights do not fit its spec {spec}: {err}") from err
    return Checkpoint(path, model.eval(), model_spec(model), family, config, ckpt.get("epoch"), model_inputs(model))


def load_model(source: str | Path, which: str = "best") -> nn.Module:
    """The model of a checkpoint, rebuilt from the file alone, in eval mode (:func:`open_checkpoint`'s ``model``).

    Args:
        source: a model folder (then ``which`` picks best.pt / last.pt) or a ``.pt`` file.
        which: "best" | "last".

    Raises:
        FileNotFoundError: no such checkpoint.
        CheckpointError: see :func:`open_checkpoint`.
    """
    return open_checkpoint(source, which).model


def load_config(folder: str | Path, which: str = "best") -> Config:
    """The resolved run config a model was trained with (from its checkpoint)."""
    path = checkpoint_path(folder, which)
    run = (read_checkpoint(path).get("config") or {}).get("run")
    if not run:
        raise CheckpointError(f"{path} holds no run config")
    return Config().override(run)


# ----------------------------------------------------------------------------------------------- metrics
class MetricsLog:
    """Per-epoch rows in ``metrics.jsonl`` (appended) and ``metrics.csv`` (rewritten), written by rank 0 only.

    Args:
        folder: the model folder.
        enabled: write files (False on ranks other than 0: rows are still kept in memory).
    """

    def __init__(self, folder: str | Path, enabled: bool = True):
        folder = Path(folder)
        self.jsonl, self.csv, self.enabled = folder / METRICS_JSONL, folder / METRICS_CSV, enabled
        if enabled:
            folder.mkdir(parents=True, exist_ok=True)
        self.rows = [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()] \
            if self.jsonl.exists() else []

    def truncate(self, next_epoch: int) -> None:
        """Forget rows of epochs ≥ ``next_epoch`` (a resumed run redoes them)."""
        kept = [r for r in self.rows if r["epoch"] < next_epoch]
        if len(kept) != len(self.rows):
            self.rows = kept
            self._write_all()

    def append(self, row: dict) -> None:
        """Add one epoch's row (keys: :data:`METRIC_FIELDS`)."""
        self.rows.append(row)
        if self.enabled:
            with self.jsonl.open("a") as f:
                f.write(json.dumps(row) + "\n")
            self._write_csv()

    def _write_all(self) -> None:
        if self.enabled:
            self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
            self._write_csv()

    def _write_csv(self) -> None:
        with self.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in METRIC_FIELDS} for r in self.rows)


def load_metrics(folder: str | Path):
    """The per-epoch metrics of a model folder as a DataFrame (columns :data:`METRIC_FIELDS`)."""
    import pandas as pd

    path = Path(folder) / METRICS_CSV
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_CSV} in {Path(folder)} (not trained yet?)")
    return pd.read_csv(path)


# ----------------------------------------------------------------------------------------------- OOF arrays
def save_oof(folder: str | Path, logits: np.ndarray, index: np.ndarray) -> None:
    """Save validation logits (N, C) and their sequence indices (N,) as ``oof_logits.npy`` / ``oof_index.npy``."""
    if len(index) != len(logits):
        raise ValueError(f"{len(index)} sequence indices for {len(logits)} rows of logits")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / OOF_LOGITS, np.asarray(logits, np.float32))
    np.save(folder / OOF_INDEX, np.asarray(index, np.int64))


def has_oof(folder: str | Path) -> bool:
    """Whether a model folder holds OOF arrays (a finished fold run; full-data runs have none)."""
    return (Path(folder) / OOF_LOGITS).exists() and (Path(folder) / OOF_INDEX).exists()


def load_oof(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), sequence indices (N,)) of a model folder's best checkpoint on its validation sequences.

    Raises:
        FileNotFoundError: the folder has no OOF arrays (not trained, or trained on all data).
    """
    folder = Path(folder)
    if not (folder / OOF_LOGITS).exists():
        raise FileNotFoundError(f"no {OOF_LOGITS} in {folder} (not trained yet, or trained on all data)")
    return np.load(folder / OOF_LOGITS), np.load(folder / OOF_INDEX)


# ----------------------------------------------------------------------------------------------- data source
def record_data(folder: str | Path, prepared, train_index: np.ndarray, valid_index: np.ndarray) -> Path:
    """Write ``data_source.json``: which data the model in ``folder`` trained on.

    Holds the raw asl-signs folder and its name for figures (:func:`islr.data.describe_source`), the packed copy
    and its input fingerprint, and the numbers of training and validation sequences.

    Args:
        folder: the model folder.
        prepared: the :class:`islr.prepare.Prepared` it trained on.
        train_index, valid_index: the sequence indices of the two parts.
    """
    from islr.data import DataSource, describe_source

    manifest = prepared.manifest
    try:
        source = describe_source(manifest["data_dir"])
    except OSError:  # the raw folder is gone (only the packed copy was kept): record where it was
        source = DataSource(Path(manifest["data_dir"]), "folder", f"asl-signs-layout folder "
                            f"{Path(manifest['data_dir']).name} ({len(prepared):,} sequences)")
    return write_data_source(folder, source, prepared=str(prepared.root), fingerprint=manifest.get("fingerprint"),
                             points=manifest.get("points"), sequences=len(prepared),
                             train_sequences=int(len(train_index)), valid_sequences=int(len(valid_index)))


def write_data_source(folder: str | Path, source, **details) -> Path:
    """Write ``data_source.json`` from an :class:`islr.data.DataSource` (path, kind, label) plus ``details``."""
    path = Path(folder) / DATA_SOURCE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"path": str(source.path), "kind": source.kind, "label": source.label, **details}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def data_source(folder: str | Path) -> dict:
    """The record :func:`record_data` wrote (keys path, kind, label, prepared, fingerprint, …)."""
    path = Path(folder) / DATA_SOURCE
    if not path.exists():
        raise FileNotFoundError(f"no {DATA_SOURCE} in {Path(folder)} (trained before islr recorded its data?)")
    return json.loads(path.read_text())


def run_data_source(cfg: Config) -> dict | None:
    """The data source recorded by the run's trained ensemble members (the first that has one), or None."""
    for folder in member_folders(cfg).values():
        if (Path(folder) / DATA_SOURCE).exists():
            return data_source(folder)
    return None


# ----------------------------------------------------------------------------------------------- the submission
def submission_folds(cfg: Config, families: tuple[str, ...] = MEMBERS) -> dict[str, int]:
    """The fold whose model each family contributes to the export and submission: fold 0, or all data (-1) for
    the transformers when ``cfg.split.full_data_transformers`` (the reference's choice, docs/method.md §0)."""
    full = cfg.split.full_data_transformers
    return {f: FULL_DATA if full and f != "cnn" else 0 for f in families}


def member_folders(cfg: Config, kind: str | None = None, fold: int | None = None) -> dict[str, Path]:
    """The model folder of each ensemble member: :func:`submission_folds`, or one ``fold`` for every member, of
    split ``kind`` (default ``cfg.split.kind``)."""
    kind = kind or cfg.split.kind
    folds = submission_folds(cfg) if fold is None else dict.fromkeys(MEMBERS, fold)
    return {f: run_folder(cfg, f, kind, folds[f]) for f in MEMBERS}


def trained_models(cfg: Config, kind: str | None = None, fold: int | None = None) -> dict[str, nn.Module]:
    """The best checkpoints of the ensemble members (CNN, BERT, DeBERTa), rebuilt from their files, in eval mode.

    Args:
        cfg: run config (run name, ``split.full_data_transformers``).
        kind: split kind of the fold runs (default ``cfg.split.kind``).
        fold: one fold for every member instead of :func:`submission_folds`.

    Raises:
        FileNotFoundError: a member was not trained (the message names its folder).
    """
    models = {}
    for family, folder in member_folders(cfg, kind, fold).items():
        if not checkpoint_path(folder).exists():
            raise FileNotFoundError(f"no trained {family} at {checkpoint_path(folder)}; run notebook 02/03 "
                                    "(or islr.train.run.train_fold) first")
        models[family] = load_model(folder)  # with its input settings: the export feeds each as it was trained
    return models


def member_runs(cfg: Config, kind: str | None = None):
    """Which model folder each submitted member comes from and what it was trained on (shown by notebooks 05/06)."""
    import pandas as pd

    kind = kind or cfg.split.kind
    folds = submission_folds(cfg)
    rows = {f: {"run": str(folder),
                "trained_on": "all sequences" if folds[f] == FULL_DATA else f"fold 0 training part ({kind} split)"}
            for f, folder in member_folders(cfg, kind).items()}
    return pd.DataFrame.from_dict(rows, orient="index")
