"""The successive-halving scheduler with the ordered searcher, driven as Ray Tune drives them, on a real
Optuna study: what Optuna is told, what the storage keeps, and what a stop and resume does.

``_Ray`` stands in for Ray Tune's controller: a result goes to the scheduler first; STOP, or a trial's last
result, ends it, and then the searcher's ``on_trial_complete`` gets that last result (see
ray/tune/execution/tune_controller.py); other results go to the searcher's ``on_trial_result``.
"""

import random
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.schedulers import TrialScheduler

from search.study import (DIRECTIONS, METRICS, RUNG_ACCURACY, Halving, continued_halving,
                          finished_trials, load_ladder, settle_unfinished)
from search.tune import MultiObjectiveASHA, StudySearch

HALVING = Halving("moasha", grace=1, eta=2, max_units=4)  # rungs at 1, 2 and 4 units
STOP = TrialScheduler.STOP


def _space(trial: optuna.Trial) -> dict:
    return {"x": trial.suggest_float("x", 0.0, 1.0)}


class _Ray:
    """One run of a study: its searcher and scheduler, and the reports of the trials it runs."""

    def __init__(self, storage: str, name: str, total: int, window: int = 4):
        self.study = optuna.create_study(study_name=name, storage=storage, directions=DIRECTIONS, load_if_exists=True)
        ladder = load_ladder(self.study, HALVING)
        self.searcher = StudySearch(space=_space, metric=METRICS, mode=["max", "min"],
                                    sampler=optuna.samplers.RandomSampler(seed=0), study_name=name,
                                    storage=optuna.storages.RDBStorage(storage), window=window, total=total,
                                    halving=HALVING, ladder=ladder)
        self.scheduler = MultiObjectiveASHA(ladder, self.searcher)

    def start(self, trial_id: str) -> dict | None:
        return self.searcher.suggest(trial_id)

    def report(self, trial_id: str, units: int, accuracy: float | None, macs: float) -> str:
        """A report after ``units`` units; the last unit's is the final one. Returns the scheduler's word."""
        final = units == HALVING.max_units
        result = {"units": units, "accuracy": accuracy, "macs": macs, "status": "ok" if final else "running"}
        decision = self.scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id), result)
        if decision == STOP or final:
            self.scheduler.on_trial_complete(None, SimpleNamespace(trial_id=trial_id), result)
            self.searcher.on_trial_complete(trial_id, result)
        else:
            self.searcher.on_trial_result(trial_id, result)
        return decision

    def trial(self, number: int) -> optuna.trial.FrozenTrial:
        return self.study.get_trials(deepcopy=False)[number]


@pytest.fixture
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def _accuracy(params: dict, units: int) -> float:
    """A made-up learning curve: genomes keep their order, accuracy grows with units."""
    return 10 + 50 * params["x"] * units / HALVING.max_units


def test_a_trial_stopped_at_a_rung_is_pruned_with_its_accuracy_rung_and_units(storage):
    ray = _Ray(storage, "s", total=2)
    ray.start("a"), ray.start("b")
    assert ray.report("a", 1, 50.0, 1e6) != STOP  # the first arrival continues
    assert ray.report("b", 1, 20.0, 2e6) == STOP  # n = 2, eta = 2: one goes on, and "a" dominates
    for units in (2, 3, 4):
        ray.report("a", units, 50.0 + units, 1e6)
    stopped, finished = ray.trial(1), ray.trial(0)
    assert stopped.state == TrialState.PRUNED and stopped.values is None
    assert {key: stopped.user_attrs[key] for key in ("accuracy", "rung", "units", "status")} == \
        {"accuracy": 20.0, "rung": 1, "units": 1, "status": "stopped"}
    assert finished.state == TrialState.COMPLETE and finished.values == [54.0, 1e6]
    assert finished.user_attrs["rung"] == 3 and finished.user_attrs[RUNG_ACCURACY.format(1)] == 50.0
    assert [t.number for t in ray.study.best_trials] == [0]


def test_a_trial_whose_decision_waits_on_an_elder_trains_on_and_stops_when_it_comes(storage):
    ray = _Ray(storage, "s", total=2)
    ray.start("a"), ray.start("b")
    assert ray.report("b", 1, 20.0, 2e6) != STOP  # "a" has not reached rung 1: pending, train on
    assert ray.report("a", 1, 50.0, 1e6) != STOP
    assert ray.report("b", 2, 25.0, 2e6) == STOP  # the decision at rung 1 came out as STOP
    for units in (2, 3, 4):
        ray.report("a", units, 50.0 + units, 1e6)
    stopped = ray.trial(1)
    assert stopped.state == TrialState.PRUNED
    assert (stopped.user_attrs["rung"], stopped.user_attrs["units"], stopped.user_attrs["accuracy"]) == (1, 2, 20.0)
    assert RUNG_ACCURACY.format(2) not in stopped.user_attrs  # decided before rung 2 was recorded


def _run_to_the_end(ray: _Ray, total: int, rng: random.Random | None, concurrent: int = 3) -> None:
    """Run ``total`` trials, ``concurrent`` at a time, the next report from a random running trial (or the
    oldest), every trial on the learning curve of ``_accuracy``."""
    started, running, progress, params = 0, [], {}, {}
    while started < total or running:
        if started < total and len(running) < concurrent:
            trial_id = f"t{started}"
            config = ray.start(trial_id)
            if config is not None:
                running.append(trial_id)
                params[trial_id], progress[trial_id] = config, 0
                started += 1
                continue
        trial_id = rng.choice(running) if rng else running[0]
        progress[trial_id] += 1
        units = progress[trial_id]
        accuracy = _accuracy(params[trial_id], units) if units in HALVING.rungs else None
        if ray.report(trial_id, units, accuracy, 1e6 * (1 + params[trial_id]["x"] % 0.3)) == STOP \
                or units == HALVING.max_units:
            running.remove(trial_id)


def _outcomes(study: optuna.Study) -> list:
    return [(t.number, t.state.name, t.params.get("x"), t.user_attrs.get("rung"), t.values)
            for t in study.get_trials(deepcopy=False)]


def test_the_study_does_not_depend_on_the_order_trials_finish_in(storage):
    outcomes = []
    for name, rng in (("in-order", None), ("shuffled-1", random.Random(1)), ("shuffled-2", random.Random(2))):
        ray = _Ray(storage, name, total=10)
        _run_to_the_end(ray, 10, rng)
        outcomes.append(_outcomes(ray.study))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    states = {state for _, state, *_ in outcomes[0]}
    assert states == {"COMPLETE", "PRUNED"}


def test_a_trial_cut_mid_climb_is_queued_again_under_its_number_with_its_records(storage):
    ray = _Ray(storage, "s", total=3)
    first = ray.start("a")
    ray.report("a", 1, 40.0, 1e6)
    ray.report("a", 2, 45.0, 1e6)  # then the run is killed
    assert settle_unfinished(ray.study, HALVING) == 1
    assert ray.trial(0).state == TrialState.WAITING
    assert ray.trial(0).user_attrs[RUNG_ACCURACY.format(2)] == 45.0
    resumed = _Ray(storage, "s", total=3)
    assert resumed.start("a2") == first  # the same trial, handed out again
    assert resumed.report("a2", 2, 47.0, 1e6) != STOP
    assert resumed.trial(0).user_attrs[RUNG_ACCURACY.format(2)] == 45.0  # the first record is kept


def test_a_finished_trial_whose_fate_waits_on_a_cut_elder_stays_open_and_counts_against_the_budget(storage):
    ray = _Ray(storage, "s", total=2)
    ray.start("a"), ray.start("b")
    for units in (1, 2, 3, 4):
        ray.report("b", units, 30.0 + units, 2e6)  # rung 1 waits on "a" throughout
    ray.report("a", 1, 50.0, 1e6)  # "b"'s decision at rung 1 is now made ... but the run is killed
    del ray
    study = optuna.load_study(study_name="s", storage=storage)
    assert settle_unfinished(study, HALVING) == 1  # "a" is queued again
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING, TrialState.PRUNED]
    assert finished_trials(study) == 1


def test_a_trial_held_back_behind_a_cut_elder_is_settled_once_the_elder_is(storage):
    ray = _Ray(storage, "s", total=2)
    ray.start("a"), ray.start("b")
    for units in (1, 2, 3, 4):
        ray.report("b", units, 60.0 + units, 0.5e6)  # dominates whatever "a" does
    study = optuna.load_study(study_name="s", storage=storage)
    assert settle_unfinished(study, HALVING) == 1
    assert study.get_trials()[1].state == TrialState.RUNNING  # its fate waits on "a" at rung 1
    assert finished_trials(study) == 1
    resumed = _Ray(storage, "s", total=1)
    resumed.start("a2")
    for units in (1, 2, 3, 4):
        resumed.report("a2", units, 10.0, 2e6)
    assert study.get_trials()[0].state == TrialState.COMPLETE  # the first arrival at every rung
    settle_unfinished(study, HALVING)
    assert study.get_trials()[1].state == TrialState.COMPLETE


def test_the_ladder_keeps_the_accuracy_floor_the_study_was_run_with(storage):
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    floored = Halving("moasha", grace=1, eta=2, max_units=4, accuracy_floor=11.6)
    assert load_ladder(study, floored).accuracy_floor == 11.6  # nothing recorded yet: this run's
    study.set_user_attr("halving", {key: value for key, value in vars(HALVING).items() if key != "accuracy_floor"})
    assert load_ladder(study, floored).accuracy_floor is None  # made before the floor: decides as it did
    study.set_user_attr("halving", vars(floored))
    assert load_ladder(study, HALVING).accuracy_floor == 11.6


def test_a_continued_study_keeps_the_halving_settings_the_command_line_does_not_give(storage):
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    study.set_user_attr("halving", vars(HALVING))
    today = Halving("moasha", grace=1, eta=4, max_units=16)
    assert continued_halving(study, today, given=frozenset()) == HALVING


def test_a_continued_study_takes_the_halving_settings_the_command_line_gives(storage):
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    study.set_user_attr("halving", vars(HALVING))
    asked = Halving("fifo", grace=1, eta=4, max_units=16)
    assert continued_halving(study, asked, given=frozenset({"scheduler", "eta"})) == Halving("fifo", 1, 4, 4)


def test_a_new_study_runs_with_the_halving_settings_of_the_command(storage):
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    today = Halving("moasha", grace=1, eta=4, max_units=16)
    assert continued_halving(study, today, given=frozenset()) == today


def test_a_study_resumed_through_the_python_api_without_halving_settings_continues_as_recorded(storage):
    from search import SearchConfig
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    recorded = Halving("fifo", grace=1, eta=3, max_units=9)
    study.set_user_attr("halving", vars(recorded))
    config = SearchConfig(study_name="s", study_dir=Path("."), storage=storage, resume=True, budget=1,
                          data="synthetic", num_classes=10, fidelity=None, space=None, search_training=False,
                          sampler="tpe", seed=0, train_seed=0, baseline_blocks=["standard"], baseline_seeds=1,
                          address=None, cpus_per_trial=1, gpus_per_trial=None, max_concurrent=None, cache_dir=None)
    assert continued_halving(study, config.halving, config.halving_given) == recorded


def _too_many_units(tmp_path, storage=None):
    from evaluators.presets import PRESETS
    from search import SearchConfig
    return SearchConfig(study_name="s", study_dir=tmp_path / "s", storage=storage, resume=False, budget=1,
                          data="synthetic:classes=3,train=16,val=8", num_classes=3, fidelity=PRESETS["smoke"],
                          space=None, search_training=False, sampler="tpe", seed=0, train_seed=0,
                          baseline_blocks=["standard"], baseline_seeds=1, address=None, cpus_per_trial=1,
                          gpus_per_trial=None, max_concurrent=None, cache_dir=str(tmp_path / "cache"))


def test_a_search_through_the_python_api_refuses_more_units_than_the_fidelity_has_steps(tmp_path):
    from evaluators.presets import PRESETS
    from search import run_search
    steps = PRESETS["smoke"].total_steps(3 * 16)
    with pytest.raises(ValueError, match=rf"^halving.max_units: 16 units need at least as many optimizer steps, "
                                         rf"but fidelity smoke trains {steps} on this data$"):
        run_search(_too_many_units(tmp_path))
    assert not (tmp_path / "s").exists()  # no study, no folder: the same name starts again with units that fit


def test_a_refused_new_study_leaves_no_empty_study_in_an_external_storage(tmp_path):
    from search import run_search
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="other", storage=storage)
    with pytest.raises(ValueError, match="^halving.max_units: "):
        run_search(_too_many_units(tmp_path, storage))
    assert optuna.get_all_study_names(storage) == ["other"]
