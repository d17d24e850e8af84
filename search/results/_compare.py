"""Runs of a search set side by side: what each screened per CPU-hour and what front it had after equal
wall time. The measurement behind ``--scheduler``'s default (``python -m search.compare``).

Every figure comes from the studies' storages: a trial's ``datetime_start`` and ``datetime_complete`` say
when Optuna handed it out and was told its outcome, so "the front after T seconds" is the front of the
trials told within T seconds of the run's first start, as the run itself would have reported had it been
stopped then. Runs to compare must have run one at a time on the same machine with the same CPUs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from ..study import INTERRUPTED
from ._report import front_hypervolume, hypervolume_reference, rung_correlation_line, trials_frame
from ._tables import markdown_table


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
                      rung_correlation=rung_correlation_line(frame))


def comparison_markdown(studies: list[optuna.Study], seconds: float | None, cpus: float) -> str:
    """Per run and per scheduler (mean +- SD over its runs, n stated): genomes screened per CPU-hour, and
    the hypervolume above chance after ``seconds`` (default: the shortest run's wall time)."""
    if seconds is None:
        seconds = min(run_figures(study, float("inf")).wall_seconds for study in studies)
    figures = [run_figures(study, seconds) for study in studies]
    per_hour = {f.study: f.screened_at / (cpus * seconds / 3600) for f in figures}
    rows = [[f.study, f.scheduler, f.sampler, str(f.seed), f"{f.wall_seconds:.0f}", f"{f.screened} "
             f"({f.complete} complete, {f.stopped} stopped)", str(f.screened_at), f"{per_hour[f.study]:.1f}",
             f"{f.hypervolume_at:.3f}"] for f in figures]
    lines = [f"Equal wall time T = {seconds:.0f} s of each run, {cpus:g} CPUs; hypervolume of the trials that "
             "reached the top rung and were told by T, as summary.md measures it (reference at chance top-1 and "
             "2 x the standard baseline's MACs).", "",
             markdown_table(["study", "scheduler", "sampler", "seed", "wall s", "screened (all)", "screened by T",
                             "genomes per CPU-hour by T", "hypervolume at T"], rows), ""]
    for scheduler in sorted({f.scheduler for f in figures}):
        runs = [f for f in figures if f.scheduler == scheduler]
        lines.append(f"- {scheduler}, n = {len(runs)} run(s): hypervolume at T "
                     f"{_mean_sd([f.hypervolume_at for f in runs])}, genomes per CPU-hour "
                     f"{_mean_sd([per_hour[f.study] for f in runs])}")
    lines += ["", *(f"- {f.study}: {f.rung_correlation}" for f in figures)]
    return "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f} (one run: no spread measured)"
    return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"
