"""How many fit genomes the latency predictor needs: cross-validation over a finished ``--validate`` run.

``python -m evaluators.latency --validate N --fit-genomes K --seed S --cache-dir DIR --json > LOG`` leaves a
table holding the pieces of N + K genomes and, in LOG, each validation genome's measured latency. One such run
is one split: K fit genomes against N others, a share within +-10 % known to a few genomes in N. This script
draws many splits from the same measurements, no timing needed: for each size in ``--fit-sizes``, ``--splits``
random sets of genomes from the N + K (seeded), the predictor a search would build from their rows
(``LatencyTable.predictor``), and the share of the other validation genomes it predicts within +-10 % of
their measured latency. The splits share genomes, so their spread understates a fresh machine's; the mean is
what a default is chosen by.

    python benchmarks/latency_fit_cv.py --log LOG --cache-dir DIR [--fit-sizes 10,20,30] [--splits 60]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from pathlib import Path

from evaluators.arguments import positive_int, positive_int_list, random_seed
from evaluators.latency import TOLERANCE, LatencyTable, Machine, MissingRows, validation_genomes

MEASURED_LINE = re.compile(r"genome (\w+):\s+\S+M MACs\s+measured\s+([\d.]+) ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="stdout of evaluators.latency --validate ... --json")
    parser.add_argument("--cache-dir", required=True, help="the --cache-dir that run used")
    parser.add_argument("--fit-sizes", type=positive_int_list, default="10,20,30",
                        help="fit genomes per split, comma-separated (default 10,20,30)")
    parser.add_argument("--splits", type=positive_int, default=60, help="random splits per size (default 60)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of the splits (default 0)")
    args = parser.parse_args(argv)
    if not Path(args.cache_dir).is_dir():
        parser.exit(2, f"error: --cache-dir: no such folder {args.cache_dir}\n")
    try:
        text = Path(args.log).read_text()
        summary = json.loads(text.strip().splitlines()[-1])
        machine = Machine(**summary["machine"])
        # Runs logged before --population existed drew from the wide population.
        validation, fitted = validation_genomes(summary["genomes"], summary["fit_genomes"], summary["seed"],
                                                summary.get("population", "wide"))
    except KeyError as error:
        parser.exit(2, f"error: --log {args.log}: its last line (the --json summary) lacks {error}\n")
    except (OSError, ValueError, IndexError, TypeError) as error:
        parser.exit(2, f"error: --log {args.log} (the output of --validate ... --json): {error}\n")
    measured = {match.group(1): float(match.group(2)) for match in MEASURED_LINE.finditer(text)}
    try:
        table = LatencyTable.for_machine(machine, args.cache_dir)
    except ValueError as error:
        parser.exit(2, f"error: --cache-dir {args.cache_dir}: {error}\n")
    if not table.rows:
        parser.exit(2, f"error: --cache-dir {args.cache_dir}: no latency table of the logged machine's "
                       f"({machine.key}.json under latency/)\n")
    pool = validation + fitted
    if {genome.id for genome in validation} - measured.keys():
        parser.exit(2, f"error: --log {args.log}: not every validation genome has a measured line\n")
    too_many = [size for size in args.fit_sizes if size >= len(pool)]
    if too_many:
        parser.exit(2, f"error: --fit-sizes: each must be in 1..{len(pool) - 1} (the log's genomes less one), got "
                       f"{too_many[0]}\n")
    split_rng = random.Random(args.seed)
    print(f"{len(pool)} genomes ({len(validation)} with measured networks) on {table.machine.describe()}")
    for size in args.fit_sizes:
        shares = [_share(table, split_rng.sample(pool, size), validation, measured) for _ in range(args.splits)]
        print(f"{size:3d} fit genomes: within +-{TOLERANCE:.0%} in {statistics.mean(shares):.1%} of the others on "
              f"average over {args.splits} splits; splits at >= 90 %: "
              f"{sum(share >= 0.9 for share in shares) / len(shares):.0%}", flush=True)
    return 0


def _share(table: LatencyTable, fitted: list, validation: list, measured: dict[str, float]) -> float:
    predictor = table.predictor(fitted)
    fitted_ids = {genome.id for genome in fitted}
    hits = total = 0
    for genome in validation:
        if genome.id in fitted_ids:
            continue
        try:
            predicted = predictor.predict(genome).ms
        except MissingRows:
            predicted = float("nan")  # a kind of piece the fit has too few of: a miss, as --validate counts it
        hits += abs(predicted / measured[genome.id] - 1) <= TOLERANCE
        total += 1
    return hits / total


if __name__ == "__main__":
    sys.exit(main())
