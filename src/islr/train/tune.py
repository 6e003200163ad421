"""Hyperparameter search with Optuna, shared by any number of workers (METHOD_FACTS §6).

The reference tuned the CNN with 16 TPE trials, maximising the best fold-0 top-1 accuracy; its search space is
:data:`SPACES` ``["cnn"]``. Two things differ on purpose:

* the reference suggested lookahead ``k`` / ``α`` but never passed them to its optimiser; here they are config keys
  and the CNN space fixes ``cnn_train.optimizer = "lookahead_radam"`` (:data:`FIXED`) so they take effect;
* trials report their per-epoch top-1 to a :class:`optuna.pruners.MedianPruner` (:class:`PruningCallback`).

**Workers.** A study lives in an RDB storage: a SQLite file (one machine; default
``outputs/tuning/<name>.db``) or any SQLAlchemy URL, e.g. ``postgresql+psycopg2://user@host:5432/db``, so workers
on several machines share it. Each worker runs :func:`run_study` (or ``python -m islr tune``) with its own TPE seed.
``n_trials`` is the study's total: workers stop once COMPLETE + PRUNED trials reach it.

**Exactly n_trials, nothing lost.** :class:`optuna.study.MaxTrialsCallback` only stops a worker *after* its trial,
so two workers finishing together both start one more and the study overshoots. :func:`run_study` instead checks
*before* each trial that fewer than ``n_trials`` trials are live (COMPLETE, PRUNED, RUNNING or WAITING) and, because
that check and the trial's creation are not one transaction, each new trial also checks that its number is among
the first ``n_trials`` live ones; a loser of that race is marked FAIL with the user attribute ``surplus`` and never
runs. Heartbeats mark the RUNNING trial of a killed worker FAIL after ``grace_period`` seconds and
:class:`optuna.storages.RetryHeartbeatStaleTrialCallback` re-queues it (same parameters, same run folder, earlier
intermediate values kept) as a WAITING trial, which the next worker to ask takes first. A worker with no free slot
waits while other workers' trials run, so it can take over if one of them dies.

**SQLite.** Several processes writing one file meet "database is locked": every transaction here starts with
``BEGIN IMMEDIATE`` (so the read-then-write of popping a WAITING trial is atomic), waits up to 60 s for the lock, and
the file is in WAL mode so readers do not block the writer. SQLite is for one machine: use PostgreSQL across machines.

**Objectives** are plain callables (:class:`Objective`) registered by name in :data:`OBJECTIVES`; ``"toy"`` is a
cheap deterministic function of the parameters used by the tests.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import socket
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, Trial, TrialState

from islr import paths
from islr.config import PROFILES, get_config

MODEL_FAMILIES = ("cnn", "transformer")
#: Trials that count towards ``n_trials`` once finished, and those that hold a slot while unfinished.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (*FINISHED, TrialState.RUNNING, TrialState.WAITING)
SQLITE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: its Optuna name, the config key it sets and its distribution.

    Attributes:
        name: Optuna parameter name (the reference notebook's name where it had one).
        key: dotted :mod:`islr.config` key, e.g. ``"cnn_aug.aug_prob"``.
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        low: lower bound (float/int).
        high: upper bound (float/int).
        log: sample on a log scale.
        choices: the values of a categorical parameter.
        epochs: an epoch count, scaled by ``scale_epochs`` in :func:`search_space`.
    """

    name: str
    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()
    epochs: bool = False

    def bounds(self, scale_epochs: float = 1.0) -> tuple[float, float]:
        """``(low, high)``, epoch counts scaled (each bound rounded, at least 1, ``high >= low``)."""
        if not self.epochs:
            return self.low, self.high
        low = max(1, round(self.low * scale_epochs))
        return low, max(low, round(self.high * scale_epochs))

    def suggest(self, trial: Trial, scale_epochs: float = 1.0) -> Any:
        """Draw this parameter in ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        low, high = self.bounds(scale_epochs)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(low), int(high), log=self.log)
        return trial.suggest_float(self.name, low, high, log=self.log)

    def normalize(self, value: Any) -> float:
        """Position of ``value`` in the (unscaled) range, 0..1 (log scale for ``log`` parameters)."""
        if self.kind == "categorical":
            return self.choices.index(value) / max(1, len(self.choices) - 1)
        low, high, value = (math.log(v) if self.log else v for v in (self.low, self.high, value))
        return (value - low) / (high - low)


#: The one table that maps search parameters to config keys. "cnn" is the reference's space (METHOD_FACTS §6);
#: "transformer" searches around the reference's transformer settings (§3b, §5): augmentation probabilities
#: ±~0.15 around the reference values, lr 1e-4–5e-4 (log), smoothing 0.3–0.6, dropout 0.05–0.2, epochs 50–90.
SPACES: dict[str, tuple[Param, ...]] = {
    "cnn": (
        Param("aug_prob", "cnn_aug.aug_prob", "float", 0.15, 0.25),
        Param("invert_prob", "cnn_aug.invert_prob", "float", 0.25, 0.32),
        Param("scale_prob", "cnn_aug.scale_prob", "float", 0.17, 0.30),
        Param("lr", "cnn_train.lr", "float", 2e-3, 2.8e-3),
        Param("train_bs", "cnn_train.batch_size", "categorical", choices=(32, 64)),
        Param("epochs", "cnn_train.epochs", "int", 100, 210, epochs=True),
        Param("freq_m", "cnn_aug.freq_m", "int", 66, 80),
        Param("time_m", "cnn_aug.time_m", "int", 3, 12),
        Param("label_smooth", "cnn_train.label_smoothing", "float", 0.50, 0.65),
        Param("shift_prob", "cnn_aug.shift_prob", "float", 0.12, 0.29),
        Param("mixup_prob", "cnn_aug.mixup_prob", "float", 0.30, 0.42),
        Param("rotate_prob", "cnn_aug.rotate_prob", "float", 0.18, 0.26),
        Param("replace_prob", "cnn_aug.replace_prob", "float", 0.08, 0.17),
        Param("interpol_prob", "cnn_aug.interpol_prob", "float", 0.15, 0.40),
        Param("tree_rot_prob", "cnn_aug.tree_rot_prob", "float", 0.25, 0.55),
        Param("interp_nearest_random", "cnn_aug.interp_nearest_random", "float", 0.35, 0.50),
        Param("lookahead_k", "cnn_train.lookahead_k", "int", 2, 7),
        Param("lookahead_alpha", "cnn_train.lookahead_alpha", "float", 0.3, 0.6),
    ),
    "transformer": (
        Param("affine_prob", "transformer_aug.affine_prob", "float", 0.65, 0.95),
        Param("interpol_prob", "transformer_aug.interpol_prob", "float", 0.15, 0.45),
        Param("tree_rot_hand_prob", "transformer_aug.tree_rot_hand_prob", "float", 0.75, 1.0),
        Param("tree_rot_tree_prob", "transformer_aug.tree_rot_tree_prob", "float", 0.25, 0.55),
        Param("flip_prob", "transformer_aug.flip_prob", "float", 0.35, 0.65),
        Param("lr", "transformer_train.lr", "float", 1e-4, 5e-4, log=True),
        Param("label_smooth", "transformer_train.label_smoothing", "float", 0.3, 0.6),
        Param("dropout", "transformer.dropout", "float", 0.05, 0.2),
        Param("epochs", "transformer_train.epochs", "int", 50, 90, epochs=True),
    ),
}
#: Overrides every trial of a family gets: the lookahead parameters only act with a lookahead optimiser.
FIXED: dict[str, dict[str, Any]] = {
    "cnn": {"cnn_train.optimizer": "lookahead_radam"},
    "transformer": {},
}


def _check_family(model_family: str) -> None:
    if model_family not in SPACES:
        raise ValueError(f"unknown model family {model_family!r}; choose one of {MODEL_FAMILIES}")


def search_space(model_family: str, scale_epochs: float = 1.0) -> Callable[[Trial], dict[str, Any]]:
    """The search space of ``model_family`` as a function of a trial.

    Args:
        model_family: "cnn" or "transformer".
        scale_epochs: factor on the epoch range (e.g. :func:`profile_epoch_scale` for smoke runs).

    Returns:
        ``space(trial) -> overrides``: draws every parameter of :data:`SPACES` and returns dotted config overrides
        (plus :data:`FIXED`), ready for ``islr.config.get_config(profile, overrides)``.
    """
    _check_family(model_family)

    def space(trial: Trial) -> dict[str, Any]:
        overrides = {p.key: p.suggest(trial, scale_epochs) for p in SPACES[model_family]}
        return {**overrides, **FIXED[model_family]}

    return space


def profile_epoch_scale(model_family: str, profile: str) -> float:
    """Epoch scale that centres the search on a profile's epoch budget: profile epochs / full-profile epochs.

    The smoke profile trains 1 epoch, so its trials run for 1 epoch; "full" keeps the reference's ranges.
    """
    _check_family(model_family)
    section = f"{model_family}_train"
    return getattr(get_config(profile), section).epochs / getattr(get_config("full"), section).epochs


def params_to_overrides(model_family: str, params: dict[str, Any], nested: bool = True) -> dict[str, Any]:
    """Config overrides of a trial's parameters (Optuna names → config keys, plus :data:`FIXED`).

    Args:
        model_family: "cnn" or "transformer".
        params: ``trial.params``.
        nested: ``{"cnn_aug": {"aug_prob": …}}`` instead of dotted keys.
    """
    _check_family(model_family)
    by_name = {p.name: p.key for p in SPACES[model_family]}
    unknown = sorted(set(params) - set(by_name))
    if unknown:
        raise KeyError(f"parameters {unknown} are not in the {model_family} search space")
    dotted = {by_name[name]: value for name, value in params.items()} | FIXED[model_family]
    if not nested:
        return dotted
    out: dict[str, Any] = {}
    for key, value in sorted(dotted.items()):
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = value
    return out


class Objective(Protocol):
    """What a trial runs: train with ``overrides`` and return the best validation top-1.

    ``report(epoch, top1)`` must be called after every epoch (it may raise :class:`optuna.TrialPruned`; let it
    propagate). ``run_name`` is stable across retries of a killed trial, so an objective that writes its run
    folder under ``paths.run_dir(run_name)`` and resumes from it loses only the interrupted epoch.
    """

    def __call__(self, overrides: dict[str, Any], report: Callable[[int, float], None], run_name: str) -> float:
        ...


#: ``factory(model_family, profile) -> Objective``.
ObjectiveFactory = Callable[[str, str], Objective]


class ToyObjective:
    """A deterministic stand-in for training: a quadratic bowl over the normalised parameters.

    Final "accuracy" = ``1 − mean_p (u_p − 0.3)²`` with ``u_p`` the parameter's position in its range (epochs
    excluded); epoch ``e`` reports ``final · (1 − 2^−(e+1))`` after sleeping ``step_seconds``, so trials take time
    (kill tests) and worse trials report lower curves (pruning).
    """

    OPTIMUM = 0.3

    def __init__(self, model_family: str, profile: str = "smoke", step_seconds: float = 0.1) -> None:
        _check_family(model_family)
        self.params = [p for p in SPACES[model_family] if not p.epochs]
        self.epochs_key = next(p.key for p in SPACES[model_family] if p.epochs)
        self.step_seconds = step_seconds

    def score(self, overrides: dict[str, Any]) -> float:
        """The final accuracy of ``overrides`` (dotted keys)."""
        sq = [(p.normalize(overrides[p.key]) - self.OPTIMUM) ** 2 for p in self.params]
        return 1.0 - sum(sq) / len(sq)

    def __call__(self, overrides: dict[str, Any], report: Callable[[int, float], None], run_name: str = ""
                 ) -> float:
        final = self.score(overrides)
        best = -math.inf
        for epoch in range(int(overrides[self.epochs_key])):
            time.sleep(self.step_seconds)
            top1 = final * (1.0 - 0.5 ** (epoch + 1))
            best = max(best, top1)
            report(epoch, top1)
        return best


def _training_objective(model_family: str, profile: str, data_dir: str = "") -> Objective:
    # Imported on use: the training stack (torch, timm, transformers) is heavy and the toy objective needs none.
    from islr.train.run import training_objective

    return training_objective(model_family, profile, data_dir)


#: Registered objectives (name → factory): fold-0 training of the family, or the toy stand-in for tests.
OBJECTIVES: dict[str, ObjectiveFactory] = {"toy": ToyObjective, "cnn": _training_objective,
                                           "transformer": _training_objective}


class PruningCallback:
    """Per-epoch hook for a training loop: ``callback(epoch, top1)`` reports to the trial and prunes.

    Raises :class:`optuna.TrialPruned` when the pruner says so; ``best`` is the best top-1 reported so far.
    """

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.best = -math.inf

    def __call__(self, epoch: int, top1: float) -> None:
        self.best = max(self.best, float(top1))
        self.trial.report(float(top1), step=int(epoch))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (top1 {top1:.4f})")


def storage_url(name: str, storage: str | None = None) -> str:
    """The storage URL of study ``name``: ``storage`` if given, else ``sqlite:///<outputs>/tuning/<name>.db``."""
    if storage:
        return storage
    path = paths.outputs_dir() / "tuning" / f"{name}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _connect_sqlite(database: str) -> sqlite3.Connection:
    """A DBAPI connection for SQLAlchemy's ``creator``: waits for locks, leaves BEGIN to :func:`_serialize_sqlite`."""
    connection = sqlite3.connect(database, timeout=SQLITE_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    # In WAL mode NORMAL cannot corrupt the file; it only skips an fsync per commit (~10 ms each here).
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _serialize_sqlite(storage: RDBStorage) -> None:
    """Make every transaction of ``storage`` take SQLite's write lock at BEGIN (see module docstring)."""
    from sqlalchemy import event

    @event.listens_for(storage.engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    storage.engine.dispose()  # pooled connections were opened before the hook


def make_storage(url: str, heartbeat_interval: int = 60, grace_period: int | None = None, max_retry: int = 3
                 ) -> RDBStorage:
    """An RDB storage with heartbeats and retry of stale trials (and, for SQLite, locking that waits).

    Args:
        url: SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg2://…``).
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without heartbeat after which a RUNNING trial is failed (default 2 × interval).
        max_retry: how often one trial is re-queued after its worker died.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        database = make_url(url).database or ":memory:"
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # WAL is a property of the file: set once, every later connection uses it.
            with sqlite3.connect(database, timeout=SQLITE_TIMEOUT_S) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        engine_kwargs = {"creator": functools.partial(_connect_sqlite, database)}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry, inherit_intermediate_values=True)
                storage = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                                     grace_period=grace_period, heartbeat_stale_trial_callback=retry)
            break
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError):
            # Two workers creating the tables of a new database at once: the loser retries.
            if attempt == 2:
                raise
            time.sleep(0.5 + attempt)
    if is_sqlite:
        _serialize_sqlite(storage)
    return storage


def worker_seed(seed: int | None = None) -> int:
    """A TPE seed for this worker: ``seed`` if given, else one drawn from host, pid and clock.

    Workers of one study must not share a seed (they would propose the same parameters): pass a different
    ``seed`` to each for a reproducible search, or none.
    """
    if seed is not None:
        return int(seed)
    token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}".encode()
    return int.from_bytes(hashlib.sha256(token).digest()[:4], "little")


def create_study(name: str, storage: str | RDBStorage | None = None, direction: str = "maximize", *,
                 seed: int | None = None, heartbeat_interval: int = 60, grace_period: int | None = None,
                 max_retry: int = 3, pruner_startup_trials: int = 5, pruner_warmup_steps: int = 10
                 ) -> optuna.Study:
    """Create study ``name`` or join it if it exists.

    Args:
        name: study name (also the SQLite file name when ``storage`` is None).
        storage: None (SQLite under ``outputs/tuning``), a SQLAlchemy URL or a ready storage.
        direction: "maximize" (top-1) or "minimize".
        seed: TPE seed of this worker (see :func:`worker_seed`).
        heartbeat_interval: seconds between heartbeats of a running trial.
        grace_period: seconds without heartbeat before a trial counts as dead (default 2 × interval).
        max_retry: re-queues per trial after worker deaths.
        pruner_startup_trials: finished trials before the median pruner acts.
        pruner_warmup_steps: epochs of a trial before it can be pruned.

    Returns:
        The study, with a TPE sampler (constant liar, so parallel workers spread out) and a median pruner.
    """
    if not isinstance(storage, RDBStorage):
        storage = make_storage(storage_url(name, storage), heartbeat_interval, grace_period, max_retry)
    sampler = optuna.samplers.TPESampler(seed=worker_seed(seed), constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=pruner_startup_trials, n_warmup_steps=pruner_warmup_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(study_name=name, storage=storage, direction=direction, sampler=sampler,
                                   pruner=pruner, load_if_exists=True)


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """Number of trials per state name (``{"COMPLETE": 7, "PRUNED": 1, …}``, zeros included)."""
    counts = {state.name: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] += 1
    return counts


def trial_run_name(study_name: str, trial: FrozenTrial) -> str:
    """Run folder name of a trial, shared by its retries: ``tune_<study>_t<original trial number>``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        original = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return f"tune_{study_name}_t{trial.number if original is None else original:04d}"


class _SurplusTrial(Exception):
    """A trial created after the study had its ``n_trials`` live trials (lost a race between workers)."""


def _frozen(study: optuna.Study, number: int) -> FrozenTrial:
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def _is_surplus(study: optuna.Study, number: int, n_trials: int) -> bool:
    live = sorted(t.number for t in study.get_trials(deepcopy=False, states=LIVE))
    return number not in live[:n_trials]


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def run_study(name: str, objective: Objective, n_trials: int, storage: str | RDBStorage | None = None, *,
              model_family: str = "cnn", scale_epochs: float = 1.0, wait_for_others: bool = True,
              poll_seconds: float | None = None, **study_kwargs: Any) -> optuna.Study:
    """Join study ``name`` and run trials until it has ``n_trials`` COMPLETE + PRUNED trials in total.

    Safe with any number of concurrent workers (see module docstring): the total is exact, and a trial whose
    worker was killed is failed after the grace period and re-run with the same parameters.

    Args:
        name: study name.
        objective: see :class:`Objective`.
        n_trials: total finished trials the study should reach (over all workers, earlier runs included).
        storage: None (SQLite under ``outputs/tuning``), a SQLAlchemy URL or a storage.
        model_family: "cnn" or "transformer": the search space (stored on the study).
        scale_epochs: factor on the epoch range (:func:`profile_epoch_scale`).
        wait_for_others: when no slot is free but other workers' trials still run, wait for them (and take over
            a trial whose worker died) instead of returning.
        poll_seconds: wait between checks (default: the heartbeat interval).
        **study_kwargs: passed to :func:`create_study` (seed, heartbeat_interval, pruner settings, …).

    Returns:
        The study.
    """
    study = create_study(name, storage, **study_kwargs)
    family = study.user_attrs.get("model_family")
    if family not in (None, model_family):
        raise ValueError(f"study {name!r} searches the {family} space, not {model_family}")
    if family is None:
        study.set_user_attr("model_family", model_family)
    space = search_space(model_family, scale_epochs)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def run_trial(trial: Trial) -> float:
        if _is_surplus(study, trial.number, n_trials):
            trial.set_user_attr("surplus", True)
            raise _SurplusTrial(f"trial {trial.number}: the study already has {n_trials} trials")
        trial.set_user_attr("worker", worker)
        run_name = trial_run_name(name, _frozen(study, trial.number))
        return float(objective(space(trial), PruningCallback(trial), run_name))

    # No trial can be taken over before its heartbeat is stale, so polling faster than the heartbeat is useless.
    poll = poll_seconds or min(10.0, float(study_kwargs.get("heartbeat_interval", 60)))
    while True:
        _fail_stale(study)
        states = [t.state for t in study.get_trials(deepcopy=False, states=LIVE)]
        if sum(s in FINISHED for s in states) >= n_trials:
            break
        if len(states) >= n_trials and TrialState.WAITING not in states:
            if not wait_for_others:
                break
            time.sleep(poll)  # the remaining slots run elsewhere; retry in case their worker dies
            continue
        study.optimize(run_trial, n_trials=1, catch=(_SurplusTrial,), gc_after_trial=False)
    return study


def best_overrides(study: optuna.Study) -> dict[str, Any]:
    """Nested config overrides of the best COMPLETE trial (for ``islr.config.get_config(profile, overrides)``)."""
    family = study.user_attrs.get("model_family")
    if family is None:
        raise ValueError(f"study {study.study_name!r} has no model_family attribute (not made by run_study)")
    return params_to_overrides(family, study.best_trial.params)


def save_best(study: optuna.Study, path: str | Path) -> Path:
    """Write :func:`best_overrides` as JSON to ``path`` (atomically: concurrent workers may all write it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(best_overrides(study), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def plot_study(study: optuna.Study, out_dir: str | Path, close: bool = True) -> list[Path]:
    """Save the optimisation history, intermediate values and parameter importances as PNG files.

    Importances need at least 2 COMPLETE trials whose parameters vary; with fewer that plot is skipped.

    Args:
        study: the study.
        out_dir: folder for ``optimization_history.png``, ``intermediate_values.png``, ``param_importances.png``.
        close: close the figures after saving (keep them open to show them in a notebook).

    Returns:
        The paths written.
    """
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots: dict[str, Callable[[optuna.Study], Any]] = {"optimization_history": ovm.plot_optimization_history}
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False, states=FINISHED)):
        plots["intermediate_values"] = ovm.plot_intermediate_values
    if len(complete) >= 2 and any(len({repr(t.params.get(k)) for t in complete}) > 1 for k in complete[0].params):
        plots["param_importances"] = ovm.plot_param_importances
    written = []
    for stem, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            ax = plot(study)
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 5)
        fig.tight_layout()
        path = out_dir / f"{stem}.png"
        fig.savefig(path, dpi=100)
        written.append(path)
        if close:
            plt.close(fig)
    return written


def _parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="islr tune", description="Join (or create) an Optuna study and run trials "
                                 "until it has --trials finished trials in total (over all workers).")
    ap.add_argument("--model", choices=MODEL_FAMILIES, required=True, help="search space")
    ap.add_argument("--trials", type=int, required=True, help="total COMPLETE+PRUNED trials of the study")
    ap.add_argument("--study", default="", help="study name (default: <model>_<profile>)")
    ap.add_argument("--storage", default=None, help="SQLAlchemy URL (default: SQLite under outputs/tuning)")
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--data", default="", help="asl-signs folder for the training objectives (default: the "
                    "profile's data, see islr.data)")
    ap.add_argument("--objective", default="", help=f"registered objective (default: --model); {sorted(OBJECTIVES)}")
    ap.add_argument("--scale-epochs", type=float, default=None, help="factor on the epoch range "
                    "(default: profile epochs / full epochs)")
    ap.add_argument("--seed", type=int, default=None, help="TPE seed of this worker (default: random)")
    ap.add_argument("--heartbeat", type=int, default=60, help="heartbeat interval, seconds")
    ap.add_argument("--grace", type=int, default=None, help="seconds without heartbeat before a trial is dead")
    ap.add_argument("--prune-warmup", type=int, default=None, help="epochs before pruning (default: 10%% of "
                    "the largest epoch count)")
    ap.add_argument("--prune-startup", type=int, default=5, help="finished trials before pruning starts")
    ap.add_argument("--no-wait", action="store_true", help="return when no slot is free instead of waiting")
    ap.add_argument("--best", default="", help="best-overrides JSON (default: outputs/tuning/<study>_best.json)")
    ap.add_argument("--plots", default="", help="folder for the study's PNG plots (default: none)")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    """``python -m islr tune``: one worker of a (shared) study; see :func:`_parse_args` for the options."""
    args = _parse_args(argv)
    name = args.study or f"{args.model}_{args.profile}"
    objective_name = args.objective or args.model
    if objective_name not in OBJECTIVES:
        print(f"islr tune: no objective {objective_name!r}; registered: {sorted(OBJECTIVES)}", file=sys.stderr)
        return 2
    extra = {"data_dir": args.data} if args.data and objective_name != "toy" else {}
    objective = OBJECTIVES[objective_name](args.model, args.profile, **extra)
    scale = args.scale_epochs if args.scale_epochs is not None else profile_epoch_scale(args.model, args.profile)
    epochs_param = next(p for p in SPACES[args.model] if p.epochs)
    warmup = args.prune_warmup if args.prune_warmup is not None else epochs_param.bounds(scale)[1] // 10
    start = time.perf_counter()
    study = run_study(name, objective, args.trials, args.storage, model_family=args.model, scale_epochs=scale,
                      wait_for_others=not args.no_wait, seed=args.seed, heartbeat_interval=args.heartbeat,
                      grace_period=args.grace, pruner_startup_trials=args.prune_startup, pruner_warmup_steps=warmup)
    seconds = time.perf_counter() - start
    counts = {k: v for k, v in trial_counts(study).items() if v}
    print(f"[tune] study {name}: {counts} after {seconds:.1f} s in this worker")
    if counts.get("COMPLETE"):
        best = save_best(study, args.best or paths.outputs_dir() / "tuning" / f"{name}_best.json")
        print(f"[tune] best top-1 {study.best_value:.4f} (trial {study.best_trial.number}) -> {best}")
    if args.plots:
        for path in plot_study(study, args.plots):
            print(f"[tune] plot {path}")
    return 0
