"""What one ablation asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evaluators.presets import Fidelity

from ..tune import Resources
from ._levels import Arm, Factor


@dataclass(frozen=True)
class AblationConfig:
    name: str
    out_dir: Path
    factor: Factor
    arms: list[Arm]
    seeds: int
    data: str
    num_classes: int
    fidelity: Fidelity
    resources: Resources
    cache_dir: str | None
    latency: bool = True
    """Measure each arm's latency (its pieces, into this machine's lookup table) before training."""
    latency_clock: str = "wall"


@dataclass
class Outcome:
    markdown: str
    interrupted: bool
    paths: dict[str, Path | str] = field(default_factory=dict)
