"""Exact 2-D Pareto front and hypervolume for (accuracy to maximise, cost to minimise).

The search has exactly two objectives, so both are computed exactly with one sort and a running maximum
instead of a general n-D algorithm. Optuna ships an exact hypervolume (``compute_hypervolume``), but only
in its private ``optuna._hypervolume`` module, which may change without notice between releases; the 2-D
sweep here is a few lines and keeps reports independent of Optuna internals.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
    if accuracy.size == 0:
        return np.zeros(0, dtype=bool)
    levels, level_of = np.unique(macs, return_inverse=True)
    best_at_level = np.full(levels.size, -np.inf)
    np.maximum.at(best_at_level, level_of, accuracy)
    # Best accuracy among strictly cheaper points: reaching it (or more) with fewer MACs dominates.
    best_cheaper = np.concatenate(([-np.inf], np.maximum.accumulate(best_at_level)[:-1]))
    return (accuracy == best_at_level[level_of]) & (accuracy > best_cheaper[level_of])


def hypervolume(points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (rows of accuracy, cost) and bounded by ``reference`` (accuracy, cost).

    That is the area of every (a, c) with ``reference accuracy <= a <= some point's accuracy`` and
    ``that point's cost <= c <= reference cost``. Dominated points are allowed (they add nothing) and points
    not better than the reference in both objectives contribute nothing, so the caller can pass every
    completed trial. The unit is accuracy x cost; scale the cost axis first to get a comparable number.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    ref_accuracy, ref_cost = (float(v) for v in reference)
    inside = (points[:, 0] > ref_accuracy) & (points[:, 1] < ref_cost)
    points = points[inside]
    if points.size == 0:
        return 0.0
    points = points[np.argsort(points[:, 1], kind="stable")]
    # Between consecutive costs the attained accuracy is the best of every point costing no more.
    attained = np.maximum.accumulate(points[:, 0])
    widths = np.diff(np.append(points[:, 1], ref_cost))
    return float(np.sum((attained - ref_accuracy) * widths))
