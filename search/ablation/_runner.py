"""Training an ablation's pending runs as Ray Tune trials, then rebuilding its result files from all runs."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from ..tune import StudyProgress, TrialSettings, ensure_ray, run_trial
from ._config import AblationConfig, Outcome
from ._levels import Arm
from ._report import write_outputs
from ._runs import load_runs, run_columns, run_record, save_run

SETTINGS_FILE = "ablation.json"
"""What the runs of one ablation folder share (factor, data, fidelity); results of other settings never mix."""


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
    """``search.tune.run_trial`` with this run's seed: TrialSettings carries one seed for a whole study."""
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
