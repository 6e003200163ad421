"""islr.tune: search spaces, shared studies (SQLite and a real PostgreSQL), kill/resume, best config, plots.

Worker tests start real ``python -m islr tune … --objective tune_toy:ToyObjective`` processes (tests/tune_toy.py).
PostgreSQL: the server named by $ISLR_TEST_POSTGRES_URL, else one started here with scripts/postgres.sh (installed
with apt-get if missing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from islr import config as islr_config
from islr import tune
from tune_toy import ToyObjective

TESTS = Path(__file__).resolve().parent

REPO = Path(__file__).resolve().parents[1]
optuna.logging.set_verbosity(optuna.logging.WARNING)

#: docs/method.md §6, copied by hand: (reference name, kind, low, high) or (name, "categorical", choices).
REFERENCE_CNN_SPACE = {
    "aug_prob": ("float", 0.15, 0.25), "invert_prob": ("float", 0.25, 0.32), "scale_prob": ("float", 0.17, 0.30),
    "lr": ("float", 2e-3, 2.8e-3), "train_bs": ("categorical", (32, 64)), "epochs": ("int", 100, 210),
    "freq_m": ("int", 66, 80), "time_m": ("int", 3, 12), "label_smooth": ("float", 0.50, 0.65),
    "shift_prob": ("float", 0.12, 0.29), "mixup_prob": ("float", 0.30, 0.42), "rotate_prob": ("float", 0.18, 0.26),
    "replace_prob": ("float", 0.08, 0.17), "interpol_prob": ("float", 0.15, 0.40),
    "tree_rot_prob": ("float", 0.25, 0.55), "interp_nearest_random": ("float", 0.35, 0.50),
    "lookahead_k": ("int", 2, 7), "lookahead_alpha": ("float", 0.3, 0.6),
}


def _sqlite(tmp_path: Path, name: str = "study") -> str:
    return f"sqlite:///{tmp_path / name}.db"


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server: $ISLR_TEST_POSTGRES_URL, or a throw-away one from scripts/postgres.sh."""
    url = os.environ.get("ISLR_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    # A folder of its own under /tmp: as root the server runs as `postgres`, which cannot enter pytest's tmp dirs.
    pg_dir = tempfile.mkdtemp(prefix="islr-pg-")
    proc = subprocess.run([str(REPO / "scripts" / "postgres.sh"), "start", pg_dir], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"scripts/postgres.sh start failed (set ISLR_TEST_POSTGRES_URL to use a running server):\n"
                    f"{proc.stderr[-2000:]}")
    url = proc.stdout.strip().splitlines()[-1]
    yield url
    subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", pg_dir], capture_output=True, timeout=60)


def _start_worker(storage: str, study: str, n_trials: int, seed: int, log: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "islr", "tune", "--model", "cnn", "--objective", "tune_toy:ToyObjective",
           "--profile", "smoke",
           "--trials", str(n_trials), "--storage", storage, "--study", study, "--seed", str(seed),
           "--scale-epochs", "0.03", "--heartbeat", "1", "--grace", "3", "--best", str(log.with_suffix(".json")),
           *extra]
    pythonpath = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "ISLR_OUTPUTS": str(log.parent / "outputs"), "PYTHONPATH": pythonpath}
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _wait(proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def _assert_finished(study: optuna.Study, n_trials: int, extra: int = 0) -> list[optuna.trial.FrozenTrial]:
    """n_trials to n_trials + extra finished, nothing running or queued, unique gap-free trial numbers."""
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    finished = [t for t in trials if t.state in tune.FINISHED]
    assert n_trials <= len(finished) <= n_trials + extra, [t.state.name for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return finished


def _counts(study: optuna.Study) -> dict[str, int]:
    return {state.name: len(study.get_trials(states=(state,))) for state in TrialState}


def test_cnn_space_is_the_reference_space():
    space = {p.name: p for p in tune.SPACES["cnn"]}
    assert set(space) == set(REFERENCE_CNN_SPACE)
    for name, ref in REFERENCE_CNN_SPACE.items():
        p = space[name]
        if ref[0] == "categorical":
            assert (p.kind, p.choices) == ref
        else:
            assert (p.kind, p.low, p.high) == ref, name
    assert space["epochs"].epochs and tune.FIXED["cnn"] == {"cnn_train.optimizer": "lookahead_radam"}
    keys = [p.key for p in tune.SPACES["cnn"]]
    assert len(set(keys)) == len(keys)  # each config key once


@pytest.mark.parametrize("family", tune.MODEL_FAMILIES)
def test_space_keys_exist_in_config(family):
    cfg = islr_config.get_config("smoke")
    for key in [p.key for p in tune.SPACES[family]] + list(tune.FIXED[family]):
        section, name = key.split(".")
        assert hasattr(getattr(cfg, section), name), key


@pytest.mark.parametrize("family", tune.MODEL_FAMILIES)
def test_space_draws_are_in_range_and_scaled(family):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = tune.search_space(family, scale_epochs=0.03)
    by_key = {p.key: p for p in tune.SPACES[family]}
    for _ in range(30):
        overrides = space(study.ask())
        for key, value in overrides.items():
            if key in tune.FIXED[family]:
                continue
            p = by_key[key]
            if p.kind == "categorical":
                assert value in p.choices
            else:
                low, high = p.bounds(0.03)
                assert low <= value <= high, (key, value)
                assert isinstance(value, int) == (p.kind == "int")
    epochs = next(p for p in tune.SPACES[family] if p.epochs)
    assert epochs.bounds(0.03) == (max(1, round(epochs.low * 0.03)), max(1, round(epochs.high * 0.03)))
    # The smoke profile trains 1 epoch: the whole epoch range collapses to 1.
    assert epochs.bounds(tune.profile_epoch_scale(family, "smoke")) == (1, 1)
    assert epochs.bounds(tune.profile_epoch_scale(family, "full")) == (epochs.low, epochs.high)


def test_toy_objective_is_the_bowl():
    toy = ToyObjective("transformer", step_seconds=0.0)
    at_optimum = {p.key: (p.low + ToyObjective.OPTIMUM * (p.high - p.low)) for p in toy.params}
    for p in toy.params:  # log parameters: the optimum is 30% of the way in log space
        if p.log:
            at_optimum[p.key] = p.low * (p.high / p.low) ** ToyObjective.OPTIMUM
    assert toy.score(at_optimum) == pytest.approx(1.0)
    corner = {p.key: p.high for p in toy.params}
    assert toy.score(corner) == pytest.approx(1.0 - 0.7 ** 2)
    reports = []
    best = toy({**corner, toy.epochs_key: 3}, lambda e, v: reports.append((e, v)))
    expected = [(e, (1.0 - 0.49) * (1 - 0.5 ** (e + 1))) for e in range(3)]
    assert [e for e, _ in reports] == [0, 1, 2]
    assert [v for _, v in reports] == pytest.approx([v for _, v in expected])
    assert best == pytest.approx(expected[-1][1])


def test_in_process_study_prunes_and_saves_best(tmp_path):
    toy = ToyObjective("cnn", step_seconds=0.0)
    start = time.perf_counter()
    study = tune.run_study("inproc", toy, 12, _sqlite(tmp_path), model_family="cnn", scale_epochs=0.03, seed=0,
                           heartbeat_interval=1, pruner_startup_trials=3, pruner_warmup_steps=0)
    rate = 12 / (time.perf_counter() - start)
    finished = _assert_finished(study, 12)  # one worker: exactly n_trials
    counts = _counts(study)
    assert counts["PRUNED"] >= 1 and counts["FAIL"] == 0, counts
    for t in finished:  # complete trials ran every epoch; pruned ones stopped after the epoch that was pruned
        epochs = t.params["epochs"]
        assert len(t.intermediate_values) == epochs if t.state == TrialState.COMPLETE else (
            1 <= len(t.intermediate_values) <= epochs)
    # The best value is the toy's final curve value of the best parameters, recomputed here.
    best = study.best_trial
    overrides = tune.params_to_overrides("cnn", best.params)
    assert best.value == pytest.approx(toy.score(overrides) * (1 - 0.5 ** best.params["epochs"]))
    assert best.value == max(t.value for t in finished if t.state == TrialState.COMPLETE)
    print(f"in-process SQLite: {rate:.1f} trials/s")
    # A second run_study call on the finished study does nothing (the total is reached).
    again = tune.run_study("inproc", toy, 12, _sqlite(tmp_path), model_family="cnn", seed=1, heartbeat_interval=1)
    assert len(again.get_trials()) == 12
    with pytest.raises(ValueError, match="cnn space"):
        tune.run_study("inproc", toy, 13, _sqlite(tmp_path), model_family="transformer", heartbeat_interval=1)


@pytest.mark.parametrize("family", ["transformer", "cnn"])
def test_best_overrides_round_trip_into_config(tmp_path, family):
    toy = ToyObjective(family, step_seconds=0.0)
    study = tune.run_study(f"rt_{family}", toy, 4, _sqlite(tmp_path), model_family=family, scale_epochs=0.03,
                           seed=3, heartbeat_interval=1)
    path = tune.save_best(study, tmp_path / "best.json")
    cfg = islr_config.get_config("smoke", json.loads(path.read_text()))
    expected = tune.params_to_overrides(family, study.best_trial.params)
    for key, value in expected.items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value, key


def test_plots_are_written(tmp_path):
    toy = ToyObjective("transformer", step_seconds=0.0)
    study = tune.run_study("plots", toy, 5, _sqlite(tmp_path), model_family="transformer", scale_epochs=0.05,
                           seed=0, heartbeat_interval=1)
    written = tune.plot_study(study, tmp_path / "plots")
    assert {p.name for p in written} == {"optimization_history.png", "intermediate_values.png",
                                         "param_importances.png"}
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    # One complete trial: no importances to compute, the other plots still work.
    single = tune.run_study("single", toy, 1, _sqlite(tmp_path, "single"), model_family="transformer", seed=0,
                            heartbeat_interval=1, scale_epochs=0.05)
    assert [p.name for p in tune.plot_study(single, tmp_path / "single")] == [
        "optimization_history.png", "intermediate_values.png"]


_CREATE_TOGETHER = """
import sys, time
from pathlib import Path
from islr import tune
url, barrier, me, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(barrier / me).touch()
while len(list(barrier.iterdir())) < n:  # all processes create the study at the same moment
    time.sleep(0.001)
print(tune.create_study("fresh", url, heartbeat_interval=1).study_name)
"""


def _fresh_postgres(url: str) -> str:
    """A new, empty database on the server of ``url``: its URL."""
    import sqlalchemy

    name = f"islr_fresh_{uuid.uuid4().hex[:8]}"
    with sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    return sqlalchemy.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_workers_starting_together_on_a_new_database(tmp_path, backend, request):
    """Optuna creates a new database's tables without a lock: without create_study's retry, 2 of 3 processes
    started at once usually fail ("table trials already exists", "UNIQUE constraint failed: alembic_version")."""
    url = _sqlite(tmp_path, "fresh") if backend == "sqlite" else _fresh_postgres(request.getfixturevalue(
        "postgres_url"))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", _CREATE_TOGETHER, url, str(barrier), str(i), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) for i in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip().endswith("fresh"), err[-2000:]
    assert len(optuna.get_all_study_summaries(url)) == 1


def _running_with_progress(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    trials = study.get_trials()
    running = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    return running[0] if running and done else None


def test_killed_worker_resumes_with_nothing_lost(tmp_path):
    url, n_trials, grace = _sqlite(tmp_path), 6, 3
    # No pruning, so every trial runs all its epochs (0.1 s each) and a kill lands mid-trial.
    worker = _start_worker(url, "kill", n_trials, 1, tmp_path / "w1.log", "--prune-startup", "100")
    study = tune.create_study("kill", url, heartbeat_interval=1)
    deadline = time.monotonic() + 120
    while (victim := _running_with_progress(study)) is None:
        assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "w1.log").read_text()
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    killed = next(t for t in study.get_trials() if t.number == victim.number)
    assert killed.state == TrialState.RUNNING  # nobody told the storage: only the heartbeat can tell
    # A trial counts as dead once its heartbeat is older than the grace period; the next trial started after that
    # fails it and takes its re-queued copy first.
    time.sleep(grace + 0.5)

    start = time.perf_counter()
    restarted = _start_worker(url, "kill", n_trials, 2, tmp_path / "w2.log", "--prune-startup", "100")
    _wait(restarted, tmp_path / "w2.log")
    print(f"restart to {n_trials} trials: {time.perf_counter() - start:.1f} s")
    finished = _assert_finished(study, n_trials)  # one worker: exactly n_trials
    trials = {t.number: t for t in study.get_trials()}
    assert [t.number for t in trials.values() if t.state == TrialState.FAIL] == [victim.number]
    retries = [t for t in finished if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params  # re-run with the same parameters
    assert set(victim.intermediate_values.items()) <= set(retries[0].intermediate_values.items())
    assert retries[0].user_attrs["run_name"] == victim.user_attrs["run_name"] == f"tune_kill_t{victim.number:04d}"
    assert retries[0].number == victim.number + 1  # queued before the restarted worker asked for its first trial


def _two_workers(storage: str, tmp_path: Path, n_trials: int = 8) -> optuna.Study:
    name = f"pair_{uuid.uuid4().hex[:8]}"
    study = tune.create_study(name, storage, heartbeat_interval=1)
    start = time.perf_counter()
    logs = [tmp_path / f"{name}_{i}.log" for i in range(2)]
    workers = [_start_worker(storage, name, n_trials, 10 + i, log, "--prune-startup", "2") for i, log in
               enumerate(logs)]
    for worker, log in zip(workers, logs):
        _wait(worker, log)
    print(f"two workers, {n_trials} trials: {time.perf_counter() - start:.1f} s wall (incl. start-up)")
    # MaxTrialsCallback: each worker stops after the trial that reached n_trials, so the other may finish one more.
    finished = _assert_finished(study, n_trials, extra=1)
    assert _counts(study)["FAIL"] == 0
    by_worker = {t.user_attrs["worker"] for t in finished}
    assert len(by_worker) == 2, by_worker  # both processes took trials from the one study
    # Each worker saved the best trial it saw when it stopped; the last one to stop saw them all.
    saved = [json.loads(log.with_suffix(".json").read_text()) for log in logs]
    complete = [tune.params_to_overrides("cnn", t.params) for t in finished if t.state == TrialState.COMPLETE]
    assert all(s in complete for s in saved)
    assert tune.best_overrides(study) in saved
    return study


def test_two_workers_share_a_sqlite_study(tmp_path):
    _two_workers(_sqlite(tmp_path), tmp_path)


def test_two_workers_share_a_postgres_study(tmp_path, postgres_url):
    _two_workers(postgres_url, tmp_path)
