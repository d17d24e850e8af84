"""The Optuna study behind a search: its storage, its fixed baseline trials, and resuming after a stop.

The study in its RDB storage is the single source of truth: every trial's genome and measurements are
user attrs there, so a killed run loses nothing that finished, a re-run continues it, optuna-dashboard
opens it as it is, and ``search.report`` rebuilds every file from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from space import baseline

from .search_space import SearchSpace, genome_params, suggest
from .trial import RECORDED

DIRECTIONS = ["maximize", "minimize"]
METRICS = ["accuracy", "macs"]
INTERRUPTED = "interrupted before it finished (re-run to resume the study)"


def default_storage(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / 'study.db').resolve()}"


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """Multi-objective samplers. TPE uses a constant liar so concurrent asks do not collide."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=10)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    raise ValueError(f"sampler: must be one of tpe, nsga2, random, gp, got {name!r}")


def open_study(study_name: str, storage: str, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, directions=DIRECTIONS,
                               load_if_exists=True)


def write_study_pointer(study_dir: Path, study_name: str, storage: str, **details: Any) -> None:
    """``study.json`` lets ``search.report DIR`` find the storage (which may be a remote database)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    (study_dir / "study.json").write_text(json.dumps({"study_name": study_name, "storage": storage, **details},
                                                     indent=2) + "\n")


def settle_unfinished(study: optuna.Study) -> int:
    """Close the trials a stopped run left RUNNING; returns how many were failed as interrupted.

    A trial whose measurements reached its user attrs finished training: it is completed with them (the
    ordered searcher below may hold a finished trial back from the sampler for a while). Any other can never
    finish and is failed as interrupted, so it does not count against the budget.
    """
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("status") == "ok" and attrs.get("accuracy") is not None and attrs.get("macs") is not None:
            study.tell(trial.number, [attrs["accuracy"], attrs["macs"]])
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "status", "failed")
        study._storage.set_trial_user_attr(trial._trial_id, "reason", INTERRUPTED)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        count += 1
    return count


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against ``--budget``: completed ones and real failures, not interruptions."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state == TrialState.COMPLETE
               or (t.state == TrialState.FAIL and t.user_attrs.get("reason") != INTERRUPTED))


def enqueue_baselines(study: optuna.Study, blocks: list[str], num_classes: int, space: SearchSpace,
                      training: dict[str, float] | None = None) -> list[str]:
    """Queue each requested baseline unless the study already ran it, failed it, or has it queued.

    A baseline carries its whole genome in its user attrs, so it is trained exactly as Table 1 whatever the
    space's bounds are; where the space can express it, it also carries the params that describe it.
    ``training`` is the fidelity's LR, weight decay and label smoothing when the search samples those too:
    the baseline trains with them, so they are its params.
    """
    present = {t.user_attrs.get("baseline_block") for t in study.get_trials(deepcopy=False)
               if t.user_attrs.get("is_baseline")
               and (t.state in (TrialState.COMPLETE, TrialState.WAITING)
                    or (t.state == TrialState.FAIL and t.user_attrs.get("reason") != INTERRUPTED))}
    queued = []
    for block in blocks:
        if block in present:
            continue
        genome = baseline(block).replace(num_classes=num_classes)
        params = genome_params(genome, space, training)
        study.enqueue_trial(params or {}, user_attrs={"is_baseline": True, "baseline_block": block,
                                                      "genome": genome.to_dict(), "genome_id": genome.id,
                                                      "in_space": params is not None,
                                                      "params_training": training is not None},
                            skip_if_exists=False)
        queued.append(block)
    return queued


def define_by_run(space: SearchSpace, num_classes: int, search_training: bool
                  ) -> Callable[[optuna.Trial], dict[str, Any]]:
    """The search space as Optuna's define-by-run function, as Ray Tune's OptunaSearch expects."""

    def sample(trial: optuna.Trial) -> dict[str, Any]:
        if trial.user_attrs.get("is_baseline"):
            if trial.user_attrs.get("in_space"):
                suggest(trial, space, num_classes, trial.user_attrs.get("params_training", False))
            return {"genome": trial.user_attrs["genome"], "training": {}}
        try:
            genome, training = suggest(trial, space, num_classes, search_training)
        except ValueError as error:
            trial.set_user_attr("is_baseline", False)
            return {"invalid": f"invalid genome from the search space: {error}"}
        trial.set_user_attr("is_baseline", False)
        trial.set_user_attr("genome", genome.to_dict())
        trial.set_user_attr("genome_id", genome.id)
        return {"genome": genome.to_dict(), "training": training}

    return sample


class StudySearch(OptunaSearch):
    """Ray Tune's OptunaSearch, deterministic under concurrency, recording measurements and failures.

    Determinism: trial k is sampled when trials 0..k-window have been told to Optuna and no later one has,
    whatever order Ray finishes them in: results are told in sampling order and a finished trial waits for
    its elders. So a seed gives the same study, and, unlike starting trials in fixed batches, a free CPU
    waits only when a trial ``window`` places older is still running. ``total`` is how many trials
    this run samples; once all are sampled, results are told as soon as their elders are.

    Records: the stock searcher tells Optuna only the objective values and cannot fail a trial that reported
    a reason; here every measurement is written to the trial's user attrs the moment Ray reports it (so a
    stop loses nothing, see ``settle_unfinished``) and a ``status = failed`` result becomes an Optuna FAIL
    with the reason kept. Its pickled state is not checkpointed: the study's storage already is.
    """

    def __init__(self, *args: Any, window: int, total: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._window = max(1, window)
        self._total = total
        self._sampled: list[str] = []
        self._finished: dict[str, tuple[dict, bool]] = {}
        self._told = 0

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self._ot_trials:
            if len(self._sampled) >= self._total or self._told < self._tell_limit():
                return None
        params = super().suggest(trial_id)
        if trial_id not in self._sampled:
            self._sampled.append(trial_id)
            self._tell_in_order()
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._finished:
            return
        result = result or {}
        for key in RECORDED:
            if result.get(key) is not None:
                ot_trial.set_user_attr(key, result[key])
        self._finished[trial_id] = (result, error)
        self._tell_in_order()

    def _tell_limit(self) -> int:
        """How many of the sampled trials Optuna may know the results of before the next one is sampled."""
        if len(self._sampled) >= self._total:
            return len(self._sampled)
        return max(0, len(self._sampled) - self._window + 1)

    def _tell_in_order(self) -> None:
        while self._told < self._tell_limit() and self._sampled[self._told] in self._finished:
            trial_id = self._sampled[self._told]
            self._tell(trial_id, *self._finished[trial_id])
            self._told += 1

    def _tell(self, trial_id: str, result: dict, error: bool) -> None:
        ot_trial = self._ot_trials[trial_id]
        failed = error or result.get("status") != "ok" or result.get("accuracy") is None
        if not failed:
            super().on_trial_complete(trial_id, result, error)
            return
        if not result.get("reason"):
            ot_trial.set_user_attr("status", "failed")
            ot_trial.set_user_attr("reason", "the trial process crashed (see the Ray trial logs)")
        self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        self._completed_trials.add(trial_id)

    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None
