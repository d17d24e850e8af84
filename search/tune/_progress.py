"""A one-line progress display for a running study, as a Ray Tune callback.

Ray's own reporter prints wide tables of every trial; a person watching a 20-minute search wants to know
how far it is, whether trials fail, what the best accuracy and front look like, and when it will end.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from ray.tune import Callback

from space import Genome

from ..pareto import minimise_form, nondominated_mask
from ..study import DEFAULT_OBJECTIVES, directions, metrics


class StudyProgress(Callback):
    """``points`` are the objective values of the trials finished before, in the order of ``objectives``."""

    def __init__(self, total: int, already_done: int = 0, points: list[tuple[float, ...]] | None = None,
                 objectives: tuple[str, ...] = DEFAULT_OBJECTIVES):
        self.metrics = metrics(objectives)
        self.directions = directions(objectives)
        self.total = total
        self.done = already_done
        self.failed = 0
        self.stopped = 0
        self.running: set[str] = set()
        self.points = list(points or [])
        self.started = time.monotonic()
        self.finished_here = 0

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        if result.get("status") == "ok" and all(result.get(key) is not None for key in self.metrics):
            self.points.append(tuple(float(result[key]) for key in self.metrics))
            note = f"{_name(trial)}: {result['accuracy']:.2f}% at {result['macs'] / 1e6:.1f}M MACs"
            if result.get("latency_ms") is not None:
                note += f", {result['latency_ms']:.2f} ms predicted"
        elif result.get("status") == "running":  # stopped at a rung by the scheduler
            self.stopped += 1
            note = f"{_name(trial)} stopped after {result.get('units')} units"
        else:
            self.failed += 1
            note = f"{_name(trial)} failed: {result.get('reason', 'crashed')}"
        self.finish(trial, note)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.failed += 1
        self.finish(trial, f"{_name(trial)} crashed (see its Ray log)")

    def finish(self, trial: Any, note: str) -> None:
        """Count a trial as finished and print ``note`` about it: subclasses call this with their own line."""
        self.running.discard(trial.trial_id)
        self.done += 1
        self.finished_here += 1
        print(note, file=sys.stderr, flush=True)
        self._show()

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        best = max((point[0] for point in self.points), default=None)
        front = int(nondominated_mask(minimise_form(np.array(self.points), self.directions)).sum()) \
            if self.points else 0
        left = max(self.total - self.done, 0)
        eta = elapsed / self.finished_here * left if self.finished_here else None
        stopped = f"stopped {self.stopped}  " if self.stopped else ""
        print(f"[{self.done}/{self.total}] running {len(self.running)}  {stopped}failed {self.failed}  "
              f"best {'-' if best is None else f'{best:.2f}%'}  pareto {front}  "
              f"elapsed {_clock(elapsed)}  left {'?' if eta is None else '~' + _clock(eta)}",
              file=sys.stderr, flush=True)


def _name(trial: Any) -> str:
    """The trial as the result tables name it: by its genome id (Ray's trial id appears nowhere else)."""
    genome = (trial.config or {}).get("genome")
    try:
        return f"genome {Genome.from_dict(genome).id}"
    except ValueError:
        return f"trial {trial.trial_id}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
