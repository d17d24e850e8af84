"""evaluators.fidelity: the statistics it prints, the files it writes, its errors and its resume."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from evaluators.fidelity import (CSV_COLUMNS, Job, SeedNoise, evaluation_sd, genomes_for, held_out_references, main,
                                 mean_sd, noise_ceiling, noise_ceiling_line, pooled_seed_noise, read_journal,
                                 reliability, run_job, run_jobs, seed_agreement_line, seed_sd_interval,
                                 unshared_seed_line, write_csv, write_scatter)
from evaluators.presets import PRESETS
from evaluators.ranking import (bootstrap, bootstrap_difference, bootstrap_indices, chance_overlap, kendall, spearman,
                               top_overlap)
from space import baseline

TINY = ["--genomes", "4", "--data", "synthetic:classes=3,train=16,val=8", "--proxy", "smoke",
        "--reference", "smoke32", "--baseline-seeds", "2", "--jobs", "1", "--reference-device", "cpu",
        "--bootstrap", "200"]


@pytest.fixture
def tiny_presets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A seconds-long stand-in for the reference (smoke at 32 px, two epochs) and a private data cache.

    Jobs carry their Fidelity to the spawned workers, and the workers inherit the environment.
    """
    _use_tiny_presets(monkeypatch, tmp_path)


def _use_tiny_presets(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setitem(PRESETS, "smoke32", PRESETS["smoke"].replace(name="smoke32", crop=32, epochs=2))
    monkeypatch.setenv("EFFCNN_CACHE", str(folder / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@dataclasses.dataclass(frozen=True)
class Trained:
    """A finished tiny study: how its command ended, what it printed, and its folder (``--out``)."""

    code: int
    out: str
    err: str
    folder: Path

    def copy(self, into: Path) -> Path:
        """The study's folder copied for a test that changes its journal or runs the study again."""
        return Path(shutil.copytree(self.folder, into / "out"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Trained]:
    """``trained(*options)``: the TINY study with those options, trained once for every test of the module that
    reads it or starts from its journal. Each study spawns its training workers, seconds each; the tests that
    read one finished study need not pay for their own."""
    studies: dict[tuple[str, ...], Trained] = {}

    def train(*options: str) -> Trained:
        if options not in studies:
            folder = tmp_path_factory.mktemp("trained")
            out, err = io.StringIO(), io.StringIO()
            with pytest.MonkeyPatch.context() as monkeypatch, redirect_stdout(out), redirect_stderr(err):
                _use_tiny_presets(monkeypatch, folder)
                code = _exit_code(*TINY, *options, "--out", str(folder / "out"))
            studies[options] = Trained(code, out.getvalue(), err.getvalue(), folder / "out")
        return studies[options]

    return train


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = _exit_code(*args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _exit_code(*args: str) -> int:
    """``evaluators.fidelity``'s exit status for ``args``, whether it returns it or exits with it."""
    try:
        return main(list(args))
    except SystemExit as stop:
        return stop.code


def test_bootstrap_interval_of_a_mean_matches_the_binomial_case() -> None:
    """Mean of [0, 0, 0, 1] resampled: 4 * mean ~ Binomial(4, 1/4), whose 10% and 90% quantiles are 0 and 2."""
    estimate = bootstrap(lambda x, y: float(np.mean(x)), [0, 0, 0, 1], [0, 0, 0, 0], samples=4000, confidence=0.8)
    assert (estimate.value, estimate.low, estimate.high) == (0.25, 0.0, 0.5)


def test_bootstrap_of_a_perfect_ranking_is_certain() -> None:
    estimate = bootstrap(spearman, [1, 2, 3, 4, 5, 6], [10, 20, 25, 40, 41, 90])
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx((1.0, 1.0, 1.0))


def test_bootstrap_interval_holds_the_estimate_and_is_repeatable() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)
    first, second = bootstrap(kendall, x, y, seed=3), bootstrap(kendall, x, y, seed=3)
    assert first == second
    assert -1 <= first.low < first.value < first.high <= 1


def test_bootstrap_of_constant_values_has_no_interval() -> None:
    estimate = bootstrap(spearman, [1, 1, 1, 1], [1, 2, 3, 4])
    assert math.isnan(estimate.value) and math.isnan(estimate.low) and math.isnan(estimate.high)


def test_bootstrap_refuses_too_few_pairs() -> None:
    with pytest.raises(ValueError, match="at least 3 values"):
        bootstrap(spearman, [1, 2], [1, 2])


def test_bootstrap_difference_matches_the_binomial_case() -> None:
    """mean([0, 0, 0, 4]) - mean of zeros, resampled: the count of the 4 ~ Binomial(4, 1/4), quantiles 0 and 2."""
    estimate = bootstrap_difference(lambda x, y: float(np.mean(x)), [0, 0, 0, 4], [0, 0, 0, 0], [0, 0, 0, 0],
                                    samples=4000, confidence=0.8)
    assert (estimate.value, estimate.low, estimate.high) == (1.0, 0.0, 2.0)


def test_bootstrap_difference_is_paired_over_the_same_resamples() -> None:
    """A constant offset between the two series survives every resample, however much each mean moves."""
    values = np.random.default_rng(2).normal(size=12)
    mean = lambda x, y: float(np.mean(x))  # noqa: E731
    difference = bootstrap_difference(mean, values + 1, values, values)
    alone = bootstrap(mean, values, values)
    assert (difference.value, difference.low, difference.high) == pytest.approx((1.0, 1.0, 1.0))
    assert alone.high - alone.low > 0.5


def test_bootstrap_difference_of_a_ranking_with_itself_is_zero() -> None:
    x = [3, 1, 4, 1, 5, 9, 2, 6]
    estimate = bootstrap_difference(spearman, x, x, [1, 2, 3, 4, 5, 6, 7, 8])
    assert (estimate.value, estimate.low, estimate.high) == (0.0, 0.0, 0.0)


def test_bootstrap_over_indices_is_the_pairwise_bootstrap_of_a_statistic_of_two_series() -> None:
    x, y = np.array([3.0, 1, 4, 1, 5, 9, 2, 6]), np.array([2.0, 7, 1, 8, 2, 8, 1, 8])
    assert bootstrap_indices(lambda at: spearman(x[at], y[at]), len(x)) == bootstrap(spearman, x, y)


TIED = [([1, 1, 2, 3, 3, 3], [2, 1, 1, 5, 4, 5]), ([4, 1, 4, 2, 2], [0, 0, 1, 1, 0]), ([3, 1, 4, 1, 5, 9, 2, 6],
                                                                                   [2, 7, 1, 8, 2, 8, 1, 8])]


@pytest.mark.parametrize("x, y", TIED)
def test_rank_correlations_are_scipy_s_with_ties_at_their_average_rank(x, y) -> None:
    from scipy import stats

    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


@pytest.mark.parametrize("correlation", [spearman, kendall])
def test_rank_correlations_of_tables_are_one_per_row_and_nan_where_a_row_is_constant(correlation) -> None:
    x = np.array([[1, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2], [1, 3, 2, 4]], dtype=float)
    y = np.array([1.0, 2, 3, 4])
    rows = correlation(x, np.tile(y, (4, 1)))
    assert rows.shape == (4,) and math.isnan(rows[2])
    assert rows[[0, 1, 3]] == pytest.approx([correlation(x[i], y) for i in (0, 1, 3)])
    assert correlation(x.T, np.tile(y, (4, 1)).T, axis=0) == pytest.approx(rows, nan_ok=True)


@pytest.mark.parametrize("correlation", [spearman, kendall])
def test_a_bootstrap_over_all_resamples_at_once_is_the_one_resample_at_a_time(correlation) -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, size=15).astype(float)  # ties, and resamples where one side is constant
    y = x + rng.integers(0, 4, size=15)
    one_at_a_time = bootstrap_indices(lambda at: correlation(x[at], y[at]), len(x), samples=500, seed=1)
    at_once = bootstrap(correlation, x, y, samples=500, seed=1)
    assert (at_once.value, at_once.low, at_once.high) == pytest.approx(
        (one_at_a_time.value, one_at_a_time.low, one_at_a_time.high), abs=1e-12)


def test_bootstrap_difference_refuses_series_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="equally long"):
        bootstrap_difference(spearman, [1, 2, 3], [1, 2, 3, 4], [1, 2, 3])


def test_signed_estimate_shows_the_sign_of_each_figure() -> None:
    assert bootstrap_difference(spearman, [1, 2, 3, 4], [4, 3, 2, 1], [1, 2, 3, 4]).signed().startswith("+2.000 [")


def test_top_overlap_counts_shared_members_of_both_top_k() -> None:
    assert top_overlap([9, 8, 7, 1, 2], [1, 9, 8, 7, 6], k=2) == 1
    assert top_overlap([1, 2, 3], [10, 20, 30], k=2) == 2


def test_reliability_is_the_share_of_the_spread_that_seeds_do_not_explain() -> None:
    values = [50.0, 52.0, 54.0, 56.0]  # variance 6.67
    assert reliability(values, seed_sd=2.0) == pytest.approx(1 - 4 / (20 / 3))
    assert reliability(values, seed_sd=0.0) == 1.0


def test_genomes_that_spread_less_than_one_genome_s_seeds_have_no_reliability() -> None:
    assert reliability([98.5, 98.5, 98.7], seed_sd=0.55) == 0.0
    assert reliability([60.0, 60.0, 60.0], seed_sd=0.0) == 0.0


def test_reliability_of_fewer_than_two_genomes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 genomes"):
        reliability([60.0], seed_sd=1.0)


def test_a_random_ranking_is_expected_to_share_k_squared_over_n_of_the_top_k() -> None:
    assert chance_overlap(5, 12) == pytest.approx(25 / 12)
    assert chance_overlap(5, 5) == 5


def test_a_seed_sd_from_three_seeds_is_known_to_within_its_chi_square_interval() -> None:
    # 90 %: sqrt(2 / chi2.ppf(0.95, 2)) = sqrt(2 / 5.9915), sqrt(2 / chi2.ppf(0.05, 2)) = sqrt(2 / 0.10259)
    low, high = seed_sd_interval(1.0, 3)
    assert (low, high) == (pytest.approx(0.5778, abs=1e-4), pytest.approx(4.415, abs=1e-3))


def test_the_noise_ceiling_s_range_holds_its_estimate_however_unequal_the_seed_sds() -> None:
    accuracies = [("proxy", [50.0, 58.0, 61.0, 45.0, 55.0]), ("reference", [97.0, 98.5, 98.9, 96.8, 98.2])]
    for seed_sds in [(3.0, 0.5), (1.0, 0.03), (0.2, 0.9)]:
        noises = [SeedNoise(sd, 2, ("baseline",)) for sd in seed_sds]
        line = noise_ceiling_line(accuracies, [[56.0, 59.0, 53.0], [98.0, 98.5, 98.2]], noises,
                                  (1000, 1000))
        estimate, low, high = map(float, re.search(r"genome\): ([\d.]+) \(from ([\d.]+) to ([\d.]+) over", line).groups())
        assert low <= estimate <= high and low < high


def test_pooled_seed_noise_weights_each_genome_by_its_degrees_of_freedom() -> None:
    """Variances 4 (3 seeds: 2 degrees) and 1 (2 seeds: 1 degree): (2 * 4 + 1 * 1) / 3 = 3."""
    noise = pooled_seed_noise({"baseline": [50.0, 52.0, 54.0], "abc": [60.0, 61.41421356237309], "one": [70.0]})
    assert noise.sd == pytest.approx(math.sqrt(3)) and noise.degrees == 3 and noise.genomes == ("baseline", "abc")


def test_pooled_seed_noise_ignores_differences_between_genomes() -> None:
    noise = pooled_seed_noise({"low": [10.0, 12.0], "high": [90.0, 92.0]})
    assert noise.sd == pytest.approx(math.sqrt(2))


def test_pooled_seed_noise_needs_a_genome_with_two_seeds() -> None:
    assert pooled_seed_noise({"baseline": [50.0], "abc": [60.0]}) is None


def test_one_genome_s_seed_noise_is_named_after_it_and_several_are_pooled() -> None:
    assert SeedNoise(3.0, 4, ("baseline",)).describe() == "baseline, n = 5"
    assert SeedNoise(3.0, 21, ("a", "b")).describe() == "pooled over 2 genomes' seeds, 21 degrees of freedom"


def test_seed_agreement_ranks_the_lowest_two_seeds_against_each_other() -> None:
    by_seed = [{0: 50.0, 1: 51.0}, {0: 60.0, 1: 59.0}, {0: 70.0, 1: 72.0}, {0: 80.0, 1: 79.0}, {0: 40.0}]
    line = seed_agreement_line("proxy", by_seed, samples=200)
    assert line.startswith("proxy seed 0 vs seed 1 over 4 genomes, how well it repeats its own ranking")
    assert line.endswith("spearman 1.000 [1.000, 1.000]")


def test_seed_agreement_needs_three_genomes_with_both_seeds() -> None:
    assert seed_agreement_line("proxy", [{0: 50.0, 1: 51.0, 2: 52.0}, {0: 60.0, 1: 61.0}, {0: 70.0}], 200) is None


def test_noise_ceiling_is_the_geometric_mean_of_the_reliabilities() -> None:
    assert noise_ceiling(0.81, 1.0) == pytest.approx(0.9)
    assert noise_ceiling(0.84, 0.0) == 0.0


def test_evaluation_sd_is_the_binomial_sd_of_the_accuracy_in_points() -> None:
    assert evaluation_sd(50.0, 100) == pytest.approx(5.0)
    assert evaluation_sd(98.0, 1000) == pytest.approx(100 * math.sqrt(0.98 * 0.02 / 1000))


def test_mean_sd_states_n() -> None:
    assert mean_sd([50.0, 52.0, 54.0]) == "52.00 +- 2.00 % (n = 3)"


def test_mean_sd_of_one_run_says_no_spread_was_measured() -> None:
    assert mean_sd([97.93]) == "97.93 % (n = 1: no spread measured)"


ROW = {"genome_id": "abc", "is_baseline": True, "blocks": "standard_r1_k3_s1_e4_c16", "macs": 10,
       "proxy_top1": 50.0, "reference_top1": 70.0, "proxy_eval_loss": 1.5, "reference_eval_loss": 0.9,
       "reference_held_out_top1": None, "reference_held_out_eval_loss": None,
       "proxy_seconds": 1.0, "reference_seconds": 2.0,
       "proxy_status": "ok", "reference_status": "ok"}


def test_csv_has_the_documented_columns(tmp_path: Path) -> None:
    write_csv([ROW], tmp_path / "f.csv")
    with (tmp_path / "f.csv").open() as file:
        assert next(csv.reader(file)) == CSV_COLUMNS == ["genome_id", "is_baseline", "blocks", "macs", "proxy_top1",
                                                         "reference_top1", "proxy_eval_loss", "reference_eval_loss",
                                                         "reference_held_out_top1", "reference_held_out_eval_loss",
                                                         "proxy_seconds", "reference_seconds", "proxy_status",
                                                         "reference_status"]


def test_scatter_draws_the_baseline_s_seed_sd_as_error_bars(tmp_path: Path) -> None:
    write_scatter([ROW, {**ROW, "genome_id": "def", "is_baseline": False}], tmp_path / "f.html", "t", (3.02, 0.55))
    page = (tmp_path / "f.html").read_text()
    assert '"error_x":{"array":[3.02],"type":"data","visible":true}' in page
    assert '"error_y":{"array":[0.55],"type":"data","visible":true}' in page
    assert "baseline (bars: 1 seed SD)" in page


def test_cli_writes_csv_plot_and_correlations_with_intervals(trained) -> None:
    code, out, err, folder = dataclasses.astuple(trained())
    assert code == 0, err
    lines = out.strip().splitlines()
    interval = r"(nan|-?\d\.\d{3}) \[(nan|-?\d\.\d{3}), (nan|-?\d\.\d{3})\]"
    assert re.fullmatch(rf"smoke vs smoke32 \(90% bootstrap CI over genomes\): spearman {interval} "
                        rf"kendall {interval}", lines[-2])
    assert re.fullmatch(r"noise ceiling: smoke seed SD \d+\.\d\d \(baseline, n = 2; 24 evaluation images alone: "
                        r"\d+\.\d\d\) vs \d+\.\d\d across 4 genomes: "
                        r"reliability [01]\.\d\d; smoke32 .*; a perfect proxy's expected correlation through "
                        r"this noise \(independent noise, one seed SD for every genome\): [01]\.\d\d "
                        r"\(from [01]\.\d\d to [01]\.\d\d over each seed SD's 90% chi-square interval, the "
                        r"genomes' spread taken as exact: a range, not a confidence interval of the ceiling\)",
                        lines[-1])
    assert any(re.fullmatch(r"top-4 overlap: \d/4 \(a random ranking's expectation: 4\.00\)", line) for line in lines)
    assert "mean over its training seeds" not in out  # the baseline alone has two: no genome's mean to rank
    assert any(re.fullmatch(rf"MACs alone vs smoke32 \(90% bootstrap CI over genomes\): spearman {interval}; smoke's "
                            rf"minus MACs alone's, paired over the same resamples: [+-]?(nan|\d\.\d{{3}}) "
                            rf"\[[+-]?(nan|\d\.\d{{3}}), [+-]?(nan|\d\.\d{{3}})\]", line) for line in lines)
    for name in ("smoke", "smoke32"):
        assert any(re.match(rf"baseline at {name}, 2 training seeds: \d+\.\d\d \+- \d+\.\d\d % \(n = 2\)", line)
                   for line in lines)
    with (folder / "fidelity.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["is_baseline"] for row in rows] == ["True", "False", "False", "False"]
    assert all(row["blocks"].count("_c") == 6 and float(row["reference_seconds"]) > 0 for row in rows)
    assert all(float(row["proxy_eval_loss"]) > 0 and float(row["reference_eval_loss"]) > 0 for row in rows)
    assert "baseline" in (folder / "fidelity.html").read_text()


def test_genome_seeds_train_every_genome_again_and_pool_their_seed_noise(trained) -> None:
    code, out, err, folder = dataclasses.astuple(trained("--genome-seeds", "2"))
    assert code == 0, err
    records = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["fidelity"], r["seed"]) for r in records) == sorted(
        (fidelity, seed) for fidelity in ("smoke", "smoke32") for seed in (0, 1) for _ in range(4))
    for name in ("smoke", "smoke32"):
        assert re.search(rf"^{name} seed 0 vs seed 1 over 4 genomes, how well it repeats its own ranking", out, re.M)
    assert out.strip().splitlines()[-1].count("pooled over 4 genomes' seeds, 4 degrees of freedom") == 2
    assert out.strip().splitlines()[-3].startswith("smoke seed 1 vs smoke32 seed 0, sharing no initial weights")
    assert out.strip().splitlines()[-4].startswith("smoke vs smoke32, each genome's mean over its training seeds "
                                                   "(smoke 2 seed(s), smoke32 2 seed(s); 4 genomes, 90% bootstrap "
                                                   "CI over genomes): spearman ")


def test_the_proxy_on_a_seed_the_reference_lacks_is_judged_apart_with_the_shared_seed_s_head_start() -> None:
    reference = [1.0, 2.0, 3.0, 4.0, 5.0]
    shared = [10.0, 20.0, 30.0, 40.0, 50.0]  # seed 0, as the reference's: the same ranking
    by_seed = [{0: a, 1: b} for a, b in zip(shared, [5.0, 4.0, 3.0, 2.0, 1.0])]  # seed 1 ranks them backwards
    line = unshared_seed_line(("proxy", "reference"), shared, reference, by_seed, 0, samples=200)
    assert line.startswith("proxy seed 1 vs reference seed 0, sharing no initial weights or batches (90% bootstrap "
                           "CI over genomes): spearman -1.000 [-1.000, -1.000] kendall -1.000 [-1.000, -1.000]")
    assert line.endswith("the shared seed 0's spearman minus this, paired: +2.000 [+2.000, +2.000]")


def test_no_unshared_seed_line_unless_every_genome_has_another_seed() -> None:
    by_seed = [{0: 1.0, 1: 2.0}, {0: 2.0, 1: 1.0}, {0: 3.0}]
    assert unshared_seed_line(("proxy", "reference"), [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], by_seed, 0, 200) is None


def test_a_failed_seed_is_left_out_of_the_pooled_seed_noise(tiny_presets, trained, capsys, tmp_path: Path) -> None:
    journal = trained("--genome-seeds", "2").copy(tmp_path) / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    diverged = next(r for r in records if r["fidelity"] == "smoke" and r["seed"] == 1 and r["genome_id"] !=
                    records[0]["genome_id"])
    diverged.update(status="failed", top1=0.0)
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    code, out, err = run_cli(capsys, *TINY, "--genome-seeds", "2", "--out", str(tmp_path / "out"), "--from-journal")
    assert code == 0, err
    ceiling = out.strip().splitlines()[-1]
    assert "smoke seed SD" in ceiling and "pooled over 3 genomes' seeds, 3 degrees of freedom" in ceiling


def test_a_journal_partly_without_evaluation_loss_says_so(tiny_presets, trained, capsys, tmp_path: Path) -> None:
    journal = trained().copy(tmp_path) / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    next(r for r in records if r["fidelity"] == "smoke32" and r["seed"] == 0).pop("eval_loss")
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    code, out, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--from-journal")
    assert code == 0, err
    assert "note: 1 of 4 smoke32 runs have no evaluation loss" in out and "evaluation loss, lower ranked" not in out


def test_report_ranks_by_the_reference_s_evaluation_loss_where_the_journal_has_it(trained) -> None:
    code, out, err, _ = dataclasses.astuple(trained())
    assert code == 0, err
    interval = r"(nan|-?\d\.\d{3}) \[(nan|-?\d\.\d{3}), (nan|-?\d\.\d{3})\]"
    assert any(re.fullmatch(rf"smoke vs smoke32's evaluation loss, lower ranked higher \(90% bootstrap CI over "
                            rf"genomes\): spearman {interval} kendall {interval}", line) for line in out.splitlines())


def test_a_journal_from_before_the_evaluation_loss_reports_without_it(tiny_presets, trained, capsys,
                                                                     tmp_path: Path) -> None:
    journal = trained().copy(tmp_path) / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "eval_loss"}) + "\n" for r in records))
    code, out, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--from-journal")
    assert code == 0, err
    assert "evaluation loss" not in out and "spearman" in out.splitlines()[-2]
    with (tmp_path / "out" / "fidelity.csv").open() as file:
        assert {row["reference_eval_loss"] for row in csv.DictReader(file)} == {""}


def test_one_baseline_seed_reports_no_noise_ceiling_and_draws_no_error_bars(tiny_presets, capsys, tmp_path) -> None:
    code, out, err = run_cli(capsys, *TINY, "--baseline-seeds", "1", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "noise ceiling" not in out and "spearman" in out.strip().splitlines()[-1]
    assert "bars: 1 seed SD" not in (tmp_path / "out" / "fidelity.html").read_text()


HELD_OUT = "synthetic:classes=3,seed=1,train=1,val=20"


def test_held_out_images_judge_the_reference_in_the_report_and_the_csv(trained) -> None:
    code, out, err, folder = dataclasses.astuple(trained("--held-out", HELD_OUT))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].endswith(f"on cpu, judged on 60 held-out images ({HELD_OUT})")
    assert lines[-2].startswith("smoke vs smoke32 on 60 held-out images (90% bootstrap CI over genomes): spearman")
    assert "smoke32 on 60 held-out images seed SD" in lines[-1] and "60 evaluation images alone" in lines[-1]
    assert "24 evaluation images alone" in lines[-1]  # the proxy's own
    assert any(line.startswith("baseline at smoke32 on 60 held-out images, 2 training seeds: ") for line in lines)
    with (folder / "fidelity.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert all(float(row["reference_held_out_top1"]) >= 0 and float(row["reference_held_out_eval_loss"]) > 0
               for row in rows)


def test_each_finished_reference_training_prints_its_held_out_figure(trained) -> None:
    code, out, err, _ = dataclasses.astuple(trained("--held-out", HELD_OUT))
    assert code == 0, err
    finished = [line for line in out.splitlines() if re.match(r"\[\d+\] ", line)]
    assert finished and all(("smoke32" in line) == bool(re.search(r"%, \d+\.\d\d% on the held-out images in ", line))
                            for line in finished)


def test_a_job_prints_every_epoch_but_the_last_as_it_trains(tiny_presets, capsys, tmp_path) -> None:
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke32"], "synthetic:classes=3,train=16,val=8", 0, "cpu")
    run_job(job)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"  {job.genome.id} smoke32 seed 0: epoch 1/2, \d+\.\d\d% \(\d+s\)",
                                            lines[0])


def test_held_out_figures_are_the_trainer_s_own_on_the_same_images(tiny_presets, capsys, tmp_path) -> None:
    data = "synthetic:classes=3,train=16,val=8"
    assert run_cli(capsys, *TINY, "--held-out", data, "--out", str(tmp_path / "out"))[0] == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    reference = [record for record in records if record["fidelity"] == "smoke32"]
    assert len(reference) == 5 and all(record["held_out"] == data for record in reference)
    assert [record["held_out_top1"] for record in reference] == [record["top1"] for record in reference]
    assert [record["held_out_eval_loss"] for record in reference] == pytest.approx(
        [record["eval_loss"] for record in reference], rel=1e-6)
    assert all("held_out" not in record for record in records if record["fidelity"] == "smoke")


def test_a_reference_journaled_without_held_out_figures_is_trained_again_and_the_proxy_is_not(tiny_presets, trained,
                                                                                               capsys, tmp_path) -> None:
    folder = trained().copy(tmp_path)
    assert run_cli(capsys, *TINY, "--out", str(folder), "--held-out", HELD_OUT)[0] == 0
    records = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    assert sorted((record["fidelity"], "held_out" in record) for record in records) == sorted(
        [("smoke", False)] * 5 + [("smoke32", False)] * 5 + [("smoke32", True)] * 5)


def test_a_finished_checkpoint_never_evaluated_on_the_held_out_images_is_trained_again(tiny_presets, tmp_path) -> None:
    data = "synthetic:classes=3,train=16,val=8"
    plain = Job(baseline().replace(num_classes=3), PRESETS["smoke32"], data, 0, "cpu",
                checkpoint_dir=str(tmp_path / "checkpoints"))
    run_job(plain)  # its checkpoint is left, as by a kill before the journal line
    record = run_job(Job(*[getattr(plain, name) for name in ("genome", "fidelity", "data", "seed", "device", "graphs",
                                                             "checkpoint_dir")], held_out=HELD_OUT))
    assert record["status"] == "ok" and record["held_out_top1"] is not None and record["held_out_eval_loss"] > 0


def test_a_genome_whose_reference_failed_before_its_held_out_evaluation_is_left_out(tiny_presets, trained, capsys,
                                                                                   tmp_path) -> None:
    args = [*TINY, "--held-out", HELD_OUT, "--out", str(trained("--held-out", HELD_OUT).copy(tmp_path))]
    journal = tmp_path / "out" / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    baseline_id = baseline().replace(num_classes=3).id
    failed = next(r for r in records if r["fidelity"] == "smoke32" and r["genome_id"] != baseline_id)
    failed.update(status="failed", top1=0.0, held_out_top1=None, held_out_eval_loss=None)
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    code, out, err = run_cli(capsys, *args, "--from-journal")
    assert code == 0, err
    assert (f"note: 1 genome(s) left out, their reference training failed before it could be evaluated on the "
            f"held-out images: {failed['genome_id']}") in out
    with (tmp_path / "out" / "fidelity.csv").open() as file:
        assert failed["genome_id"] not in {row["genome_id"] for row in csv.DictReader(file)}


def test_held_out_images_of_other_classes_are_a_one_line_error(tiny_presets, capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, *TINY, "--held-out", "synthetic:classes=4,train=1,val=2",
                           "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --held-out 'synthetic:classes=4,train=1,val=2' has 4 classes and --data")


def _reference_record(genome: str, seed: int = 0, status: str = "ok", held_out: str | None = "synthetic:seed=1",
                      top1: float | None = 98.0, fidelity: str = "reference") -> dict:
    return {"genome_id": genome, "fidelity": fidelity, "seed": seed, "status": status, "held_out": held_out,
            "held_out_top1": top1}


def test_held_out_references_keep_finished_seed_0_references_with_held_out_figures_by_genome() -> None:
    records = [_reference_record("a"), _reference_record("b", seed=1), _reference_record("c", status="failed"),
               _reference_record("d", top1=None), _reference_record("e", fidelity="proxy"), _reference_record("f")]
    assert sorted(held_out_references(records)) == ["a", "f"]


def test_held_out_references_refuse_runs_judged_on_different_held_out_images() -> None:
    records = [_reference_record("a"), _reference_record("b", held_out="synthetic:seed=2")]
    with pytest.raises(ValueError, match=r"different held-out images \(synthetic:seed=1, synthetic:seed=2\)"):
        held_out_references(records)


def test_cli_rerun_trains_nothing_already_in_the_journal(tiny_presets, trained, capsys, tmp_path: Path) -> None:
    args = [*TINY, "--out", str(trained().copy(tmp_path))]
    journal = tmp_path / "out" / "runs.jsonl"
    first = journal.read_text().splitlines()
    assert len(first) == 2 * (4 + 1)  # 4 genomes and 1 more baseline seed, at both fidelities
    assert {json.loads(line)["status"] for line in first} == {"ok"}
    assert run_cli(capsys, *args)[0] == 0
    assert journal.read_text().splitlines() == first


def test_where_a_job_checkpoints_is_not_part_of_its_key() -> None:
    plain = Job(baseline(), PRESETS["smoke"], "synthetic", 0, "cpu")
    assert Job(baseline(), PRESETS["smoke"], "synthetic", 0, "cpu", checkpoint_dir="/tmp/elsewhere").key == plain.key


def test_a_checkpointed_job_run_again_resumes_instead_of_training(tiny_presets, monkeypatch, tmp_path) -> None:
    from evaluators import trainer
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke32"], "synthetic:classes=3,train=16,val=8", 0, "cpu",
              checkpoint_dir=str(tmp_path / "checkpoints"))
    first = run_job(job)
    monkeypatch.setattr(trainer, "evaluate", lambda *args: pytest.fail("trained again"))
    again = run_job(job)
    assert again["top1"] == first["top1"] and again["key"] == first["key"]


def test_a_journal_record_keeps_every_epoch_s_top1_through_a_resume(tiny_presets, monkeypatch, tmp_path) -> None:
    from evaluators import trainer
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke32"].replace(epochs=3),
              "synthetic:classes=3,train=16,val=8", 0, "cpu", checkpoint_dir=str(tmp_path / "checkpoints"))
    first = run_job(job)
    monkeypatch.setattr(trainer, "evaluate", lambda *args: pytest.fail("trained again"))
    again = run_job(job)  # from the checkpoint, as after a kill before the journal line
    assert len(first["curve_top1"]) == 3 and first["curve_top1"][-1] == first["top1"]
    assert again["curve_top1"] == first["curve_top1"]


def test_a_checkpoint_whose_training_is_in_the_journal_is_removed_by_the_next_run(tiny_presets, tmp_path) -> None:
    checkpoints = tmp_path / "checkpoints"
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke32"], "synthetic:classes=3,train=16,val=8", 0, "cpu",
              checkpoint_dir=str(checkpoints))
    journal = tmp_path / "runs.jsonl"
    journal.write_text(json.dumps(run_job(job)) + "\n")  # as if killed between the journal line and the removal
    assert len(list(checkpoints.iterdir())) == 1
    run_jobs([job], journal, {"cpu": 1}, report=lambda job, record: pytest.fail("trained again"))
    assert list(checkpoints.iterdir()) == []


def test_a_training_that_runs_out_of_memory_is_not_journaled_so_the_next_run_retries_it(tiny_presets, capsys,
                                                                                      tmp_path) -> None:
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke"].replace(crop=1_000_000),
              "synthetic:classes=3,train=16,val=8", 0, "cpu")
    journal = tmp_path / "runs.jsonl"
    done = run_jobs([job], journal, {"cpu": 1}, report=lambda job, record: pytest.fail("journaled"))
    assert done == {} and journal.read_text() == ""
    assert "out of memory: batch_size" in capsys.readouterr().err


def test_a_training_that_crashes_costs_the_others_nothing(tiny_presets, capsys, tmp_path) -> None:
    good = Job(baseline().replace(num_classes=3), PRESETS["smoke"], "synthetic:classes=3,train=16,val=8", 0, "cpu")
    crashing = Job(baseline().replace(num_classes=3), PRESETS["smoke"], "synthetic:classes=1", 1, "cpu")
    done = run_jobs([crashing, good], tmp_path / "runs.jsonl", {"cpu": 1}, report=lambda job, record: None,
                    order="given")
    assert list(done) == [good.key] and list(read_journal(tmp_path / "runs.jsonl")) == [good.key]
    assert "seed 1: DataError: " in capsys.readouterr().err


def test_a_record_after_a_torn_last_line_starts_a_line_of_its_own(tiny_presets, tmp_path) -> None:
    job = Job(baseline().replace(num_classes=3), PRESETS["smoke"], "synthetic:classes=3,train=16,val=8", 0, "cpu")
    journal = tmp_path / "runs.jsonl"
    journal.write_text('{"torn')
    run_jobs([job], journal, {"cpu": 1}, report=lambda job, record: None)
    assert list(read_journal(journal)) == [job.key]


def trained_order(out: str) -> list[str]:
    """The genome ids of the seed-0 trainings, in the order the CLI reported them finished."""
    return re.findall(r"^\[\d+\] (\w+) \w+ seed 0:", out, flags=re.MULTILINE)


def genome_work(genome_id: str) -> float:
    by_id = {genome.id: genome for genome in genomes_for(4, 3, 0)}
    return Job(by_id[genome_id], PRESETS["smoke"], "synthetic", 0, "cpu").work()


@pytest.mark.parametrize("order, direction", [("longest", -1), ("shortest", 1)])
def test_cli_order_starts_the_longest_or_the_shortest_trainings_first(tiny_presets, capsys, tmp_path, order,
                                                                       direction) -> None:
    code, out, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--only", "proxy", "--order", order)
    assert code == 0, err
    works = [genome_work(genome_id) for genome_id in trained_order(out)]  # one worker: finished as started
    assert len(works) == 4 and works == sorted(works, key=lambda work: direction * work)


def test_run_jobs_rejects_an_unknown_order(tmp_path) -> None:
    with pytest.raises(ValueError, match="order must be one of longest, shortest, given, got 'random'"):
        run_jobs([], tmp_path / "runs.jsonl", {"cpu": 1}, report=lambda job, record: None, order="random")


def test_cli_checkpoints_trainings_where_asked_and_removes_them_once_journaled(tiny_presets, capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--only", "reference",
                           "--checkpoints", str(tmp_path / "checkpoints"))
    assert code == 0, err
    checkpoints = tmp_path / "checkpoints"
    assert checkpoints.is_dir() and list(checkpoints.iterdir()) == []  # saved there, removed once journaled


def test_from_journal_reports_on_the_genomes_trained_at_both_fidelities(tiny_presets, trained, capsys,
                                                                        tmp_path) -> None:
    args = [*TINY, "--out", str(trained().copy(tmp_path))]
    journal = tmp_path / "out" / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    baseline_id = baseline().replace(num_classes=3).id
    dropped = next(r for r in records if r["fidelity"] == "smoke32" and r["genome_id"] != baseline_id)
    journal.write_text("".join(json.dumps(r) + "\n" for r in records if r is not dropped) + '{"torn')
    code, out, _ = run_cli(capsys, *args, "--from-journal")
    assert code == 0 and "note: 1 of 4 genomes left out" in out
    with (tmp_path / "out" / "fidelity.csv").open() as file:
        assert dropped["genome_id"] not in {row["genome_id"] for row in csv.DictReader(file)}


def test_from_journal_refuses_a_journal_of_other_records_naming_the_file_and_line(tiny_presets, capsys,
                                                                                  tmp_path) -> None:
    journal = tmp_path / "out" / "runs.jsonl"
    journal.parent.mkdir()
    journal.write_text('{"genome_id": "abc", "top1": 50.0}\n')
    code, _, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--from-journal")
    assert code == 2 and err == f"error: {journal}: line 1 is not a training record (lacks key, fidelity, seed, status)\n"


@pytest.mark.parametrize("args, message", [
    (["--genomes", "2"], "error: --genomes must be >= 3, got 2"),
    (["--genomes", "1001"], "error: --genomes must be <= 1000, got 1001"),
    (["--reference", "huge"], "error: --reference: fidelity: must be one of"),
    (["--proxy", "tiny"], "error: --proxy: fidelity: must be one of"),
    (["--data", "synthetic:colour=1"], "error: bad --data"),
    (["--baseline-seeds", "0"], "error: --baseline-seeds must be >= 1, got 0"),
    (["--genome-seeds", "0"], "error: --genome-seeds must be >= 1, got 0"),
    (["--reference-graphs", "--reference-device", "cpu"], "error: --reference-graphs: CUDA graphs need the reference "
                                                          "on a CUDA device, not cpu"),
])
def test_cli_errors_are_one_line(tiny_presets, capsys, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--out", "--checkpoints"])
def test_an_output_folder_that_is_a_file_is_a_one_line_error(capsys, tmp_path: Path, flag: str) -> None:
    (tmp_path / "taken").write_text("")
    code, _, err = run_cli(capsys, "--out", str(tmp_path / "out"), flag, str(tmp_path / "taken"))
    assert code == 2 and err == f"error: {flag}: must be a folder, and {tmp_path / 'taken'} is a file\n"


@pytest.mark.parametrize("make, message", [
    (lambda journal: journal.mkdir(), "is a folder, not a journal of trainings"),
    (lambda journal: journal.write_bytes(b"\xff\xfe"), "not a text file"),
])
def test_from_journal_refuses_a_journal_that_is_no_text_file_naming_it(tiny_presets, capsys, tmp_path, make,
                                                                      message) -> None:
    journal = tmp_path / "out" / "runs.jsonl"
    journal.parent.mkdir()
    make(journal)
    code, _, err = run_cli(capsys, *TINY, "--out", str(tmp_path / "out"), "--from-journal")
    assert code == 2 and err.startswith(f"error: {journal}: {message}") and err.count("\n") == 1


def test_only_trains_one_fidelity_and_the_merged_journals_report_like_one_run(tiny_presets, capsys, tmp_path) -> None:
    for side in ("proxy", "reference"):
        code, out, _ = run_cli(capsys, *TINY, "--out", str(tmp_path / side), "--only", side)
        assert code == 0 and f"{side}: 5 trainings" in out
    halves = [(tmp_path / side / "runs.jsonl").read_text() for side in ("proxy", "reference")]
    assert {json.loads(line)["fidelity"] for line in halves[0].splitlines()} == {"smoke"}
    assert {json.loads(line)["fidelity"] for line in halves[1].splitlines()} == {"smoke32"}
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "runs.jsonl").write_text("".join(halves))
    code, out, _ = run_cli(capsys, *TINY, "--out", str(tmp_path / "merged"), "--from-journal")
    assert code == 0 and "note:" not in out and "spearman" in out.splitlines()[-2]


def test_a_training_worker_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    """`timeout` or a kill ends the parent only; its spawned pool workers must not train on for nobody."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, os, time
        from concurrent.futures import ProcessPoolExecutor
        from evaluators.fidelity import exit_with_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=exit_with_parent, initargs=(os.getpid(),))
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 120)
            time.sleep(120)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[1])
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    survived = _alive(worker)
    if survived:
        os.kill(worker, signal.SIGKILL)
    assert not survived


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, reaped by nobody yet, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_training_run_with_cuda_graphs_keys_the_journal_as_the_eager_one() -> None:
    # How the steps are launched is not what they compute: a graphed GPU half merges with an eager one.
    eager = Job(baseline(), PRESETS["reference"], "synthetic", 0, "cuda")
    assert Job(baseline(), PRESETS["reference"], "synthetic", 0, "cuda", graphs=True).key == eager.key


def test_the_committed_proxy_half_holds_exactly_the_genomes_and_preset_the_command_draws_today():
    """benchmarks/fidelity-1205/runs.jsonl is the proxy half a device call completes: a change to the default
    space, its draws or the proxy preset orphans it, and must come with a new journal."""
    from evaluators.fidelity import genomes_for
    from evaluators.presets import get_fidelity

    journal = Path(__file__).resolve().parents[1] / "benchmarks" / "fidelity-1205" / "runs.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    genomes = genomes_for(20, num_classes=10, seed=0)
    proxy = get_fidelity("proxy")
    expected = {Job(genome, proxy, "synthetic", 0, "cpu").key for genome in genomes}
    expected |= {Job(genome, proxy, "synthetic", 1, "cpu").key for genome in genomes}  # --genome-seeds 2
    expected |= {Job(genomes[0], proxy, "synthetic", seed, "cpu").key for seed in (2, 3, 4)}  # --baseline-seeds 5
    assert {record["key"] for record in records if record["fidelity"] == "proxy"} == expected


def test_a_csv_write_interrupted_before_its_rename_leaves_the_previous_csv(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "fidelity.csv"
    write_csv([ROW], path)
    before = path.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_csv([ROW, {**ROW, "genome_id": "def"}], path)
    assert path.read_text() == before
