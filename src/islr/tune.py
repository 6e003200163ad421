"""Hyperparameter search with Optuna, shared by any number of workers (docs/method.md §6).

:data:`SPACES` ``["cnn"]`` is the reference's space (16 TPE trials, best fold-0 top-1), under its parameter names;
:class:`Param` maps each to one of our config keys. On purpose the CNN trials use ``lookahead_radam``
(:data:`FIXED`): the reference suggested lookahead ``k`` / ``α`` but never passed them to its optimiser. Every
epoch's top-1 goes to a median pruner. Tuning calls training (:class:`TrainingObjective`), never the reverse.

Workers share a study through Optuna's RDB storage: a SQLite file on one machine (default
``outputs/tuning/<name>.db``; a worker waits up to :data:`SQLITE_TIMEOUT_S` for another's lock) or a server such as
``postgresql+psycopg2://user@host:5432/db`` across machines. The rest is Optuna's machinery:

* ``n_trials`` counts COMPLETE + PRUNED trials over all workers (``MaxTrialsCallback``). Each worker checks it after
  its trial, so ``w`` workers finishing together end with ``n_trials`` to ``n_trials + w - 1`` finished trials.
* Running trials send heartbeats. The first trial started after a silent trial's grace period marks it FAIL and
  the retry callback re-queues it with its parameters and intermediate values; the retry inherits the ``run_name``
  user attribute, so it trains in the same run folder and resumes from the last saved epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import Trial, TrialState

from islr import extras, paths
from islr.config import PROFILES, Config, get_config

MODEL_FAMILIES = ("cnn", "transformer")
#: Search space → the model family it trains: the transformer space tunes BERT.
TUNED_FAMILY = {"cnn": "cnn", "transformer": "bert"}
#: Trial states that count towards a study's ``n_trials``.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SQLITE_TIMEOUT_S = 60.0
#: ``objective(overrides, report, run_name) -> best top-1``; ``report(epoch, top1)`` after every epoch may raise
#: :class:`optuna.TrialPruned` (let it propagate). A killed trial's retry gets the same ``run_name``.
Objective = Callable[[dict[str, Any], Callable[[int, float], None], str], float]


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: Optuna ``name`` (the reference's where it had one), dotted config ``key``,
    ``kind`` ("float" | "int" | "categorical") with ``low``/``high``/``log`` or ``choices``; ``epochs`` marks an
    epoch count, whose range :func:`search_space` scales."""

    name: str
    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()
    epochs: bool = False

    def bounds(self, scale_epochs: float = 1.0) -> tuple[float, float]:
        """``(low, high)``; epoch counts scaled and rounded (at least 1, ``high >= low``)."""
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


#: "cnn" is the reference's space (docs/method.md §6); "transformer" searches around the reference's transformer
#: settings (§3b, §5): augmentation probabilities ±~0.15, lr 1e-4–5e-4 (log), smoothing 0.3–0.6,
#: dropout 0.05–0.2.
SPACES: dict[str, tuple[Param, ...]] = {
    "cnn": (
        Param("aug_prob", "cnn_aug.affine_prob", "float", 0.15, 0.25),
        Param("invert_prob", "cnn_aug.flip_prob", "float", 0.25, 0.32),
        Param("scale_prob", "cnn_aug.scale_prob", "float", 0.17, 0.30),
        Param("lr", "cnn_train.lr", "float", 2e-3, 2.8e-3),
        Param("train_bs", "cnn_train.batch_size", "categorical", choices=(32, 64)),
        Param("epochs", "cnn_train.epochs", "int", 100, 210, epochs=True),
        Param("freq_m", "cnn_aug.frame_mask_max", "int", 66, 80),
        Param("time_m", "cnn_aug.point_mask_max", "int", 3, 12),
        Param("label_smooth", "cnn_train.label_smoothing", "float", 0.50, 0.65),
        Param("shift_prob", "cnn_aug.shift_prob", "float", 0.12, 0.29),
        Param("mixup_prob", "cnn_aug.mixup_prob", "float", 0.30, 0.42),
        Param("rotate_prob", "cnn_aug.rotate_prob", "float", 0.18, 0.26),
        Param("replace_prob", "cnn_aug.replace_prob", "float", 0.08, 0.17),
        Param("interpol_prob", "cnn_aug.interpol_prob", "float", 0.15, 0.40),
        Param("tree_rot_prob", "cnn_aug.tree_rot_prob", "float", 0.25, 0.55),
        Param("interp_nearest_random", "cnn_aug.random_frame_pick_prob", "float", 0.35, 0.50),
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
FIXED: dict[str, dict[str, Any]] = {"cnn": {"cnn_train.optimizer": "lookahead_radam"}, "transformer": {}}


def _check_family(model_family: str) -> None:
    if model_family not in SPACES:
        raise ValueError(f"unknown model family {model_family!r}; choose one of {MODEL_FAMILIES}")


@contextlib.contextmanager
def _experimental_ok() -> Iterator[None]:
    with warnings.catch_warnings():  # heartbeats, constant liar, the retry callback and plots are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def search_space(model_family: str, scale_epochs: float = 1.0) -> Callable[[Trial], dict[str, Any]]:
    """``space(trial) -> dotted config overrides``: every :data:`SPACES` parameter drawn, plus :data:`FIXED`.

    Args:
        model_family: "cnn" or "transformer".
        scale_epochs: factor on the epoch range (e.g. :func:`profile_epoch_scale` for smoke runs).
    """
    _check_family(model_family)
    params, fixed = SPACES[model_family], FIXED[model_family]
    return lambda trial: {**{p.key: p.suggest(trial, scale_epochs) for p in params}, **fixed}


def profile_epoch_scale(model_family: str, profile: str) -> float:
    """Profile epochs / full-profile epochs: centres the epoch range on a profile's budget (smoke: 1 epoch)."""
    _check_family(model_family)
    section = f"{model_family}_train"
    return getattr(get_config(profile), section).epochs / getattr(get_config("full"), section).epochs


def params_to_overrides(model_family: str, params: dict[str, Any]) -> dict[str, Any]:
    """Dotted config overrides of a trial's ``params`` (Optuna names → config keys, plus :data:`FIXED`)."""
    _check_family(model_family)
    by_name = {p.name: p.key for p in SPACES[model_family]}
    if unknown := sorted(set(params) - set(by_name)):
        raise KeyError(f"parameters {unknown} are not in the {model_family} search space")
    return dict(sorted(({by_name[name]: value for name, value in params.items()} | FIXED[model_family]).items()))


class TrainingObjective:
    """The real objective: train fold 0 with a trial's overrides on top of ``cfg``; return the best valid top-1.

    A trial trains in ``outputs/runs/<run_name>`` and resumes from it when it is retried after its worker died.

    Args:
        cfg: base config (profile, data, everything the search does not touch).
        space: "cnn" | "transformer" (trains :data:`TUNED_FAMILY` ``[space]``).
    """

    def __init__(self, cfg: Config, space: str) -> None:
        _check_family(space)
        self.cfg, self.family, self._prepared = cfg, TUNED_FAMILY[space], None

    def __call__(self, overrides: dict[str, Any], report: Callable[[int, float], None], run_name: str) -> float:
        from islr import runs  # on use: a worker's start-up and the tests' toy objective skip torch
        from islr.data import load_dataset
        from islr.train.run import train_fold

        cfg = self.cfg.override({**overrides, "run_name": run_name})
        if self._prepared is None:
            self._prepared = load_dataset(cfg)[0]
        _, result = train_fold(cfg, self._prepared, self.family, out_dir=runs.run_root(cfg), fold=0,
                               progress=False, on_epoch=report)
        return float(result.best_top1 or 0.0)


def create_study(name: str, storage: str | None = None, *, seed: int | None = None, heartbeat_interval: int = 60,
                 grace_period: int | None = None, max_retry: int = 3, pruner_startup_trials: int = 5,
                 pruner_warmup_steps: int = 10) -> optuna.Study:
    """Create study ``name`` (maximising top-1) or join it, in an RDB storage with heartbeats and retries.

    Args:
        name: study name (also the SQLite file name when ``storage`` is None).
        storage: SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg2://…``); None: ``outputs/tuning/<name>.db``.
        seed: TPE seed of this worker (None: random, so workers of one study propose different parameters).
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without heartbeat before a trial is dead (default: 2 × interval).
        max_retry: how often one trial is re-queued after its worker died.
        pruner_startup_trials: finished trials before the median pruner acts.
        pruner_warmup_steps: epochs of a trial before it can be pruned.
    """
    if not storage:
        (paths.outputs_dir() / "tuning").mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{paths.outputs_dir() / 'tuning' / name}.db"
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if storage.startswith("sqlite") else {}
    with _experimental_ok():
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9 names
            retry = {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry, inherit_intermediate_values=True)}
        else:  # Optuna 4.0-4.8: the same callback under its old names
            retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(
                max_retry, inherit_intermediate_values=True)}
        for attempt in range(3):  # Optuna's table set-up is not atomic: workers starting on a new database race
            try:
                rdb = optuna.storages.RDBStorage(storage, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                                                 grace_period=grace_period, **retry)
                break
            except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError):
                if attempt == 2:
                    raise
                time.sleep(1.0 + attempt)  # the winner finishes its tables meanwhile
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # liar: parallel workers spread out
        pruner = optuna.pruners.MedianPruner(pruner_startup_trials, pruner_warmup_steps)
        return optuna.create_study(study_name=name, storage=rdb, direction="maximize", sampler=sampler,
                                   pruner=pruner, load_if_exists=True)


def run_study(name: str, objective: Objective, n_trials: int, storage: str | None = None, *,
              model_family: str = "cnn", scale_epochs: float = 1.0, **study_kwargs: Any) -> optuna.Study:
    """Join study ``name`` and run trials until it has ``n_trials`` COMPLETE + PRUNED trials over all workers.

    Args:
        name: study name.
        objective: see :data:`Objective`.
        n_trials: total finished trials the study should reach (earlier runs and other workers included).
        storage: see :func:`create_study`.
        model_family: "cnn" or "transformer": the search space (recorded on the study).
        scale_epochs: factor on the epoch range (:func:`profile_epoch_scale`).
        **study_kwargs: for :func:`create_study` (seed, heartbeat_interval, pruner settings, …).

    Raises:
        ValueError: the study was created for the other model family.
    """
    study = create_study(name, storage, **study_kwargs)
    if (family := study.user_attrs.get("model_family", model_family)) != model_family:
        raise ValueError(f"study {name!r} searches the {family} space, not {model_family}")
    study.set_user_attr("model_family", model_family)
    space, worker = search_space(model_family, scale_epochs), f"{socket.gethostname()}:{os.getpid()}"

    def run_trial(trial: Trial) -> float:
        run_name = trial.user_attrs.get("run_name") or f"tune_{name}_t{trial.number:04d}"  # a retry keeps it
        trial.set_user_attr("run_name", run_name)
        trial.set_user_attr("worker", worker)

        def report(epoch: int, top1: float) -> None:
            trial.report(float(top1), step=int(epoch))
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (top1 {top1:.4f})")

        return float(objective(space(trial), report, run_name))

    # MaxTrialsCallback checks after a trial only: a worker joining a finished study must not start one more.
    if len(study.get_trials(deepcopy=False, states=FINISHED)) < n_trials:
        with _experimental_ok():  # Optuna 4.0 warns on its own stale-trial check
            study.optimize(run_trial, callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=FINISHED)],
                           gc_after_trial=False)
    return study


def best_overrides(study: optuna.Study) -> dict[str, Any]:
    """Config overrides of the best COMPLETE trial of a :func:`run_study` study."""
    if (family := study.user_attrs.get("model_family")) is None:
        raise ValueError(f"study {study.study_name!r} has no model_family attribute (not made by run_study)")
    return params_to_overrides(family, study.best_trial.params)


def save_best(study: optuna.Study, path: str | Path) -> Path:
    """Write :func:`best_overrides` as JSON to ``path`` (atomically: concurrent workers may all write it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(best_overrides(study), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def plot_study(study: optuna.Study, out_dir: str | Path, close: bool = True) -> list[Path]:
    """Save the optimisation history, intermediate values and parameter importances as PNGs in ``out_dir``.

    A plot without its data is skipped (no reported epochs; fewer than 2 COMPLETE trials with varying parameters).
    ``close=False`` keeps the figures open for a notebook. Returns the paths written.
    """
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = {"optimization_history": ovm.plot_optimization_history}
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False, states=FINISHED)):
        plots["intermediate_values"] = ovm.plot_intermediate_values
    if len(done) >= 2 and any(len({repr(t.params.get(k)) for t in done}) > 1 for k in done[0].params):
        plots["param_importances"] = ovm.plot_param_importances
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for stem, plot in plots.items():
        with _experimental_ok():
            ax = plot(study)
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 5)
        fig.tight_layout()
        fig.savefig(path := Path(out_dir) / f"{stem}.png", dpi=100)
        written.append(path)
        if close:
            plt.close(fig)
    return written


def tuned_config(cfg: Config, space: str, trials: int = 0, best_params: str = "", storage: str | None = None,
                 figures_stage: str | None = None) -> Config:
    """``cfg`` with tuned hyperparameters from a best-params JSON and/or a study (notebooks 02 and 03).

    Args:
        cfg: base config; returned unchanged with neither ``trials`` nor ``best_params``.
        space: "cnn" | "transformer".
        trials: total finished trials of study ``<space>_<run_name>`` (resumed if it exists; 0 = no tuning).
        best_params: JSON file written by :func:`save_best` ("" = none).
        storage: study storage URL shared with ``python -m islr tune`` workers (None = SQLite default).
        figures_stage: save the study's plots under outputs/figures/<stage>/ (None = no plots).
    """
    if best_params:
        cfg = cfg.override(json.loads(Path(best_params).read_text()))
    if trials > 0:
        from islr import runs

        name = f"{space}_{cfg.run_name}"
        study = run_study(name, TrainingObjective(cfg, space), trials, storage, model_family=space,
                          scale_epochs=profile_epoch_scale(space, cfg.profile))
        save_best(study, runs.run_root(cfg) / f"{name}_best.json")
        if figures_stage:
            plot_study(study, paths.figures_dir(figures_stage))
        cfg = cfg.override(best_overrides(study))
    return cfg


def main(argv: list[str]) -> int:
    """``python -m islr tune``: one worker of a (shared) study."""
    ap = argparse.ArgumentParser(prog="islr tune", description="Join (or create) an Optuna study and run trials "
                                 "until it has --trials finished trials in total, over all workers.")
    ap.add_argument("--model", choices=MODEL_FAMILIES, required=True, help="search space")
    ap.add_argument("--trials", type=int, required=True, help="total COMPLETE+PRUNED trials of the study")
    ap.add_argument("--study", default="", help="study name (default: <model>_<profile>)")
    ap.add_argument("--storage", default=None, help="SQLAlchemy URL (default: SQLite under outputs/tuning)")
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--data", default="", help="asl-signs folder to train on (default: the profile's data)")
    ap.add_argument("--objective", default="", help="MODULE:FACTORY, factory(model, profile) -> objective "
                    "(default: fold-0 training of --model)")
    ap.add_argument("--scale-epochs", type=float, default=None, help="factor on the epoch range "
                    "(default: profile epochs / full epochs)")
    ap.add_argument("--seed", type=int, default=None, help="TPE seed of this worker (default: random)")
    ap.add_argument("--heartbeat", type=int, default=60, help="heartbeat interval, seconds")
    ap.add_argument("--grace", type=int, default=None, help="seconds without heartbeat before a trial is dead")
    ap.add_argument("--prune-warmup", type=int, default=None, help="epochs before pruning (default: 10%% of the "
                    "largest epoch count)")
    ap.add_argument("--prune-startup", type=int, default=5, help="finished trials before pruning starts")
    ap.add_argument("--best", default="", help="best-overrides JSON (default: outputs/tuning/<study>_best.json)")
    ap.add_argument("--plots", default="", help="folder for the study's PNG plots (default: none)")
    args = ap.parse_args(argv)
    # The extras up front, not when the first trial (or the study's plots) needs them.
    if (args.storage or "").partition("://")[0] in ("postgresql", "postgresql+psycopg2"):
        extras.require("postgres", "a PostgreSQL storage", modules=("psycopg2",))
    if not args.objective:
        extras.require("tune", "the default objective (fold-0 training of --model)")
    if args.plots:
        extras.require("train", "--plots", modules=("matplotlib",))
    if args.objective:
        module, _, factory = args.objective.partition(":")
        objective = getattr(importlib.import_module(module), factory)(args.model, args.profile)
    else:
        cfg = get_config(args.profile, {"data.data_dir": args.data} if args.data else {})
        objective = TrainingObjective(cfg, args.model)
    scale = args.scale_epochs if args.scale_epochs is not None else profile_epoch_scale(args.model, args.profile)
    warmup = next(p for p in SPACES[args.model] if p.epochs).bounds(scale)[1] // 10
    start, name = time.perf_counter(), args.study or f"{args.model}_{args.profile}"
    study = run_study(name, objective, args.trials, args.storage, model_family=args.model, scale_epochs=scale,
                      seed=args.seed, heartbeat_interval=args.heartbeat, grace_period=args.grace,
                      pruner_startup_trials=args.prune_startup,
                      pruner_warmup_steps=warmup if args.prune_warmup is None else args.prune_warmup)
    counts = {s.name: n for s in TrialState if (n := len(study.get_trials(deepcopy=False, states=(s,))))}
    print(f"[tune] study {name}: {counts} after {time.perf_counter() - start:.1f} s in this worker")
    if counts.get("COMPLETE"):
        best = save_best(study, args.best or paths.outputs_dir() / "tuning" / f"{name}_best.json")
        print(f"[tune] best top-1 {study.best_value:.4f} (trial {study.best_trial.number}) -> {best}")
    for path in plot_study(study, args.plots) if args.plots else []:
        print(f"[tune] plot {path}")
    return 0
