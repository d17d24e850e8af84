"""A search space read from a YAML or JSON file: bounds and choices over ``space.default_space()``.

::

    stages:
      all: {kernel: [3, 5], block: [standard, se]}   # every stage
      4: {width: [128, 192], repeats: [3, 6]}        # one stage (0-based)
    stem_channels: [16, 24]
    training: {lr: [0.02, 0.1]}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from evaluators.presets import MAX_LR
from space import (BLOCK_TYPES, MAX_CHANNELS, MAX_EXPANSION, MAX_EXPERTS, MAX_KERNEL, MAX_REPEATS, WIDTH_STEP,
                   SearchSpace, StageSpace, default_space, sample_genomes)

MAX_TRAINING = {"lr": MAX_LR, "weight_decay": 1.0, "label_smoothing": 1.0}


def load_space(path: str | Path) -> SearchSpace:
    """Read a YAML/JSON override file; every problem is one ValueError naming the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ValueError(f"{path}: cannot read space file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a space file is UTF-8 YAML or JSON)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"{path}: not valid YAML/JSON{where}") from None
    try:
        space = apply_overrides(default_space(), raw or {})
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if not sample_genomes(space, 1, num_classes=10, seed=0):
        # Each setting can be in range while their combinations build nothing (an SE ratio above a stage's
        # expanded width, say): every trial of the search would fail.
        raise ValueError(f"{path}: no valid genome in 20 random draws from this space: its settings do not fit "
                         "together (e.g. se_ratio against width x expansion)")
    return space


def apply_overrides(space: SearchSpace, raw: Any) -> SearchSpace:
    if not isinstance(raw, dict):
        raise ValueError("the space file must be a mapping of settings")
    top = {"stages", "stem_channels", "head_channels", "lr", "weight_decay", "label_smoothing", "training"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(top))}")
    changes: dict[str, Any] = {}
    for name in ("stem_channels", "head_channels"):
        if name in raw:
            changes[name] = _int_choices(name, raw[name], minimum=1, maximum=MAX_CHANNELS)
    training = raw.get("training", {})
    if not isinstance(training, dict):
        raise ValueError("training: must be a mapping of lr, weight_decay, label_smoothing ranges")
    for name in ("lr", "weight_decay", "label_smoothing"):
        if name in training and name in raw:
            raise ValueError(f"{name}: given both at the top level and as training.{name}; keep one")
        value = training.get(name, raw.get(name))
        if value is not None:
            changes[name] = _range(f"training.{name}", value, float, minimum=0.0, maximum=MAX_TRAINING[name],
                                   positive=name != "label_smoothing")
    bad_training = sorted(set(training) - {"lr", "weight_decay", "label_smoothing"})
    if bad_training:
        raise ValueError(f"training: unknown key(s) {', '.join(map(str, bad_training))}; "
                         "allowed: label_smoothing, lr, weight_decay")
    stages = list(space.stages)
    stage_overrides = raw.get("stages", {})
    if not isinstance(stage_overrides, dict):
        raise ValueError("stages: must be a mapping from 'all' or a stage index to settings")
    keys_by_index: dict[int, Any] = {}
    for key, settings in sorted(stage_overrides.items(), key=lambda item: str(item[0]) != "all"):
        if key == "all":
            indices: Sequence[int] = range(len(stages))
        else:
            index = _stage_index(key, len(stages))
            if index in keys_by_index:
                raise ValueError(f"stages.{key}: stage {index} is also given as stages.{keys_by_index[index]}")
            keys_by_index[index] = key
            indices = [index]
        for index in indices:
            stages[index] = _override_stage(f"stages.{key}", stages[index], settings)
    if "label_smoothing" in changes and changes["label_smoothing"][1] >= 1:
        raise ValueError("training.label_smoothing: must be below 1")
    return dataclasses.replace(space, stages=tuple(stages), **changes)


def _override_stage(name: str, stage: StageSpace, settings: Any) -> StageSpace:
    if not isinstance(settings, dict):
        raise ValueError(f"{name}: must be a mapping of stage settings")
    fields = {f.name for f in dataclasses.fields(StageSpace)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(fields))}")
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        where = f"{name}.{key}"
        if key == "width":
            low, high = _range(where, value, int, minimum=WIDTH_STEP, maximum=MAX_CHANNELS)
            if low % WIDTH_STEP or high % WIDTH_STEP:
                raise ValueError(f"{where}: bounds must be multiples of {WIDTH_STEP}, got {list(value)}")
            changes[key] = (low, high)
        elif key == "repeats":
            changes[key] = _range(where, value, int, minimum=1, maximum=MAX_REPEATS)
        elif key == "kernel":
            kernels = _int_choices(where, value, minimum=1, maximum=MAX_KERNEL)
            if any(k % 2 == 0 for k in kernels):
                raise ValueError(f"{where}: filter sizes must be odd integers from 1 to {MAX_KERNEL}, got {list(value)}")
            changes[key] = kernels
        elif key == "expansion":
            changes[key] = _number_choices(where, value, maximum=MAX_EXPANSION)
        elif key == "block":
            if not isinstance(value, list) or not value or any(v not in BLOCK_TYPES for v in value):
                raise ValueError(f"{where}: must be a non-empty list from {', '.join(BLOCK_TYPES)}, got {value!r}")
            changes[key] = tuple(value)
        else:
            changes[key] = _int_choices(where, value, minimum=1, maximum=MAX_EXPERTS if key == "experts" else None)
    return dataclasses.replace(stage, **changes)


def _stage_index(key: Any, count: int) -> int:
    """A stage key as a space file writes it: an integer (YAML) or its digits (JSON); not 1.5, not true."""
    if isinstance(key, int) and not isinstance(key, bool):
        index = key
    elif isinstance(key, str) and key.isdecimal() and key.isascii():
        index = int(key)
    else:
        index = -1
    if not 0 <= index < count:
        raise ValueError(f"stages.{key}: stage keys must be 'all' or an index 0..{count - 1}")
    return index


def _int_choices(name: str, value: Any, minimum: int, maximum: int | None) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(
            not isinstance(v, int) or isinstance(v, bool) or v < minimum or (maximum and v > maximum) for v in value):
        allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name}: must be a non-empty list of integers {allowed}, got {value!r}")
    return tuple(value)


def _number_choices(name: str, value: Any, maximum: float) -> tuple[float, ...]:
    if not isinstance(value, list) or not value or any(
            not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not 0 < v <= maximum
            for v in value):
        raise ValueError(f"{name}: must be a non-empty list of numbers > 0 and <= {maximum:g}, got {value!r}")
    return tuple(value)


def _range(name: str, value: Any, kind: type, minimum: float, maximum: float, positive: bool = True) -> tuple:
    numbers = (int,) if kind is int else (int, float)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, numbers) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ValueError(f"{name}: must be a [low, high] pair of finite {kind.__name__}s, got {value!r}")
    low, high = kind(value[0]), kind(value[1])
    if low < minimum or (positive and low <= 0) or high < low or high > maximum:
        bound = f">= {minimum}" if not positive or minimum > 0 else "> 0"
        raise ValueError(f"{name}: need {bound}, high <= {maximum:g} and low <= high, got {value!r}")
    return low, high


