"""Paired comparisons against a reference arm: hand-computed intervals, the few-seed cases, Holm."""

import math

import numpy as np
import pandas as pd
from scipy import stats

from search.results import holm, paired_comparison, verdict


def _runs(table: dict[str, list[float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"arm": arm, "seed": seed, "accuracy": math.nan if value is None else value}
                         for arm, values in table.items() for seed, value in enumerate(values)])


def test_paired_interval_matches_a_hand_computed_case():
    result = paired_comparison(_runs({"ref": [50, 52, 54, 56], "b": [53, 56, 55, 60]}), "ref").set_index("arm")
    differences = np.array([3, 4, 1, 4])
    half = stats.t.ppf(0.975, 3) * differences.std(ddof=1) / 2
    b = result.loc["b"]
    assert b["delta"] == 3.0 and np.isclose(b["ci_low"], 3 - half) and np.isclose(b["ci_high"], 3 + half)
    assert np.isclose(b["p"], stats.ttest_rel([53, 56, 55, 60], [50, 52, 54, 56]).pvalue)


def test_two_seeds_give_a_wide_interval():
    b = paired_comparison(_runs({"ref": [50, 60], "b": [52, 64]}), "ref").set_index("arm").loc["b"]
    half = stats.t.ppf(0.975, 1) * math.sqrt(2 / 2)  # differences 2 and 4: variance 2, one degree of freedom
    assert np.isclose(b["ci_high"] - b["ci_low"], 2 * half) and b["ci_high"] - b["ci_low"] > 25


def test_identical_differences_do_not_claim_certainty():
    result = paired_comparison(_runs({"ref": [50, 60], "b": [52, 62]}), "ref").set_index("arm")
    b = result.loc["b"]
    assert b["ci_high"] - b["ci_low"] > 0
    assert verdict(b) == "within noise"


def test_identical_runs_everywhere_give_no_interval_rather_than_a_zero_width_one():
    b = paired_comparison(_runs({"ref": [50, 50], "b": [50, 50]}), "ref").set_index("arm").loc["b"]
    assert math.isnan(b["ci_low"]) and verdict(b) == "no interval (too few runs)"


def test_the_variance_of_a_difference_is_pooled_across_arms():
    result = paired_comparison(_runs({"ref": [50, 52, 54], "b": [51, 53, 55], "c": [50, 56, 54]}), "ref")
    b, c = result.set_index("arm").loc["b"], result.set_index("arm").loc["c"]
    assert np.isclose(b["ci_high"] - b["ci_low"], c["ci_high"] - c["ci_low"])  # one pooled variance, same n


def test_failed_runs_leave_the_pairs_they_belong_to():
    b = paired_comparison(_runs({"ref": [50, None, 54], "b": [52, 70, 57]}), "ref").set_index("arm").loc["b"]
    assert b["n"] == 3 and b["n_paired"] == 2 and b["delta"] == 2.5


def test_holm_adjusts_step_down_and_keeps_order():
    adjusted = holm(np.array([0.01, 0.04, 0.03, np.nan]))
    assert np.allclose(adjusted[:3], [0.03, 0.06, 0.06]) and math.isnan(adjusted[3])


def test_verdict_reads_the_interval():
    assert verdict(pd.Series({"ci_low": 0.5, "ci_high": 2.0})) == "more accurate"
    assert verdict(pd.Series({"ci_low": -2.0, "ci_high": -0.1})) == "less accurate"
    assert verdict(pd.Series({"ci_low": -1.0, "ci_high": 1.0})) == "within noise"


def test_verdict_takes_no_direction_that_holms_correction_rejects():
    assert verdict(pd.Series({"ci_low": 0.9, "ci_high": 16.6, "p_holm": 0.098})) == "within noise"
    assert verdict(pd.Series({"ci_low": -17.8, "ci_high": -2.1, "p_holm": 0.073})) == "within noise"
    assert verdict(pd.Series({"ci_low": 0.9, "ci_high": 16.6, "p_holm": 0.01})) == "more accurate"
