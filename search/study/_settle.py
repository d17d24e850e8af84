"""Closing what a stopped run left open, and counting what counts against the budget."""

from __future__ import annotations

import dataclasses
from typing import Collection, Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from .._optuna_internals import fail_trial, requeue_trial, set_user_attrs
from ._objectives import directions, metrics, study_objectives
from ._rungs import RUNG_ACCURACY, Halving, Ladder, Standing
from ._storage import METRICS

INTERRUPTED = "interrupted before it finished (re-run to resume the study)"
ENDED = ("ok", "failed")
"""A trial's ``status`` once its training ended: it will report nothing more."""


def settle_unfinished(study: optuna.Study, halving: Halving, numbers: Collection[int] | None = None) -> int:
    """Close the trials a stopped run left RUNNING (only those numbered ``numbers`` when given: a study
    shared by several runs settles only its own and abandoned trials); returns how many were interrupted
    mid-training.

    A trial whose training ended (its measurements reached its user attrs) is told as it ended: the ordered
    searcher may hold a finished trial back from the sampler for a while. With ``fifo``, any other trial
    can never finish: it is failed as interrupted, so it does not count against the budget. With ``moasha``,
    a trial's fate is what the rung records say (rebuilt from the user attrs): stopped at a rung (PRUNED),
    at the top (COMPLETE) or failed; one whose training ended but whose fate waits on an elder stays RUNNING
    until the elder is settled; one cut mid-climb is queued to be retrained under its own number, keeping
    its rung records, so no decision about it or its juniors changes.
    """
    if not halving.stops:
        return _settle_fifo(study, halving, numbers)
    ladder = load_ladder(study, halving)
    count = 0
    for trial in _running(study, numbers):
        standing = ladder.standing(trial.number)
        if standing is None:
            if trial.user_attrs.get("status") not in ENDED:
                requeue_trial(study, trial)
                count += 1
        elif standing.outcome == "ended":
            fail_trial(study, trial, {"status": "failed"})
        else:
            conclude(study, trial, standing, halving)
    return count


def _running(study: optuna.Study, numbers: Collection[int] | None) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if numbers is None or t.number in numbers]


def _settle_fifo(study: optuna.Study, halving: Halving, numbers: Collection[int] | None) -> int:
    count = 0
    keys = metrics(study_objectives(study))
    for trial in _running(study, numbers):
        attrs = trial.user_attrs
        if attrs.get("status") == "ok" and all(attrs.get(key) is not None for key in keys):
            conclude(study, trial, Standing("top", len(halving.rungs)), halving)
            continue
        fail_trial(study, trial, {"status": "failed", "reason": INTERRUPTED})
        count += 1
    return count


def conclude(study: optuna.Study, trial: FrozenTrial, standing: Standing, halving: Halving) -> None:
    """Tell Optuna where a trial's climb ended: PRUNED at the rung that stopped it, or COMPLETE at the top.

    A PRUNED trial carries no objective values (Optuna's rule), so its accuracy at that rung, the rung and
    the units it trained (more than the rung's when it trained on while its decision waited) go into its
    user attrs; Optuna's ``best_trials`` and the reports' front never see it.
    """
    attrs = trial.user_attrs
    units = max(int(attrs.get("units") or 0), halving.rungs[standing.rung - 1])
    if standing.outcome == "stopped":
        set_user_attrs(study, trial, {"status": "stopped", "rung": standing.rung, "units": units,
                                      "accuracy": attrs[RUNG_ACCURACY.format(standing.rung)]})
        study.tell(trial.number, state=TrialState.PRUNED)
        return
    set_user_attrs(study, trial, {"rung": standing.rung, "units": units})
    study.tell(trial.number, [attrs[metric] for metric in metrics(study_objectives(study))])


def load_ladder(study: optuna.Study, halving: Halving) -> Ladder:
    """The ladder of every trial's rung records as the study's storage holds them, in trial-number order.

    A trial is settled when it is finished or its training ended; a RUNNING one without an ended status and
    a WAITING one (queued to be retrained) may still record. The baselines always continue.
    """
    objectives = study_objectives(study)
    ladder = Ladder(halving.rungs, halving.eta, directions(objectives), recorded_floor(study, halving))
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        settled = trial.state.is_finished() or (trial.state == TrialState.RUNNING and attrs.get("status") in ENDED)
        ladder.add(trial.number, order=trial.number, exempt=bool(attrs.get("is_baseline")),
                   records=stored_records(attrs, len(halving.rungs), metrics(objectives)[1:]), settled=settled)
    return ladder


def continued_halving(study: optuna.Study, halving: Halving, given: Collection[str]) -> Halving:
    """The halving settings to continue ``study`` with: those it recorded, except the fields in ``given`` (set
    on the command line), so that re-running a study's command after the defaults changed continues the study
    as it was run, while an explicit setting it was not run with is still refused (``check_same_settings``)."""
    recorded = study.user_attrs.get("halving")
    if not isinstance(recorded, dict):
        return halving
    fields = {f.name for f in dataclasses.fields(Halving)}
    return dataclasses.replace(halving, **{name: value for name, value in recorded.items()
                                           if name in fields and name not in given})


def recorded_floor(study: optuna.Study, halving: Halving) -> float | None:
    """The accuracy floor the study was run with: none for a study made before the floor existed, so its
    decisions after a resume are the ones it made before."""
    recorded = study.user_attrs.get("halving")
    return recorded.get("accuracy_floor") if isinstance(recorded, dict) else halving.accuracy_floor


def stored_records(attrs: Mapping, top: int, costs: list[str] = METRICS[1:]) -> dict[int, tuple[float, ...]]:
    """A trial's objectives at each rung it recorded: its accuracy there and its (fixed) cost objectives."""
    if any(attrs.get(metric) is None for metric in costs):
        return {}
    return {rung: (attrs[RUNG_ACCURACY.format(rung)], *(attrs[metric] for metric in costs))
            for rung in range(1, top + 1) if RUNG_ACCURACY.format(rung) in attrs}


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against ``--budget``: completed, stopped at a rung, real failures, and trials whose
    training ended while their fate waits on an elder; not interruptions."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.user_attrs.get("reason") != INTERRUPTED)
               or (t.state == TrialState.RUNNING and t.user_attrs.get("status") in ENDED))
