"""Ray Tune's OptunaSearch, made deterministic under concurrency and made to keep every measurement."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import optuna
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ..study import (DONE, ENDED, RUNG_ACCURACY, SAMPLE, STOP, WAIT, Halving, Ladder, SearchSpace, Standing,
                     Worker, conclude, suggest)
from .._optuna_internals import storage_id
from .._ray_internals import has_optuna_trial, mark_told, optuna_study, optuna_trial
from ._trial import RECORDED


STORAGE_RETRY_PAUSES = (1.0, 2.0, 4.0, 8.0)
"""Seconds between the tries of a measurement's write that the storage refused (a database another run holds
locked, a server's blip): a finished trial's figures are worth 15 s of waiting, where a raised error would
make Ray fail the trial and lose them. The last try's error is raised."""


def _set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        for pause in STORAGE_RETRY_PAUSES:
            try:
                trial.set_user_attr(key, value)
                break
            except StorageInternalError:
                time.sleep(pause)
        else:
            trial.set_user_attr(key, value)


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
    """Ray Tune's OptunaSearch, deterministic under concurrency, recording measurements, rungs and failures.

    Determinism: trial k is sampled when trials 0..k-window have been told to Optuna and no later one has,
    whatever order Ray finishes them in: results are told in sampling order and a finished trial waits for
    its elders. So a seed gives the same study, and, unlike starting trials in fixed batches, a free CPU
    waits only when a trial ``window`` places older is still running. ``total`` is how many trials
    this run samples; once all are sampled, results are told as soon as their elders are.

    Records: the stock searcher tells Optuna only the objective values and cannot fail a trial that reported
    a reason; here every measurement is written to the trial's user attrs the moment Ray reports it (so a
    stop loses nothing, see ``search.study.settle_unfinished``), each rung's accuracy as
    ``rung_accuracy_<k>``, and a ``status = failed`` result becomes an Optuna FAIL with the reason kept. Its
    pickled state is not checkpointed: the study's storage already is.

    Successive halving (``ladder``, shared with ``MultiObjectiveASHA``): when Ray stops a trial at a rung it
    calls ``on_trial_complete`` with the last result, which the stock searcher would tell as COMPLETE with
    its low-fidelity values, putting it on the front. Here a trial is told as the ladder decides: PRUNED
    at the rung that stopped it (its accuracy, rung and units in user attrs), COMPLETE only at the top. Its
    turn also waits until that is decided, which needs only its elders, told before it anyway.

    A study shared with other runs (``worker``): a new trial is sampled only under the study's lock, after
    ``tidy`` (settling abandoned trials, queueing missing baselines) and only while the study's trials that
    count are fewer than ``budget``, and it is claimed (owner, heartbeat) in the same hold. When the budget is
    full the searcher tells every result it holds back (a run waiting on this one's trials must see them end),
    waits while other runs have trials in flight (checking again every heartbeat interval) and finishes when
    only its own trials are left.
    """

    def __init__(self, *args: Any, window: int, total: int, halving: Halving, ladder: Ladder | None = None,
                 worker: Worker | None = None, budget: int = 0,
                 tidy: Callable[[optuna.Study], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._window = max(1, window)
        self._total = total
        self._halving = halving
        self._ladder = ladder
        self._worker = worker
        self._budget = budget
        self._tidy = tidy
        self._exhausted = False
        self._waiting = False
        self._next_check = 0.0
        self._sampled: list[str] = []
        self._finished: dict[str, tuple[dict, bool]] = {}
        self._recorded: set[tuple[str, int]] = set()
        self._told = 0

    def suggest(self, trial_id: str) -> dict | str | None:
        if not has_optuna_trial(self, trial_id):
            if self._exhausted or len(self._sampled) >= self._total or self._told < self._tell_limit():
                return None
            if self._worker is not None:
                return self._suggest_shared(trial_id)
        return self._suggest(trial_id)

    def _suggest_shared(self, trial_id: str) -> dict | str | None:
        """A new trial if the shared budget has room; FINISHED when only this run's trials are left."""
        if time.monotonic() < self._next_check:
            return None
        with self._worker.lock:
            study = optuna_study(self)
            if self._tidy is not None:
                self._tidy(study)
            verdict = self._worker.verdict(study, self._budget)
            if verdict == SAMPLE:
                params = self._suggest(trial_id)
                self._worker.own(study, optuna_trial(self, trial_id))
                self._waiting = False
                return params
            others = len(self._worker.others_running(study)) if verdict == WAIT and not self._waiting else 0
        if verdict == DONE:
            self._exhausted = True
            self._tell_in_order()
            return Searcher.FINISHED
        if not self._waiting:
            # Held-back results are told now: another run waiting on this run's trials must see them end.
            self._waiting = True
            self._tell_in_order()
            print(f"the budget is taken: waiting for {others} trial(s) of other runs (a dead run's trials are "
                  f"settled {self._worker.grace}s after its last heartbeat)", flush=True)
        self._next_check = time.monotonic() + self._worker.interval
        return None

    def _suggest(self, trial_id: str) -> dict | None:
        params = super().suggest(trial_id)
        if trial_id not in self._sampled:
            self._sampled.append(trial_id)
            ot_trial = optuna_trial(self, trial_id)
            # A trial queued again after a stop is on the ladder already, with the records it made.
            if self._ladder is not None and ot_trial.number not in self._ladder:
                self._ladder.add(ot_trial.number, order=ot_trial.number,
                                 exempt=bool(ot_trial.user_attrs.get("is_baseline")))
            self._tell_in_order()
        return params

    def ladder_key(self, trial_id: str) -> int | None:
        """The trial's key on the ladder (its Optuna number), for the scheduler."""
        ot_trial = optuna_trial(self, trial_id)
        return ot_trial.number if ot_trial is not None and self._ladder is not None else None

    def record_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Record a result that ends a rung: on the ladder, and in the trial's user attrs. A rung recorded
        before (by the scheduler, or before a stop and retraining) keeps its first record; a trial decided
        to stop records nothing more (its climb ended at that rung)."""
        ot_trial = optuna_trial(self, trial_id)
        units = result.get("units")
        if ot_trial is None or units not in self._halving.rungs or result.get("accuracy") is None:
            return
        if self._ladder is not None and self._ladder.action(ot_trial.number) == STOP:
            return
        rung = self._halving.rungs.index(units) + 1
        if (trial_id, rung) in self._recorded:
            return
        self._recorded.add((trial_id, rung))
        values = [result[metric] for metric in self.metric]
        if self._ladder is not None and not self._ladder.record(ot_trial.number, rung, values):
            return
        _set_user_attrs(ot_trial, {**{metric: result[metric] for metric in self.metric[1:]},
                                   RUNG_ACCURACY.format(rung): result["accuracy"]})

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.record_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = optuna_trial(self, trial_id)
        if ot_trial is None or trial_id in self._finished:
            return
        result = result or {}
        self.record_result(trial_id, result)
        _set_user_attrs(ot_trial, {key: result[key] for key in RECORDED if result.get(key) is not None})
        if self._ladder is not None:
            number = ot_trial.number
            if not (error or result.get("status") in ENDED or self._ladder.action(number) == STOP):
                return  # stopped by Ray itself, not by the rule: settle_unfinished queues it to be retrained
            self._ladder.settle(number)
        self._finished[trial_id] = (result, error)
        self._tell_in_order()

    def _tell_limit(self) -> int:
        """How many of the sampled trials Optuna may know the results of before the next one is sampled."""
        if self._exhausted or self._waiting or len(self._sampled) >= self._total:
            return len(self._sampled)
        return max(0, len(self._sampled) - self._window + 1)

    def _tell_in_order(self) -> None:
        while (self._told < self._tell_limit() and self._sampled[self._told] in self._finished
               and self._decided(self._sampled[self._told])):
            trial_id = self._sampled[self._told]
            self._tell(trial_id, *self._finished[trial_id])
            self._told += 1

    def _decided(self, trial_id: str) -> bool:
        return self._ladder is None or self._ladder.standing(optuna_trial(self, trial_id).number) is not None

    def _tell(self, trial_id: str, result: dict, error: bool) -> None:
        ot_trial = optuna_trial(self, trial_id)
        study = optuna_study(self)
        failed = error or result.get("status") != "ok" or result.get("accuracy") is None
        if self._ladder is not None:
            standing = self._ladder.standing(ot_trial.number)
        else:
            standing = Standing("ended", 0) if failed else Standing("top", len(self._halving.rungs))
        try:
            if standing.outcome == "ended":
                if not result.get("reason"):
                    ot_trial.set_user_attr("status", "failed")
                    ot_trial.set_user_attr("reason", "the trial process crashed (see the Ray trial logs)")
                study.tell(ot_trial, state=TrialState.FAIL)
            else:
                conclude(study, study.get_trials(deepcopy=False)[ot_trial.number], standing, self._halving)
        except UpdateFinishedTrialError:
            # Another run settled it: this run's heartbeats lapsed past the grace period (a stalled database).
            print(f"trial {ot_trial.number} was settled by another run while this one trained it (its heartbeat "
                  "lapsed); its result here is dropped", file=sys.stderr)
        if self._worker is not None:
            self._worker.release(storage_id(ot_trial))
        mark_told(self, trial_id)

    def __getstate__(self) -> dict[str, Any]:
        """Ray Tune pickles its searcher with the experiment's state; a run's claim on the study (a lock, a
        heartbeat thread) belongs to this process and stays out (``restore`` never brings the searcher back)."""
        return {**self.__dict__, "_worker": None, "_tidy": None}

    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None
