"""Re-training a study's Pareto genomes and its baseline with fresh training seeds, paired across genomes.

A search trains each genome once, with one seed, and its front is then partly the luckiest draws. The
confirmation trains every front genome and the baseline again with the same K seeds, which no search
trial used, and compares each genome with the baseline seed by seed. Runs are Ray Tune trials saved as
files the moment they end (``search.tune.train_runs``), so a stopped confirmation resumes where it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from evaluators.presets import Fidelity, run_identity
from space import Genome, atomic_write

from ..results import CONFIRMED_CSV, paired_comparison, trials_frame, verdict
from ..tune import Resources, TrialSettings, check_settings, load_runs, train_runs

SEED_OFFSET = 1_000_000
"""Confirmation seeds are SEED_OFFSET + 0..K-1: far from any search trial's seed (train seed + trial number)."""
FOLDER = "confirm"
SETTINGS_FILE = "confirm.json"
COLUMNS = ["arm", "seed", "genome_id", "macs", "params", "accuracy", "top5", "seconds", "status", "reason"]


class ConfirmationError(ValueError):
    """A study that cannot be confirmed (no completed baseline, nothing on the front), as one line."""


@dataclass(frozen=True)
class Arm:
    """A genome to re-train: one of the front's, or a baseline."""

    genome: Genome
    arch: str
    macs: int
    params: int
    is_baseline: bool
    baseline_block: str
    trials: str


@dataclass
class Confirmation:
    table: pd.DataFrame
    complete: bool
    path: Path


def confirm_front(study: optuna.Study, study_dir: Path, seeds: int, fidelity: Fidelity, resources: Resources,
                  cache_dir: str | None) -> Confirmation:
    """Train every missing (genome, seed) run, then write ``confirmed.csv`` from all runs of the current front."""
    data = study.user_attrs.get("data")
    if not data:
        raise ConfirmationError(f"study '{study.study_name}' records no data set; run search.run on it first")
    arms, reference = _arms(study)
    check_fresh_seeds(study.study_name, [t.user_attrs.get("train_seed") for t in study.get_trials(deepcopy=False)],
                      seeds)
    folder = Path(study_dir) / FOLDER
    check_settings(folder, SETTINGS_FILE, {"data": data, "fidelity": run_identity(fidelity)},
                   "confirm at the fidelity used before, or remove that folder to start over")
    runs_dir = folder / "runs"
    wanted = [(arm, SEED_OFFSET + k) for arm in arms for k in range(seeds)]
    done = load_runs(runs_dir)
    pending = [(arm, seed) for arm, seed in wanted if (arm.genome.id, seed) not in done]
    print(f"confirmation of '{study.study_name}': {len(arms) - 1} front genome(s) and the baseline x {seeds} seeds; "
          f"{len(wanted) - len(pending)} of {len(wanted)} runs already done, training {len(pending)}",
          file=sys.stderr, flush=True)
    if pending:
        runs = [{"arm": arm.genome.id, "seed": seed, "genome_id": arm.genome.id, "macs": arm.macs,
                 "params": arm.params, "genome": arm.genome.to_dict()} for arm, seed in pending]
        train_runs(runs, runs_dir, COLUMNS, TrialSettings(data=data, fidelity=fidelity, cache_dir=cache_dir),
                   resources, label=f"{study.study_name}-confirm", total=len(wanted))
    done = load_runs(runs_dir)
    records = [done[(arm.genome.id, seed)] for arm, seed in wanted if (arm.genome.id, seed) in done]
    table = confirmed_table(pd.DataFrame(records, columns=COLUMNS), arms, reference, fidelity, seeds)
    path = Path(study_dir) / CONFIRMED_CSV
    atomic_write(path, table.to_csv(index=False))
    return Confirmation(table=table, complete=len(records) == len(wanted), path=path)


def check_fresh_seeds(study_name: str, used: Iterable[int | None], seeds: int) -> None:
    """Refuse confirmation seeds a search trial trained with: that genome's "confirmation" would repeat its
    search run, the very draw whose luck the confirmation is there to average out."""
    clash = sorted(set(range(SEED_OFFSET, SEED_OFFSET + seeds)) & {int(seed) for seed in used if seed is not None})
    if clash:
        raise ConfirmationError(
            f"--seeds: seed {clash[0]} of the confirmation's {SEED_OFFSET}..{SEED_OFFSET + seeds - 1} trained a "
            f"search trial of study '{study_name}' (its --train-seed); confirmation needs seeds no trial used")


def confirmed_table(runs: pd.DataFrame, arms: list[Arm], reference: str, fidelity: Fidelity,
                    seeds: int) -> pd.DataFrame:
    """Per arm: mean, SD and n over the seeds, and the paired change vs the reference baseline."""
    ok = runs[runs["status"] == "ok"]
    every_arm = pd.DataFrame({"arm": [arm.genome.id for arm in arms], "seed": -1, "accuracy": float("nan")})
    compared = paired_comparison(pd.concat([every_arm, ok[["arm", "seed", "accuracy"]]], ignore_index=True),
                                 reference).set_index("arm")
    rows = []
    for arm in arms:
        row = compared.loc[arm.genome.id]
        rows.append({"genome_id": arm.genome.id, "arch": arm.arch, "macs": arm.macs, "params": arm.params,
                     "is_baseline": arm.is_baseline, "baseline_block": arm.baseline_block, "trials": arm.trials,
                     "n": int(row["n"]), "mean": row["mean"], "sd": row["sd"], "n_paired": int(row["n_paired"]),
                     "delta": row["delta"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "p": row["p"],
                     "p_holm": row["p_holm"], "verdict": "" if arm.genome.id == reference else verdict(row),
                     "seeds": f"{SEED_OFFSET}..{SEED_OFFSET + seeds - 1}", "fidelity": fidelity.name})
    return pd.DataFrame(rows)


def _arms(study: optuna.Study) -> tuple[list[Arm], str]:
    """The baselines first (the standard one, when there, is the reference), then the front's genomes."""
    frame = trials_frame(study)
    complete = frame[frame["state"] == "COMPLETE"]
    genomes = {t.number: t.user_attrs.get("genome") for t in study.get_trials(deepcopy=False)}
    baselines = complete[complete["is_baseline"]].drop_duplicates("baseline_block")
    if baselines.empty:
        raise ConfirmationError(f"study '{study.study_name}' has no completed baseline trial to compare with")
    baselines = baselines.sort_values("baseline_block", key=lambda b: b != "standard", kind="stable")
    front = complete[complete["is_pareto"] & ~complete["is_baseline"]]
    arms: dict[str, Arm] = {}
    for row in [*baselines.itertuples(), *front.sort_values("macs").itertuples()]:
        genome = Genome.from_dict(genomes[row.number])
        numbers = complete.loc[complete["genome_id"] == genome.id, "number"]
        arms.setdefault(genome.id, Arm(genome, row.arch, int(row.macs), int(row.params), bool(row.is_baseline),
                                       row.baseline_block if row.is_baseline else "",
                                       " ".join(str(n) for n in numbers)))
    if len(arms) == len(baselines):
        raise ConfirmationError(f"study '{study.study_name}' has no completed search trial on its front yet")
    return list(arms.values()), next(iter(arms))
