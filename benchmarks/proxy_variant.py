"""Would another proxy rank the committed fidelity study's 20 genomes more like the 56 px reference?

Trains the 20 genomes ``evaluators.fidelity`` draws (the baseline and 19 with ``--seed 0``, training seed 0) at the
``proxy`` preset with some settings overridden, on this CPU with one torch thread per training, journaling each run
in ``OUT/runs.jsonl`` (a stopped run resumes there), then prints its Spearman with the committed reference runs
beside the standard proxy's, and their paired difference: both correlations computed on the same bootstrap resamples
of genomes, so the interval of the difference is paired.

    python benchmarks/proxy_variant.py OUT --crop 32 --epochs 1 [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evaluators.arguments import positive_float, positive_int
from evaluators.data import load_data
from evaluators.fidelity import Job, genomes_for, run_jobs
from evaluators.presets import get_fidelity
from evaluators.ranking import CONFIDENCE, bootstrap, bootstrap_difference, spearman

COMMITTED = Path(__file__).resolve().parent / "fidelity-1205" / "runs.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the variant's runs.jsonl")
    parser.add_argument("--crop", type=positive_int, help="training crop in px (the proxy's: 24)")
    parser.add_argument("--epochs", type=positive_int, help="epochs over the 5,000 images (the proxy's: 2)")
    parser.add_argument("--warmup-epochs", type=positive_float, help="warm-up (the proxy's: 0.1 epochs)")
    parser.add_argument("--jobs", type=positive_int, default=2)
    parser.add_argument("--bootstrap", type=positive_int, default=2000)
    args = parser.parse_args()
    try:
        variant = get_fidelity("proxy", crop=args.crop, epochs=args.epochs, warmup_epochs=args.warmup_epochs)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    variant = variant.replace(name=f"proxy-c{variant.crop}-e{variant.epochs:g}")
    load_data("synthetic")  # decoded into the cache once, before the workers read it
    genomes = genomes_for(20, num_classes=10, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [Job(genome, variant, "synthetic", 0, "cpu") for genome in genomes]
    print(f"{variant.name}: {variant.total_steps(5000)} steps of {variant.batch_size} at {variant.crop} px; "
          f"{len(jobs)} genomes, {args.jobs} at a time", flush=True)

    def report(job: Job, record: dict) -> None:
        print(f"{job.genome.id} {variant.name}: {record['top1']:.2f}% in {record['seconds']:.0f}s", flush=True)

    done = run_jobs(jobs, args.out / "runs.jsonl", {"cpu": args.jobs}, report)
    variant_top1 = {job.genome.id: done[job.key]["top1"] for job in jobs if job.key in done}
    committed = [json.loads(line) for line in COMMITTED.read_text().splitlines()]
    at = {(r["genome_id"], r["fidelity"]): r["top1"] for r in committed if r["seed"] == 0 and r["status"] == "ok"}
    ids = [genome.id for genome in genomes if genome.id in variant_top1 and (genome.id, "reference") in at]
    reference = np.array([at[(i, "reference")] for i in ids])
    proxy = np.array([at[(i, "proxy")] for i in ids])
    variant_accuracy = np.array([variant_top1[i] for i in ids])
    print(f"over {len(ids)} genomes, one seed each; Spearman with the reference, {CONFIDENCE:.0%} bootstrap CI:")
    for name, values in (("proxy", proxy), (variant.name, variant_accuracy)):
        print(f"  {name}: {bootstrap(spearman, values, reference, samples=args.bootstrap)}")
    gain = bootstrap_difference(spearman, variant_accuracy, proxy, reference, samples=args.bootstrap)
    print(f"  {variant.name} - proxy (paired over genomes): {gain.signed()}")
    print(f"  {variant.name} against the proxy itself: {spearman(variant_accuracy, proxy):.3f}")


if __name__ == "__main__":
    main()
