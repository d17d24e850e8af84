"""Closing what a stopped run left open, and counting what counts against the budget."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from .._optuna_internals import fail_trial

INTERRUPTED = "interrupted before it finished (re-run to resume the study)"


def settle_unfinished(study: optuna.Study) -> int:
    """Close the trials a stopped run left RUNNING; returns how many were failed as interrupted.

    A trial whose measurements reached its user attrs finished training: it is completed with them (the
    ordered searcher may hold a finished trial back from the sampler for a while). Any other can never
    finish and is failed as interrupted, so it does not count against the budget.
    """
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("status") == "ok" and attrs.get("accuracy") is not None and attrs.get("macs") is not None:
            study.tell(trial.number, [attrs["accuracy"], attrs["macs"]])
            continue
        fail_trial(study, trial, {"status": "failed", "reason": INTERRUPTED})
        count += 1
    return count


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against ``--budget``: completed ones and real failures, not interruptions."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state == TrialState.COMPLETE
               or (t.state == TrialState.FAIL and t.user_attrs.get("reason") != INTERRUPTED))
