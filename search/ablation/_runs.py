"""One ablation run (an arm at a seed) as a JSON file: written atomically the moment it finishes, read back
to skip it on a re-run and to build the reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def run_columns(factor: str) -> list[str]:
    """Columns of ``ablation.csv`` and keys of every run file; the level column is named after the factor."""
    return ["arm", "seed", factor, "genome_id", "macs", "params", "accuracy", "top5", "seconds", "status", "reason"]


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
