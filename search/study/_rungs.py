"""Multi-objective asynchronous successive halving (MOASHA) as plain data: rungs, ranking and promotions.

A trial trains in units (``evaluators.trainer.Units``: the preset's whole training cut into ``max_units``
equal parts, one learning-rate schedule over all of them) and is judged at rungs of ``grace * eta^k`` units;
the last rung, ``max_units``, is the top. At a rung it continues iff it is in the top ``ceil(n / eta)`` of
the ``n`` trials recorded there, itself included, ranked by non-dominated sorting of the objectives (the
Pareto front first, then the front once that is removed, ...), within a front by hypervolume contribution
(largest first), then by age (the elder first: a deterministic last resort for duplicates). Otherwise it
stops, and keeps the accuracy of the rung it stopped at.

Chance. A trial whose accuracy at a rung is not above the rung's ``accuracy_floor`` (``chance_floor``: the
accuracy a classifier that guesses exceeds with 5 % probability on the evaluation images) ranks after every
trial that is above it, however cheap it is: the search's hypervolume, whose reference sits at chance, values
it at nothing, and at chance its MACs alone would rank it (a run's first rung, where most genomes have not
left chance yet, sent the cheapest of them to the top, where they ended at chance). The front and its
contributions are taken among the trials above the floor, then among the rest. Off unless asked for
(``--rung-floor chance``): side by side at equal wall time it did not raise the hypervolume (README).

Unlike syne-tune's MOASHA, the ranking returns positions, so a trial's place in it is its priority: a member
of the rung's front is never stopped while the front holds no more than ``ceil(n / eta)`` trials.

Determinism. Ray finishes trials in whatever order the machine's load gives, and plain ASHA's decisions depend
on it: a trial is judged against whoever happened to reach the rung before it. Here a trial is judged only
against its elders, the trials sampled before it (a lower ``order``, the Optuna trial number), that reached
the rung. A decision is made only once every elder's fate at that rung is known, recorded there, stopped
below it, or finished without reaching it; until then it is pending and the trial trains on. So every
decision is a function of the recorded accuracies and the sampling order alone: the same whatever the
timing, and the same after a stop and resume that keeps the records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence

import numpy as np

from ..pareto import hypervolume_contributions, minimise_form, nondominated_ranks

CONTINUE = "continue"
STOP = "stop"
PENDING = "pending"
SCHEDULERS = ("fifo", "moasha")
RUNG_ACCURACY = "rung_accuracy_{}"
"""User attr of a trial's accuracy at rung k (from 1): the records a resumed search rebuilds its ladder from."""
TIE_BREAK_MARGIN = 0.1
"""The tie-break's hypervolume reference lies this fraction of the front's span beyond its worst point."""


@dataclass(frozen=True)
class Halving:
    """How a search spends training (``--scheduler``, ``--grace``, ``--eta``, ``--max-units``).

    Every trial trains the preset cut into ``max_units`` units and is evaluated at the rungs. With ``moasha``
    a trial stops at a rung where the rule says so; with ``fifo`` every trial trains to the top, and its
    rung records measure how well the first rung predicts the top.
    """

    scheduler: str = "moasha"
    grace: int = 1
    eta: int = 4
    max_units: int = 16
    accuracy_floor: float | None = None
    """Top-1 % a trial must exceed at a rung to rank among the trials that learned (``chance_floor``)."""

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler: must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        rung_units(self.grace, self.eta, self.max_units)
        _check_floor(self.accuracy_floor)

    @property
    def rungs(self) -> tuple[int, ...]:
        """Units of training at each rung, the top (``max_units``) last."""
        return rung_units(self.grace, self.eta, self.max_units)

    @property
    def stops(self) -> bool:
        """Whether trials may stop below the top."""
        return self.scheduler == "moasha"


def rung_units(grace: int, eta: int, max_units: int) -> tuple[int, ...]:
    """Units of training at each rung: ``grace * eta^k`` while below ``max_units``, then ``max_units`` (the top)."""
    for name, value, least in (("grace", grace, 1), ("eta", eta, 2), ("max_units", max_units, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")
    if grace > max_units:
        raise ValueError(f"grace: must be <= max_units ({max_units}), got {grace}")
    rungs, units = [], grace
    while units < max_units:
        rungs.append(units)
        units *= eta
    return (*rungs, max_units)


def chance_floor(classes: int, evaluation_images: int, confidence: float = 0.95) -> float:
    """Top-1 % that a classifier guessing among ``classes`` exceeds with probability ``1 - confidence`` on
    ``evaluation_images`` images: the binomial quantile (10 classes, 1,000 images: 11.6 %)."""
    from scipy.stats import binom

    for name, value, least in (("classes", classes, 2), ("evaluation_images", evaluation_images, 1)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")
    return 100.0 * float(binom.ppf(confidence, evaluation_images, 1.0 / classes)) / evaluation_images


def promotion_order(points: Sequence[Sequence[float]] | np.ndarray, learned: Sequence[bool] | None = None
                    ) -> np.ndarray:
    """Row indices of ``points`` (objectives in minimise form) from best to worst.

    The ``learned`` rows (all by default) first, then the rest, each group ranked on its own: by non-dominated
    rank; within a front by hypervolume contribution, largest first, measured against a reference just beyond
    the front's worst point in each objective (``TIE_BREAK_MARGIN`` of its span, or 1 where the front does not
    vary in that objective: the contributions then all scale alike, so the order does not depend on that
    choice); then by row, the earlier row first.
    """
    points = np.asarray(points, dtype=float)
    learned = np.ones(len(points), dtype=bool) if learned is None else np.asarray(learned, dtype=bool)
    ranks = np.zeros(len(points), dtype=int)
    contributions = np.zeros(len(points))
    for group in (np.flatnonzero(learned), np.flatnonzero(~learned)):
        if group.size == 0:
            continue
        ranks[group] = nondominated_ranks(points[group])
        for rank in np.unique(ranks[group]):
            members = group[ranks[group] == rank]
            if members.size > 1:
                front = points[members]
                worst, span = front.max(axis=0), np.ptp(front, axis=0)
                reference = worst + np.where(span > 0, TIE_BREAK_MARGIN * span, 1.0)
                contributions[members] = hypervolume_contributions(front, reference)
    return np.lexsort((np.arange(len(points)), -contributions, ranks, ~learned))


def promoted(points: Sequence[Sequence[float]] | np.ndarray, arrival: int, eta: int,
             learned: Sequence[bool] | None = None) -> bool:
    """Whether row ``arrival`` is in the top ``ceil(n / eta)`` of the ``n`` rows of ``points`` (minimise form;
    ``learned``: see ``promotion_order``)."""
    keep = math.ceil(len(points) / eta)
    return bool(arrival in promotion_order(points, learned)[:keep])


def _check_floor(floor: float | None) -> None:
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                              or not 0 <= floor < 100):
        raise ValueError(f"accuracy_floor: must be a top-1 % in [0, 100) or None, got {floor!r}")


@dataclass
class _Climber:
    order: int
    exempt: bool
    records: dict[int, tuple[float, ...]] = field(default_factory=dict)
    settled: bool = False


@dataclass(frozen=True)
class Standing:
    """Where a trial's climb ended: ``stopped`` at ``rung``, reached the ``top``, or ``ended`` there without
    a stop (it failed or was interrupted). Rungs are numbered from 1 (``grace`` units) to the top."""

    outcome: str
    rung: int


class Ladder:
    """Every trial's records at every rung and the promotion decisions they imply.

    Keys are the caller's (Ray trial ids, Optuna numbers); ``order`` is the sampling order decisions follow.
    Records are the objectives' raw values in ``directions``; the first record of a trial at a rung is kept
    (a trial retrained after a stop reports its rungs again). ``settle`` says a trial will record no more.
    With ``accuracy_floor``, the first objective is top-1 %, and records not above the floor rank last.
    """

    def __init__(self, rungs: Sequence[int], eta: int, directions: Sequence[str],
                 accuracy_floor: float | None = None):
        if list(rungs) != sorted(set(rungs)) or not rungs or rungs[0] < 1:
            raise ValueError(f"rungs: must be increasing positive units, got {list(rungs)}")
        if not isinstance(eta, int) or eta < 2:
            raise ValueError(f"eta: must be an integer >= 2, got {eta!r}")
        minimise_form(np.empty((0, len(directions))), directions)  # validates the directions
        _check_floor(accuracy_floor)
        if accuracy_floor is not None and directions[0] != "maximize":
            raise ValueError("accuracy_floor: the first objective must be an accuracy to maximise")
        self.accuracy_floor = accuracy_floor
        self.rungs = tuple(rungs)
        self.eta = eta
        self.directions = tuple(directions)
        self._climbers: dict[Hashable, _Climber] = {}
        self._decided: dict[tuple[Hashable, int], str] = {}

    @property
    def top(self) -> int:
        return len(self.rungs)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._climbers

    def rung_at(self, units: int) -> int | None:
        """The rung (from 1) that ends after ``units`` units of training, or None between rungs."""
        return self.rungs.index(units) + 1 if units in self.rungs else None

    def add(self, key: Hashable, order: int, exempt: bool = False,
            records: Mapping[int, Sequence[float]] | None = None, settled: bool = False) -> None:
        """A trial joins: ``exempt`` ones (the baseline) always continue but count at every rung they reach."""
        if key in self._climbers:
            raise ValueError(f"trial {key!r} is already on the ladder")
        if any(c.order == order for c in self._climbers.values()):
            raise ValueError(f"order {order} is already taken")
        if any(self._climbers[k].order > order for k, _ in self._decided):
            raise ValueError(f"trial {key!r} (order {order}) joins after younger trials were judged")
        self._climbers[key] = _Climber(order, exempt)
        for rung, values in (records or {}).items():
            self.record(key, rung, values)
        self._climbers[key].settled = settled

    def record(self, key: Hashable, rung: int, values: Sequence[float]) -> bool:
        """Record the trial's objectives at ``rung``; False (and nothing changes) if it already has a record."""
        climber = self._climbers[key]
        if not 1 <= rung <= self.top:
            raise ValueError(f"rung: must be in 1..{self.top}, got {rung}")
        if climber.settled:
            raise ValueError(f"trial {key!r} is settled and records nothing more")
        if rung in climber.records:
            return False
        values = tuple(float(v) for v in values)
        minimise_form([values], self.directions)  # one finite value per objective
        climber.records[rung] = values
        return True

    def records(self, key: Hashable) -> dict[int, tuple[float, ...]]:
        return dict(self._climbers[key].records)

    def settle(self, key: Hashable) -> None:
        self._climbers[key].settled = True

    def decision(self, key: Hashable, rung: int) -> str:
        """CONTINUE, STOP or PENDING for the trial's record at ``rung`` (below the top)."""
        if rung not in self._climbers[key].records or rung >= self.top:
            raise ValueError(f"trial {key!r} has no decision at rung {rung} (recorded: "
                             f"{sorted(self._climbers[key].records)}, top {self.top})")
        self._resolve()
        return self._decided.get((key, rung), PENDING)

    def action(self, key: Hashable) -> str:
        """What the trial should do now: STOP once a rung it recorded decided so, else CONTINUE (pending
        decisions let it train on; they stop it at a later report if they come out as STOP)."""
        self._resolve()
        climber = self._climbers[key]
        stopped = any(self._decided.get((key, rung)) == STOP for rung in climber.records)
        return STOP if stopped else CONTINUE

    def standing(self, key: Hashable) -> Standing | None:
        """Where the climb ended, once that is decided; None while it may still go on or a decision waits."""
        self._resolve()
        climber = self._climbers[key]
        for rung in range(1, self.top):
            if rung not in climber.records:
                break
            decision = self._decided.get((key, rung), PENDING)
            if decision == STOP:
                return Standing("stopped", rung)
            if decision == PENDING:
                return None
        if self.top in climber.records:
            return Standing("top", self.top)
        return Standing("ended", max(climber.records, default=0)) if climber.settled else None

    def _resolve(self) -> None:
        """Decide every decision that can be, elders first, so each sees its elders' decisions made."""
        for key, climber in sorted(self._climbers.items(), key=lambda item: item[1].order):
            for rung in sorted(r for r in climber.records if r < self.top):
                decision = self._decided.get((key, rung)) or self._decide(climber, rung)
                if decision == PENDING:
                    break
                self._decided[key, rung] = decision
                if decision == STOP:
                    break

    def _decide(self, climber: _Climber, rung: int) -> str:
        if climber.exempt:
            return CONTINUE
        points = []
        for key, elder in sorted(self._climbers.items(), key=lambda item: item[1].order):
            if elder.order >= climber.order:
                break
            reached = self._reached(key, elder, rung)
            if reached is None:
                return PENDING
            if reached:
                points.append(elder.records[rung])
        points.append(climber.records[rung])
        arrival = len(points) - 1
        learned = None if self.accuracy_floor is None else [point[0] > self.accuracy_floor for point in points]
        return CONTINUE if promoted(minimise_form(points, self.directions), arrival, self.eta, learned) else STOP

    def _reached(self, key: Hashable, elder: _Climber, rung: int) -> bool | None:
        """Whether the elder counts at ``rung`` (recorded there after continuing at every rung below it);
        None while that is not known yet."""
        for below in range(1, rung):
            if below not in elder.records:
                return False if elder.settled else None
            decision = self._decided.get((key, below), PENDING)
            if decision != CONTINUE:
                return None if decision == PENDING else False
        if rung in elder.records:
            return True
        return False if elder.settled else None
