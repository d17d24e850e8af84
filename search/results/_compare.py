"""Runs of a search set side by side: what each screened per CPU-hour and what front it had after equal
wall time. The measurement behind ``--scheduler``'s default (``python -m search.compare``).

Every figure comes from the studies' storages: a trial's ``datetime_start`` and ``datetime_complete`` say
when Optuna handed it out and was told its outcome, so "the front after T seconds" is the front of the
trials told within T seconds of the run's first start, as the run itself would have reported had it been
stopped then. Runs to compare ran on one machine, one after another or at the same time with its CPUs split
between them (``--cpus`` is what each had); the hosts their trials trained on are listed, and runs on different
hosts are flagged, since their rates per CPU-hour then compare machines as much as settings.

Runs are grouped into arms by the settings that differ between them (sampler, scheduler, grace, eta, units,
rung floor). Against the first run's arm, each other arm is compared paired by sampler seed, as the runs of
one seed share their first proposals: the hypervolume as a difference, genomes per CPU-hour as a ratio (the
geometric mean of the paired ratios), each with its t interval and Holm-adjusted p-value
(``paired_comparison``). With one seed per arm there is no interval, and the report says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from ..study import INTERRUPTED
from ._report import front_hypervolume, hypervolume_reference, rung_correlation_line, trials_frame
from ._statistics import CONFIDENCE, TEST, paired_comparison, verdict
from ._tables import markdown_table

ARM_SETTINGS = ("sampler", "scheduler", "grace", "eta", "max_units", "accuracy_floor")
"""The settings that tell one arm of a comparison from another; the sampler seed pairs runs across arms."""


@dataclass(frozen=True)
class RunFigures:
    study: str
    scheduler: str
    sampler: str
    seed: object
    wall_seconds: float
    screened: int
    complete: int
    stopped: int
    screened_at: int
    hypervolume_at: float
    rung_correlation: str
    settings: dict[str, Any]
    hosts: tuple[str, ...]


def run_figures(study: optuna.Study, seconds: float) -> RunFigures:
    """One run's figures, the ``_at`` ones counting only what was told within ``seconds`` of its start."""
    trials = study.get_trials(deepcopy=False)
    started = min(t.datetime_start for t in trials if t.datetime_start)
    told = {t.number: (t.datetime_complete - started).total_seconds() for t in trials if t.datetime_complete}
    # A genome screened is a searched one that finished training or was stopped at a rung: the baseline's fixed
    # trials are no genome the run chose (counting them would pull every run's rate towards the same number),
    # and a trial a stop cut short screened nothing.
    screened = [t.number for t in trials if t.number in told and not t.user_attrs.get("is_baseline")
                and (t.state != TrialState.FAIL or t.user_attrs.get("reason") != INTERRUPTED)]
    frame = trials_frame(study)
    within = frame[frame["number"].map(lambda n: told.get(n, float("inf")) <= seconds)]
    reference = hypervolume_reference(frame)
    complete = within[(within["state"] == "COMPLETE") & within["accuracy"].notna() & within["macs"].notna()]
    halving = study.user_attrs.get("halving") or {"scheduler": "fifo"}
    return RunFigures(study=study.study_name, scheduler=halving["scheduler"],
                      sampler=study.user_attrs.get("sampler", ""), seed=study.user_attrs.get("seed", ""),
                      wall_seconds=max(told.values(), default=0.0),
                      screened=len(screened), complete=int((frame["state"] == "COMPLETE").sum()),
                      stopped=int((frame["state"] == "PRUNED").sum()),
                      screened_at=sum(1 for n in screened if told[n] <= seconds),
                      hypervolume_at=front_hypervolume(complete, reference) if reference else 0.0,
                      rung_correlation=rung_correlation_line(frame),
                      settings={"sampler": study.user_attrs.get("sampler", ""), **halving},
                      hosts=tuple(sorted({str(t.user_attrs["host"]) for t in trials if t.user_attrs.get("host")})))


def comparison_markdown(studies: list[optuna.Study], seconds: float | None, cpus: float) -> str:
    """Per run, per arm (mean +- SD over its runs, n stated) and per arm against the first run's (paired by
    sampler seed, with intervals): genomes screened per CPU-hour, and the hypervolume above chance after
    ``seconds`` (default: the shortest run's wall time)."""
    if seconds is None:
        seconds = min(run_figures(study, float("inf")).wall_seconds for study in studies)
    figures = [run_figures(study, seconds) for study in studies]
    arms = dict(zip((f.study for f in figures), arm_labels([f.settings for f in figures])))
    per_hour = {f.study: f.screened_at / (cpus * seconds / 3600) for f in figures}
    rows = [[f.study, arms[f.study], str(f.seed), f"{f.wall_seconds:.0f}", f"{f.screened} "
             f"({f.complete} complete, {f.stopped} stopped)", str(f.screened_at), f"{per_hour[f.study]:.1f}",
             f"{f.hypervolume_at:.3f}", ", ".join(f.hosts) or "not recorded"] for f in figures]
    lines = [f"Equal wall time T = {seconds:.0f} s of each run, {cpus:g} CPUs; hypervolume of the trials that "
             "reached the top rung and were told by T, as summary.md measures it (reference at chance top-1 and "
             "2 x the standard baseline's MACs).", "",
             markdown_table(["study", "arm", "seed", "wall s", "screened (all)", "screened by T",
                             "genomes per CPU-hour by T", "hypervolume at T", "host"], rows), ""]
    if len({f.hosts for f in figures}) > 1:
        lines += ["- **The runs trained on different hosts**: their genomes per CPU-hour compare the machines as "
                  "much as the settings; only runs on one machine are side by side.", ""]
    for arm in dict.fromkeys(arms.values()):
        runs = [f for f in figures if arms[f.study] == arm]
        lines.append(f"- {arm}, n = {len(runs)} run(s): hypervolume at T "
                     f"{_mean_sd([f.hypervolume_at for f in runs])}, genomes per CPU-hour "
                     f"{_mean_sd([per_hour[f.study] for f in runs])}")
    lines += _paired_lines(figures, arms, per_hour)
    lines += ["", *(f"- {f.study}: {f.rung_correlation}" for f in figures)]
    return "\n".join(lines)


def arm_labels(settings: list[dict[str, Any]]) -> list[str]:
    """Each run's arm, named by the settings in which the runs differ (``scheduler=moasha eta=4``); by its
    scheduler when they differ in none."""
    differing = [key for key in ARM_SETTINGS if len({repr(s.get(key)) for s in settings}) > 1] or ["scheduler"]
    return [" ".join(f"{key}={s.get(key)}" for key in differing) for s in settings]


def _paired_lines(figures: list[RunFigures], arms: dict[str, str], per_hour: dict[str, float]) -> list[str]:
    """Every arm against the first run's, paired by sampler seed (see the module docstring)."""
    names = list(dict.fromkeys(arms.values()))
    if len(names) < 2:
        return []
    keys = [(arms[f.study], repr(f.seed)) for f in figures]
    if len(set(keys)) < len(keys):
        return ["", "- No paired comparison: two runs of one arm share a sampler seed."]
    reference = names[0]
    hypervolume = paired_comparison(_runs(figures, arms, lambda f: f.hypervolume_at), reference).set_index("arm")
    rate = paired_comparison(_runs(figures, arms, lambda f: math.log(per_hour[f.study]) if per_hour[f.study] > 0
                                   else math.nan), reference).set_index("arm")
    lines = ["", f"Against {reference}, paired by sampler seed ({CONFIDENCE:.0%} intervals; {TEST}; genomes per "
             "CPU-hour compared on a log scale, as the geometric mean of the paired ratios, runs that screened "
             "none left out):", ""]
    for name in names[1:]:
        difference, ratio = hypervolume.loc[name], rate.loc[name]
        lines.append(f"- {name} (n = {int(difference['n_paired'])} pair(s)): hypervolume at T "
                     f"{_paired(difference, '{:+.3f}', 'higher', 'lower')}; genomes per CPU-hour "
                     f"x{_paired(ratio, '{:.2f}', 'more', 'fewer', np.exp)}")
    return lines


def _runs(figures: list[RunFigures], arms: dict[str, str], value: Any) -> pd.DataFrame:
    return pd.DataFrame({"arm": [arms[f.study] for f in figures], "seed": [repr(f.seed) for f in figures],
                         "accuracy": [value(f) for f in figures]})


def _paired(row: pd.Series, number: str, more: str, less: str, scale: Any = lambda x: x) -> str:
    """A paired estimate with its interval, Holm-adjusted p-value and verdict; ``scale`` takes it back from logs."""
    if math.isnan(row["delta"]):
        return "n/a (no pair)"
    estimate = number.format(scale(row["delta"]))
    if math.isnan(row["ci_low"]):
        return f"{estimate} (no interval: too few pairs)"
    return (f"{estimate} [{number.format(scale(row['ci_low']))}, {number.format(scale(row['ci_high']))}], "
            f"p (Holm) {row['p_holm']:.3f}: {verdict(row, more, less)}")


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f} (one run: no spread measured)"
    return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"
