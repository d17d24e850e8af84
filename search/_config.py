"""What one ``search.run`` invocation asks for, as one value every part of the search reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evaluators.presets import Fidelity

from .study import DEFAULT_GRACE, DEFAULT_OBJECTIVES, Halving, SearchSpace


@dataclass(frozen=True)
class SearchConfig:
    study_name: str
    study_dir: Path
    storage: str | None
    resume: bool
    budget: int
    data: str
    num_classes: int
    fidelity: Fidelity
    space: SearchSpace
    search_training: bool
    sampler: str
    seed: int
    train_seed: int
    baseline_blocks: list[str]
    baseline_seeds: int
    address: str | None
    cpus_per_trial: float
    gpus_per_trial: float | None
    """None: one GPU per trial where CUDA is present, else none."""
    max_concurrent: int | None
    cache_dir: str | None
    halving: Halving = Halving()
    """The successive-halving settings of a new study (the command's defaults unless given)."""
    halving_given: frozenset[str] = frozenset()
    """Halving fields set explicitly (on the command line); a continued study keeps what it recorded for the
    others, so a study resumed through this API without them continues as it was run."""
    device: str = "auto"
    confirm_seeds: int = 0
    keep_weights: str = "front"
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    latency_genomes: int = 30
    """Random genomes of the space whose pieces the latency table measures before trials start."""
    latency_clock: str = "wall"
    heartbeat_grace: int = DEFAULT_GRACE
    """Seconds without a heartbeat after which another run's trial counts as abandoned and is settled."""
    time_limit: float | None = None
    """Seconds of training after which the run stops its running trials (they stay unfinished, to be retrained
    by the next run); None: no limit."""
