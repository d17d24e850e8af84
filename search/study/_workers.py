"""Several runs sharing one study: which run owns a trial, the heartbeats that say it is alive, the lock the
runs take before they change which trials exist, and the budget they share.

Every ``search.run`` is a worker with its own id (host, process, a random tag). A trial it samples carries
that id (user attr ``worker``), and while the run lives it beats the trial's heartbeat in the storage
(Optuna's own heartbeat table, stamped with the database server's clock, so machines' clocks need not
agree). A trial whose heartbeat is older than the grace period belongs to a run that died: any worker
settles it (``settle_unfinished``); one with a fresh heartbeat is left alone, however long it trains.

Optuna's heartbeat machinery is reused for the beats and for finding stale trials, not for failing them:
``fail_stale_trials`` fails every stale trial, where a search must complete a trial whose training ended,
and with successive halving queue a cut trial again under its own number (see ``settle_unfinished``).
Optuna beats from ``Study.optimize``'s trial thread; here trials are asked and told in the driver (Ray
Tune's searcher), so the driver beats for the trials it owns.

Whatever changes the study's set of trials (settling, queueing baselines, sampling a new trial) happens
under the study's lock, so a worker counts the others' trials and claims its own in one step: the study
never holds more than ``--budget`` trials that count, and a baseline is queued once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Callable

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from .._optuna_internals import stale_trial_ids, storage_id
from ._rungs import Halving
from ._settle import ENDED, finished_trials, settle_unfinished
from ._storage import StudyError, shown_url, storage_backend

WORKER = "worker"
"""The user attr naming the run that owns a trial."""
RUNS = "runs"
"""The study user attr counting the runs that have worked on it."""
DEFAULT_GRACE = 60
"""Seconds without a heartbeat after which a trial's run counts as dead."""
SERVER_LOCKS = {"postgresql": ("SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)",
                               "SELECT pg_try_advisory_lock(:key)"),
                "mysql": ("SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)", "SELECT GET_LOCK(:key, 0)")}
"""A database server's session-level advisory lock: (take it, waiting as long as it takes; release it; take it
if free, answering whether it did)."""
SAMPLE, WAIT, DONE = "sample", "wait", "done"
"""What a worker may do when it could start a trial: sample one, wait for others' trials, or stop sampling."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class StudyLock:
    """A lock held by one worker of a study at a time, released when its process dies.

    SQLite: an advisory lock on ``<database file>.lock`` (SQLite is for workers on one machine). PostgreSQL and
    MySQL: an advisory lock of the database server on a session of its own, keyed by the study's name.
    Re-entrant within the process.
    """

    def __init__(self, storage: str, study_name: str, purpose: str = ""):
        """``purpose`` names a lock of its own beside the study's (``alone``: held by a run that must be the
        study's only one, for as long as it lives)."""
        self._backend = storage_backend(storage)
        self._depth = 0
        self._held = False  # taken by try_hold, kept until close
        self._mutex = threading.RLock()
        suffix = f".{purpose}" if purpose else ""
        key = hashlib.sha256(f"effcnn-nas:{study_name}{suffix}".encode()).digest()
        if self._backend == "sqlite":  # a file: storage_backend refuses in-memory SQLite
            database = Path(sqlalchemy.engine.make_url(storage).database).resolve()
            self._file = open(f"{database}{suffix}.lock", "a+")
            return
        self._key = int.from_bytes(key[:8], "big", signed=True) if self._backend == "postgresql" else key.hex()[:60]
        engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
        try:
            self._connection = engine.connect()
        except Exception as error:
            raise StudyError(f"--storage {shown_url(storage)}: cannot open it: {str(error).splitlines()[0]}") from None
        self._connection.execution_options(isolation_level="AUTOCOMMIT")

    def __enter__(self) -> StudyLock:
        self._mutex.acquire()
        if self._depth == 0:
            self._acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._release()
        self._mutex.release()

    def _acquire(self) -> None:
        if self._backend == "sqlite":
            fcntl.flock(self._file, fcntl.LOCK_EX)
        else:
            self._connection.execute(sqlalchemy.text(SERVER_LOCKS[self._backend][0]), {"key": self._key})

    def try_hold(self) -> bool:
        """Take the lock if no other process holds it, and keep it until ``close`` (or the process's end);
        whether it is held now."""
        if self._backend == "sqlite":
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
        if not self._held:  # taken once: the server counts each taking, and close releases one
            taken = self._connection.execute(sqlalchemy.text(SERVER_LOCKS[self._backend][2]), {"key": self._key})
            self._held = bool(taken.scalar())
        return self._held

    def _release(self) -> None:
        if self._backend == "sqlite":
            fcntl.flock(self._file, fcntl.LOCK_UN)
        else:
            self._connection.execute(sqlalchemy.text(SERVER_LOCKS[self._backend][1]), {"key": self._key})

    def close(self) -> None:
        if self._backend == "sqlite":
            self._file.close()
            return
        if self._held:  # released now: the server frees a closed session's locks only once its backend has ended
            self._release()
        self._connection.close()


class Worker:
    """This run as one of a study's workers: its id, the study lock, and the heartbeats of the trials it owns.

    ``grace`` (seconds) is how old a heartbeat must be before its trial counts as abandoned; heartbeats are
    beaten every quarter of it (at least every second), so a live run is never taken for a dead one.
    """

    def __init__(self, storage: str, study_name: str, grace: int = DEFAULT_GRACE):
        if grace < 2:
            raise StudyError(f"--heartbeat-grace: must be >= 2 seconds, got {grace}")
        self.id = new_worker_id()
        self.grace = grace
        self.interval = max(1, grace // 4)
        self.lock = StudyLock(storage, study_name)
        self._study_at = (storage, study_name)
        self._alone: StudyLock | None = None  # opened only by a run that must be the study's only one
        self.ordinal = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._storage = optuna.storages.RDBStorage(storage, heartbeat_interval=self.interval,
                                                       grace_period=grace)
        self._owned: set[int] = set()
        self._owned_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trial-heartbeats", daemon=True)
        self._thread.start()

    def join(self, study: optuna.Study) -> int:
        """Count this run among the runs that ever worked on the study; returns how many did before it.

        A run's sampler is seeded with ``--seed`` plus this ordinal: runs sharing a study (or a study resumed,
        whose sampler would restart its random stream) then never propose the same random genomes, and a
        study's first run samples exactly as a study of its own."""
        with self.lock:
            self.ordinal = int(study.user_attrs.get(RUNS, 0))
            study.set_user_attr(RUNS, self.ordinal + 1)
        return self.ordinal

    def own(self, study: optuna.Study, trial: optuna.Trial) -> None:
        """Claim a trial just asked for: beat its heartbeat from now on and record this run as its owner.

        The heartbeat first: a run that dies between the two leaves a trial without an owner, which the next
        run settles at once, where an owner without a heartbeat would never go stale and hold its place for ever."""
        self._storage.record_heartbeat(storage_id(trial))
        trial.set_user_attr(WORKER, self.id)
        with self._owned_lock:
            self._owned.add(storage_id(trial))

    def release(self, trial_id: int) -> None:
        """Stop beating a trial's heartbeat: it is told, or settled."""
        with self._owned_lock:
            self._owned.discard(trial_id)

    def abandoned(self, study: optuna.Study) -> list[FrozenTrial]:
        """RUNNING trials whose run is gone: a heartbeat older than the grace period, or no owner at all (a
        trial of a run from before owners were recorded; a trial is claimed under the lock the moment it is
        asked, so under the lock an unowned RUNNING trial has no live run)."""
        stale = set(stale_trial_ids(self._storage, study))
        return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if storage_id(t) in stale or not t.user_attrs.get(WORKER)]

    def others_running(self, study: optuna.Study) -> list[FrozenTrial]:
        """Trials of other live runs not yet told to the study (RUNNING, heartbeat fresh): training, or trained
        and about to be told."""
        abandoned = {t.number for t in self.abandoned(study)}
        return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.user_attrs.get(WORKER) != self.id and t.number not in abandoned]

    def settle(self, study: optuna.Study, halving: Halving, mine: bool = False) -> int:
        """Under the lock, settle the abandoned trials, and with ``mine`` also this run's own RUNNING trials
        (its trials have ended or been cut); returns how many were interrupted mid-training."""
        with self.lock:
            numbers = {t.number for t in self.abandoned(study)}
            if mine:
                numbers |= {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                            if t.user_attrs.get(WORKER) == self.id}
            by_number = {t.number: storage_id(t) for t in study.get_trials(deepcopy=False)}
            for number in numbers:
                self.release(by_number[number])
            return settle_unfinished(study, halving, numbers) if numbers else 0

    def verdict(self, study: optuna.Study, budget: int) -> str:
        """Whether this run may start one more trial now (call under the lock, and ask in the same hold).

        A queued trial (a baseline, a trial cut mid-climb) is already counted: it may always start. A new one
        only while the trials that count (finished, training, queued) are fewer than ``budget``. Otherwise the
        run waits while other runs have trials in flight (one may fail as interrupted, or its run die, and free
        a place; and the run's report is to be of the whole study), and is done when only its own are left.
        """
        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return SAMPLE
        claimed = finished_trials(study) + sum(
            1 for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("status") not in ENDED)
        if claimed < budget:
            return SAMPLE
        return WAIT if self.others_running(study) else DONE

    def wait_alone(self, study: optuna.Study, reason: str, poll: Callable[[float], None] = time.sleep) -> None:
        """Become the study's only run, for as long as this one lives: wait (up to the grace period and a beat)
        until no other run that asked the same holds the study (its lock goes with its process), and no other
        live run trains a trial of it (a run killed just before this one started has gone stale by then and
        is settled); a StudyError naming ``reason`` if one still does."""
        deadline = time.monotonic() + self.grace + self.interval
        self._alone = self._alone or StudyLock(*self._study_at, purpose="alone")
        while not (alone := self._alone.try_hold()) and time.monotonic() < deadline:
            poll(self.interval)
        if not alone:
            raise StudyError(f"study '{study.study_name}': another run holds it alone; {reason}")
        while (others := self.others_running(study)) and time.monotonic() < deadline:
            poll(self.interval)
        if others:
            raise StudyError(f"study '{study.study_name}': run {others[0].user_attrs.get(WORKER)} is training trial "
                             f"{others[0].number}; {reason}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.lock.close()
        if self._alone is not None:
            self._alone.close()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._owned_lock:
                owned = sorted(self._owned)
            for trial_id in owned:
                try:
                    self._storage.record_heartbeat(trial_id)
                except Exception:  # a database hiccup: the next beat retries, and the grace spans several
                    pass
