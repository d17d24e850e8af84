"""Several search runs sharing one study: on PostgreSQL (a real server the tests start) and on SQLite, each run
owns the trials it samples and beats their heartbeats; a dead run's trial is settled by another once the grace
period has passed, never before; the budget and the baselines hold across runs; bad storage URLs are one line."""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import sqlalchemy

from evaluators.latency import LatencyPredictor
from evaluators.presets import ADDED_AS_BEFORE, BEFORE_ADDED
from search import _latency
from search._latency import PREDICTOR_ATTR, latency_machine, prepare_latency
from search.run import main
from search.study import (DONE, ENDED, INTERRUPTED, SAMPLE, WAIT, WORKER, StudyError, Worker, check_same_settings,
                          default_space, enqueue_baselines, open_study)
from search.study._workers import StudyLock

from servers import free_port, postgres_bin, postgres_server, wait_for

DATA = "synthetic:classes=3,train=16,val=8"
FAST = ["--data", DATA, "--fidelity", "smoke", "--crop", "16", "--batch-size", "8", "--data-fraction", "1",
        "--epochs", "3", "--baseline-seeds", "1", "--max-concurrent", "1", "--scheduler", "fifo"]
"""Smoke trials of a few seconds: a second run, starting Ray, joins while the first still has trials to train."""


@pytest.fixture(scope="session")
def postgres():
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin; Debian: apt-get "
                    "install postgresql, which .ci/run does)")
    with postgres_server(bin_dir) as server:
        yield server


@contextlib.contextmanager
def _runs():
    """The search runs a test starts; any still alive at its end is killed with its process group (its Ray)."""
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _start(runs: list, tmp_path, name: str, storage: str, budget: int, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "search.run", *FAST, "--results-dir", str(tmp_path / name), "--study-name",
               "shared", "--storage", storage, "--budget", str(budget), *extra]
    with open(tmp_path / f"{name}.log", "w") as log:
        runs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0",
                                          "BROWSER_PATH": "/nonexistent"}))  # no PNGs: no browser to start
    return runs[-1]


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    except Exception:  # not created yet
        return []


def _running(storage: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in _trials(storage) if t.state.name == "RUNNING" and t.user_attrs.get(WORKER)]


def _finish(process: subprocess.Popen, tmp_path, name: str, timeout: float = 900) -> None:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = "killed after the timeout"
    assert code == 0, f"{name} ended with {code}:\n{(tmp_path / f'{name}.log').read_text()[-4000:]}"


def _two_workers_share_a_study(tmp_path, storage: str, budget: int = 7) -> None:
    with _runs() as runs:
        first = _start(runs, tmp_path, "w1", storage, budget)
        wait_for(lambda: _running(storage), 180, what="the first run's first trial")
        second = _start(runs, tmp_path, "w2", storage, budget)
        _finish(first, tmp_path, "w1")
        _finish(second, tmp_path, "w2")
    trials = _trials(storage)
    assert [t.state.name for t in trials] == ["COMPLETE"] * budget
    assert sum(bool(t.user_attrs.get("is_baseline")) for t in trials) == 1
    assert len({t.user_attrs[WORKER] for t in trials}) == 2, "the second run trained none of the study's trials"
    assert len({t.user_attrs["genome_id"] for t in trials}) == budget, "two runs proposed the same genome"
    for name in ("w1", "w2"):  # each run's report is of the whole study
        frame = pd.read_csv(tmp_path / name / "shared" / "trials.csv")
        assert (frame["state"] == "COMPLETE").sum() == budget and frame["worker"].nunique() == 2


def test_two_runs_share_a_postgresql_study_without_losing_or_repeating_a_trial(tmp_path, postgres):
    _two_workers_share_a_study(tmp_path, postgres.url())


def test_two_runs_share_a_sqlite_study_on_one_machine(tmp_path):
    _two_workers_share_a_study(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


def test_a_killed_run_s_trial_is_settled_by_another_run_after_the_grace_period_and_not_before(tmp_path):
    storage, grace, budget = f"sqlite:///{tmp_path / 'shared.db'}", 6, 6
    interval = grace // 4
    with _runs() as runs:
        first = _start(runs, tmp_path, "w1", storage, budget, "--heartbeat-grace", str(grace))
        wait_for(lambda: _running(storage), 180, what="the first run's first trial")
        second = _start(runs, tmp_path, "w2", storage, budget, "--heartbeat-grace", str(grace))
        owners = lambda: {t.user_attrs.get(WORKER) for t in _trials(storage)} - {None}  # noqa: E731
        wait_for(lambda: len(owners()) == 2, 240, every=0.2, what="the second run's first trial")
        first_id = _trials(storage)[0].user_attrs[WORKER]
        # Still training: a trial whose training ended waits RUNNING until its run tells it, and a settling run
        # completes such a trial from its recorded result rather than failing it.
        victim = wait_for(lambda: [t for t in _running(storage) if t.user_attrs[WORKER] == first_id
                                   and t.user_attrs.get("status") not in ENDED], 240,
                          every=0.1, what="a trial of the first run in training")[0]
        os.killpg(first.pid, signal.SIGKILL)
        killed = time.monotonic()
        first.wait()
        # Its last beat was at most one interval before the kill; stamps have 1 s resolution.
        not_before = grace - interval - 1
        state = lambda: _trials(storage)[victim.number]  # noqa: E731
        while time.monotonic() - killed < not_before:
            assert state().state.name == "RUNNING", (f"trial {victim.number} was settled "
                                                     f"{time.monotonic() - killed:.1f}s after its run died")
            time.sleep(0.5)
        settled = wait_for(lambda: state().state.name != "RUNNING" and state(), 120, what="the settled trial")
        assert settled.state.name == "FAIL" and settled.user_attrs["reason"] == INTERRUPTED
        _finish(second, tmp_path, "w2")
    trials = _trials(storage)
    assert sum(t.state.name == "COMPLETE" for t in trials) == budget
    assert [t.number for t in trials if t.state.name == "FAIL"] == [victim.number]
    assert sum(bool(t.user_attrs.get("is_baseline")) and t.state.name == "COMPLETE" for t in trials) == 1


@pytest.mark.parametrize("storage, message", [
    ("bogus://x", "error: --storage bogus://x: unknown scheme 'bogus'; use sqlite:///FILE, postgresql://"),
    ("not a url", "error: --storage 'not a url': not a database URL; use sqlite:///FILE"),
])
def test_a_storage_url_of_no_known_database_is_a_one_line_error(tmp_path, capsys, storage, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path), "--storage", storage])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1


@pytest.mark.parametrize("storage", ["sqlite:///", "sqlite:///:memory:"])
def test_sqlite_without_a_file_is_refused_before_study_json_points_at_it(tmp_path, capsys, storage):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path), "--storage", storage])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: --storage {storage}: a study needs a database file: sqlite:///FILE\n"
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_postgresql_server_is_a_one_line_error(tmp_path, capsys):
    storage = f"postgresql://someone:hidden@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(SystemExit):
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path), "--storage", storage])
    error = capsys.readouterr().err
    assert error.startswith(f"error: --storage {storage.replace('hidden', '***')}: cannot open it: ")
    assert "Connection refused" in error and "hidden" not in error and error.count("\n") == 1


def test_a_sqlite_url_naming_a_folder_is_refused_before_study_json_points_at_it(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path}"
    with pytest.raises(SystemExit):
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path / "results"), "--storage", storage])
    assert capsys.readouterr().err == \
        f"error: --storage {storage}: {tmp_path} is a folder, not a database file: sqlite:///FILE\n"
    assert not (tmp_path / "results").exists()


def test_a_sqlite_file_in_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'nowhere' / 'study.db'}"
    with pytest.raises(SystemExit):
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path), "--storage", storage])
    error = capsys.readouterr().err
    assert error == (f"error: --storage {storage}: the folder {tmp_path / 'nowhere'} does not exist (a new SQLite "
                     "file is created, its folder is not)\n")


def test_bad_postgresql_credentials_are_a_one_line_error(tmp_path, capsys, postgres):
    storage = postgres.url(password="wrong")
    with pytest.raises(SystemExit):
        main(["--data", DATA, "--fidelity", "smoke", "--results-dir", str(tmp_path), "--storage", storage])
    error = capsys.readouterr().err
    assert error.startswith(f"error: --storage {postgres.url(password='***')}: cannot open it: ")
    assert "password authentication failed" in error and error.count("\n") == 1


class Shared:
    """A unit test's study in a SQLite file and the runs (workers) the test opens on it."""

    def __init__(self, tmp_path):
        self.storage = f"sqlite:///{tmp_path / 'unit.db'}"
        self.study = optuna.create_study(study_name="shared", storage=self.storage,
                                         directions=["maximize", "minimize"])
        self.workers: list[Worker] = []

    def worker(self, grace: int = 30) -> Worker:
        self.workers.append(Worker(self.storage, "shared", grace=grace))
        return self.workers[-1]


@pytest.fixture
def shared(tmp_path):
    made = Shared(tmp_path)
    yield made
    for worker in made.workers:
        worker.close()


def test_a_run_samples_below_the_budget_waits_while_another_run_s_trial_fills_it_and_is_done_after(shared):
    study, first, second = shared.study, shared.worker(), shared.worker()
    with first.lock:
        trial = study.ask()
        first.own(study, trial)
    assert second.verdict(study, budget=2) == SAMPLE
    assert second.verdict(study, budget=1) == WAIT
    study.tell(trial, [50.0, 1.0])
    assert second.verdict(study, budget=1) == DONE
    study.enqueue_trial({})
    assert second.verdict(study, budget=1) == SAMPLE, "a queued trial is counted already: it may start"


def test_runs_starting_together_queue_each_baseline_replicate_once(shared):
    workers = [shared.worker() for _ in range(3)]
    start = threading.Barrier(len(workers))

    def queue(worker: Worker) -> None:
        study = optuna.load_study(study_name="shared", storage=shared.storage)
        start.wait()
        with worker.lock:
            enqueue_baselines(study, ["standard", "se"], 10, default_space(), replicates=2)

    threads = [threading.Thread(target=queue, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = sorted(t.user_attrs["baseline_block"] for t in shared.study.get_trials(deepcopy=False))
    assert blocks == ["se", "se", "standard", "standard"]


@pytest.mark.parametrize("step", ["heartbeat", "owner"])
def test_a_run_that_dies_while_claiming_a_trial_leaves_it_for_the_next_run_to_settle(shared, monkeypatch, step):
    study, dying, next_run = shared.study, shared.worker(), shared.worker()
    trial = study.ask()

    def die(*_):
        raise SystemExit("killed")

    if step == "heartbeat":
        monkeypatch.setattr(dying._storage, "record_heartbeat", die)
    else:
        monkeypatch.setattr(trial, "set_user_attr", die)
    with dying.lock, pytest.raises(SystemExit):
        dying.own(study, trial)
    assert [t.number for t in next_run.abandoned(study)] == [trial.number]


LATENCY_RUN = SimpleNamespace(latency_clock="cpu", study_name="shared")


def _predictor(ms: float, machine=None) -> LatencyPredictor:
    return LatencyPredictor(machine=machine or latency_machine(LATENCY_RUN.latency_clock), rows={"stem": ms})


def _no_building(*_):
    pytest.fail("built a predictor although the study records one")


def test_a_run_of_a_latency_study_predicts_with_the_predictor_the_study_records(shared, tmp_path, monkeypatch):
    shared.study.set_user_attr(PREDICTOR_ATTR, _predictor(1.5).to_dict())
    monkeypatch.setattr(_latency, "_build_predictor", _no_building)
    predictor = prepare_latency(LATENCY_RUN, shared.study, tmp_path, shared.worker().lock)
    assert predictor.rows == {"stem": 1.5}


def test_a_predictor_built_while_another_run_recorded_one_gives_way_to_it(shared, tmp_path, monkeypatch):
    def build_while_another_run_records(config, machine):
        shared.study.set_user_attr(PREDICTOR_ATTR, _predictor(1.5).to_dict())
        return _predictor(9.0), 18.0

    monkeypatch.setattr(_latency, "_build_predictor", build_while_another_run_records)
    predictor = prepare_latency(LATENCY_RUN, shared.study, tmp_path, shared.worker().lock)
    assert predictor.rows == {"stem": 1.5} and shared.study.user_attrs[PREDICTOR_ATTR]["rows"] == {"stem": 1.5}


def test_a_latency_study_recorded_on_another_kind_of_machine_is_refused(shared, tmp_path, monkeypatch):
    elsewhere = dataclasses.replace(latency_machine(LATENCY_RUN.latency_clock), processor="another CPU")
    shared.study.set_user_attr(PREDICTOR_ATTR, _predictor(1.5, elsewhere).to_dict())
    monkeypatch.setattr(_latency, "_build_predictor", _no_building)
    with pytest.raises(StudyError, match="predicts latency for .*; use another --study-name, or run every run"):
        prepare_latency(LATENCY_RUN, shared.study, tmp_path, shared.worker().lock)


def test_a_run_that_must_be_alone_refuses_to_start_beside_another_such_run_before_either_trains(shared):
    study, first, second = shared.study, shared.worker(grace=2), shared.worker(grace=2)
    first.wait_alone(study, "moasha runs alone")
    with pytest.raises(StudyError, match="another run holds it alone; moasha runs alone"):
        second.wait_alone(study, "moasha runs alone")
    first.close()
    shared.workers.remove(first)
    shared.worker(grace=2).wait_alone(study, "moasha runs alone")


def test_a_postgresql_lock_held_alone_is_free_again_once_its_holder_closes(postgres):
    first, second = (StudyLock(postgres.url(), "alone-test", purpose="alone") for _ in range(2))
    assert first.try_hold() and not second.try_hold()
    first.close()
    assert second.try_hold()
    second.close()


def test_successive_halving_refuses_to_share_a_study_with_a_live_run(shared):
    study, live, second = shared.study, shared.worker(grace=2), shared.worker(grace=2)
    with live.lock:
        live.own(study, study.ask())
    started = time.monotonic()
    with pytest.raises(StudyError, match=f"run {live.id} is training trial 0; moasha runs alone"):
        second.wait_alone(study, "moasha runs alone")
    assert time.monotonic() - started >= 2, "gave up before a dead run's heartbeat could have gone stale"


def test_each_run_of_a_study_seeds_its_sampler_apart_from_the_runs_before_it(shared):
    workers = [shared.worker() for _ in range(3)]
    assert [worker.join(shared.study) for worker in workers] == [0, 1, 2]  # --seed + 0 for a study's first run


def _study_with_settings(tmp_path, **recorded) -> optuna.Study:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'settings.db'}", study_name="s")
    for key, value in recorded.items():
        study.set_user_attr(key, value)
    return study


def test_a_study_recorded_before_a_fidelity_setting_existed_continues_with_its_default(tmp_path):
    study = _study_with_settings(tmp_path, fidelity={"crop": 24, "epochs": 2})
    check_same_settings(study, {"fidelity": {"crop": 24, "epochs": 2, "graphs": False, **BEFORE_ADDED,
                                             **ADDED_AS_BEFORE}})


@pytest.mark.parametrize("setting, changed", [("head_lr_factor", 0.1), ("bn_recalibration_images", 1000)])
def test_a_study_recorded_before_a_setting_existed_refuses_another_value_than_it_ran_with(tmp_path, setting, changed):
    study = _study_with_settings(tmp_path, fidelity={"crop": 24, "epochs": 2})
    with pytest.raises(StudyError, match=rf"was run with fidelity {setting}=.*, not {setting}={changed};"):
        check_same_settings(study, {"fidelity": {"crop": 24, "epochs": 2, **BEFORE_ADDED, **ADDED_AS_BEFORE,
                                                 setting: changed}})


def test_a_study_recorded_before_zero_init_last_existed_refuses_the_new_default_and_names_it(tmp_path):
    study = _study_with_settings(tmp_path, fidelity={"crop": 24, "epochs": 2})
    with pytest.raises(StudyError, match=r"was run with fidelity zero_init_last=False, not zero_init_last=True;"):
        check_same_settings(study, {"fidelity": {"crop": 24, "epochs": 2, **BEFORE_ADDED, **ADDED_AS_BEFORE,
                                                 "zero_init_last": True}})


def test_a_study_refuses_a_fidelity_setting_that_differs_from_its_record(tmp_path):
    study = _study_with_settings(tmp_path, fidelity={"crop": 24, "epochs": 2})
    with pytest.raises(StudyError, match="was run with fidelity"):
        check_same_settings(study, {"fidelity": {"crop": 32, "epochs": 2, "graphs": False}})


def _storage_failing_first(monkeypatch, message: str) -> list[str]:
    """Optuna's RDBStorage, failing its first opening with ``message``; returns the list of openings."""
    openings = []

    class FailingFirst(optuna.storages.RDBStorage):
        def __init__(self, url, *args, **kwargs):
            openings.append(url)
            if len(openings) == 1:
                raise sqlalchemy.exc.OperationalError("CREATE TABLE alembic_version", {}, Exception(message))
            super().__init__(url, *args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", FailingFirst)
    return openings


def test_a_run_that_loses_the_race_to_create_a_new_databases_tables_opens_it_again(tmp_path, monkeypatch):
    openings = _storage_failing_first(monkeypatch, "table alembic_version already exists")
    study = open_study("s", f"sqlite:///{tmp_path / 'new.db'}", optuna.samplers.RandomSampler())
    assert study.study_name == "s" and len(openings) >= 2


def test_any_other_error_opening_a_database_is_not_retried(tmp_path, monkeypatch):
    openings = _storage_failing_first(monkeypatch, "disk I/O error")
    with pytest.raises(sqlalchemy.exc.OperationalError):
        open_study("s", f"sqlite:///{tmp_path / 'new.db'}", optuna.samplers.RandomSampler())
    assert len(openings) == 1
