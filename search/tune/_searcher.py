"""Ray Tune's OptunaSearch, made deterministic under concurrency and made to keep every measurement."""

from __future__ import annotations

from typing import Any, Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from ..study import SearchSpace, suggest
from .._ray_internals import has_optuna_trial, mark_told, optuna_study, optuna_trial
from ._trial import RECORDED


def define_by_run(space: SearchSpace, num_classes: int, search_training: bool, train_seed: int = 0
                  ) -> Callable[[optuna.Trial], dict[str, Any]]:
    """The search space as Optuna's define-by-run function, as Ray Tune's OptunaSearch expects.

    Trial n trains with seed ``train_seed + n``: its own seed, recorded in its user attrs, independent of
    the sampler's seed and the same for trial n whatever order trials run in.
    """

    def sample(trial: optuna.Trial) -> dict[str, Any]:
        seed = train_seed + trial.number
        trial.set_user_attr("train_seed", seed)
        if trial.user_attrs.get("is_baseline"):
            if trial.user_attrs.get("in_space"):
                suggest(trial, space, num_classes, trial.user_attrs.get("params_training", False))
            return {"genome": trial.user_attrs["genome"], "training": {}, "train_seed": seed}
        try:
            genome, training = suggest(trial, space, num_classes, search_training)
        except ValueError as error:
            trial.set_user_attr("is_baseline", False)
            return {"invalid": f"invalid genome from the search space: {error}"}
        trial.set_user_attr("is_baseline", False)
        trial.set_user_attr("genome", genome.to_dict())
        trial.set_user_attr("genome_id", genome.id)
        return {"genome": genome.to_dict(), "training": training, "train_seed": seed}

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
    stop loses nothing, see ``search.study.settle_unfinished``) and a ``status = failed`` result becomes an
    Optuna FAIL with the reason kept. Its pickled state is not checkpointed: the study's storage already is.
    """

    def __init__(self, *args: Any, window: int, total: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._window = max(1, window)
        self._total = total
        self._sampled: list[str] = []
        self._finished: dict[str, tuple[dict, bool]] = {}
        self._told = 0

    def suggest(self, trial_id: str) -> dict | None:
        if not has_optuna_trial(self, trial_id):
            if len(self._sampled) >= self._total or self._told < self._tell_limit():
                return None
        params = super().suggest(trial_id)
        if trial_id not in self._sampled:
            self._sampled.append(trial_id)
            self._tell_in_order()
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = optuna_trial(self, trial_id)
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
        ot_trial = optuna_trial(self, trial_id)
        failed = error or result.get("status") != "ok" or result.get("accuracy") is None
        if not failed:
            super().on_trial_complete(trial_id, result, error)
            return
        if not result.get("reason"):
            ot_trial.set_user_attr("status", "failed")
            ot_trial.set_user_attr("reason", "the trial process crashed (see the Ray trial logs)")
        optuna_study(self).tell(ot_trial, state=TrialState.FAIL)
        mark_told(self, trial_id)

    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None
