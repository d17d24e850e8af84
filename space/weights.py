"""Trained weights on disk: safetensors files that carry the genome they were trained for.

A weights file is the model's ``state_dict`` in safetensors (no pickle, so loading one runs no code) with
text metadata: the genome's canonical JSON and id, plus whatever the writer knows (epoch, top-1, fidelity,
data, seed). The genome inside makes a file self-describing, and lets a reader refuse weights of another
genome with a one-line reason even where the tensors' names and shapes would match (a changed stride).
Writes are atomic: a crash leaves the previous file or the new one, never half of one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ._atomic import atomic_write
from .genome import Genome

FORMAT = "effcnn-nas-weights/1"
"""The ``format`` metadata value of files this module writes."""

ARCHITECTURE_NEUTRAL = ("resolution",)
"""Genome fields that do not change the network's computation: the resolution is where MACs are costed,
and the network is fully convolutional, so weights serve any input size."""


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or of another genome; the message is one line."""


def save_weights(path: str | Path, model: nn.Module, genome: Genome, **details: Any) -> Path:
    """Write ``model``'s state_dict and ``genome`` (plus ``details`` as text) to ``path`` atomically."""
    path = Path(path)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    metadata = {"format": FORMAT, "genome": genome.to_json(indent=None), "genome_id": genome.id,
                **{key: value if isinstance(value, str) else json.dumps(value) for key, value in details.items()}}
    atomic_write(path, safetensors_bytes(tensors, metadata=metadata))
    return path


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a safetensors file; a missing or unreadable file is a WeightsError."""
    return _read(path, with_tensors=True)


def read_metadata(path: str | Path) -> dict[str, str]:
    """Only the metadata of a weights file (its header), without reading the tensors."""
    return _read(path, with_tensors=False)[1]


def _read(path: str | Path, with_tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, not a weights file (a .safetensors file)")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()} if with_tensors else {}
            return tensors, dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable safetensors file ({str(error).splitlines()[0]})") from None


def stored_genome(metadata: Mapping[str, str]) -> Genome | None:
    """The genome a weights file says it was trained for, or None for files without one."""
    text = metadata.get("genome")
    return Genome.from_json(text) if text else None


def check_weights(genome: Genome, model: nn.Module, tensors: Mapping[str, torch.Tensor],
                  metadata: Mapping[str, str], source: str | Path) -> None:
    """Raise a one-line WeightsError if ``tensors`` (from ``source``) cannot be ``model``'s weights.

    First the genome stored in the file (when there is one) against ``genome``, naming the first field
    that differs between the networks they build (``Genome.canonical``); then the state_dict keys and
    shapes against ``model``'s, naming the first mismatch.
    """
    trained_for = stored_genome(metadata)
    if trained_for is not None:
        difference = first_difference(trained_for.canonical().to_dict(), genome.canonical().to_dict(),
                                      ignore=ARCHITECTURE_NEUTRAL)
        if difference:
            raise WeightsError(f"{source}: weights of another genome ({trained_for.id}, not {genome.id}): "
                               f"{difference}")
    mismatch = state_dict_mismatch(model.state_dict(), tensors)
    if mismatch:
        raise WeightsError(f"{source}: weights of another genome: {mismatch}")


def state_dict_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str | None:
    """The first key missing, unexpected or of another shape in ``found``, as words; None when they match."""
    for key, tensor in expected.items():
        if key not in found:
            return f"{key} is missing"
        if tuple(found[key].shape) != tuple(tensor.shape):
            return f"{key} has shape {tuple(found[key].shape)}, the genome needs {tuple(tensor.shape)}"
    extra = next((key for key in found if key not in expected), None)
    return f"{extra} is not in the genome's model" if extra else None


def first_difference(stored: Any, given: Any, ignore: tuple[str, ...] = (), where: str = "") -> str | None:
    """The first field where two genome dicts differ, e.g. ``stages[2].stride: 2 in the file, 1 given``."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given)):
            if key in ignore:
                continue
            found = first_difference(stored.get(key), given.get(key), (), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(given, list):
        if len(stored) != len(given):
            return f"{where}: {len(stored)} in the file, {len(given)} given"
        for index, (a, b) in enumerate(zip(stored, given)):
            found = first_difference(a, b, (), f"{where}[{index}]")
            if found:
                return found
        return None
    return None if stored == given else f"{where}: {stored!r} in the file, {given!r} given"
