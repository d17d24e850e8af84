"""Comparing arms that were trained with the same seeds: paired differences, t intervals, Holm's correction.

Runs of two arms that share a training seed share its data order and much of its luck, so the difference
of each pair is what varies less and is what is compared (a paired t interval), rather than two means.

The variance of a paired difference is pooled across all arms compared with the same reference (each arm
brings its n - 1 degrees of freedom): with a few seeds per arm one arm's own spread says little, and an arm
whose differences happen to be equal (two identical runs, say) would otherwise get a zero-width interval
that claims certainty. When no arm's differences vary at all, the interval falls back to the unpaired
variance of a difference, twice the seed variance pooled over every arm's runs; when no run varies either,
no interval can be given (nan). p-values come from the same t statistic and are Holm-adjusted across the
arms, so "some arm differs" keeps its 5 % error rate however many arms are compared.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
TEST = ("paired t on per-seed differences against the reference arm, variance of a difference pooled across "
        "arms (unpaired seed variance x 2 when no difference varies), Holm-adjusted p-values across arms")
"""How the intervals and p-values are made, in one line for the reports."""
VERDICT_RULE = (f"more / less accurate where the {CONFIDENCE:.0%} interval excludes 0 and the Holm-adjusted p-value "
                f"is below {1 - CONFIDENCE:.2f}, else within noise")
"""What ``verdict`` decides, in one line for the reports."""


def paired_comparison(runs: pd.DataFrame, reference: str, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per arm of ``runs`` (columns arm, seed, accuracy; failed runs as NaN accuracy), against ``reference``.

    Returns one row per arm, in first-seen order: n (successful runs), mean, sd, n_paired (seeds both the arm
    and the reference have), delta (mean paired difference), ci_low/ci_high, p and p_holm. The reference
    arm's own row has delta 0 and no interval.
    """
    ok = runs.dropna(subset=["accuracy"])
    by_arm = {arm: group.set_index("seed")["accuracy"].astype(float) for arm, group in ok.groupby("arm", sort=False)}
    arms = list(dict.fromkeys(runs["arm"]))
    base = by_arm.get(reference, pd.Series(dtype=float))
    differences = {arm: (by_arm.get(arm, pd.Series(dtype=float)) - base).dropna() for arm in arms if arm != reference}
    variance, df = _difference_variance(differences, by_arm)
    rows = []
    for arm in arms:
        values = by_arm.get(arm, pd.Series(dtype=float))
        row = {"arm": arm, "n": len(values), "mean": float(values.mean()) if len(values) else math.nan,
               "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan}
        if arm == reference:
            rows.append({**row, "n_paired": len(values), "delta": 0.0, "ci_low": math.nan, "ci_high": math.nan,
                         "p": math.nan})
            continue
        pairs = differences[arm]
        delta = float(pairs.mean()) if len(pairs) else math.nan
        low, high, p = _t_interval(delta, variance, df, len(pairs), confidence)
        rows.append({**row, "n_paired": len(pairs), "delta": delta, "ci_low": low, "ci_high": high, "p": p})
    frame = pd.DataFrame(rows)
    frame["p_holm"] = holm(frame["p"].to_numpy(float))
    return frame


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values (no test) stay NaN and do not count as tests."""
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p_values))
    order = tested[np.argsort(p_values[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def verdict(row: pd.Series | object, more: str = "more accurate", less: str = "less accurate") -> str:
    """What the comparison says: the arm is more or less accurate than the reference, or within noise.

    A direction needs both the arm's own interval to exclude 0 and, where the row has one, its Holm-adjusted
    p-value to be below 1 - CONFIDENCE: with several arms, an interval that just excludes 0 is expected by
    chance in one of them, and the table's p column must not contradict its verdict.
    """
    low, high = getattr(row, "ci_low"), getattr(row, "ci_high")
    if math.isnan(low):
        return "no interval (too few runs)"
    p_holm = getattr(row, "p_holm", math.nan)
    family_wise = math.isnan(p_holm) or p_holm < 1 - CONFIDENCE
    if low > 0 and family_wise:
        return more
    if high < 0 and family_wise:
        return less
    return "within noise"


def _difference_variance(differences: dict[str, pd.Series], by_arm: dict[str, pd.Series]) -> tuple[float, int]:
    """The pooled variance of a paired difference and its degrees of freedom (see the module docstring)."""
    squares = sum(float(((d - d.mean()) ** 2).sum()) for d in differences.values() if len(d) > 1)
    df = sum(len(d) - 1 for d in differences.values() if len(d) > 1)
    if df > 0 and squares > 0:
        return squares / df, df
    seed_squares = sum(float(((v - v.mean()) ** 2).sum()) for v in by_arm.values() if len(v) > 1)
    seed_df = sum(len(v) - 1 for v in by_arm.values() if len(v) > 1)
    if seed_df > 0 and seed_squares > 0:
        return 2 * seed_squares / seed_df, seed_df
    return math.nan, 0


def _t_interval(delta: float, variance: float, df: int, n: int, confidence: float) -> tuple[float, float, float]:
    if n < 1 or df < 1 or math.isnan(variance) or math.isnan(delta):
        return math.nan, math.nan, math.nan
    error = math.sqrt(variance / n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * error
    p = float(2 * stats.t.sf(abs(delta) / error, df))
    return delta - half, delta + half, p
