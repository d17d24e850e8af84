"""The folder ``python -m evaluators.train --save DIR`` keeps a training in.

``genome.json`` (the genome as trained: its classifier sized to the data), ``last.safetensors`` and
``best.safetensors`` (the weights after the latest evaluation and after the best one by validation top-1,
each carrying the genome, epoch, top-1, recipe, data and seed), and ``result.json`` (the result record with
its per-epoch history, the full recipe and the data's class names) once the run ends. Every file is written
atomically, after every evaluation, so an interrupted run keeps its latest and best weights.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch

from space import atomic_write
from space.weights import read_metadata, save_weights

from .presets import Fidelity
from .trainer import TrainResult

GENOME_FILE, LAST_FILE, BEST_FILE, RESULT_FILE = "genome.json", "last.safetensors", "best.safetensors", "result.json"


def training_details(fidelity: Fidelity, data: str, seed: int) -> dict[str, Any]:
    """What a weights file records of the training that made it, besides its epoch and top-1."""
    return {"fidelity": fidelity.name, "recipe": dataclasses.asdict(fidelity), "data": data, "seed": seed}


class SaveDir:
    """Pass :meth:`snapshot` to ``train(snapshot=...)``, then call :meth:`finish` with its result."""

    def __init__(self, directory: str | Path, fidelity: Fidelity, data: str, seed: int, classes: list[str]):
        self.directory = Path(directory)
        self.fidelity, self.classes = fidelity, classes
        self.details = training_details(fidelity, data, seed)

    def snapshot(self, model: torch.nn.Module, evaluation: dict[str, Any]) -> None:
        genome = model.genome
        atomic_write(self.directory / GENOME_FILE, genome.to_json() + "\n")
        details = {**self.details, "epoch": evaluation["epoch"], "top1": evaluation["top1"]}
        save_weights(self.directory / LAST_FILE, model, genome, **details)
        if evaluation["best"]:
            save_weights(self.directory / BEST_FILE, model, genome, **details)

    def finish(self, result: TrainResult, command: list[str]) -> None:
        record = {**result.to_dict(), "recipe": dataclasses.asdict(self.fidelity), "classes": self.classes,
                  "command": command}
        atomic_write(self.directory / RESULT_FILE, json.dumps(record, indent=2) + "\n")
        best = self.directory / BEST_FILE
        if result.best_epoch >= 0 and (not best.exists() or
                                       json.loads(read_metadata(best).get("epoch", "-1")) != result.best_epoch):
            print(f"note: {best} does not hold the best epoch ({result.best_epoch + 1}): the run resumed from a "
                  "checkpoint written before its best epoch was saved here", file=sys.stderr)

    def files(self) -> list[Path]:
        return [self.directory / name for name in (GENOME_FILE, LAST_FILE, BEST_FILE, RESULT_FILE)
                if (self.directory / name).exists()]
