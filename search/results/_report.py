"""Results files of a search, rebuilt from its Optuna study alone (``python -m search.report`` runs this).

It writes, in the study folder: ``trials.csv`` (one row per trial, genome flattened), ``pareto/<id>.json``
(the genome of every Pareto-optimal trial), ``pareto.html`` and ``hypervolume.html`` (the front's
hypervolume after each trial) with a PNG of each (where a browser can render it), and ``summary.md``, which
also reads the confirmation's ``confirmed.csv`` when ``search.confirm`` has written one.

The front, the hypervolume and every "best" figure use COMPLETE trials only, which are the trials that
reached the top rung: a trial stopped at a lower rung is PRUNED, with its accuracy there, and is listed but
never compared with them.

Hypervolume reference: chance accuracy (100 / classes %) and MACs = 2 x the MACs of the standard Table 1
baseline built for the study's number of classes (2 x 193,898,304 at 100 classes). MACs are divided by that
reference, so the hypervolume is in (top-1 points above chance x fraction of the reference MACs): at most
100 - chance, comparable between studies of the same task whatever they sampled, and independent of whether
the baseline trial itself finished. Trials at or below chance, or above the reference MACs, add nothing:
a genome that learns nothing earns no area however cheap it is. A study that optimises latency
(``--objectives``) adds latency = 2 x the standard baseline's latency as predicted on the study's machine
(recorded in the study before trials start), and the volume is in top-1 points above chance x fraction of
each reference cost. The Pareto flags, the tables and the figure follow the study's objectives, which
``trials_frame`` puts in the frame's ``attrs`` beside the latency reference.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from evaluators.ranking import CONFIDENCE as RANK_CONFIDENCE
from evaluators.ranking import bootstrap, spearman
from space import Genome, Stage, atomic_write, baseline, cost_of

from ..pareto import dominated_hypervolume, minimise_form, nondominated_mask
from ..study import OBJECTIVES, RUNG_ACCURACY, Halving, directions, metrics, study_objectives
from ._figures import image_markdown, write_figure
from ._plots import baseline_label, hypervolume_figure, pareto_figure
from ._statistics import CONFIDENCE, TEST, VERDICT_RULE
from ._tables import block_strings, describe_setting, markdown_table, millions

GENOME_FIELDS = [f.name for f in dataclasses.fields(Genome) if f.name != "stages"]
STAGE_FIELDS = [f.name for f in dataclasses.fields(Stage)]
INTEGER_FIELDS = {f.name for f in (*dataclasses.fields(Genome), *dataclasses.fields(Stage)) if f.type == "int"}
"""Genome and stage fields typed ``int``: nullable integer columns, so trials.csv says 16, not 16.0."""
MEASURED = ["accuracy", "top5", "macs", "latency_ms", "params", "seconds", "rung", "units"]
"""Per trial; for a trial stopped at a rung, its accuracy is the one at that rung, ``rung`` counts from 1
(the first rung) and ``units`` are the units it trained. ``latency_ms``: predicted, in a latency study."""
TRAILING = ["is_baseline", "is_pareto", "reason", "baseline_block", "train_seed", "fidelity", "data",
            "latency_measured_share", "latency_machine", "worker", "node", "host", "device", "precision"]
"""``worker``: the run that sampled the trial (runs may share a study); ``node`` and ``host``: the Ray node id
and host name it trained on; ``device`` and ``precision``: what it trained on and in."""
IN_FLIGHT = ("RUNNING", "WAITING")
WITHIN_POINTS = 1.0
""""Cheapest trial within this many top-1 points of the baseline" in the summary."""
NEAR_CHANCE_POINTS = 2.0
""""Near chance" in the summary: within this many top-1 points of 100 / classes."""
REFERENCE_MACS_FACTOR = 2
"""The hypervolume's MACs reference, in multiples of the standard Table 1 baseline's MACs."""
COST_WORDS = {"macs": "MACs", "latency": "latency"}
"""How the summary and titles name each cost objective."""
CONFIRMED_CSV = "confirmed.csv"
"""Written by ``search.confirm``: per genome, its accuracy over fresh seeds and its paired change vs the baseline."""


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, any state: genome fields flattened, measurements, baseline and Pareto flags (the
    front of the study's objectives). ``attrs`` holds the study's ``objectives`` and, for a latency study, its
    ``latency_reference_ms`` and ``latency_machine``."""
    return _frame(study.get_trials(deepcopy=False), study)


def write_report(study: optuna.Study, out_dir: Path) -> dict[str, Path | str]:
    """Write every results file into ``out_dir``; return their paths by name.

    Keys: ``trials_csv``, ``pareto_dir``, ``pareto_html``, ``pareto_png``, ``hypervolume_html``,
    ``hypervolume_png`` and ``summary_md``. A PNG key maps to the image's path or, where it was skipped (no
    browser for plotly's exporter), to the one-line note saying why, which summary.md then carries instead.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    frame = _frame(trials, study)
    atomic_write(out_dir / "trials.csv", frame.to_csv(index=False))
    confirmed = read_confirmed(out_dir)
    costs = frame.attrs["objectives"][1:]
    title = f"{study.study_name}: top-1 accuracy vs " + " and ".join(COST_WORDS[name] for name in costs)
    png = write_figure(pareto_figure(frame, title, confirmed), out_dir / "pareto.html")
    image = image_markdown(png, f"{title}, the Pareto front ringed")
    history_title = f"{study.study_name}: hypervolume of the front after each trial"
    units = " x ".join(["top-1 points above chance", *(f"fraction of reference {COST_WORDS[c]}" for c in costs)])
    history_png = write_figure(hypervolume_figure(hypervolume_history(frame), history_title, units),
                               out_dir / "hypervolume.html")
    atomic_write(out_dir / "summary.md", summary_markdown(study, frame, image, confirmed,
                                                          image_markdown(history_png, history_title)))
    return {
        "trials_csv": out_dir / "trials.csv",
        "pareto_dir": write_pareto_genomes(trials, frame, out_dir / "pareto"),
        "pareto_html": out_dir / "pareto.html",
        "pareto_png": png,
        "hypervolume_html": out_dir / "hypervolume.html",
        "hypervolume_png": history_png,
        "summary_md": out_dir / "summary.md",
    }


def read_confirmed(study_dir: Path) -> pd.DataFrame | None:
    """The confirmation's table (``search.confirm``), or None when the front was not confirmed."""
    path = Path(study_dir) / CONFIRMED_CSV
    return pd.read_csv(path) if path.is_file() else None


def write_pareto_genomes(trials: Sequence[FrozenTrial], frame: pd.DataFrame, folder: Path) -> Path:
    """Save each Pareto-optimal genome as ``<genome_id>.json`` and delete files of genomes no longer on it."""
    genomes = {t.number: t.user_attrs.get("genome") for t in trials}
    folder.mkdir(parents=True, exist_ok=True)
    keep = set()
    for row in frame[frame["is_pareto"]].itertuples():
        Genome.from_dict(genomes[row.number]).save(folder / f"{row.genome_id}.json")
        keep.add(row.genome_id)
    for stale in folder.glob("*.json"):
        if stale.stem not in keep:
            stale.unlink()
    return folder


def summary_markdown(study: optuna.Study, frame: pd.DataFrame, image: str, confirmed: pd.DataFrame | None = None,
                     history_image: str = "") -> str:
    """The human-readable account: setup, the baseline, the front (``image``: the figure's markdown, see
    ``image_markdown``), gains over the baseline, the confirmation, hypervolume, rungs, failures."""
    sections = [_header(study, frame), "## Baseline\n\n" + _baseline_table(frame),
                "## Pareto front\n\n" + image + "\n\n" + pareto_table(frame),
                "## Against the baseline\n\n" + _baseline_lines(frame, confirmed)]
    if confirmed is not None:
        sections.append("## Confirmation\n\n" + confirmation_section(confirmed))
    sections += ["## Hypervolume\n\n" + _hypervolume_line(frame) + ("\n\n" + history_image if history_image else ""),
                 "## Rungs\n\n" + rungs_summary(study.user_attrs.get("halving"), frame),
                 "## Failed trials\n\n" + _failure_table(frame)]
    return "\n\n".join(sections) + "\n"


def pareto_table(frame: pd.DataFrame) -> str:
    """The Pareto-optimal trials as a markdown table, cheapest first."""
    front = frame[frame["is_pareto"]].sort_values(["macs", "accuracy"], ascending=[True, False])
    if front.empty:
        return "No completed trials, so no Pareto front yet."
    latency = front["latency_ms"].notna().any()
    rows = [[str(r.number), f"`{r.genome_id}`", f"`{r.arch}`", f"{r.accuracy:.2f}", millions(r.macs),
             *([f"{r.latency_ms:.3f}"] if latency else []), millions(r.params, 2),
             baseline_label(r.baseline_block) if r.is_baseline else ""]
            for r in front.itertuples()]
    return markdown_table(["trial", "genome_id", "arch", "top-1 %", "MACs", *(["latency ms"] if latency else []),
                           "params", "baseline"], rows)


def rungs_summary(halving: dict | None, frame: pd.DataFrame) -> str:
    """Where trials stopped, and how well the first rung's accuracy ranks the trials that reached the top
    (Spearman over those trials: the scheduler's premise; with moasha they are a selected few)."""
    if not halving:
        return "No rungs recorded (the study predates training in units)."
    rungs = Halving(**halving).rungs
    lines = [f"Scheduler {halving['scheduler']}: rungs at {', '.join(map(str, rungs))} of {halving['max_units']} "
             f"units (grace {halving['grace']}, eta {halving['eta']}); the top rung is the fidelity's whole run."]
    if halving["scheduler"] == "moasha" and halving.get("accuracy_floor") is not None:
        lines.append(f"- at a rung, trials at or below {halving['accuracy_floor']:.2f} % top-1 (what guessing exceeds "
                     "with 5 % probability on the evaluation images) rank after every trial above it")
    stopped = frame[frame["state"] == "PRUNED"]["rung"].value_counts()
    if not stopped.empty:
        lines.append("- stopped at rung " + ", ".join(f"{int(r)}: {stopped[r]}" for r in sorted(stopped.index))
                     + f"; reached the top: {int((frame['state'] == 'COMPLETE').sum())}")
    lines += _rungs_at_chance_lines(frame, len(rungs))
    lines.append("- " + rung_correlation_line(frame))
    return "\n".join(lines)


def _rungs_at_chance_lines(frame: pd.DataFrame, rung_count: int) -> list[str]:
    """Per rung below the top, how many of the trials recorded there sat near chance; where all of them do,
    the rung's decisions followed their costs and noise, not what they learned, and a user should know."""
    reference = hypervolume_reference(frame)
    if reference is None:
        return []
    chance = reference[0]
    lines = []
    for rung in range(1, rung_count):
        column = RUNG_ACCURACY.format(rung)
        recorded = frame[column].dropna() if column in frame else pd.Series(dtype=float)
        if recorded.empty:
            continue
        near = _count_near_chance(recorded, chance)
        note = ": its decisions followed their costs and noise, not what they learned" if near == len(recorded) else ""
        lines.append(f"- near chance at rung {rung}: {near} of {len(recorded)} trials recorded there within "
                     f"{NEAR_CHANCE_POINTS:g} top-1 points of chance ({chance:g} %){note}")
    return lines


def rung_correlation_line(frame: pd.DataFrame) -> str:
    """Spearman's rank correlation of rung-1 and top-rung accuracy over the trials that reached the top, with
    its bootstrap interval: a handful of trials gives a wide one, and the line should not read as a finding."""
    first = RUNG_ACCURACY.format(1)
    top = frame[(frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    if first not in frame:
        return "rank correlation of rung-1 and top-rung accuracy: no rung-1 records"
    top = top[top[first].notna()]
    if len(top) < 3:
        return f"rank correlation of rung-1 and top-rung accuracy: too few trials reached the top ({len(top)})"
    if top[first].nunique() < 2 or top["accuracy"].nunique() < 2:
        value = "undefined (all equal at one of the two rungs)"
    else:
        estimate = bootstrap(spearman, top[first].to_numpy(float), top["accuracy"].to_numpy(float))
        interval = "no interval (too many resamples tied)" if math.isnan(estimate.low) else \
            f"[{estimate.low:.3f}, {estimate.high:.3f}]"
        value = f"{estimate.value:.3f}, {RANK_CONFIDENCE:.0%} bootstrap CI over trials {interval}"
    return f"rank correlation (Spearman) of rung-1 and top-rung accuracy over the {len(top)} trials that reached " \
           f"the top (one training seed each): {value}"


def _frame(trials: Sequence[FrozenTrial], study: optuna.Study) -> pd.DataFrame:
    objectives = study_objectives(study)
    rows = [_trial_row(t, objectives) for t in trials]
    stages = max((len(r["genome"].stages) for r in rows if r["genome"]), default=len(baseline().stages))
    stage_columns = {f"s{i}_{field}": field for i in range(stages) for field in STAGE_FIELDS}
    rung_columns = sorted({key for r in rows for key in r if key.startswith(RUNG_ACCURACY.format(""))},
                          key=lambda key: int(key.rsplit("_", 1)[1]))
    columns = ["number", "state", "genome_id", *GENOME_FIELDS, *stage_columns, "arch", *MEASURED, *TRAILING,
               *rung_columns]
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "genome"} for r in rows], columns=columns)
    integers = ["macs", "params", "train_seed", "rung", "units",
                *(f for f in GENOME_FIELDS if f in INTEGER_FIELDS),
                *(column for column, field in stage_columns.items() if field in INTEGER_FIELDS)]
    frame[integers] = frame[integers].astype("Int64")
    measured = ["accuracy", "top5", "latency_ms", "seconds", "latency_measured_share"]
    frame[measured] = frame[measured].astype(float)
    frame["is_baseline"] = frame["is_baseline"].astype(bool)
    frame["is_pareto"] = _pareto_flags(frame, objectives)
    frame.attrs.update(objectives=objectives, latency_reference_ms=study.user_attrs.get("latency_reference_ms"),
                       latency_machine=study.user_attrs.get("latency_machine"))
    return frame


def _trial_row(trial: FrozenTrial, objectives: tuple[str, ...]) -> dict:
    """A trial's columns; trials without a genome (invalid samples) leave the genome columns empty."""
    attrs = trial.user_attrs
    genome = Genome.from_dict(attrs["genome"]) if attrs.get("genome") else None
    row = {"number": trial.number, "state": trial.state.name, "genome": genome,
           "genome_id": attrs.get("genome_id") or (genome.id if genome else None),
           **{key: attrs.get(key) for key in MEASURED},
           "is_baseline": bool(attrs.get("is_baseline", False)), "reason": attrs.get("reason") or "",
           **{key: attrs.get(key) for key in ("baseline_block", "train_seed", "fidelity", "data",
                                              "latency_measured_share", "latency_machine", "worker", "node",
                                              "host", "device", "precision")},
           **{key: value for key, value in attrs.items() if key.startswith(RUNG_ACCURACY.format(""))}}
    if trial.state == TrialState.COMPLETE and trial.values:
        row.update(zip(metrics(objectives), trial.values))  # the objectives the front is defined on
    if genome:
        row.update({field: getattr(genome, field) for field in GENOME_FIELDS})
        for index, stage in enumerate(genome.stages):
            row.update({f"s{index}_{field}": getattr(stage, field) for field in STAGE_FIELDS})
        row["arch"] = block_strings(genome)
    return row


def _pareto_flags(frame: pd.DataFrame, objectives: tuple[str, ...]) -> pd.Series:
    """Pareto over completed trials only: in-flight and failed trials have no objectives to compare."""
    columns = metrics(objectives)
    complete = (frame["state"] == "COMPLETE") & frame[columns].notna().all(axis=1)
    flags = pd.Series(False, index=frame.index)
    flags[complete] = nondominated_mask(minimise_form(frame.loc[complete, columns].to_numpy(float),
                                                      directions(objectives)))
    return flags


def _header(study: optuna.Study, frame: pd.DataFrame) -> str:
    counts = frame["state"].value_counts()
    lines = [f"# Study `{study.study_name}`", "",
             f"- objectives: {', '.join(OBJECTIVES[name].label for name in frame.attrs['objectives'])}"]
    for key in ("data", "fidelity", "halving", "sampler", "seed", "budget"):
        value = study.user_attrs.get(key)
        if value is None and key in frame:
            value = ", ".join(sorted(str(v) for v in frame[key].dropna().unique())) or None
        if value is not None or key in ("data", "fidelity"):
            lines.append(f"- {key}: {describe_setting(value)}")
    lines.append(f"- trials: {len(frame)} — {counts.get('COMPLETE', 0)} complete, {counts.get('FAIL', 0)} failed, "
                 f"{sum(counts.get(s, 0) for s in IN_FLIGHT)} running or waiting, {counts.get('PRUNED', 0)} pruned "
                 "(stopped at a rung)")
    near_chance = _near_chance_line(frame)
    if near_chance:
        lines.append(near_chance)
    return "\n".join(lines)


def _near_chance_line(frame: pd.DataFrame) -> str | None:
    """How many searched genomes the fidelity did not train: among them, the search's ranking is noise."""
    searched = frame[(frame["state"] == "COMPLETE") & ~frame["is_baseline"].astype(bool)]
    reference = hypervolume_reference(searched)
    if reference is None:
        return None
    chance = reference[0]
    near = _count_near_chance(searched["accuracy"], chance)
    return (f"- near chance: {near} of {len(searched)} completed search trials scored within {NEAR_CHANCE_POINTS:g} "
            f"top-1 points of chance ({chance:g} %): the fidelity did not train them, so their order says nothing")


def _count_near_chance(accuracies: pd.Series, chance: float) -> int:
    """How many accuracies sit within NEAR_CHANCE_POINTS of chance: the one rule for "near chance"."""
    return int((accuracies <= chance + NEAR_CHANCE_POINTS).sum())


def baseline_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per baseline block, over its completed trials (one training seed each): n, mean, sd, MACs."""
    complete = frame[(frame["state"] == "COMPLETE") & frame["is_baseline"]]
    rows = [{"baseline_block": block, "n": len(group), "mean": group["accuracy"].mean(),
             "sd": group["accuracy"].std(ddof=1) if len(group) > 1 else float("nan"),
             "macs": group["macs"].iloc[0], "latency_ms": group["latency_ms"].iloc[0],
             "seeds": ", ".join(str(s) for s in group["train_seed"].dropna())}
            for block, group in complete.groupby("baseline_block", sort=False)]
    return pd.DataFrame(rows, columns=["baseline_block", "n", "mean", "sd", "macs", "latency_ms", "seeds"])


def _baseline_table(frame: pd.DataFrame) -> str:
    stats = baseline_statistics(frame)
    if stats.empty:
        return "No completed baseline trial yet."
    rows = [[baseline_label(r.baseline_block), _mean_sd(r.mean, r.sd), str(r.n), r.seeds, millions(r.macs)]
            for r in stats.itertuples()]
    return markdown_table(["baseline", "top-1 % (mean ± SD over training seeds)", "n", "training seeds", "MACs"],
                          rows)


def _baseline_lines(frame: pd.DataFrame, confirmed: pd.DataFrame | None) -> str:
    stats = baseline_statistics(frame)
    if stats.empty:
        return "No completed baseline trial, so no comparison with the baseline."
    if confirmed is not None and confirmed["is_baseline"].any():
        return _against_confirmed(confirmed)
    complete = frame[(frame["state"] == "COMPLETE") & ~frame["is_baseline"]]
    return "\n\n".join(_against(base, complete, frame.attrs["objectives"][1:]) for base in stats.itertuples())



def _against(base, complete: pd.DataFrame, costs: tuple[str, ...]) -> str:
    """Per cost objective: the best search trial at no more cost than this baseline, and the cheapest within a
    point of its mean.

    Search trials ran one training seed each: their lead over the baseline is read against the baseline's
    own spread over seeds, and says so, until ``search.confirm`` re-trains them. The baseline's spread is a
    floor more than a measure: over the fidelity study's 20 genomes the proxy's seed SD pooled to more than
    twice the baseline's (README, 2026-12-06).
    """
    spread = (f"the baseline's SD over {base.n} training seeds is {base.sd:.2f} points, and other genomes' seeds "
              "can spread wider" if base.n > 1 else
              "the baseline ran one seed, so its spread is unknown")
    caveat = f"single seed, unconfirmed ({spread}; run `python -m search.confirm` to re-train the front)"
    latency = "" if pd.isna(base.latency_ms) else f", {base.latency_ms:.3f} ms"
    lines = [f"{baseline_label(base.baseline_block)}: {_mean_sd(base.mean, base.sd)} % top-1 over {base.n} "
             f"seed(s), {millions(base.macs)} MACs{latency}"]
    for cost in costs:
        column, word = OBJECTIVES[cost].metric, COST_WORDS[cost]
        base_cost = getattr(base, column)
        cheaper = complete[complete[column] <= base_cost].sort_values(["accuracy", column, "number"],
                                                                       ascending=[False, True, True])
        lines.append(_first(cheaper, f"- no search trial at <= baseline {word} has completed", lambda best: (
            f"- best trial at <= baseline {word}: {_trial(best)}, {best.accuracy - base.mean:+.2f} points top-1 vs "
            f"the baseline's mean, {_percent_change(getattr(best, column), base_cost)} {word} — {caveat}")))
        close = complete[(complete["accuracy"] >= base.mean - WITHIN_POINTS) & (complete[column] < base_cost)
                         ].sort_values([column, "accuracy", "number"], ascending=[True, False, True])
        cheapest_in = f"cheapest trial{' in ' + word if len(costs) > 1 else ''}"
        lines.append(_first(close, f"- no search trial within {WITHIN_POINTS:g} point of the baseline's mean is "
                                   f"cheaper than the baseline in {word}",
                            lambda cheapest: (
            f"- {cheapest_in} within {WITHIN_POINTS:g} point of the baseline's mean: {_trial(cheapest)}, "
            f"{cheapest.accuracy - base.mean:+.2f} points top-1, "
            f"{_percent_change(getattr(cheapest, column), base_cost)} {word} vs the baseline — {caveat}")))
    return "\n".join(lines)


def _first(rows: pd.DataFrame, missing: str, line: Callable[[Any], str]) -> str:
    """``line`` of the first row, or ``missing`` when there is none."""
    return missing if rows.empty else line(next(rows.itertuples()))


def _against_confirmed(confirmed: pd.DataFrame) -> str:
    """The same two headlines from the confirmation: means over fresh seeds, paired with the baseline's."""
    base = confirmed[confirmed["is_baseline"]].iloc[0]
    genomes = confirmed[~confirmed["is_baseline"] & confirmed["n"].gt(0)]
    lines = [f"From the confirmation ({int(base['n'])} fresh training seeds shared by every genome): the baseline "
             f"scores {_mean_sd(base['mean'], base['sd'])} % top-1 at {millions(base['macs'])} MACs"]
    cheaper = genomes[genomes["macs"] <= base["macs"]].sort_values(["mean", "macs"], ascending=[False, True])
    if cheaper.empty:
        lines.append("- no confirmed genome at <= baseline MACs")
    else:
        best = cheaper.iloc[0]
        lines.append(f"- best confirmed genome at <= baseline MACs: {_confirmed(best)}, "
                     f"{_percent_change(best['macs'], base['macs'])} MACs")
    close = genomes[(genomes["mean"] >= base["mean"] - WITHIN_POINTS) & (genomes["macs"] < base["macs"])
                    ].sort_values(["macs", "mean"], ascending=[True, False])
    if close.empty:
        lines.append(f"- no confirmed genome within {WITHIN_POINTS:g} point of the baseline's mean has fewer MACs "
                     "than the baseline")
    else:
        cheapest = close.iloc[0]
        lines.append(f"- cheapest confirmed genome within {WITHIN_POINTS:g} point of the baseline's mean: "
                     f"{_confirmed(cheapest)}, {_percent_change(cheapest['macs'], base['macs'])} MACs vs the baseline")
    return "\n".join(lines)


def confirmation_section(confirmed: pd.DataFrame) -> str:
    """The confirmed table: per genome its mean over the fresh seeds and its paired change vs the baseline."""
    rows = [[f"`{r.genome_id}`", f"`{r.arch}`", millions(r.macs), _mean_sd(r.mean, r.sd), str(r.n),
             "baseline" if r.is_baseline else _interval(r.delta, r.ci_low, r.ci_high),
             "" if r.is_baseline or pd.isna(r.p_holm) else f"{r.p_holm:.3f}", "" if r.is_baseline else r.verdict]
            for r in confirmed.sort_values("macs").itertuples()]
    first = confirmed.iloc[0]
    return "\n".join([
        f"Every Pareto genome and the baseline re-trained with the same {int(confirmed['n'].max())} fresh training "
        f"seeds ({first['seeds']}) at fidelity {first['fidelity']}. Change: mean over the seeds of (genome top-1 - "
        f"baseline top-1) with its {CONFIDENCE:.0%} interval; test: {TEST}. Verdict, against the "
        f"baseline: {VERDICT_RULE}.", "",
        markdown_table(["genome_id", "arch", "MACs", "top-1 % (mean ± SD)", "n", "change vs baseline [95% CI]",
                        "p (Holm)", "verdict"], rows)])


def _confirmed(row) -> str:
    return (f"`{row['genome_id']}` ({_mean_sd(row['mean'], row['sd'])} % top-1 over {int(row['n'])} seeds, "
            f"{millions(row['macs'])} MACs), {_interval(row['delta'], row['ci_low'], row['ci_high'])} points vs "
            f"the baseline: {row['verdict']}")


def _mean_sd(mean: float, sd: float) -> str:
    return f"{mean:.2f}" if pd.isna(sd) else f"{mean:.2f} ± {sd:.2f}"


def _interval(delta: float, low: float, high: float) -> str:
    return f"{delta:+.2f} [n/a]" if pd.isna(low) else f"{delta:+.2f} [{low:+.2f}, {high:+.2f}]"


def hypervolume_reference(frame: pd.DataFrame) -> tuple[float, dict[str, float]] | None:
    """(chance accuracy, reference per cost objective) of the study's task, or None before any trial has a
    genome. The objectives and the latency reference come from ``frame.attrs`` (see ``trials_frame``)."""
    with_genome = frame[frame["num_classes"].notna()]
    if with_genome.empty:
        return None
    classes = int(with_genome["num_classes"].iloc[0])
    costs = {"macs": float(REFERENCE_MACS_FACTOR * cost_of(baseline().replace(num_classes=classes)).total_macs)}
    if "latency" in frame.attrs["objectives"]:
        costs["latency"] = float(frame.attrs.get("latency_reference_ms") or np.nan)
    return 100.0 / classes, costs


def front_hypervolume(points: pd.DataFrame, reference: tuple[float, dict[str, float]]) -> float:
    """Hypervolume of rows of the study's objectives in this module's units (see the module docstring)."""
    objectives = points.attrs["objectives"]
    values = points[metrics(objectives)].to_numpy(float)
    for index, cost in enumerate(objectives[1:], start=1):
        values[:, index] /= reference[1][cost]
    values = values[np.isfinite(values).all(axis=1)]
    return dominated_hypervolume(minimise_form(values, directions(objectives)),
                                 (-reference[0],) + (1.0,) * (len(objectives) - 1))


def hypervolume_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The front's hypervolume once each trial (in trial order) had finished: the search's progress."""
    reference = hypervolume_reference(frame)
    ordered = frame.sort_values("number")
    complete = (ordered["state"] == "COMPLETE") & ordered[metrics(frame.attrs["objectives"])].notna().all(axis=1)
    values = [front_hypervolume(ordered[complete & (ordered["number"] <= n)], reference) if reference else 0.0
              for n in ordered["number"]]
    return pd.DataFrame({"number": ordered["number"].to_numpy(), "hypervolume": values})


def _hypervolume_line(frame: pd.DataFrame) -> str:
    complete = frame[frame["state"] == "COMPLETE"]
    reference = hypervolume_reference(complete)
    if reference is None:
        return "No completed trials, so no hypervolume."
    chance, costs = reference
    objectives = frame.attrs["objectives"]
    value = front_hypervolume(complete, reference)
    units = " x ".join(f"fraction of the reference {COST_WORDS[cost]}" for cost in objectives[1:])
    described = []
    if "macs" in objectives:
        described.append(f"MACs = {REFERENCE_MACS_FACTOR} x the standard Table 1 baseline's MACs at "
                         f"{round(100 / chance)} classes = {int(costs['macs']):,} MACs")
    if "latency" in objectives:
        machine = frame.attrs.get("latency_machine") or {}
        described.append(f"latency = {REFERENCE_MACS_FACTOR} x the standard baseline's predicted latency = "
                         f"{costs['latency']:.3f} ms (on {machine.get('processor', 'an unrecorded machine')}, "
                         f"{machine.get('isa', '?')}, {machine.get('threads', '?')} thread(s), batch "
                         f"{machine.get('batch', '?')}, {machine.get('clock', 'wall')} clock)")
    return (f"Hypervolume of the front: **{value:.3f}** (top-1 points above chance x {units}; at most "
            f"{100 - chance:g}). `hypervolume.html` shows it after each trial.\n\n"
            f"Reference point: chance accuracy {chance:g} % top-1 and {'; '.join(described)}; trials at or "
            "below chance or above those costs add nothing. Each trial is one training seed: compare two studies' "
            "hypervolumes only over several sampler seeds.")


def _failure_table(frame: pd.DataFrame) -> str:
    failed = frame[frame["state"] == "FAIL"]
    if failed.empty:
        return "None."
    rows = [[str(r.number), f"`{r.genome_id}`" if isinstance(r.genome_id, str) else "",
             millions(r.macs), _escape(r.reason) or "no reason recorded"] for r in failed.itertuples()]
    return markdown_table(["trial", "genome_id", "MACs", "reason"], rows)


def _trial(row) -> str:
    latency = "" if pd.isna(row.latency_ms) else f", {row.latency_ms:.3f} ms"
    return f"trial {row.number} (`{row.genome_id}`, {row.accuracy:.2f} % top-1, {millions(row.macs)} MACs{latency})"


def _percent_change(value: float, reference: float) -> str:
    return f"{100 * (value / reference - 1):+.1f} %"


def _escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
