"""Where an export's genome and weights come from, and what is known about how the weights were trained."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from space import Genome, build, load_genome
from space.weights import WeightsError, check_weights, load_weights


class ExportError(ValueError):
    """Why an export cannot be made, in one line (the CLI prints it as ``error: ...``)."""


@dataclass(frozen=True)
class Trained:
    """A genome, weights checked to be its own, and the facts of their training.

    ``facts`` holds what is known, any of: ``top1`` and ``epoch`` (of these weights), ``accuracy``,
    ``best_accuracy``, ``best_epoch``, ``epochs``, ``seed``, ``fidelity``, ``recipe`` (every setting),
    ``data``, ``classes``, ``precision``, ``device``, ``latency_*``, ``command``, ``confirmed`` (mean, SD
    and n over a confirmation's fresh seeds).
    """

    genome: Genome
    weights: dict[str, torch.Tensor]
    origin: str
    facts: dict[str, Any] = field(default_factory=dict)


RESULT_BESIDE_WEIGHTS = "result.json"
"""``python -m evaluators.train --save DIR`` writes the run's record next to its weights under this name."""
RECORD_FACTS = ("accuracy", "best_accuracy", "best_epoch", "top5", "epochs", "seed", "fidelity", "recipe", "data",
                "classes", "precision", "device", "seconds", "command")
"""What an export takes from that record."""
TRIAL_FACTS = ("accuracy", "best_accuracy", "top5", "epochs", "fidelity", "data", "precision", "device", "seconds")
"""What an export takes from a study trial's user attrs (its measurements as the search recorded them)."""


def from_files(genome_path: str | Path, weights_path: str | Path) -> Trained:
    """A genome JSON file and a safetensors weights file; the facts come from the weights' metadata and
    from a ``result.json`` beside them when it records the same genome."""
    try:
        genome = load_genome(genome_path)
    except ValueError as error:
        raise ExportError(str(error)) from None
    weights, metadata = _checked_weights(genome, weights_path)
    facts = facts_from_metadata(metadata)
    beside = Path(weights_path).with_name(RESULT_BESIDE_WEIGHTS)
    if beside.is_file():
        try:
            record = json.loads(beside.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ExportError(f"{beside}: not a readable result record ({error})") from None
        if isinstance(record, dict) and record.get("genome_id") == genome.id:
            facts = {**{key: record[key] for key in RECORD_FACTS if key in record}, **facts}
    return Trained(genome=genome, weights=weights, origin=str(weights_path), facts=facts)


def from_study(study_dir: str | Path, number: int, storage: str | None = None,
               study_name: str | None = None) -> Trained:
    """Trial ``number`` of the study a results folder points at (``study.json``, or ``storage`` and
    ``study_name``), with the weights the folder kept for it.

    The facts come from the trial's record in the study, its weights' metadata and, when the front was
    confirmed (``search.confirm``), the genome's accuracy over the confirmation's seeds.
    """
    from optuna.trial import TrialState

    from ..study import StudyError, kept_trials, load_existing_study, trial_weights

    try:
        study = load_existing_study(Path(study_dir), storage, study_name)
    except StudyError as error:
        raise ExportError(str(error)) from None
    trials = study.get_trials(deepcopy=False)
    trial = next((t for t in trials if t.number == number), None)
    name = f"trial {number} of study '{study.study_name}'"
    if trial is None:
        raise ExportError(f"study '{study.study_name}' has no trial {number} "
                          f"({f'trials 0..{len(trials) - 1}' if trials else 'no trials yet'})")
    if trial.state == TrialState.PRUNED:
        raise ExportError(f"{name} was pruned: the scheduler stopped it before its training ended, so it has no "
                          "finished weights")
    if trial.state == TrialState.FAIL:
        raise ExportError(f"{name} failed ({trial.user_attrs.get('reason') or 'no reason recorded'}): it has no "
                          "weights")
    if trial.state != TrialState.COMPLETE:
        raise ExportError(f"{name} has not finished (state {trial.state.name})")
    path = trial_weights(Path(study_dir), trial)
    if path is None or not path.is_file():
        raise ExportError(f"{name} has no weights: {path} does not exist (a search keeps the Pareto front's and "
                          "the baseline's; search.run --keep-weights all keeps every trial's)")
    genome = Genome.from_dict(trial.user_attrs["genome"])
    weights, metadata = _checked_weights(genome, path)
    attrs = trial.user_attrs
    facts = {key: attrs[key] for key in TRIAL_FACTS if attrs.get(key) is not None}
    facts.update({key: value for key, value in attrs.items() if key.startswith("latency")})
    if "train_seed" in attrs:
        facts["seed"] = attrs["train_seed"]
    facts.update(facts_from_metadata(metadata))
    confirmed = _confirmed(Path(study_dir), genome.id)
    if confirmed:
        facts["confirmed"] = confirmed
    role = ("a baseline" if attrs.get("is_baseline") else
            "on the Pareto front" if number in kept_trials(study, "front") else "a search trial off the front")
    return Trained(genome=genome, weights=weights, origin=f"{name} ({role})", facts=facts)


def _confirmed(study_dir: Path, genome_id: str) -> dict[str, Any] | None:
    """The genome's row of the front's confirmation (mean, SD and n over fresh seeds), if it was confirmed."""
    from ..results import read_confirmed

    table = read_confirmed(study_dir)
    if table is None:
        return None
    rows = table[table["genome_id"] == genome_id]
    if rows.empty or not rows.iloc[0]["n"]:
        return None
    row = rows.iloc[0]
    return {"n": int(row["n"]), "mean": float(row["mean"]), "sd": float(row["sd"]), "seeds": str(row["seeds"]),
            "fidelity": str(row["fidelity"])}


def facts_from_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    """A weights file's metadata as values (numbers and the recipe are stored as JSON text)."""
    facts: dict[str, Any] = {}
    for key, text in metadata.items():
        if key in ("format", "genome", "genome_id"):
            continue
        try:
            facts[key] = json.loads(text)
        except json.JSONDecodeError:
            facts[key] = text
    return facts


def _checked_weights(genome: Genome, path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        weights, metadata = load_weights(path)
        check_weights(genome, build(genome), weights, metadata, path)
    except WeightsError as error:
        raise ExportError(str(error)) from None
    return weights, metadata
