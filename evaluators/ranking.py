"""Rank correlations between two measurements of the same candidates, with percentile bootstrap intervals.

Shared by the fidelity report (proxy against reference over genomes) and the search's reports (rung-1
against top-rung accuracy over trials): both rank a handful of candidates, where a correlation without its
interval reads as a finding it is not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.90
TOP_K = 5


@dataclass(frozen=True)
class Estimate:
    """A statistic with a percentile bootstrap interval (``low``/``high`` are nan when it cannot be formed)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def signed(self) -> str:
        """As ``str``, with signs: how a difference reads."""
        return f"{self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation; nan, quietly, when either side is constant (as a bootstrap resample can be)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x, y).statistic)


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b; nan, quietly, when either side is constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.kendalltau(x, y).statistic)


def bootstrap(statistic: Callable[[np.ndarray, np.ndarray], float], x: Sequence[float], y: Sequence[float],
              samples: int = 2000, confidence: float = CONFIDENCE, seed: int = 0) -> Estimate:
    """``statistic(x, y)`` and its percentile bootstrap interval over pairs resampled with replacement.

    Resamples on which the statistic is undefined (all values tied, so a rank correlation is nan) are left
    out; with fewer than half of them defined, the interval is reported as unknown (nan) rather than
    built from a biased remainder.
    """
    x, y = _series(x, y)
    return bootstrap_indices(lambda index: statistic(x[index], y[index]), len(x), samples, confidence, seed)


def bootstrap_difference(statistic: Callable[[np.ndarray, np.ndarray], float], first: Sequence[float],
                         second: Sequence[float], reference: Sequence[float], samples: int = 2000,
                         confidence: float = CONFIDENCE, seed: int = 0) -> Estimate:
    """``statistic(first, reference) - statistic(second, reference)`` with a paired bootstrap interval.

    Both statistics are computed on the same resample of candidates, so what the two rankings share (the
    candidates drawn, the reference's noise) cancels: two correlations whose separate intervals overlap
    can still differ, and two that look far apart can be one resample's luck. Undefined resamples are
    handled as in ``bootstrap``.
    """
    first, second = _series(first, second)
    first, reference = _series(first, reference)
    return bootstrap_indices(lambda index: statistic(first[index], reference[index])
                             - statistic(second[index], reference[index]), len(first), samples, confidence, seed)


def _series(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError(f"bootstrap needs equally long series of at least 3 values, got {len(x)} and {len(y)}")
    return x, y


def bootstrap_indices(statistic: Callable[[np.ndarray], float], size: int, samples: int = 2000,
                      confidence: float = CONFIDENCE, seed: int = 0) -> Estimate:
    """``statistic(indices)`` on all ``size`` candidates and its percentile interval over resampled indices:
    for a statistic of more than two series measured on the same candidates (each series indexed alike),
    which ``bootstrap`` and ``bootstrap_difference`` are special cases of. Undefined resamples as there."""
    value = statistic(np.arange(size))
    draws = np.random.default_rng(seed).integers(0, size, size=(samples, size))
    values = np.array([statistic(index) for index in draws])
    values = values[np.isfinite(values)]
    if len(values) < samples / 2:
        return Estimate(value, math.nan, math.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Estimate(value, float(low), float(high))


def top_overlap(proxy: Sequence[float], reference: Sequence[float], k: int = TOP_K) -> int:
    """How many of the reference's ``k`` best genomes are also among the proxy's ``k`` best (ties by order)."""
    best = lambda values: set(sorted(range(len(values)), key=lambda i: -values[i])[:k])  # noqa: E731
    return len(best(proxy) & best(reference))


def chance_overlap(k: int, genomes: int) -> float:
    """The top-``k`` overlap a ranking drawn at random is expected to reach among ``genomes`` (each of the
    reference's ``k`` best lands in the proxy's ``k`` best with probability k / genomes): what an overlap is
    read against, since over a dozen genomes chance alone shares about two of five."""
    return k * k / genomes
