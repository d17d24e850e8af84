"""Pareto fronts and hypervolume for any number of objectives, exact, on objectives in "minimise" form.

Every objective is first turned into one to minimise (``minimise_form`` negates the maximised ones), so one
definition of dominance serves the search's front (accuracy up, MACs down), a third objective such as a
measured latency, and the successive-halving scheduler's ranking of the trials at a rung. ``pareto_mask``
and ``hypervolume`` are the search's two-objective (accuracy, MACs) forms of the same functions.

A study holds tens to a few thousand trials, so the plain O(n^2 d) dominance matrix and an exact
hypervolume by slicing (HSO: cut along the last objective, recurse on the rest, a sorted sweep in 2-D) are
fast enough for 2 and 3 objectives, and exact: a Monte Carlo estimate's noise must not decide which trial a
scheduler stops. Optuna has an exact hypervolume too (``compute_hypervolume``), but only in its private
``optuna._hypervolume`` module, which may change without notice between releases.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAXIMISE = ("maximize", "max")
MINIMISE = ("minimize", "min")
CONTRIBUTION_TOLERANCE = 1e-9
"""Contributions below this fraction of the front's hypervolume are float noise of a subtraction: zero."""


def minimise_form(values: Sequence[Sequence[float]] | np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``values`` (one row per point, one column per objective) with every maximised column negated.

    ``directions`` spells each column's direction as Optuna does (``maximize``/``minimize``) or as Ray Tune
    does (``max``/``min``).
    """
    points = np.asarray(values, dtype=float)
    if points.ndim == 1 and points.size == 0:
        points = points.reshape(0, len(directions))
    if points.ndim != 2 or points.shape[1] != len(directions):
        raise ValueError(f"values: expected one column per direction ({len(directions)}), got shape {points.shape}")
    signs = []
    for direction in directions:
        if direction not in MAXIMISE + MINIMISE:
            raise ValueError(f"directions: each must be one of {', '.join(MAXIMISE + MINIMISE)}, got {direction!r}")
        signs.append(-1.0 if direction in MAXIMISE else 1.0)
    return _checked(points * np.array(signs))


def nondominated_ranks(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Each point's front in non-dominated sorting: 0 for the Pareto front, 1 for the front once 0 is removed...

    A point dominates another when it is no worse in every objective and better in at least one. Identical
    points do not dominate each other, so duplicates share a front (as ``search.pareto.pareto_mask`` keeps
    every duplicate of a front point on the front).
    """
    points = _checked(np.asarray(points, dtype=float))
    count = points.shape[0]
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    dominates = no_worse & better  # dominates[i, j]: point i dominates point j
    unranked_dominators = dominates.sum(axis=0)
    ranks = np.full(count, -1)
    front, rank = np.flatnonzero(unranked_dominators == 0), 0
    while front.size:
        ranks[front] = rank
        unranked_dominators = unranked_dominators - dominates[front].sum(axis=0)
        front, rank = np.flatnonzero((unranked_dominators == 0) & (ranks < 0)), rank + 1
    return ranks


def nondominated_mask(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Which points no other point dominates (the Pareto front)."""
    return nondominated_ranks(points) == 0


def dominated_hypervolume(points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]) -> float:
    """Volume of the region the points dominate, bounded by ``reference``; exact for any number of objectives.

    Points that are not strictly better than the reference in every objective add nothing, so the caller may
    pass every point it has, dominated ones included. The unit is the product of the objectives' units:
    scale them first to get a number comparable between studies.
    """
    reference = np.asarray(reference, dtype=float)
    points = _checked(np.asarray(points, dtype=float), objectives=reference.size)
    if reference.shape != (points.shape[1],) or not np.isfinite(reference).all():
        raise ValueError(f"reference: expected {points.shape[1]} finite values, got {reference.tolist()}")
    return _volume(points[(points < reference).all(axis=1)], reference)


def hypervolume_contributions(points: Sequence[Sequence[float]] | np.ndarray,
                              reference: Sequence[float]) -> np.ndarray:
    """Each point's exclusive contribution: the hypervolume lost when that point alone is removed.

    Dominated points and duplicates contribute 0 (another point covers what they dominate).
    """
    points = _checked(np.asarray(points, dtype=float), objectives=len(reference))
    total = dominated_hypervolume(points, reference)
    lost = np.array([total - dominated_hypervolume(np.delete(points, index, axis=0), reference)
                     for index in range(points.shape[0])])
    return np.where(lost > CONTRIBUTION_TOLERANCE * total, lost, 0.0)



def pareto_mask(accuracy: Sequence[float] | np.ndarray, macs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Which points are Pareto-optimal when accuracy is maximised and MACs minimised.

    A point is dominated iff another is at least as accurate with no more MACs and strictly better in one
    of the two. Identical points do not dominate each other, so duplicates of a front point all stay on
    it (they are usually the same genome measured twice, and the report should show both trials).
    """
    accuracy = np.asarray(accuracy, dtype=float)
    macs = np.asarray(macs, dtype=float)
    if accuracy.shape != macs.shape or accuracy.ndim != 1:
        raise ValueError(f"accuracy and macs must be 1-D and equally long, got {accuracy.shape} and {macs.shape}")
    return nondominated_mask(minimise_form(np.column_stack([accuracy, macs]), ("maximize", "minimize")))


def hypervolume(points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (rows of accuracy, cost) and bounded by ``reference`` (accuracy, cost).

    That is the area of every (a, c) with ``reference accuracy <= a <= some point's accuracy`` and
    ``that point's cost <= c <= reference cost``. Dominated points are allowed (they add nothing) and points
    not better than the reference in both objectives contribute nothing, so the caller can pass every
    completed trial. The unit is accuracy x cost; scale the cost axis first to get a comparable number.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    ref_accuracy, ref_cost = (float(v) for v in reference)
    return dominated_hypervolume(minimise_form(points, ("maximize", "minimize")), (-ref_accuracy, ref_cost))

def _volume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of points that all lie strictly inside the reference box."""
    count, objectives = points.shape
    if count == 0:
        return 0.0
    if objectives == 1:
        return float(reference[0] - points[:, 0].min())
    if objectives == 2:
        points = points[np.argsort(points[:, 0], kind="stable")]
        # Between consecutive first objectives, the second reaches down to the best of every point so far.
        attained = np.minimum.accumulate(points[:, 1])
        widths = np.diff(np.append(points[:, 0], reference[0]))
        return float(np.sum(widths * (reference[1] - attained)))
    # Slice along the last objective: between consecutive levels the cross-section is the (d-1)-D volume
    # of every point at or below the lower level.
    points = points[np.argsort(points[:, -1], kind="stable")]
    heights = np.diff(np.append(points[:, -1], reference[-1]))
    return float(sum(heights[i] * _volume(points[:i + 1, :-1], reference[:-1]) for i in np.flatnonzero(heights > 0)))


def _checked(points: np.ndarray, objectives: int = 1) -> np.ndarray:
    """``points`` as an (n, d) array of finite values; an empty input becomes (0, ``objectives``)."""
    if points.size == 0 and points.ndim <= 2:
        return points.reshape(0, points.shape[1] if points.ndim == 2 and points.shape[1] else objectives)
    if points.ndim != 2 or points.shape[1] < 1:
        raise ValueError(f"points: expected a 2-D array (one row per point, one column per objective), "
                         f"got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points: every objective value must be a finite number (drop trials without values first)")
    return points
