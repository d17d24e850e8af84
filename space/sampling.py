"""Random valid genomes around the baseline, for tests, fidelity studies and random-search baselines."""

from __future__ import annotations

import random

from .baseline import baseline
from .genome import BLOCK_TYPES, SE_POSITIONS, Genome, Stage


def random_genome(rng: random.Random, num_classes: int = 100, resolution: int = 56,
                  se_positions: tuple[str, ...] = SE_POSITIONS) -> Genome:
    """A genome whose every per-stage setting is drawn independently around Table 1's values.

    Widths are multiples of 4 (not 8) and expansions include non-integers on purpose, so that timm's
    width rounding is exercised, not just the easy multiples of the baseline.
    """
    reference = baseline()
    stages = []
    for ref in reference.stages:
        block = rng.choice(BLOCK_TYPES)
        stages.append(Stage(
            out_channels=max(4, 4 * round(ref.out_channels * rng.uniform(0.5, 1.5) / 4)),
            repeats=rng.randint(1, ref.repeats + 1),
            stride=ref.stride,
            expansion=rng.choice((1, 2, 3, 4, 4.5, 6)),
            kernel=rng.choice((1, 3, 5, 7)),
            block=block,
            se_ratio=rng.choice((2, 4, 8)),
            experts=rng.choice((1, 2, 4)),
            se_position=rng.choice(se_positions),
        ))
    return Genome(
        stem_channels=rng.choice((8, 12, 16, 24, 32)),
        stages=tuple(stages),
        head_channels=rng.choice((320, 640, 1280)),
        num_classes=num_classes,
        resolution=resolution,
        stem_kernel=rng.choice((3, 5)),
    )
