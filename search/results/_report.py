"""Results files of a search, rebuilt from its Optuna study alone (``python -m search.report`` runs this).

It writes, in the study folder: ``trials.csv`` (one row per trial, genome flattened), ``pareto/<id>.json``
(the genome of every Pareto-optimal trial), ``pareto.html`` and ``pareto.png`` (where a browser can render it)
and ``summary.md``.

Hypervolume reference: accuracy 0 % and MACs = 2 x the MACs of the standard Table 1 baseline built for the
study's number of classes (2 x 193,898,304 at 100 classes). MACs are divided by that reference, so the
hypervolume is in (top-1 points x fraction of the reference MACs): at most 100, comparable between studies
of the same task whatever they sampled, and independent of whether the baseline trial itself finished.
Trials above the reference MACs add nothing to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from space import Genome, Stage, baseline, cost_of

from ..pareto import hypervolume, pareto_mask
from ._plots import baseline_label, pareto_figure
from ._figures import image_markdown, write_figure
from ._tables import block_strings, describe_setting, markdown_table, millions

GENOME_FIELDS = [f.name for f in dataclasses.fields(Genome) if f.name != "stages"]
STAGE_FIELDS = [f.name for f in dataclasses.fields(Stage)]
INTEGER_FIELDS = {f.name for f in (*dataclasses.fields(Genome), *dataclasses.fields(Stage)) if f.type == "int"}
"""Genome and stage fields typed ``int``: nullable integer columns, so trials.csv says 16, not 16.0."""
MEASURED = ["accuracy", "top5", "macs", "params", "seconds"]
TRAILING = ["is_baseline", "is_pareto", "reason", "baseline_block", "fidelity", "data"]
IN_FLIGHT = ("RUNNING", "WAITING")
WITHIN_POINTS = 1.0
""""Cheapest trial within this many top-1 points of the baseline" in the summary."""
REFERENCE_MACS_FACTOR = 2
"""The hypervolume's MACs reference, in multiples of the standard Table 1 baseline's MACs."""


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, any state: genome fields flattened, measurements, baseline and Pareto flags."""
    return _frame(study.get_trials(deepcopy=False))


def write_report(study: optuna.Study, out_dir: Path) -> dict[str, Path | str]:
    """Write every results file into ``out_dir``; return their paths by name.

    Keys: ``trials_csv``, ``pareto_dir``, ``pareto_html``, ``pareto_png`` and ``summary_md``. ``pareto_png``
    maps to the image's path or, where it was skipped (no browser for plotly's exporter), to the one-line
    note saying why, which summary.md then carries in the image's place.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    frame = _frame(trials)
    frame.to_csv(out_dir / "trials.csv", index=False)
    png = write_figure(pareto_figure(frame, f"{study.study_name}: top-1 accuracy vs MACs"), out_dir / "pareto.html")
    image = image_markdown(png, f"{study.study_name}: top-1 accuracy vs MACs, the Pareto front ringed")
    (out_dir / "summary.md").write_text(summary_markdown(study, frame, image))
    return {
        "trials_csv": out_dir / "trials.csv",
        "pareto_dir": write_pareto_genomes(trials, frame, out_dir / "pareto"),
        "pareto_html": out_dir / "pareto.html",
        "pareto_png": png,
        "summary_md": out_dir / "summary.md",
    }


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


def summary_markdown(study: optuna.Study, frame: pd.DataFrame, image: str) -> str:
    """The human-readable account: setup, counts, front (``image``: the figure's markdown, see
    ``image_markdown``), gains over the baseline, hypervolume, failures."""
    sections = [_header(study, frame), "## Pareto front\n\n" + image + "\n\n" + pareto_table(frame),
                "## Against the baseline\n\n" + _baseline_lines(frame),
                "## Hypervolume\n\n" + _hypervolume_line(frame), "## Failed trials\n\n" + _failure_table(frame)]
    return "\n\n".join(sections) + "\n"


def pareto_table(frame: pd.DataFrame) -> str:
    """The Pareto-optimal trials as a markdown table, cheapest first."""
    front = frame[frame["is_pareto"]].sort_values(["macs", "accuracy"], ascending=[True, False])
    if front.empty:
        return "No completed trials, so no Pareto front yet."
    rows = [[str(r.number), f"`{r.genome_id}`", f"`{r.arch}`", f"{r.accuracy:.2f}", millions(r.macs),
             millions(r.params, 2), baseline_label(r.baseline_block) if r.is_baseline else ""]
            for r in front.itertuples()]
    return markdown_table(["trial", "genome_id", "arch", "top-1 %", "MACs", "params", "baseline"], rows)


def _frame(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    rows = [_trial_row(t) for t in trials]
    stages = max((len(r["genome"].stages) for r in rows if r["genome"]), default=len(baseline().stages))
    stage_columns = {f"s{i}_{field}": field for i in range(stages) for field in STAGE_FIELDS}
    columns = ["number", "state", "genome_id", *GENOME_FIELDS, *stage_columns, "arch", *MEASURED, *TRAILING]
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "genome"} for r in rows], columns=columns)
    integers = ["macs", "params", *(f for f in GENOME_FIELDS if f in INTEGER_FIELDS),
                *(column for column, field in stage_columns.items() if field in INTEGER_FIELDS)]
    frame[integers] = frame[integers].astype("Int64")
    frame[["accuracy", "top5", "seconds"]] = frame[["accuracy", "top5", "seconds"]].astype(float)
    frame["is_baseline"] = frame["is_baseline"].astype(bool)
    frame["is_pareto"] = _pareto_flags(frame)
    return frame


def _trial_row(trial: FrozenTrial) -> dict:
    """A trial's columns; trials without a genome (invalid samples) leave the genome columns empty."""
    attrs = trial.user_attrs
    genome = Genome.from_dict(attrs["genome"]) if attrs.get("genome") else None
    row = {"number": trial.number, "state": trial.state.name, "genome": genome,
           "genome_id": attrs.get("genome_id") or (genome.id if genome else None),
           **{key: attrs.get(key) for key in MEASURED},
           "is_baseline": bool(attrs.get("is_baseline", False)), "reason": attrs.get("reason") or "",
           **{key: attrs.get(key) for key in ("baseline_block", "fidelity", "data")}}
    if trial.state == TrialState.COMPLETE and trial.values:
        row["accuracy"], row["macs"] = trial.values  # the objectives the front is defined on
    if genome:
        row.update({field: getattr(genome, field) for field in GENOME_FIELDS})
        for index, stage in enumerate(genome.stages):
            row.update({f"s{index}_{field}": getattr(stage, field) for field in STAGE_FIELDS})
        row["arch"] = block_strings(genome)
    return row


def _pareto_flags(frame: pd.DataFrame) -> pd.Series:
    """Pareto over completed trials only: in-flight and failed trials have no objectives to compare."""
    complete = (frame["state"] == "COMPLETE") & frame["accuracy"].notna() & frame["macs"].notna()
    flags = pd.Series(False, index=frame.index)
    flags[complete] = pareto_mask(frame.loc[complete, "accuracy"].to_numpy(float),
                                  frame.loc[complete, "macs"].to_numpy(float))
    return flags


def _header(study: optuna.Study, frame: pd.DataFrame) -> str:
    counts = frame["state"].value_counts()
    lines = [f"# Study `{study.study_name}`", ""]
    for key in ("data", "fidelity", "sampler", "seed", "budget"):
        value = study.user_attrs.get(key)
        if value is None and key in frame:
            value = ", ".join(sorted(str(v) for v in frame[key].dropna().unique())) or None
        if value is not None or key in ("data", "fidelity"):
            lines.append(f"- {key}: {describe_setting(value)}")
    lines.append(f"- trials: {len(frame)} — {counts.get('COMPLETE', 0)} complete, {counts.get('FAIL', 0)} failed, "
                 f"{sum(counts.get(s, 0) for s in IN_FLIGHT)} running or waiting, {counts.get('PRUNED', 0)} pruned")
    return "\n".join(lines)


def _baseline_lines(frame: pd.DataFrame) -> str:
    complete = frame[frame["state"] == "COMPLETE"]
    baselines = complete[complete["is_baseline"]]
    if baselines.empty:
        return "No completed baseline trial, so no comparison with the baseline."
    return "\n\n".join(_against(b, complete) for b in baselines.itertuples())


def _against(base, complete: pd.DataFrame) -> str:
    """Best trial at no more MACs than this baseline, and the cheapest one within a point of its accuracy."""
    cheaper = complete[complete["macs"] <= base.macs].sort_values(["accuracy", "macs", "number"],
                                                                   ascending=[False, True, True])
    best = next(cheaper.itertuples())
    close = complete[complete["accuracy"] >= base.accuracy - WITHIN_POINTS].sort_values(
        ["macs", "accuracy", "number"], ascending=[True, False, True])
    cheapest = next(close.itertuples())
    return "\n".join([
        f"{baseline_label(base.baseline_block)}: {_trial(base)}",
        f"- best trial at <= baseline MACs: {_trial(best)}, {best.accuracy - base.accuracy:+.2f} points top-1, "
        f"{_percent_change(best.macs, base.macs)} MACs",
        f"- cheapest trial within {WITHIN_POINTS:g} point of the baseline's accuracy: {_trial(cheapest)}, "
        f"{cheapest.accuracy - base.accuracy:+.2f} points top-1, saving "
        f"{100 * (1 - cheapest.macs / base.macs):.1f} % of the baseline's MACs",
    ])


def _hypervolume_line(frame: pd.DataFrame) -> str:
    complete = frame[frame["state"] == "COMPLETE"]
    with_genome = complete[complete["num_classes"].notna()]
    if with_genome.empty:
        return "No completed trials, so no hypervolume."
    classes = int(with_genome["num_classes"].iloc[0])
    reference_macs = REFERENCE_MACS_FACTOR * cost_of(baseline().replace(num_classes=classes)).total_macs
    points = complete[["accuracy", "macs"]].to_numpy(float)
    points[:, 1] /= reference_macs
    value = hypervolume(points, (0.0, 1.0))
    return (f"Hypervolume of the front: **{value:.3f}** (top-1 points x fraction of the reference MACs; "
            f"at most 100).\n\nReference point: top-1 0 % and MACs = {REFERENCE_MACS_FACTOR} x the standard "
            f"Table 1 baseline's MACs at {classes} classes = {reference_macs:,} MACs; "
            f"trials above it add nothing.")


def _failure_table(frame: pd.DataFrame) -> str:
    failed = frame[frame["state"] == "FAIL"]
    if failed.empty:
        return "None."
    rows = [[str(r.number), f"`{r.genome_id}`" if isinstance(r.genome_id, str) else "",
             millions(r.macs), _escape(r.reason) or "no reason recorded"] for r in failed.itertuples()]
    return markdown_table(["trial", "genome_id", "MACs", "reason"], rows)


def _trial(row) -> str:
    return f"trial {row.number} (`{row.genome_id}`, {row.accuracy:.2f} % top-1, {millions(row.macs)} MACs)"


def _percent_change(value: float, reference: float) -> str:
    return f"{100 * (value / reference - 1):+.1f} %"


def _escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
