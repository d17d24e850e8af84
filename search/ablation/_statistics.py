"""Per-arm statistics of an ablation and each arm's change against the baseline arm."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._levels import Arm

CONFIDENCE = 0.95


def arm_statistics(frame: pd.DataFrame, arms: list[Arm]) -> pd.DataFrame:
    """Per arm over its successful runs only: n, top-1 mean and std, mean seconds, change vs the baseline arm."""
    ok = frame[frame["status"] == "ok"]
    accuracies = {arm.name: ok.loc[ok["arm"] == arm.name, "accuracy"].to_numpy(float) for arm in arms}
    base = accuracies[next(arm.name for arm in arms if arm.is_baseline)]
    rows = []
    for arm in arms:
        values = accuracies[arm.name]
        seconds = ok.loc[ok["arm"] == arm.name, "seconds"].to_numpy(float)
        low, high = welch_interval(values, base)
        rows.append({"arm": arm.name, "label": arm.label, "level": arm.level, "is_baseline": arm.is_baseline,
                     "macs": arm.macs, "params": arm.params, "n": len(values), "mean": _mean(values),
                     "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                     "delta": _mean(values) - _mean(base), "ci_low": low, "ci_high": high,
                     "seconds": _mean(seconds)})
    return pd.DataFrame(rows)


def welch_interval(values: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """The 95 % interval of mean(values) - mean(reference) without assuming equal variances (Welch).

    Needs two runs on each side; otherwise (nan, nan).
    """
    if len(values) < 2 or len(reference) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        # Identical accuracies (usual on tiny validation sets) make scipy warn about precision; the
        # zero-width interval it returns is still the right answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = stats.ttest_ind(values, reference, equal_var=False).confidence_interval(CONFIDENCE)
    return float(interval.low), float(interval.high)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan
