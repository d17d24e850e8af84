"""The search space: the papers' future work around the Table 1 baseline, per stage.

Per stage: width, repeats, filter size {3,5,7}, expansion factor, block type {standard, se, condconv},
SE reduction R (only for se/condconv stages) and experts M (only for condconv stages); globally the stem
and head widths; behind a flag the training-strategy knobs (peak LR, weight decay, label smoothing).
Strides stay Table 1's so every candidate keeps the 56 -> 7 feature-map schedule.

A YAML or JSON file overrides bounds and choices::

    stages:
      all: {kernel: [3, 5], block: [standard, se]}   # every stage
      4: {width: [128, 192], repeats: [3, 6]}        # one stage (0-based)
    stem_channels: [16, 24]
    training: {lr: [0.02, 0.1]}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from space import BLOCK_TYPES, Genome, Stage, baseline

WIDTH_STEP = 8


@dataclass(frozen=True)
class StageSpace:
    width: tuple[int, int]
    repeats: tuple[int, int]
    kernel: tuple[int, ...] = (3, 5, 7)
    expansion: tuple[float, ...] = (2, 3, 4, 6)
    block: tuple[str, ...] = BLOCK_TYPES
    se_ratio: tuple[int, ...] = (2, 4, 8)
    experts: tuple[int, ...] = (2, 4)


@dataclass(frozen=True)
class SearchSpace:
    stages: tuple[StageSpace, ...]
    stem_channels: tuple[int, ...] = (8, 16, 24, 32)
    head_channels: tuple[int, ...] = (640, 960, 1280)
    lr: tuple[float, float] = (0.01, 0.2)
    weight_decay: tuple[float, float] = (1e-5, 1e-3)
    label_smoothing: tuple[float, float] = (0.0, 0.2)

    def describe(self, with_training: bool = False) -> str:
        """A readable listing of every searched parameter (``--show-space``)."""
        lines = [f"{'parameter':<16} choices / range", f"{'stem_channels':<16} {list(self.stem_channels)}",
                 f"{'head_channels':<16} {list(self.head_channels)}"]
        for index, stage in enumerate(self.stages):
            lines.append(f"stage {index} (stride {baseline().stages[index].stride})")
            lines.append(f"  {'width':<14} {stage.width[0]}..{stage.width[1]} step {WIDTH_STEP}")
            lines.append(f"  {'repeats':<14} {stage.repeats[0]}..{stage.repeats[1]}")
            for name in ("kernel", "expansion", "block"):
                lines.append(f"  {name:<14} {list(getattr(stage, name))}")
            lines.append(f"  {'se_ratio':<14} {list(stage.se_ratio)}  (se and condconv stages)")
            lines.append(f"  {'experts':<14} {list(stage.experts)}  (condconv stages)")
        training = "searched" if with_training else "fixed by the fidelity preset (--search-training to search)"
        lines.append(f"training knobs: {training}")
        lines.append(f"  {'lr':<14} {self.lr[0]}..{self.lr[1]} (log)")
        lines.append(f"  {'weight_decay':<14} {self.weight_decay[0]}..{self.weight_decay[1]} (log)")
        lines.append(f"  {'label_smoothing':<14} {self.label_smoothing[0]}..{self.label_smoothing[1]}")
        return "\n".join(lines)


def default_space() -> SearchSpace:
    """Widths 0.5x-1.5x of Table 1's (multiples of 8), repeats from 1 to one more than Table 1's."""
    stages = []
    for stage in baseline().stages:
        low = max(WIDTH_STEP, _round_to_step(stage.out_channels * 0.5))
        high = _round_to_step(stage.out_channels * 1.5)
        stages.append(StageSpace(width=(low, high), repeats=(1, stage.repeats + 1)))
    return SearchSpace(stages=tuple(stages))


def load_space(path: str | Path) -> SearchSpace:
    """Read a YAML/JSON override file; every problem is one ValueError naming the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ValueError(f"{path}: cannot read space file ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"{path}: not valid YAML/JSON{where}") from None
    try:
        return apply_overrides(default_space(), raw or {})
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


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
            changes[name] = _int_choices(name, raw[name], minimum=1)
    training = raw.get("training", {})
    if not isinstance(training, dict):
        raise ValueError("training: must be a mapping of lr, weight_decay, label_smoothing ranges")
    for name in ("lr", "weight_decay", "label_smoothing"):
        value = training.get(name, raw.get(name))
        if value is not None:
            changes[name] = _range(f"training.{name}", value, float, minimum=0.0,
                                   positive=name != "label_smoothing")
    bad_training = sorted(set(training) - {"lr", "weight_decay", "label_smoothing"})
    if bad_training:
        raise ValueError(f"training: unknown key(s) {', '.join(map(str, bad_training))}; "
                         "allowed: label_smoothing, lr, weight_decay")
    stages = list(space.stages)
    stage_overrides = raw.get("stages", {})
    if not isinstance(stage_overrides, dict):
        raise ValueError("stages: must be a mapping from 'all' or a stage index to settings")
    for key, settings in sorted(stage_overrides.items(), key=lambda item: str(item[0]) != "all"):
        indices = range(len(stages)) if key == "all" else [_stage_index(key, len(stages))]
        for index in indices:
            stages[index] = _override_stage(f"stages.{key}", stages[index], settings)
    if "label_smoothing" in changes and changes["label_smoothing"][1] >= 1:
        raise ValueError("training.label_smoothing: must be below 1")
    return dataclasses.replace(space, stages=tuple(stages), **changes)


def suggest(trial: Any, space: SearchSpace, num_classes: int, search_training: bool = False
            ) -> tuple[Genome, dict[str, float]]:
    """Sample one genome (and optionally training knobs) with Optuna's define-by-run API.

    R is only sampled for se/condconv stages and M only for condconv ones, so the sampler never learns from
    parameters that did not change the network. Raises ValueError if a custom space yields an invalid genome.
    """
    reference = baseline()
    stages = []
    for index, (stage_space, ref) in enumerate(zip(space.stages, reference.stages)):
        block = trial.suggest_categorical(f"s{index}_block", list(stage_space.block))
        stages.append(Stage(
            out_channels=trial.suggest_int(f"s{index}_width", *stage_space.width, step=WIDTH_STEP),
            repeats=trial.suggest_int(f"s{index}_repeats", *stage_space.repeats),
            stride=ref.stride,
            expansion=trial.suggest_categorical(f"s{index}_expansion", list(stage_space.expansion)),
            kernel=trial.suggest_categorical(f"s{index}_kernel", list(stage_space.kernel)),
            block=block,
            se_ratio=trial.suggest_categorical(f"s{index}_se_ratio", list(stage_space.se_ratio))
            if block != "standard" else ref.se_ratio,
            experts=trial.suggest_categorical(f"s{index}_experts", list(stage_space.experts))
            if block == "condconv" else ref.experts,
        ))
    genome = Genome(
        stem_channels=trial.suggest_categorical("stem_channels", list(space.stem_channels)),
        stages=tuple(stages),
        head_channels=trial.suggest_categorical("head_channels", list(space.head_channels)),
        num_classes=num_classes,
        resolution=reference.resolution,
    )
    training: dict[str, float] = {}
    if search_training:
        training = {
            "lr": trial.suggest_float("lr", *space.lr, log=True),
            "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
            "label_smoothing": trial.suggest_float("label_smoothing", *space.label_smoothing),
        }
    return genome, training


def genome_params(genome: Genome, space: SearchSpace, training: dict[str, float] | None = None
                  ) -> dict[str, Any] | None:
    """The params ``suggest`` turns into exactly this genome (and these training knobs, when the search
    samples them), or None when the space cannot express them.

    Enqueued with these, a fixed trial (the baseline) records the same parameters as sampled trials, so
    samplers that model the joint space (multivariate TPE, NSGA-II, GP) keep it: a completed trial with no
    params would empty the intersection of search spaces they learn from and reduce them to random search.
    """
    if len(genome.stages) != len(space.stages):
        return None
    params: dict[str, Any] = {"stem_channels": genome.stem_channels, "head_channels": genome.head_channels}
    for index, stage in enumerate(genome.stages):
        params.update({f"s{index}_block": stage.block, f"s{index}_width": stage.out_channels,
                       f"s{index}_repeats": stage.repeats, f"s{index}_expansion": stage.expansion,
                       f"s{index}_kernel": stage.kernel})
        if stage.block != "standard":
            params[f"s{index}_se_ratio"] = stage.se_ratio
        if stage.block == "condconv":
            params[f"s{index}_experts"] = stage.experts
    params.update(training or {})
    try:
        rebuilt = suggest(_Recorded(params), space, genome.num_classes, search_training=training is not None)
    except (KeyError, ValueError):
        return None
    return params if rebuilt == (genome, training or {}) else None


class _Recorded:
    """Answers ``suggest``'s calls from fixed params, refusing any value outside the asked range or choices."""

    def __init__(self, params: dict[str, Any]):
        self.params = params

    def suggest_categorical(self, name: str, choices: list) -> Any:
        if self.params[name] not in choices:
            raise ValueError(name)
        return self.params[name]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1) -> int:
        value = self.params[name]
        if not (low <= value <= high and (value - low) % step == 0):
            raise ValueError(name)
        return value

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        if not low <= self.params[name] <= high:
            raise ValueError(name)
        return self.params[name]


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
            low, high = _range(where, value, int, minimum=WIDTH_STEP)
            if low % WIDTH_STEP or high % WIDTH_STEP:
                raise ValueError(f"{where}: bounds must be multiples of {WIDTH_STEP}, got {list(value)}")
            changes[key] = (low, high)
        elif key == "repeats":
            changes[key] = _range(where, value, int, minimum=1)
        elif key == "kernel":
            kernels = _int_choices(where, value, minimum=1)
            if any(k % 2 == 0 for k in kernels):
                raise ValueError(f"{where}: filter sizes must be odd integers >= 1, got {list(value)}")
            changes[key] = kernels
        elif key == "expansion":
            changes[key] = _number_choices(where, value)
        elif key == "block":
            if not isinstance(value, list) or not value or any(v not in BLOCK_TYPES for v in value):
                raise ValueError(f"{where}: must be a non-empty list from {', '.join(BLOCK_TYPES)}, got {value!r}")
            changes[key] = tuple(value)
        else:
            changes[key] = _int_choices(where, value, minimum=1)
    return dataclasses.replace(stage, **changes)


def _stage_index(key: Any, count: int) -> int:
    try:
        index = int(key)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < count:
        raise ValueError(f"stages.{key}: stage keys must be 'all' or an index 0..{count - 1}")
    return index


def _int_choices(name: str, value: Any, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(
            not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in value):
        raise ValueError(f"{name}: must be a non-empty list of integers >= {minimum}, got {value!r}")
    return tuple(value)


def _number_choices(name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value or any(
            not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0 for v in value):
        raise ValueError(f"{name}: must be a non-empty list of positive numbers, got {value!r}")
    return tuple(value)


def _range(name: str, value: Any, kind: type, minimum: float, positive: bool = True) -> tuple:
    numbers = (int,) if kind is int else (int, float)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, numbers) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{name}: must be a [low, high] pair of {kind.__name__}s, got {value!r}")
    low, high = kind(value[0]), kind(value[1])
    if low < minimum or (positive and low <= 0) or high < low:
        bound = f">= {minimum}" if not positive or minimum > 0 else "> 0"
        raise ValueError(f"{name}: need {bound} and low <= high, got {value!r}")
    return low, high


def _round_to_step(value: float) -> int:
    return int(round(value / WIDTH_STEP)) * WIDTH_STEP

