"""``python -m evaluators.latency``'s command line: time one genome, or check the table's predictions on many."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from typing import Any

import torch

from space import BLOCK_TYPES, Genome, cost_of, default_space, sample_genomes
from space.cost import resolve_genome
from space.sampling import random_genome

from ..arguments import (check_folder, int_at_least, non_negative_int, positive_int, random_seed, refuse,
                         thread_count)
from ..data import SYNTHETIC_DEFAULTS
from ..presets import PRESETS
from ..trainer import batch_too_big, is_out_of_memory, resolve_device
from ._fit import LatencyPredictor, MissingRows
from ._measure import measure_in_context, measure_network, measure_training_step
from ._table import REFERENCE, LatencyTable, predict_latency
from ._timing import machine_fingerprint

DESCRIPTION = "``python -m evaluators.latency [GENOME] [--device cpu|cuda] [--batch 1] [--threads 1] [--json]``"

TOLERANCE = 0.10
"""--validate's target: the share of genomes whose predicted latency is within +-10% of the measured one."""
POPULATIONS = ("space", "wide")
"""Where --validate draws its genomes: the search's default space (sized to the default data's classes, as
a default search draws its fit genomes) or ``random_genome``'s wider population (100 classes)."""


def validation_genomes(count: int, fit_genomes: int, seed: int, population: str) -> tuple[list[Genome], list[Genome]]:
    """--validate's genomes and its fit's, from two streams of one seed, so that no validation genome is in the
    fit unless the two draw it alike; ``benchmarks/latency_fit_cv.py`` redraws them from a run's summary."""
    if population == "wide":
        rng, fit_rng = random.Random(seed), random.Random(f"fit-{seed}")
        return [random_genome(rng) for _ in range(count)], [random_genome(fit_rng) for _ in range(fit_genomes)]
    if population != "space":
        raise ValueError(f"--population: must be one of {', '.join(POPULATIONS)}, got {population!r}")
    classes = SYNTHETIC_DEFAULTS["classes"]
    return (sample_genomes(default_space(), count, classes, seed),
            sample_genomes(default_space(), fit_genomes, classes, f"fit-{seed}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.latency", description=DESCRIPTION)
    parser.add_argument("genome", nargs="?", default="baseline", help="'baseline' (default) or a genome JSON file")
    parser.add_argument("--block", choices=BLOCK_TYPES, help="use this block type in every stage")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--batch", type=positive_int, default=1, help="inference batch size (default 1)")
    parser.add_argument("--threads", type=thread_count, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--clock", default="wall", help="wall (default: latency) or cpu (the thread's CPU time; "
                                                        "steadier on a shared machine; 1 CPU thread only)")
    parser.add_argument("--runs", type=int_at_least(50), default=50,
                        help="timed calls per repeat (default 50, at least 50)")
    parser.add_argument("--validate", type=int_at_least(2), metavar="N",
                        help="compare predicted and measured latency on N random genomes")
    parser.add_argument("--fit-genomes", type=non_negative_int, metavar="K", default=0,
                        help="with --validate: also predict from a fit on K other random genomes' pieces")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of --validate's random genomes (default 0)")
    parser.add_argument("--population", choices=POPULATIONS, default="space",
                        help="--validate's genomes: the search's default space (default) or the wider population "
                             "of space.sampling.random_genome (the validations before 2026-12-05 10:00)")
    parser.add_argument("--no-train", action="store_true", help="skip the training cost per image")
    parser.add_argument("--cache-dir", help="where the lookup tables live (default: $EFFCNN_CACHE or "
                                            "~/.cache/effcnn-nas, under latency/)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    try:
        if args.fit_genomes and args.validate is None:
            raise ValueError("--fit-genomes: predicts --validate's genomes from a fit; give --validate N as well")
        check_folder("--cache-dir", args.cache_dir)
        if args.device.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"--device: must be cpu or cuda[:N], got {args.device!r}")
        machine = machine_fingerprint(args.device, threads=args.threads, batch=args.batch, clock=args.clock)
        genome = resolve_genome(args.genome, args.block)
        too_big = batch_too_big(args.batch, genome.resolution, resolve_device(args.device))
        if too_big:
            raise ValueError(f"--batch: {too_big}")
        table = LatencyTable.for_machine(machine, args.cache_dir)
    except ValueError as error:
        refuse(parser, error, args)
    print(f"machine: {machine.describe()}", file=sys.stderr, flush=True)
    try:
        if args.validate is not None:
            return _validate(table, args.validate, args.seed, args.population, args.runs, args.fit_genomes, args.json)
        record = _measure_one(genome, table, args.runs, train=not args.no_train)
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        training = "" if args.no_train else f", training at the proxy's batch {PRESETS['proxy'].batch_size}"
        parser.exit(1, f"error: out of memory (inference at --batch {args.batch}{training}): lower --batch, measure a "
                       f"smaller genome{'' if args.no_train else ', or skip training with --no-train'}\n")
    print(_describe(record))
    if args.json:
        print(json.dumps(record))
    return 0


def _measure_one(genome: Genome, table: LatencyTable, runs: int, train: bool) -> dict[str, Any]:
    machine = table.machine
    cost = cost_of(genome)
    measured = measure_network(genome, machine, runs=runs)
    predicted = predict_latency(genome, table)
    record: dict[str, Any] = {
        "genome_id": genome.id, "resolution": genome.resolution, "macs": cost.total_macs,
        "params": cost.total_params, "latency_ms": measured.median_ms, "latency_iqr_ms": measured.iqr_ms,
        "latency_repeat_medians_ms": list(measured.repeat_medians_ms), "runs": measured.runs,
        "predicted_latency_ms": predicted, "machine": machine.to_dict(), "table": str(table.path),
    }
    if train:
        proxy = PRESETS["proxy"]
        step = measure_training_step(genome, machine, proxy)
        record["train"] = {"fidelity": proxy.name, "batch": proxy.batch_size, "crop": proxy.crop,
                           "ms_per_image": step.median_ms / proxy.batch_size,
                           "iqr_ms_per_image": step.iqr_ms / proxy.batch_size, "runs": step.runs,
                           "repeat_medians_ms_per_step": list(step.repeat_medians_ms)}
    return record


def _describe(record: dict[str, Any]) -> str:
    error = record["predicted_latency_ms"] / record["latency_ms"] - 1
    lines = [
        f"genome {record['genome_id']} at {record['resolution']} px: {record['macs'] / 1e6:.2f}M MACs, "
        f"{record['params'] / 1e6:.2f}M params",
        f"inference: {record['latency_ms']:.3f} ms median (IQR {record['latency_iqr_ms']:.3f} ms; repeat medians "
        f"{' / '.join(f'{v:.3f}' for v in record['latency_repeat_medians_ms'])} ms; "
        f"{len(record['latency_repeat_medians_ms'])} x {record['runs']} runs)",
        f"predicted by the block table: {record['predicted_latency_ms']:.3f} ms ({error:+.1%})",
    ]
    if "train" in record:
        train = record["train"]
        lines.append(f"training at the {train['fidelity']} fidelity (batch {train['batch']}, {train['crop']} px, "
                     f"forward + backward + SGD step): {train['ms_per_image']:.3f} ms per image "
                     f"(IQR {train['iqr_ms_per_image']:.3f})")
    return "\n".join(lines)


def _validate(table: LatencyTable, count: int, seed: int, population: str, runs: int, fit_genomes: int,
              as_json: bool) -> int:
    """Measure ``count`` random genomes in context beside their predictions: each network whole and its pieces,
    every call paired with a reference call (``measure_in_context``), so that a prediction and the network it is
    compared with are on one scale however the machine's speed drifts. "table" sums the genome's pieces as the
    table has them (the ones it lacked, from this very measurement: this checks that the pieces add up to the
    network); "fit" predicts them as a search does for genomes the table has not measured, from the rows of
    K other random genomes and a fit on them. The fit's genomes come from another seed's stream, so no
    validation genome's pieces are in the fit unless two genomes share them."""
    # Imported here, not with the module: every trial process imports this module (for the predictor) and
    # would pay about a second for scipy.stats that only this check uses.
    from scipy import stats

    genomes, fitted = validation_genomes(count, fit_genomes, seed, population)
    predictor = None
    if fitted:
        table.build(fitted)
        predictor = table.predictor(fitted)
        print(f"fit on {fit_genomes} other genomes: {predictor.describe()}", flush=True)
    columns: dict[str, list[float]] = {"measured": [], "table": [], "fit": [], "macs": []}
    for index, genome in enumerate(genomes):
        if predictor:
            columns["fit"].append(_fitted(predictor, genome))
        timed = measure_in_context(genome, REFERENCE, table.machine, runs=runs)
        table.add(genome, timed)
        columns["table"].append(table.predict(genome))
        columns["measured"].append(timed.network_ratio * table.reference_ms)
        columns["macs"].append(cost_of(genome).total_macs)
        measured = columns["measured"][-1]
        from_table = columns["table"][-1]
        line = (f"{index + 1}/{count} genome {genome.id}: {columns['macs'][-1] / 1e6:7.1f}M MACs  measured "
                f"{measured:8.3f} ms  table {from_table:8.3f} ms ({from_table / measured - 1:+.1%})")
        if predictor:
            line += f"  fit {columns['fit'][-1]:8.3f} ms ({columns['fit'][-1] / measured - 1:+.1%})" \
                if math.isfinite(columns["fit"][-1]) else "  fit n/a (a kind of piece the fit has too few of)"
        print(line, flush=True)
    summary = {"genomes": count, "seed": seed, "population": population, "fit_genomes": fit_genomes,
               "machine": table.machine.to_dict(),
               "reference_ms": table.reference_ms,
               "spearman_macs": float(stats.spearmanr(columns["macs"], columns["measured"]).statistic)}
    for name in ("table", "fit") if predictor else ("table",):
        # A genome the fit cannot predict counts as a miss; the rank correlation is over those it can.
        within = sum(abs(p / m - 1) <= TOLERANCE for p, m in zip(columns[name], columns["measured"]))
        pairs = [(p, m) for p, m in zip(columns[name], columns["measured"]) if math.isfinite(p)]
        summary[f"{name}_within_10pct"] = within / count
        summary[f"{name}_spearman"] = float(stats.spearmanr(*zip(*pairs)).statistic) if len(pairs) > 1 else math.nan
        print(f"{name}: within +-10%: {within}/{count} ({within / count:.0%}, target >= 90%)  "
              f"spearman(predicted, measured): {summary[f'{name}_spearman']:.3f}")
    print(f"spearman(MACs, measured): {summary['spearman_macs']:.3f}")
    print(f"(milliseconds on the table's scale: every time is a ratio to the standard baseline ({REFERENCE.id}) "
          f"called right after it, times the table's {table.reference_ms:.3f} ms)")
    if as_json:
        print(json.dumps(summary))
    return 0


def _fitted(predictor: LatencyPredictor, genome: Genome) -> float:
    try:
        return predictor.predict(genome).ms
    except MissingRows:
        return math.nan

