"""The factors an ablation can sweep and their levels: each arm is the baseline with ONE factor changed.

The papers compare the three block types once each (Table 3) and only name the other variations as future
work. An ablation varies a single factor around a fixed baseline network, so any change in accuracy is
attributable to that factor alone; this module is the one place that says what each factor changes.
It is pure arithmetic on genomes (no Ray, no torch), so the CLI can validate levels before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from space import BLOCK_TYPES, SE_POSITIONS, Genome, baseline, cost_of, expanded_channels

Level = int | float | str


@dataclass(frozen=True)
class Factor:
    """One sweepable factor: its default levels, which of them is the baseline arm, and how to apply a level."""

    name: str
    description: str
    levels: tuple[Level, ...]
    baseline_level: Level
    base_block: str
    allowed: str
    parse: Callable[[str], Level]
    apply: Callable[[Genome, Any], Genome]
    label: Callable[[Level], str] = str

    def base_genome(self, num_classes: int) -> Genome:
        """The network every arm starts from: Table 1 with this factor's block type, sized to the data."""
        return baseline(self.base_block).replace(num_classes=num_classes)


@dataclass(frozen=True)
class Arm:
    """One trained configuration of an ablation, with its analytic cost (identical to what the trainer reports)."""

    name: str
    label: str
    level: Level
    genome: Genome
    is_baseline: bool
    macs: int
    params: int


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError("not an allowed level")
        return text
    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("must be an integer") from None


def _positive_number(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError("must be a positive number")
    return int(value) if value.is_integer() else value


def _scale_width(genome: Genome, multiplier: float) -> Genome:
    """EfficientNet-style width multiplier: stem and stage widths scaled and rounded to multiples of 8.

    ``expanded_channels`` is timm's ``make_divisible`` (round to the nearest multiple of 8, never more than
    10 % down), the rule timm's ``round_channels`` applies to width multipliers too. The head keeps its width.
    """
    return genome.replace(
        stem_channels=expanded_channels(genome.stem_channels, multiplier),
        stages=tuple(dataclasses.replace(s, out_channels=expanded_channels(s.out_channels, multiplier))
                     for s in genome.stages))


def _offset_depth(genome: Genome, offset: int) -> Genome:
    """Every stage's repeats plus ``offset``, at least 1; an offset lower than the one that leaves every stage at 1
    repeat is refused, since its arm would be that network under another label."""
    lowest = 1 - max(s.repeats for s in genome.stages)
    if offset < lowest:
        raise ValueError(f"at {lowest:+d} every stage already has 1 repeat, so below it nothing changes")
    return genome.replace(stages=tuple(dataclasses.replace(s, repeats=max(1, s.repeats + offset))
                                       for s in genome.stages))


def _stage_setting(field: str) -> Callable[[Genome, Any], Genome]:
    return lambda genome, level: genome.replace_stages(**{field: level})


FACTORS: dict[str, Factor] = {f.name: f for f in (
    Factor("block", "block type in every stage (A standard, B SE with R=4, C SE + CondConv with M=4)",
           ("standard", "se", "condconv"), "standard", "standard", f"one of {', '.join(BLOCK_TYPES)}",
           _choice(BLOCK_TYPES), _stage_setting("block")),
    Factor("kernel", "depthwise filter size F in every stage", (3, 5, 7), 3, "standard",
           "odd filter sizes >= 1", _integer, _stage_setting("kernel")),
    Factor("expansion", "expansion factor Ne/Ni in every stage", (2, 3, 4, 6), 4, "standard",
           "positive numbers", _positive_number, _stage_setting("expansion")),
    Factor("se_ratio", "SE reduction R in every stage of the SE baseline (block B)", (2, 4, 8, 16), 4, "se",
           "integers >= 1 that leave at least one SE channel in every block", _integer, _stage_setting("se_ratio")),
    Factor("experts", "CondConv experts M in every stage of the SE + CondConv baseline (block C)", (1, 2, 4, 8), 4,
           "condconv", "integers >= 1", _integer, _stage_setting("experts")),
    Factor("width", "width multiplier on the stem and every stage width, rounded to multiples of 8; "
           "the head stays 1280 channels", (0.5, 0.75, 1.0, 1.25, 1.5), 1, "standard", "positive numbers",
           _positive_number, _scale_width, label=lambda level: f"{level:g}"),
    Factor("depth", "offset added to every stage's repeats (at least 1 repeat per stage)", (-1, 0, 1), 0,
           "standard", "integers down to the one that leaves every stage 1 repeat", _integer, _offset_depth,
           label=lambda level: f"{level:+d}" if level else "0"),
    Factor("se_position", "where SE sits in every block of the SE baseline (seed 004): after the depthwise conv, "
           "at the block end, only in blocks without a skip, or nowhere", SE_POSITIONS, "dw", "se",
           f"one of {', '.join(SE_POSITIONS)}", _choice(SE_POSITIONS), _stage_setting("se_position")),
)}


def get_factor(name: str | None) -> Factor:
    """The factor called ``name``; anything else is a one-line ValueError listing the factors."""
    if name is None:
        raise ValueError(f"--factor: required, one of {', '.join(FACTORS)}")
    if name not in FACTORS:
        raise ValueError(f"--factor: must be one of {', '.join(FACTORS)}, got {name!r}")
    return FACTORS[name]


def parse_levels(factor: Factor, text: str | None) -> tuple[Level, ...]:
    """``--levels a,b,c`` as typed levels (the factor's defaults when None); duplicates dropped, order kept."""
    if text is None:
        return factor.levels
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        problem = "an empty level (a comma too many)" if any(items) else "no levels given"
        raise ValueError(f"--levels {text!r}: {problem}; {_allowed_levels(factor)}")
    levels = []
    for item in items:
        try:
            levels.append(factor.parse(item))
        except ValueError as error:
            raise ValueError(_level_error(factor, item, str(error))) from None
    return tuple(dict.fromkeys(levels))


def make_arms(factor: Factor, levels: tuple[Level, ...] | None = None, num_classes: int = 100) -> list[Arm]:
    """One arm per level, the baseline level first added when missing: every change is measured against it.

    Each level is applied to the factor's base genome, so a level the genome rejects (say an R that leaves
    no SE channel) is a one-line ValueError naming the factor and its allowed levels, raised before any
    training starts. Two levels giving the same network would train the same thing twice, so they are
    refused too.
    """
    levels = tuple(levels if levels is not None else factor.levels)
    if factor.baseline_level not in levels:
        levels = (factor.baseline_level, *levels)
    base = factor.base_genome(num_classes)
    arms, seen = [], {}
    for level in levels:
        try:
            genome = factor.apply(base, level)
        except ValueError as error:
            raise ValueError(_level_error(factor, factor.label(level), str(error))) from None
        label = factor.label(level)
        name = f"{factor.name}={label}"
        if genome.id in seen:
            raise ValueError(f"--levels: {seen[genome.id]} and {name} give the same network ({genome.id}); "
                             f"drop one")
        seen[genome.id] = name
        cost = cost_of(genome)
        arms.append(Arm(name, label, level, genome, level == factor.baseline_level, cost.total_macs,
                        cost.total_params))
    return arms


def _level_error(factor: Factor, level: str, problem: str) -> str:
    return f"--levels: {factor.name} level {level!r}: {problem}; {_allowed_levels(factor)}"


def _allowed_levels(factor: Factor) -> str:
    return f"{factor.name} levels are {factor.allowed} (default {','.join(factor.label(v) for v in factor.levels)})"

