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
    ``data``, ``classes``, ``precision``, ``device``, ``latency_*``, ``command``.
    """

    genome: Genome
    weights: dict[str, torch.Tensor]
    origin: str
    facts: dict[str, Any] = field(default_factory=dict)


RESULT_BESIDE_WEIGHTS = "result.json"
"""``python -m evaluators.train --save DIR`` writes the run's record next to its weights under this name."""


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


RECORD_FACTS = ("accuracy", "best_accuracy", "best_epoch", "top5", "epochs", "seed", "fidelity", "recipe", "data",
                "classes", "precision", "device", "seconds", "command")


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
