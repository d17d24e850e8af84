"""The ordered searcher: concurrent trials, yet a seed gives the same study whatever order they finish in."""

import optuna
import pytest
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState

from search.study import INTERRUPTED, METRICS, Halving, settle_unfinished
from search.tune import StudySearch


def _space(trial: optuna.Trial) -> dict:
    return {"x": trial.suggest_float("x", 0.0, 1.0)}


def _searcher(tmp_path, window: int, total: int, name: str = "s") -> StudySearch:
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True, n_startup_trials=2)
    return StudySearch(space=_space, metric=METRICS, mode=["max", "min"], sampler=sampler, study_name=name,
                       storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}"),
                       window=window, total=total, halving=Halving("fifo"))


def _result(params: dict) -> dict:
    return {"status": "ok", "accuracy": 100 * params["x"], "macs": 1e6 * params["x"] ** 2}


def _simulate(searcher: StudySearch, total: int, finish_newest_first: bool) -> list[float]:
    """Drive the searcher as Ray Tune would, finishing running trials newest-first or oldest-first."""
    running: dict[str, dict] = {}
    sampled = []
    while len(sampled) < total or running:
        if len(sampled) < total:
            trial_id = f"t{len(sampled)}"
            params = searcher.suggest(trial_id)
            if params is not None:
                running[trial_id] = params
                sampled.append(params["x"])
                continue
        trial_id = sorted(running, key=lambda t: int(t[1:]), reverse=finish_newest_first)[0]
        searcher.on_trial_complete(trial_id, _result(running.pop(trial_id)))
    return sampled


def test_trial_k_is_sampled_only_after_trial_k_minus_window_has_finished(tmp_path):
    searcher = _searcher(tmp_path, window=2, total=5)
    first, second = searcher.suggest("t0"), searcher.suggest("t1")
    assert searcher.suggest("t2") is None
    searcher.on_trial_complete("t1", _result(second))
    assert searcher.suggest("t2") is None
    searcher.on_trial_complete("t0", _result(first))
    assert searcher.suggest("t2") is not None


def test_a_finished_trial_reaches_optuna_only_after_its_elders(tmp_path):
    searcher = _searcher(tmp_path, window=2, total=2)
    first, second = searcher.suggest("t0"), searcher.suggest("t1")
    searcher.on_trial_complete("t1", _result(second))
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.RUNNING]
    searcher.on_trial_complete("t0", _result(first))
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_finishing_order_does_not_change_the_sampled_trials(tmp_path):
    oldest_first = _simulate(_searcher(tmp_path, window=3, total=9, name="a"), 9, finish_newest_first=False)
    newest_first = _simulate(_searcher(tmp_path, window=3, total=9, name="b"), 9, finish_newest_first=True)
    assert oldest_first == newest_first


def test_a_measurement_the_storage_refuses_once_is_written_on_a_second_try(tmp_path, monkeypatch):
    searcher = _searcher(tmp_path, window=1, total=1)
    params = searcher.suggest("t0")
    refused = []
    set_user_attr = optuna.Trial.set_user_attr

    def refuse_once(trial, key, value):
        if not refused:
            refused.append(key)
            raise StorageInternalError("database is locked")
        set_user_attr(trial, key, value)

    monkeypatch.setattr(optuna.Trial, "set_user_attr", refuse_once)
    monkeypatch.setattr("search.tune._searcher.STORAGE_RETRY_PAUSES", (0.0,))
    searcher.on_trial_complete("t0", _result(params))
    (trial,) = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").trials
    assert refused and trial.state == TrialState.COMPLETE
    assert trial.user_attrs["accuracy"] == 100 * params["x"] and trial.user_attrs["status"] == "ok"


def test_a_held_back_trial_is_completed_from_its_recorded_results_after_a_stop(tmp_path):
    searcher = _searcher(tmp_path, window=2, total=4)
    searcher.suggest("t0")
    second = searcher.suggest("t1")
    searcher.on_trial_complete("t1", _result(second))
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert settle_unfinished(study, Halving("fifo")) == 1
    first, held = study.get_trials()
    assert first.state == TrialState.FAIL and first.user_attrs["reason"] == INTERRUPTED
    assert held.state == TrialState.COMPLETE
    assert held.values == pytest.approx([_result(second)["accuracy"], _result(second)["macs"]])

