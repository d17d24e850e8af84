"""``python -m search.ablate --factor kernel``: sweep one factor around the baseline, K seeds per arm.

The papers compare the three block types once each (Table 3) and list the other variations as future work
without running them. An ablation trains the baseline and its one-factor variants (``search.ablation_levels``)
as Ray Tune trials with the search's trainer and fidelity presets, several seeds each, and reports every
arm's change against the baseline arm with a 95 % confidence interval, so a difference can be told from
seed noise.

Each finished (arm, seed) run is saved at once as ``<results-dir>/<name>/runs/<arm>-seed<k>.json``; running
the same command again trains only the runs without a file (failed runs included: delete a file to retry
it), and ``--seeds`` or ``--levels`` can grow an ablation. From those files it writes ``ablation.csv``,
``ablation.md`` and ``ablation.html`` in the same folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from ray import tune
from scipy import stats

from evaluators.data import default_cache_dir
from evaluators.presets import Fidelity, add_fidelity_arguments, fidelity_from_args

from .ablation_levels import FACTORS, Arm, Factor, get_factor, make_arms, parse_levels
from .progress import StudyProgress
from .ray_session import (add_cluster_arguments, check_cluster_arguments, ensure_ray, finish,
                          load_data_or_exit)
from .tables import describe_setting, markdown_table, millions, write_png
from .trial import TrialSettings, run_trial

CONFIDENCE = 0.95
SETTINGS_FILE = "ablation.json"
"""What the runs of one ablation folder share (factor, data, fidelity); results of other settings never mix."""


@dataclass(frozen=True)
class AblationConfig:
    name: str
    out_dir: Path
    factor: Factor
    arms: list[Arm]
    seeds: int
    data: str
    num_classes: int
    fidelity: Fidelity
    address: str | None
    cpus_per_trial: float
    gpus_per_trial: float
    cache_dir: str | None


@dataclass
class Outcome:
    markdown: str
    interrupted: bool
    paths: dict[str, Path | str] = field(default_factory=dict)


def run_columns(factor: str) -> list[str]:
    """Columns of ``ablation.csv`` and keys of every run file; the level column is named after the factor."""
    return ["arm", "seed", factor, "genome_id", "macs", "params", "accuracy", "top5", "seconds", "status", "reason"]


# --------------------------------------------------------------------------------------------- running


def run_ablation(config: AblationConfig) -> Outcome:
    """Train every (arm, seed) run that has no result file yet, then rebuild the result files from all of them."""
    check_settings(config)
    runs_dir = config.out_dir / "runs"
    wanted = [(arm, seed) for arm in config.arms for seed in range(config.seeds)]
    done = load_runs(runs_dir)
    pending = [(arm, seed) for arm, seed in wanted if (arm.name, seed) not in done]
    print(f"ablation '{config.name}': {len(wanted) - len(pending)} of {len(wanted)} runs already done, "
          f"training {len(pending)}", file=sys.stderr, flush=True)
    if pending:
        _train(config, pending, total=len(wanted))
    done = load_runs(runs_dir)
    records = [done[(arm.name, seed)] for arm, seed in wanted if (arm.name, seed) in done]
    frame = pd.DataFrame(records, columns=run_columns(config.factor.name))
    paths = write_outputs(config, frame)
    return Outcome(markdown=Path(paths["ablation_md"]).read_text(), interrupted=len(records) < len(wanted),
                   paths=paths)


def check_settings(config: AblationConfig) -> None:
    """Refuse to add runs of another factor, data set or fidelity to an existing ablation folder."""
    path = config.out_dir / SETTINGS_FILE
    current = {"factor": config.factor.name, "data": config.data, "fidelity": dataclasses.asdict(config.fidelity)}
    if path.exists():
        recorded = json.loads(path.read_text())
        for key, value in current.items():
            if recorded.get(key) != value:
                raise ValueError(f"ablation '{config.name}' in {config.out_dir} was run with {key} "
                                 f"{recorded.get(key)!r}, not {value!r}; use another --name")
        return
    config.out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n")


def run_seeded_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """``search.trial.run_trial`` with this run's seed: TrialSettings carries one seed for a whole study."""
    run_trial(config["run"], dataclasses.replace(settings, seed=config["run"]["seed"]))


def _train(config: AblationConfig, pending: list[tuple[Arm, int]], total: int) -> None:
    """One Ray Tune trial per pending (arm, seed) run; a Ctrl-C stops it with the finished runs saved."""
    ensure_ray(config.address)
    # The seed here is a placeholder: run_seeded_trial sets each run's own.
    settings = TrialSettings(data=config.data, fidelity=config.fidelity, seed=0, cache_dir=config.cache_dir)
    trainable = tune.with_resources(tune.with_parameters(run_seeded_trial, settings=settings),
                                    {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial})
    runs = [{"arm": arm.name, "seed": seed, config.factor.name: arm.level, "genome_id": arm.genome.id,
             "macs": arm.macs, "params": arm.params, "genome": arm.genome.to_dict()} for arm, seed in pending]
    recorder = RunRecorder(config.out_dir / "runs", config.factor.name, total=total,
                           already_done=total - len(pending))
    # Reusing trial workers: a fresh one per run spends seconds importing torch, longer than a proxy run trains.
    tuner = tune.Tuner(
        trainable, param_space={"run": tune.grid_search(runs)}, tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name=f"{config.name}-{os.getpid()}", storage_path=str(config.out_dir / "ray"),
                                  verbose=0, callbacks=[recorder], log_to_file=True),
    )
    try:
        tuner.fit()
    except KeyboardInterrupt:
        pass  # the runs finished so far are saved; the caller reports the rest as interrupted


class RunRecorder(StudyProgress):
    """Saves each finished run the moment Ray Tune reports it, then prints it and the progress line.

    Saving from the driver as each trial ends (not at the end of the sweep) is what makes an interrupted
    ablation resumable without training a finished run again.
    """

    def __init__(self, runs_dir: Path, factor: str, total: int, already_done: int):
        super().__init__(total=total, already_done=already_done)
        self.runs_dir = runs_dir
        self.columns = run_columns(factor)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, trial.last_result or {})

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        lines = [line for line in (trial.get_error() or "").splitlines() if line.strip()]
        reason = f"trial raised {lines[-1].strip()}" if lines else "trial raised (see its Ray log)"
        self._record(trial, {"status": "failed", "reason": reason})

    def _record(self, trial: Any, result: dict[str, Any]) -> None:
        record = run_record(trial.config["run"], result, self.columns)
        save_run(self.runs_dir, record)
        if record["status"] == "ok":
            self.points.append((record["accuracy"], record["macs"]))
            note = (f"{record['arm']} seed {record['seed']}: {record['accuracy']:.2f}% top-1 at "
                    f"{record['macs'] / 1e6:.1f}M MACs ({record['seconds']:.0f}s)")
        else:
            self.failed += 1
            note = f"{record['arm']} seed {record['seed']} failed: {record['reason']}"
        self.finish(trial, note)


def run_record(run: dict[str, Any], result: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """One run's row: identity and analytic cost from the trial's config, measurements from its last report.

    Only a final ``status: ok`` report counts as a result; anything else (diverged, raised, or a trial that
    ended after a per-epoch report) is a failure whose accuracy stays out of the statistics.
    """
    ok = result.get("status") == "ok"
    measured = {"accuracy": result.get("accuracy") if ok else None, "top5": result.get("top5") if ok else None,
                "seconds": result.get("seconds"), "status": "ok" if ok else "failed",
                "reason": "" if ok else result.get("reason") or "the trial ended without a final result"}
    return {column: measured[column] if column in measured else run[column] for column in columns}


def run_path(runs_dir: Path, arm: str, seed: int) -> Path:
    return runs_dir / f"{arm}-seed{seed}.json"


def save_run(runs_dir: Path, record: dict[str, Any]) -> Path:
    """Write atomically (temporary file, then rename), so a killed run never leaves a half-written result."""
    path = run_path(runs_dir, record["arm"], record["seed"])
    runs_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)
    return path


def load_runs(runs_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every saved run by (arm, seed)."""
    records = (json.loads(path.read_text()) for path in sorted(runs_dir.glob("*.json")))
    return {(record["arm"], record["seed"]): record for record in records}


# --------------------------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------------------------- outputs


def write_outputs(config: AblationConfig, frame: pd.DataFrame) -> dict[str, Path | str]:
    """``ablation.csv``, ``ablation.md``, ``ablation.html`` and, when plotly can export images, ``ablation.png``."""
    out = config.out_dir
    frame.to_csv(out / "ablation.csv", index=False)
    summary = arm_statistics(frame, config.arms)
    (out / "ablation.md").write_text(ablation_markdown(config, frame, summary))
    figure = ablation_figure(summary, f"{config.name}: top-1 accuracy vs MACs by {config.factor.name}")
    figure.write_html(out / "ablation.html", include_plotlyjs=True)
    return {"ablation_csv": out / "ablation.csv", "ablation_md": out / "ablation.md",
            "ablation_html": out / "ablation.html", "ablation_png": write_png(figure, out / "ablation.png")}


def ablation_markdown(config: AblationConfig, frame: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Table 3 extended: one row per arm, with the change against the baseline arm and its interval."""
    factor = config.factor
    base = summary[summary["is_baseline"]].iloc[0]
    failed = frame[frame["status"] != "ok"]
    lines = [
        f"# Ablation `{config.name}`: {factor.name}", "",
        f"- factor: {factor.name} — {factor.description}; every other setting is the "
        f"{factor.base_block} Table 1 baseline's",
        f"- baseline arm: {base['arm']}",
        f"- data: {config.data} ({config.num_classes} classes)",
        f"- fidelity: {config.fidelity.name} ({describe_setting(dataclasses.asdict(config.fidelity))})",
        f"- seeds: {config.seeds} per arm (0..{config.seeds - 1}); runs: {int((frame['status'] == 'ok').sum())} ok, "
        f"{len(failed)} failed (left out of the statistics)",
        f"- change: mean top-1 of the arm minus that of the baseline arm, in points, with its "
        f"{CONFIDENCE:.0%} Welch t-interval (scipy.stats.ttest_ind, unequal variances); n/a below 2 runs in an arm",
    ]
    if config.seeds == 1:
        lines.append("- With one seed per arm there is no spread: no standard deviation and no confidence interval "
                     "can be given, so a change may be seed noise. Run with --seeds 2 or more.")
    return "\n".join([*lines, "", arms_table(summary, factor.name), "", "## Failed runs", "",
                      _failures(failed)]) + "\n"


def arms_table(summary: pd.DataFrame, factor: str) -> str:
    rows = [[f"**{r.arm}** (baseline)" if r.is_baseline else r.arm, r.label, millions(r.macs, 2),
             millions(r.params, 2), _accuracy(r), str(r.n), _change(r), "" if r.n == 0 else f"{r.seconds:.1f}"]
            for r in summary.itertuples()]
    return markdown_table(["arm", factor, "MACs", "params", "top-1 % (mean ± std)", "n",
                            f"change vs baseline [{CONFIDENCE:.0%} CI]", "train s (mean)"], rows)


def _accuracy(row: Any) -> str:
    if row.n == 0:
        return "no successful run"
    return f"{row.mean:.2f}" if row.n == 1 else f"{row.mean:.2f} ± {row.std:.2f}"


def _change(row: Any) -> str:
    if row.is_baseline:
        return "baseline"
    if math.isnan(row.delta):
        return "n/a"
    interval = "n/a" if math.isnan(row.ci_low) else f"{row.ci_low:+.2f}, {row.ci_high:+.2f}"
    return f"{row.delta:+.2f} [{interval}]"


def _failures(failed: pd.DataFrame) -> str:
    if failed.empty:
        return "None."
    return markdown_table(["arm", "seed", "reason"],
                           [[r.arm, str(r.seed), " ".join(str(r.reason).split()).replace("|", "\\|")]
                            for r in failed.itertuples()])


def ablation_figure(summary: pd.DataFrame, title: str) -> go.Figure:
    """Mean top-1 vs MACs, one point per arm labelled with its level, error bars one std; the baseline a star."""
    measured = summary[summary["n"] > 0]
    figure = go.Figure()
    for is_baseline, name, marker in ((False, "arm", dict(size=10, color="#1f77b4")),
                                      (True, "baseline arm", dict(size=16, symbol="star", color="#2ca02c",
                                                                  line=dict(width=1, color="black")))):
        rows = measured[measured["is_baseline"] == is_baseline]
        figure.add_trace(go.Scatter(
            x=rows["macs"] / 1e6, y=rows["mean"], mode="markers+text", name=name, marker=marker,
            text=rows["label"], textposition="top center",
            error_y=dict(type="data", array=rows["std"].fillna(0.0), visible=True),
            customdata=np.stack([rows["arm"], rows["n"], rows["params"] / 1e6], axis=-1) if len(rows) else None,
            hovertemplate="%{customdata[0]}<br>top-1 %{y:.2f} % (n=%{customdata[1]})<br>MACs %{x:.2f}M<br>"
                          "params %{customdata[2]:.2f}M<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="MACs (millions)", yaxis_title="top-1 accuracy (%, mean ± std)",
                         template="plotly_white", hovermode="closest")
    return figure


# --------------------------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.ablate", description=__doc__.splitlines()[0])
    p.add_argument("--factor", help=f"the factor to sweep: {', '.join(FACTORS)}")
    p.add_argument("--levels", help="comma-separated levels (default: the factor's, see --show-levels); write "
                                    "negative ones as --levels=-1,0,2; the baseline level is always included")
    p.add_argument("--show-levels", action="store_true",
                   help="print the arms with genome ids and analytic MACs and exit (at 100 classes, or at the "
                        "classes of --data when given)")
    p.add_argument("--seeds", type=int, default=1, help="runs per arm, seeds 0..K-1 (default 1)")
    p.add_argument("--data", default=None, help="synthetic[:k=v,...] (default synthetic), imagefolder:PATH, "
                                                "cifar100[:PATH]")
    p.add_argument("--name", default=None, help="names the results folder (default ablation-<factor>)")
    add_cluster_arguments(p)
    add_fidelity_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        factor = get_factor(args.factor)
        levels = parse_levels(factor, args.levels)
        arms = make_arms(factor, levels)  # every level checked against the genome's rules before anything runs
        fidelity = fidelity_from_args(args)
        if args.seeds < 1:
            raise ValueError(f"--seeds: must be >= 1, got {args.seeds}")
        check_cluster_arguments(args)
    except ValueError as error:
        p.exit(2, f"error: {error}\n")
    if args.show_fidelity:
        print(fidelity.describe())
        return 0
    if args.show_levels and not args.data:
        print(show_levels(factor, arms, "100 classes as in Table 1 (pass --data for the arms a run on it trains)"))
        return 0
    data = load_data_or_exit(p, args.data or "synthetic")
    arms = make_arms(factor, levels, num_classes=data.num_classes)
    if args.show_levels:
        print(show_levels(factor, arms, f"{data.num_classes} classes, as a run on {args.data} trains them"))
        return 0
    name = args.name or f"ablation-{factor.name}"
    config = AblationConfig(
        name=name, out_dir=Path(args.results_dir).resolve() / name, factor=factor, arms=arms, seeds=args.seeds,
        data=args.data or "synthetic", num_classes=data.num_classes, fidelity=fidelity, address=args.address,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        cache_dir=str(default_cache_dir().resolve()),
    )
    try:
        outcome = run_ablation(config)
    except ValueError as error:
        p.exit(2, f"error: {error}\n")
    print(outcome.markdown)
    return finish(outcome.paths, outcome.interrupted, "train the missing runs")


def show_levels(factor: Factor, arms: list[Arm], classes_note: str) -> str:
    """The arms an ablation would train, with the ids and MACs its results will carry."""
    rows = [[f"**{arm.name}** (baseline)" if arm.is_baseline else arm.name, arm.label, f"`{arm.genome.id}`",
             f"{arm.macs:,}", f"{arm.params:,}"] for arm in arms]
    return "\n".join([f"factor {factor.name}: {factor.description}",
                      f"base network: the {factor.base_block} Table 1 baseline at {classes_note}", "",
                      markdown_table(["arm", factor.name, "genome_id", "MACs", "params"], rows)])


if __name__ == "__main__":
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    sys.exit(main())
