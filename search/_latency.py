"""The latency a search trial records: predicted, never measured while trials train.

Before any trial starts, the run times the pieces (stem, blocks, head) of the baselines and of a seeded
sample of random genomes from the search space, in context inside each network, into this machine's cached
lookup table, and fits the predictor on them (``evaluators.latency``). A trial then predicts its genome's
latency from that: exact rows where the table has measured a piece, the fit for the rest (the default space
holds ~300,000 distinct blocks, far more than can be measured up front). The predictor is recorded in the
study (a copy beside it), so a resumed study and every other run of it predict with the very same numbers;
it is refused on a machine whose fingerprint differs.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import optuna

from evaluators.latency import LatencyPredictor, LatencyTable, Machine, machine_fingerprint
from space import Genome, baseline, sample_genomes
from space import atomic_write

from ._config import SearchConfig
from .study import StudyError

PREDICTOR_FILE = "latency_predictor.json"
PREDICTOR_ATTR = "latency_predictor"
"""Where the study records its predictor, so that every run of it, on any machine's folder, predicts alike."""
REFERENCE_FACTOR = 2
"""The hypervolume's latency reference: this many times the standard Table 1 baseline's predicted latency."""


def latency_machine(clock: str) -> Machine:
    """The machine a search or ablation predicts latency for: this CPU, one thread, batch 1."""
    return machine_fingerprint("cpu", threads=1, batch=1, clock=clock)


def measured_latencies(genomes: list[Genome], clock: str, cache_dir: str | None) -> tuple[list[float], Machine]:
    """Each genome's latency as the sum of its measured pieces, measuring the missing ones now: for a set of
    networks known before training starts (an ablation's arms), so nothing is fitted."""
    machine = latency_machine(clock)
    table = LatencyTable.for_machine(machine, cache_dir)
    if table.missing(genomes):
        print("latency: measuring the networks' pieces before training starts (none is measured while runs train)",
              file=sys.stderr, flush=True)
    table.build(genomes)
    return [table.predict(genome) for genome in genomes], machine


def prepare_latency(config: SearchConfig, study: optuna.Study, study_dir: Path,
                    lock: AbstractContextManager[Any]) -> LatencyPredictor:
    """The study's one predictor, whichever of its runs asks: the one it records (a resumed study's, or one
    another run made), else one built now and recorded under the runs' ``lock``, unless another run recorded
    its own meanwhile: every trial of a study predicts with the same numbers. The run that builds it leaves a copy
    beside its study folder."""
    machine = latency_machine(config.latency_clock)
    predictor = _recorded_predictor(config, study, study_dir, machine)
    if predictor is not None:
        print(f"latency: predicting with the study's saved predictor ({predictor.describe()})", file=sys.stderr)
        return predictor
    built, reference = _build_predictor(config, machine)  # minutes of timing: outside the lock
    with lock:
        predictor = _recorded_predictor(config, study, study_dir, machine)
        if predictor is None:
            study.set_user_attr(PREDICTOR_ATTR, built.to_dict())
            study.set_user_attr("latency_machine", machine.to_dict())
            study.set_user_attr("latency_reference_ms", reference)
    if predictor is not None:
        print(f"latency: another run of this study recorded its predictor first; predicting with that one "
              f"({predictor.describe()})", file=sys.stderr)
        return predictor
    atomic_write(study_dir / PREDICTOR_FILE, json.dumps(built.to_dict(), indent=1) + "\n")
    return built


def _recorded_predictor(config: SearchConfig, study: optuna.Study, study_dir: Path,
                        machine: Machine) -> LatencyPredictor | None:
    """The predictor the study records (or, for a study from before predictors were recorded in it, the file
    beside it), refused when it predicts for another machine."""
    saved = study.user_attrs.get(PREDICTOR_ATTR)
    path = study_dir / PREDICTOR_FILE
    if saved is None and path.exists():
        saved = json.loads(path.read_text())
    if saved is None:
        return None
    predictor = LatencyPredictor.from_dict(saved)
    if predictor.machine != machine:
        raise StudyError(f"study '{config.study_name}' predicts latency for {predictor.machine.describe()}, "
                         f"not this {machine.describe()}; use another --study-name, or run every run of a "
                         f"latency study on one kind of machine")
    return predictor


def _build_predictor(config: SearchConfig, machine: Machine) -> tuple[LatencyPredictor, float]:
    """A predictor fitted on the baselines and a seeded sample of the space, and the hypervolume's latency
    reference it gives."""
    print(f"latency: building the lookup table before trials start (no latency is measured while trials train) "
          f"from the baselines and {config.latency_genomes} random genomes of the space", file=sys.stderr, flush=True)
    table = LatencyTable.for_machine(machine, config.cache_dir)
    genomes = [baseline(block).replace(num_classes=config.num_classes)
               for block in dict.fromkeys(["standard", *config.baseline_blocks])]
    drawn = sample_genomes(config.space, config.latency_genomes, config.num_classes, config.seed)
    if len(drawn) < config.latency_genomes:
        print(f"latency: the space yielded only {len(drawn)} valid genomes of the {config.latency_genomes} asked for",
              file=sys.stderr, flush=True)
    genomes += drawn
    table.build(genomes)
    predictor = table.predictor()
    reference = REFERENCE_FACTOR * predictor.predict(genomes[0]).ms
    print(f"latency: {machine.describe()}: {predictor.describe()}; hypervolume reference {reference:.3f} ms "
          f"({REFERENCE_FACTOR} x the standard baseline's)", file=sys.stderr, flush=True)
    return predictor, reference
