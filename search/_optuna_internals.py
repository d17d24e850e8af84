"""Every use of Optuna's private API, in one place.

Optuna has no public way to write user attrs onto a trial it handed out as a ``FrozenTrial`` (one that a
stopped run left RUNNING) and then fail it: ``Study.tell`` fails it but cannot attach the reason. The
storage can, through ``Study._storage`` and ``FrozenTrial._trial_id``. ``check()`` says plainly when an
Optuna upgrade removes either; tests/test_private_apis.py calls it.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


def fail_trial(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` onto a RUNNING trial and fail it, through the study's storage."""
    storage = study._storage
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial._trial_id, key, value)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def check() -> None:
    """Fail a trial of an in-memory study the way ``fail_trial`` does; a RuntimeError says what broke."""
    study = optuna.create_study()
    study.ask()
    try:
        fail_trial(study, study.get_trials(deepcopy=False)[0], {"reason": "check"})
    except AttributeError as error:
        raise RuntimeError(f"optuna {optuna.__version__} no longer has what search/_optuna_internals.py relies "
                           f"on (Study._storage, FrozenTrial._trial_id, storage setters): {error}") from None
    trial = study.get_trials(deepcopy=False)[0]
    if trial.state != TrialState.FAIL or trial.user_attrs.get("reason") != "check":
        raise RuntimeError(f"optuna {optuna.__version__}: failing a trial through its storage no longer sticks; "
                           "update search/_optuna_internals.py")
