"""Every use of Optuna's private API, in one place.

Optuna has no public way to write user attrs onto a trial it handed out as a ``FrozenTrial`` (one that a
stopped run left RUNNING) and then fail it: ``Study.tell`` fails it but cannot attach the reason. Nor
can a RUNNING trial go back to the queue: a successive-halving search retrains a trial cut mid-climb under
its own number, so that its rung records and its place in the sampling order stay. The storage can do
both, through ``Study._storage`` and ``FrozenTrial._trial_id``: it lets a RUNNING trial become WAITING,
and ``Study.ask`` then hands that trial out again with its params and user attrs (an already suggested
param is returned as it is). A study shared by several runs finds its abandoned trials with the storage's
heartbeat query ``RDBStorage._get_stale_trial_ids`` (the one ``optuna.storages.fail_stale_trials`` uses,
which fails them instead of settling them) and needs a trial's storage id (``_trial_id``) to beat its
heartbeat. ``check()`` says plainly when an Optuna upgrade removes any of this;
tests/test_private_apis.py calls it.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


def set_user_attrs(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` onto an unfinished trial, through the study's storage."""
    for key, value in attrs.items():
        study._storage.set_trial_user_attr(trial._trial_id, key, value)


def fail_trial(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` onto a RUNNING trial and fail it, through the study's storage."""
    set_user_attrs(study, trial, attrs)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def requeue_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Put a RUNNING trial back in the queue: the next ``Study.ask`` hands it out again, params and attrs kept."""
    study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)


def storage_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The trial's id in its storage (what heartbeats are recorded under)."""
    return trial._trial_id


def stale_trial_ids(storage: optuna.storages.RDBStorage, study: optuna.Study) -> list[int]:
    """Storage ids of the study's RUNNING trials whose heartbeat is older than the storage's grace period,
    measured on the database server's clock; trials without any heartbeat are not among them."""
    return storage._get_stale_trial_ids(study._study_id)


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
    asked = study.ask()
    value = asked.suggest_float("x", 0.0, 1.0)
    requeue_trial(study, study.get_trials(deepcopy=False)[asked.number])
    again = study.ask()
    if again.number != asked.number or again.suggest_float("x", 0.0, 1.0) != value:
        raise RuntimeError(f"optuna {optuna.__version__}: a trial put back in the queue through its storage is no "
                           "longer handed out again with its params; update search/_optuna_internals.py")


def check_heartbeats() -> None:
    """A trial whose heartbeat is older than the grace period is found stale; a fresh one is not."""
    import tempfile
    import time
    import warnings
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(f"sqlite:///{Path(folder) / 'check.db'}", heartbeat_interval=1,
                                             grace_period=1)
        study = optuna.create_study(storage=storage)
        stale, fresh = study.ask(), study.ask()
        try:
            storage.record_heartbeat(storage_id(stale))
            time.sleep(2.2)
            storage.record_heartbeat(storage_id(fresh))
            found = stale_trial_ids(storage, study)
        except AttributeError as error:
            raise RuntimeError(f"optuna {optuna.__version__} no longer has the heartbeat query "
                               f"search/_optuna_internals.py relies on (RDBStorage._get_stale_trial_ids, "
                               f"Study._study_id): {error}") from None
        storage.engine.dispose()
    if found != [storage_id(stale)]:
        raise RuntimeError(f"optuna {optuna.__version__}: the stale-heartbeat query no longer finds exactly the "
                           f"trial whose heartbeat lapsed (found {found}); update search/_optuna_internals.py")
