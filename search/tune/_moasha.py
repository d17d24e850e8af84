"""Multi-objective asynchronous successive halving as a Ray Tune scheduler.

Ray Tune's own schedulers (ASHA, HyperBand, PBT) rank trials by one metric; this one ranks them by all of
the search's objectives with the rule of ``search.study.Ladder``. It is a ``FIFOScheduler``: trials start in the
order the searcher samples them, which the rule's determinism relies on (an elder starts before a younger
trial, so a decision never waits on a trial that has not started).

How Ray drives it (``ray/tune/execution/tune_controller.py``): every result goes to ``on_trial_result``
first; STOP ends the trial at that report (a function trainable blocks in ``tune.report`` until Ray has
decided, and results are not buffered: ``_supports_buffered_results`` is False), and Ray then calls
``on_trial_complete`` here and on the searcher with that last result; the searcher's ``on_trial_result``
sees only results that were not stopped. So the records are made here, before the decision, and the
searcher tells Optuna the outcome the ladder gives (PRUNED at the stopping rung, or COMPLETE at the top).
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ..study import STOP, Ladder
from ._searcher import StudySearch


class MultiObjectiveASHA(FIFOScheduler):
    """Stops a trial at a rung where it is not in the top ``ceil(n / eta)`` of its elders and itself.

    A decision that waits on an elder still below the rung lets the trial train on (it reports after every
    unit), and stops it at its first report after the decision comes out as STOP.
    """

    _supports_buffered_results = False

    def __init__(self, ladder: Ladder, searcher: StudySearch):
        super().__init__()
        self.ladder = ladder
        self._searcher = searcher
        self._stopped = 0

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        key = self._searcher.ladder_key(trial.trial_id)
        if key is None:
            return TrialScheduler.CONTINUE
        self._searcher.record_result(trial.trial_id, result)
        if self.ladder.action(key) == STOP:
            self._stopped += 1
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return (f"Using multi-objective ASHA: rungs at {list(self.ladder.rungs)} units, eta {self.ladder.eta}, "
                f"{self._stopped} trials stopped")
