"""Named genomes trained at given seeds as Ray Tune trials, each run saved as a file the moment it ends.

Ablations (arms x seeds) and the confirmation of a front (genomes x fresh seeds) are both such a set of
runs. A run is saved from the driver as its trial ends, atomically, so an interrupted set resumes without
training a finished run again: re-running trains only the runs without a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from evaluators.trainer import OUT_OF_MEMORY
from space import atomic_write

from ._cluster import ensure_ray, trial_resources
from ._progress import StudyProgress
from ._trial import TrialSettings, run_trial

RUN_KEYS = ("arm", "seed", "genome")
"""What every run dict holds: its arm (what it is compared as: an ablation level, a genome), its training
seed and its genome dict."""


@dataclass(frozen=True)
class Resources:
    """Where and with what the runs train."""

    address: str | None
    cpus_per_trial: float
    gpus_per_trial: float | None
    """None: one GPU per trial where CUDA is present, else none (``trial_resources``)."""


def check_settings(folder: Path, filename: str, current: dict[str, Any], rename_hint: str) -> None:
    """Refuse to add runs of other settings (data, fidelity, ...) to a folder; record them on first use. A
    settings file that cannot be read is refused naming it, never overwritten: the runs beside it are kept."""
    path = Path(folder) / filename
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
            problem = None if isinstance(recorded, dict) else "it holds no JSON object"
        except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problem = f"cannot read it as JSON ({error})"
        if problem:
            raise ValueError(f"{path}: {problem}; it records the settings of the runs beside it: repair it")
        for key, value in current.items():
            if recorded.get(key) != value:
                raise ValueError(f"{folder} holds runs with {key} {recorded.get(key)!r}, not {value!r}; "
                                 f"{rename_hint}")
        return
    atomic_write(path, json.dumps(current, indent=2) + "\n")


def run_path(runs_dir: Path, arm: str, seed: int) -> Path:
    return runs_dir / f"{arm}-seed{seed}.json"


def save_run(runs_dir: Path, record: dict[str, Any]) -> Path:
    """Written atomically, under a temporary name of this process's own, so neither a killed run nor a second
    one writing the same run leaves a half-written result."""
    path = run_path(runs_dir, record["arm"], record["seed"])
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path


def load_runs(runs_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every saved run by (arm, seed)."""
    records = (json.loads(path.read_text()) for path in sorted(Path(runs_dir).glob("*.json")))
    return {(record["arm"], record["seed"]): record for record in records}


def run_record(run: dict[str, Any], result: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """One run's row: identity and analytic cost from the run, measurements from its trial's last report.

    Only a final ``status: ok`` report counts as a result; anything else (diverged, raised, or a trial that
    ended after a per-epoch report) is a failure whose accuracy stays out of the statistics.
    """
    ok = result.get("status") == "ok"
    measured = {"accuracy": result.get("accuracy") if ok else None, "top5": result.get("top5") if ok else None,
                "seconds": result.get("seconds"), "status": "ok" if ok else "failed",
                "reason": "" if ok else result.get("reason") or "the trial ended without a final result"}
    return {column: measured[column] if column in measured else run[column] for column in columns}


def train_runs(runs: list[dict[str, Any]], runs_dir: Path, columns: list[str], settings: TrialSettings,
               resources: Resources, label: str, total: int) -> None:
    """One Ray Tune trial per run; each run's record (``columns`` of it) saved as its trial ends.

    ``total`` counts the finished runs too, for the progress line. A Ctrl-C stops the set with the finished
    runs saved; the caller reports the rest as missing. Ray Tune takes only an absolute storage path (a
    relative one reads as a URI without a scheme), so ``runs_dir`` may be relative to the working directory.
    """
    with _one_trainer_at_a_time(runs_dir):
        done = load_runs(runs_dir)
        runs = [run for run in runs if (run["arm"], run["seed"]) not in done]  # another run may have trained them
        if runs:
            _train(runs, runs_dir, columns, settings, resources, label, total)


@contextmanager
def _one_trainer_at_a_time(runs_dir: Path) -> Iterator[None]:
    """Hold the runs folder's lock: a second command on the same folder (two workers of one study both
    confirming its front, an ablation started twice) waits, then trains only what the first left, instead of
    training every run twice. The lock goes with the process that holds it, however it ends."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another command is training into {runs_dir}; waiting for it to end, then training what it "
                  "left", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _train(runs: list[dict[str, Any]], runs_dir: Path, columns: list[str], settings: TrialSettings,
           resources: Resources, label: str, total: int) -> None:
    ensure_ray(resources.address)
    trainable = tune.with_resources(tune.with_parameters(_train_run, settings=settings),
                                    trial_resources(resources.cpus_per_trial, resources.gpus_per_trial))
    recorder = RunRecorder(runs_dir, columns, total=total, already_done=total - len(runs))
    # Reusing trial workers: a fresh one per run spends seconds importing torch, longer than a proxy run trains.
    tuner = tune.Tuner(
        trainable, param_space={"run": tune.grid_search(runs)}, tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name=f"{label}-{os.getpid()}",
                                  storage_path=str((runs_dir.parent / "ray").resolve()),
                                  verbose=0, callbacks=[recorder], log_to_file=True),
    )
    try:
        tuner.fit()
    except KeyboardInterrupt:
        pass  # the runs finished so far are saved


def _train_run(config: dict[str, Any], settings: TrialSettings) -> None:
    run = config["run"]
    run_trial({"genome": run["genome"], "train_seed": run["seed"]}, settings)


class RunRecorder(StudyProgress):
    """Saves each finished run the moment Ray Tune reports it, then prints it and the progress line."""

    def __init__(self, runs_dir: Path, columns: list[str], total: int, already_done: int):
        super().__init__(total=total, already_done=already_done)
        self.runs_dir = runs_dir
        self.columns = columns

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        self._record(trial, result, retry=str(result.get("reason", "")).startswith(OUT_OF_MEMORY))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        lines = [line for line in (trial.get_error() or "").splitlines() if line.strip()]
        reason = f"trial raised {lines[-1].strip()}" if lines else "trial raised (see its Ray log)"
        self._record(trial, {"status": "failed", "reason": reason}, retry=True)

    def _record(self, trial: Any, result: dict[str, Any], retry: bool) -> None:
        """Save the run, unless it failed for a reason of the moment (memory other trials held, a crashed
        process): such a run stays missing, and the same command run again trains it again."""
        record = run_record(trial.config["run"], result, self.columns)
        if retry:
            self.failed += 1
            self.finish(trial, f"{record['arm']} seed {record['seed']} failed: {record['reason']}; not saved, "
                               "so the same command run again retries it")
            return
        save_run(self.runs_dir, record)
        if record["status"] == "ok":
            self.points.append((record["accuracy"], record["macs"]))
            note = (f"{record['arm']} seed {record['seed']}: {record['accuracy']:.2f}% top-1 at "
                    f"{record['macs'] / 1e6:.1f}M MACs ({record['seconds']:.0f}s)")
        else:
            self.failed += 1
            note = f"{record['arm']} seed {record['seed']} failed: {record['reason']}"
        self.finish(trial, note)
