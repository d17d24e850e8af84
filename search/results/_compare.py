"""Runs of a search set side by side: what each screened per CPU-hour and what front it had after equal
wall time. The measurement behind ``--scheduler``'s default (``python -m search.compare``).

Every figure comes from the studies' storages: a trial's ``datetime_start`` and ``datetime_complete`` say
when Optuna handed it out and was told its outcome, so "the front after T seconds" is the front of the
trials told within T seconds of the run's first start, as the run itself would have reported had it been
stopped then. Runs to compare ran on one machine, one after another or at the same time with its CPUs split
between them (``--cpus`` is what each had); the hosts their trials trained on are listed, and runs on different
hosts are flagged, since their rates per CPU-hour then compare machines as much as settings. Runs that differ
in data, fidelity or objectives are flagged too: their hypervolumes measure different things; so are runs of
one sampler seed with different training seeds (``--train-seed``), whose pairs then share less luck.

Runs are grouped into arms by the settings that differ between them (sampler, scheduler, grace, eta, units,
rung floor). Against the first run's arm, each other arm is compared paired by sampler seed: the seeds are
the comparison's replicates, run alike in every arm, and where the arms share a sampler a seed's runs also
share its first proposals and the baseline's trials, luck that pairing takes out. The hypervolume is compared
as a difference, genomes per CPU-hour as a ratio (the geometric mean of the paired ratios), each with its t
interval and its p-value Holm-adjusted across arms, per measure (``paired_comparison``). With one seed per
arm there is no interval, and the report says so; runs without a recorded seed, and for the rate runs that
screened nothing by T (no ratio exists), are left out of the pairs and named.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from ..study import INTERRUPTED, StudyError, study_objectives
from ._report import front_hypervolume, hypervolume_reference, rung_correlation_line, trials_frame
from ._statistics import CONFIDENCE, TEST, paired_comparison, verdict
from ._tables import markdown_table

ARM_SETTINGS = ("sampler", "scheduler", "grace", "eta", "max_units", "accuracy_floor")
"""The settings that tell one arm of a comparison from another; the sampler seed pairs runs across arms."""
TASK_SETTINGS = ("data", "fidelity", "objectives")
"""What every compared run must share for its hypervolume to measure the same thing."""


@dataclass(frozen=True)
class RunFigures:
    study: str
    seed: int | None
    train_seed: int | None
    wall_seconds: float
    screened: int
    complete: int
    stopped: int
    screened_at: int
    hypervolume_at: float
    rung_correlation: str
    settings: dict[str, Any]
    task: dict[str, Any]
    hosts: tuple[str, ...]


def run_figures(study: optuna.Study, seconds: float) -> RunFigures:
    """One run's figures, the ``_at`` ones counting only what was told within ``seconds`` of its start."""
    trials = study.get_trials(deepcopy=False)
    told = _told_seconds(study.study_name, trials)
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
    seed, train_seed = study.user_attrs.get("seed"), study.user_attrs.get("train_seed")
    return RunFigures(study=study.study_name, seed=seed if isinstance(seed, int) else None,
                      train_seed=train_seed if isinstance(train_seed, int) else None,
                      wall_seconds=max(told.values(), default=0.0),
                      screened=len(screened), complete=int((frame["state"] == "COMPLETE").sum()),
                      stopped=int((frame["state"] == "PRUNED").sum()),
                      screened_at=sum(1 for n in screened if told[n] <= seconds),
                      hypervolume_at=front_hypervolume(complete, reference) if reference else 0.0,
                      rung_correlation=rung_correlation_line(frame),
                      settings={"sampler": study.user_attrs.get("sampler", ""), **halving},
                      task={"data": study.user_attrs.get("data"), "fidelity": study.user_attrs.get("fidelity"),
                            "objectives": study_objectives(study)},
                      hosts=tuple(sorted({str(t.user_attrs["host"]) for t in trials if t.user_attrs.get("host")})))


def _told_seconds(name: str, trials: list[FrozenTrial]) -> dict[int, float]:
    """Seconds from the run's first start to each finished trial's outcome, by trial number."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    if not starts:
        raise StudyError(f"study {name!r} has no started trial: nothing to compare")
    started = min(starts)
    return {t.number: (t.datetime_complete - started).total_seconds() for t in trials if t.datetime_complete}


def comparison_markdown(studies: list[optuna.Study], seconds: float | None, cpus: float) -> str:
    """Per run, per arm (mean +- SD over its runs, n stated) and per arm against the first run's (paired by
    sampler seed, with intervals): genomes screened per CPU-hour, and the hypervolume above chance after
    ``seconds`` (default: the shortest run's wall time)."""
    if seconds is None:
        # Only the trials' times, not every run's figures twice: those (fronts, bootstrap) come once, at T.
        seconds = min(max(_told_seconds(study.study_name, study.get_trials(deepcopy=False)).values(), default=0.0)
                      for study in studies)
        if seconds <= 0:
            raise StudyError("a run has no finished trial yet: there is no equal wall time to compare at")
    figures = [run_figures(study, seconds) for study in studies]
    arms = dict(zip((f.study for f in figures), arm_labels([f.settings for f in figures])))
    per_hour = {f.study: f.screened_at / (cpus * seconds / 3600) for f in figures}
    rows = [[f.study, arms[f.study], _recorded(f.seed), _recorded(f.train_seed), f"{f.wall_seconds:.0f}",
             f"{f.screened} ({f.complete} complete, {f.stopped} stopped)", str(f.screened_at),
             f"{per_hour[f.study]:.1f}", f"{f.hypervolume_at:.3f}", ", ".join(f.hosts) or "not recorded"]
            for f in figures]
    lines = [f"Equal wall time T = {seconds:.0f} s of each run, {cpus:g} CPUs; hypervolume of the trials that "
             "reached the top rung and were told by T, as summary.md measures it (reference at chance top-1 and "
             "2 x the standard baseline's MACs).", "",
             markdown_table(["study", "arm", "sampler seed", "train seed", "wall s", "screened (all)", "screened by T",
                             "genomes per CPU-hour by T", "hypervolume at T", "host"], rows), ""]
    lines += _warnings(figures)
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


def _recorded(value: int | None) -> str:
    return "not recorded" if value is None else str(value)


def _warnings(figures: list[RunFigures]) -> list[str]:
    """What makes the runs less than side by side: other tasks, other machines, hosts not recorded, pairs
    that do not share their training seeds."""
    lines = []
    differing = [key for key in TASK_SETTINGS if len({repr(f.task[key]) for f in figures}) > 1]
    if differing:
        lines.append(f"- **The runs differ in {', '.join(differing)}**: their hypervolumes measure different "
                     "things, and no difference between them is a finding about the settings.")
    if len({f.hosts for f in figures if f.hosts}) > 1:
        lines.append("- **The runs trained on different hosts**: their genomes per CPU-hour compare the machines as "
                     "much as the settings; only runs on one machine are side by side.")
    unrecorded = [f.study for f in figures if not f.hosts]
    if unrecorded and len(unrecorded) < len(figures):
        lines.append(f"- No host recorded for {', '.join(unrecorded)}: whether all ran on one machine is unknown.")
    for seed in sorted({f.seed for f in figures if f.seed is not None}):
        train_seeds = {_recorded(f.train_seed) for f in figures if f.seed == seed}
        if len(train_seeds) > 1:
            lines.append(f"- The runs of sampler seed {seed} trained with different training seeds "
                         f"({', '.join(sorted(train_seeds))}): they share the sampler's first proposals but not "
                         "their training luck, so pairing them removes less noise.")
    return [*lines, ""] if lines else []


def _paired_lines(figures: list[RunFigures], arms: dict[str, str], per_hour: dict[str, float]) -> list[str]:
    """Every arm against the first run's, paired by sampler seed (see the module docstring)."""
    names = list(dict.fromkeys(arms.values()))
    if len(names) < 2:
        return []
    seeded = [f for f in figures if f.seed is not None]
    keys = [(arms[f.study], f.seed) for f in seeded]
    if len(set(keys)) < len(keys):
        return ["", "- No paired comparison: two runs of one arm share a sampler seed."]
    reference = names[0]
    hypervolume = paired_comparison(_runs(seeded, arms, lambda f: f.hypervolume_at), reference).set_index("arm")
    rate = paired_comparison(_runs(seeded, arms, lambda f: math.log(per_hour[f.study]) if per_hour[f.study] > 0
                                   else math.nan), reference).set_index("arm")
    lines = ["", f"Against {reference}, paired by sampler seed ({CONFIDENCE:.0%} intervals; {TEST}, per measure; "
             "genomes per CPU-hour compared on a log scale, as the geometric mean of the paired ratios):", ""]
    unseeded = [f.study for f in figures if f.seed is None]
    if unseeded:
        lines.append(f"- Without a recorded sampler seed, left out of the pairs: {', '.join(unseeded)}")
    idle = [f.study for f in seeded if per_hour[f.study] == 0]
    if idle:
        lines.append(f"- Screened no genome by T, left out of the rate's pairs (no ratio exists): {', '.join(idle)}")
    for name in names[1:]:
        difference, ratio = _row(hypervolume, name), _row(rate, name)
        lines.append(f"- {name}: hypervolume at T {_paired(difference, '{:+.3f}', 'higher', 'lower')}; genomes per "
                     f"CPU-hour x{_paired(ratio, '{:.2f}', 'more', 'fewer', np.exp)}")
    return lines


def _runs(figures: list[RunFigures], arms: dict[str, str], value: Callable[[RunFigures], float]) -> pd.DataFrame:
    """The runs as ``paired_comparison`` takes them, one measure in its ``accuracy`` column."""
    return pd.DataFrame({"arm": [arms[f.study] for f in figures], "seed": [f.seed for f in figures],
                         "accuracy": [value(f) for f in figures]})


def _row(compared: pd.DataFrame, arm: str) -> pd.Series:
    """An arm's comparison; an arm none of whose runs kept a seed has none (every figure nan)."""
    if arm in compared.index:
        return compared.loc[arm]
    return pd.Series({"n_paired": 0, "delta": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_holm": math.nan})


def _paired(row: pd.Series, number: str, more: str, less: str,
            scale: Callable[[float], float] = lambda x: x) -> str:
    """A paired estimate with its pair count, interval, Holm-adjusted p-value and verdict; ``scale`` takes it
    back from logs."""
    pairs = f"n = {int(row['n_paired'])} pair(s)"
    if math.isnan(row["delta"]):
        return f"n/a ({pairs})"
    estimate = number.format(scale(row["delta"]))
    if math.isnan(row["ci_low"]):
        return f"{estimate} ({pairs}; no interval: too few pairs)"
    return (f"{estimate} [{number.format(scale(row['ci_low']))}, {number.format(scale(row['ci_high']))}] "
            f"({pairs}), p (Holm) {row['p_holm']:.3f}: {verdict(row, more, less)}")


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f} (one run: no spread measured)"
    return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"
