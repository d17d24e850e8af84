"""Every use of Ray Tune's private API, in one place.

Ray Tune's ``OptunaSearch`` keeps the Optuna trial behind each Ray trial, the study, and the Ray trials it
has told, in private attributes (``_ot_trials``, ``_ot_study``, ``_completed_trials``) with no public
accessors. The search's searcher subclass needs them to record measurements as they arrive and to fail a
trial with its reason; it reaches them only through the functions here. ``check()`` says plainly when a
Ray upgrade removes them; tests/test_private_apis.py calls it.
"""

from __future__ import annotations

import optuna
from ray.tune.search.optuna import OptunaSearch


def optuna_trial(searcher: OptunaSearch, trial_id: str) -> optuna.Trial | None:
    """The Optuna trial the searcher asked for Ray trial ``trial_id``, if it asked for one."""
    return searcher._ot_trials.get(trial_id)


def has_optuna_trial(searcher: OptunaSearch, trial_id: str) -> bool:
    return trial_id in searcher._ot_trials


def optuna_study(searcher: OptunaSearch) -> optuna.Study:
    return searcher._ot_study


def mark_told(searcher: OptunaSearch, trial_id: str) -> None:
    """Record that the searcher has told Optuna the outcome of ``trial_id``, as its own completion does."""
    searcher._completed_trials.add(trial_id)


def check() -> None:
    """Ask one trial of a tiny in-memory search; a RuntimeError says what this module relies on and lost."""
    import ray

    searcher = OptunaSearch(space=lambda trial: {"x": trial.suggest_float("x", 0, 1)}, metric="y", mode="max")
    try:
        searcher.suggest("probe")
        probe = optuna_trial(searcher, "probe")
        study = optuna_study(searcher)
        mark_told(searcher, "probe")
    except AttributeError as error:
        raise RuntimeError(f"ray {ray.__version__}: OptunaSearch lost what search/_ray_internals.py relies on "
                           f"(_ot_trials, _ot_study, _completed_trials): {error}") from None
    if not isinstance(probe, optuna.Trial) or not isinstance(study, optuna.Study):
        raise RuntimeError(f"ray {ray.__version__}: OptunaSearch's private trial and study attributes changed "
                           "meaning; update search/_ray_internals.py")
