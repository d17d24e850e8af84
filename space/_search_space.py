"""The search space: the papers' future work around the Table 1 baseline, per stage.

Per stage: width, repeats, filter size {3,5,7}, expansion factor, block type {standard, se, condconv},
SE reduction R (only for se/condconv stages) and experts M (only for condconv stages); globally the stem
and head widths; behind a flag the training-strategy knobs (peak LR, weight decay, label smoothing).
Strides stay Table 1's so every candidate keeps the 56 -> 7 feature-map schedule.

The space lives here, beside the genome, so that everything that draws genomes draws the search's: the
search through Optuna's define-by-run trials, the fidelity study and the latency table through
``sample_genomes``. Reading a space from a file is the search's business (``search.study.load_space``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from .baseline import baseline
from .genome import BLOCK_TYPES, Genome, Stage

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


def _round_to_step(value: float) -> int:
    return int(round(value / WIDTH_STEP)) * WIDTH_STEP


def sample_genomes(space: SearchSpace, count: int, num_classes: int, seed: int | str) -> list[Genome]:
    """Up to ``count`` genomes drawn uniformly from the space, repeatable by ``seed``.

    Draws that make no valid genome are skipped, as the search fails such trials; a custom space that yields
    none in 20 draws per genome asked for gets fewer genomes, not a hang."""
    draws = _RandomTrial(random.Random(seed))
    genomes: list[Genome] = []
    for _ in range(20 * count):
        if len(genomes) == count:
            break
        try:
            genomes.append(suggest(draws, space, num_classes)[0])
        except ValueError:
            continue
    return genomes


class _RandomTrial:
    """Answers ``suggest``'s calls with uniform draws, log-uniform where the space asks for a log scale."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def suggest_categorical(self, name: str, choices: list) -> Any:
        return self.rng.choice(choices)

    def suggest_int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return self.rng.randrange(low, high + 1, step)

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        if log:
            return math.exp(self.rng.uniform(math.log(low), math.log(high)))
        return self.rng.uniform(low, high)
