"""``python -m evaluators.fidelity --genomes N``: does the cheap proxy rank genomes like longer training does?

Trains the baseline and N-1 random genomes at the proxy preset and at a longer fidelity (the proxy with
``--factor`` times the epochs, 4 by default) on the same data, prints both accuracies per genome and, last,
the rank correlations ``spearman: <float> kendall: <float>``. Genomes train in parallel processes, one
torch thread each, so the figure is reproducible for a seed on one machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from scipy import stats

from space import Genome, baseline, cost_of
from space.sampling import random_genome

from .data import load_data
from .presets import Fidelity, get_fidelity
from .trainer import train


def genomes_for(count: int, num_classes: int, seed: int) -> list[Genome]:
    """The baseline first, then ``count - 1`` random genomes (SE placement kept as in the papers)."""
    rng = random.Random(seed)
    others = [random_genome(rng, num_classes=num_classes, se_positions=("dw",)) for _ in range(count - 1)]
    return [baseline().replace(num_classes=num_classes), *others]


def _accuracy(job: tuple[Genome, str, Fidelity, int, str]) -> float:
    genome, data, fidelity, seed, device = job
    return train(genome, load_data(data), fidelity, seed=seed, device=device, threads=1).accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=10, help="genomes to rank, baseline included (default 10)")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--fidelity", default="proxy", help="the cheap preset (default proxy)")
    parser.add_argument("--factor", type=int, default=4, help="epochs multiplier of the long fidelity (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel trainings (default: cores)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto; jobs share one GPU")
    args = parser.parse_args(argv)
    if args.genomes < 3 or args.factor < 2:
        parser.exit(2, "error: --genomes must be >= 3 and --factor >= 2\n")
    started = time.monotonic()
    data = load_data(args.data)
    cheap = get_fidelity(args.fidelity)
    long = cheap.replace(name=f"{cheap.name}x{args.factor}", epochs=cheap.epochs * args.factor,
                         warmup_epochs=cheap.warmup_epochs * args.factor)
    genomes = genomes_for(args.genomes, data.num_classes, args.seed)
    print(f"{len(genomes)} genomes on {data.name}: {cheap.name} ({cheap.epochs} epochs, {cheap.crop} px) vs "
          f"{long.name} ({long.epochs} epochs), {args.jobs} jobs on {args.device}", flush=True)
    jobs = [(g, args.data, f, args.seed, args.device) for f in (cheap, long) for g in genomes]
    # Longest first, so the slowest training does not start last; spawned workers, since a forked child
    # cannot initialise CUDA.
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][2].epochs * cost_of(jobs[i][0]).total_macs)
    accuracies = [0.0] * len(jobs)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_accuracy, jobs[i]): i for i in order}
        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            accuracies[index] = future.result()
            print(f"[{done}/{len(jobs)}] {jobs[index][0].id} {jobs[index][2].name}: {accuracies[index]:.2f}% "
                  f"({time.monotonic() - started:.0f}s)", flush=True)
    short, full = accuracies[:len(genomes)], accuracies[len(genomes):]
    print(f"{'genome':<14}{'MACs':>10}{cheap.name:>12}{long.name:>12}")
    for genome, a, b in zip(genomes, short, full):
        tag = " (baseline)" if genome == genomes[0] else ""
        print(f"{genome.id:<14}{cost_of(genome).total_macs / 1e6:>9.1f}M{a:>12.2f}{b:>12.2f}{tag}")
    macs = [cost_of(g).total_macs for g in genomes]
    print(f"for comparison, MACs alone vs {long.name}: spearman {stats.spearmanr(macs, full).statistic:.3f}")
    print(f"wall time: {time.monotonic() - started:.0f}s")
    print(f"spearman: {stats.spearmanr(short, full).statistic:.3f} kendall: {stats.kendalltau(short, full).statistic:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
