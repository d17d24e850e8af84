"""Training an ablation's pending runs as Ray Tune trials, then rebuilding its result files from all runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from evaluators.presets import run_identity

from .._latency import measured_latencies
from ..tune import TrialSettings, check_settings, load_runs, train_runs
from ._config import AblationConfig, Outcome
from ._report import FEW_SEEDS, write_outputs

SETTINGS_FILE = "ablation.json"
"""What the runs of one ablation folder share (factor, data, fidelity); results of other settings never mix."""


def run_columns(factor: str) -> list[str]:
    """Columns of ``ablation.csv`` and keys of every run file; the level column is named after the factor."""
    return ["arm", "seed", factor, "genome_id", "macs", "params", "accuracy", "top5", "seconds", "status", "reason"]


def run_ablation(config: AblationConfig) -> Outcome:
    """Train every (arm, seed) run that has no result file yet, then rebuild the result files from all of them."""
    check_settings(config.out_dir, SETTINGS_FILE,
                   {"factor": config.factor.name, "data": config.data,
                    "fidelity": run_identity(config.fidelity)},
                   f"ablation '{config.name}' was run with other settings: use another --name")
    if config.seeds < FEW_SEEDS:
        print(f"warning: --seeds {config.seeds}: with fewer than {FEW_SEEDS} seeds per arm the intervals are too "
              "wide to tell most changes from seed noise", file=sys.stderr, flush=True)
    runs_dir = config.out_dir / "runs"
    wanted = [(arm, seed) for arm in config.arms for seed in range(config.seeds)]
    done = load_runs(runs_dir)
    pending = [(arm, seed) for arm, seed in wanted if (arm.name, seed) not in done]
    latencies, machine = {}, None
    if config.latency:
        values, machine = measured_latencies([arm.genome for arm in config.arms], config.latency_clock,
                                             config.cache_dir)
        latencies = {arm.name: value for arm, value in zip(config.arms, values)}
    print(f"ablation '{config.name}': {len(wanted) - len(pending)} of {len(wanted)} runs already done, "
          f"training {len(pending)}", file=sys.stderr, flush=True)
    if pending:
        runs = [{"arm": arm.name, "seed": seed, config.factor.name: arm.level, "genome_id": arm.genome.id,
                 "macs": arm.macs, "params": arm.params, "genome": arm.genome.to_dict()} for arm, seed in pending]
        train_runs(runs, runs_dir, run_columns(config.factor.name),
                   TrialSettings(data=config.data, fidelity=config.fidelity, cache_dir=config.cache_dir),
                   config.resources, label=config.name, total=len(wanted))
    done = load_runs(runs_dir)
    records = [done[(arm.name, seed)] for arm, seed in wanted if (arm.name, seed) in done]
    frame = pd.DataFrame(records, columns=run_columns(config.factor.name))
    paths = write_outputs(config, frame, latencies, machine.describe() if machine else None)
    return Outcome(markdown=Path(paths["ablation_md"]).read_text(), interrupted=len(records) < len(wanted),
                   paths=paths)
