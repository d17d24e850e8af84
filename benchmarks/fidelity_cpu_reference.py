"""Reference trainings of the committed fidelity run on this CPU, the baseline's seeds first.

``python -m evaluators.fidelity --only reference --reference-device cpu`` trains the same runs, longest first,
which on a CPU means an hour or more before the first genome lands. This script trains them in an order that
gives figures early (the baseline's training seeds, then the drawn genomes cheapest first, by their proxy
training's seconds in the journal: at the reference they cost ~15-25x that), two at a time with
one torch thread each, through the fidelity command's own ``Job`` and ``run_job``, and appends each run to the
journal the moment it finishes, exactly as the command would; a device run or the command itself skips them
afterwards.

    python benchmarks/fidelity_cpu_reference.py benchmarks/fidelity-1205 [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from evaluators.data import load_data
from evaluators.fidelity import Job, genomes_for, read_journal, run_job
from evaluators.presets import get_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder holding runs.jsonl")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    load_data("synthetic")  # decoded into the cache once, before the workers read it
    genomes = genomes_for(20, num_classes=10, seed=0)
    reference = get_fidelity("reference")
    journal = args.out / "runs.jsonl"
    done = read_journal(journal)
    proxy_seconds = {record["genome_id"]: record["seconds"] for record in done.values()
                     if record["fidelity"] == "proxy" and record["seed"] == 0}
    drawn = sorted(genomes[1:], key=lambda genome: proxy_seconds.get(genome.id, math.inf))
    order = [(genomes[0], seed) for seed in (0, 1, 2)] + [(genome, 0) for genome in drawn]
    todo = [job for job in (Job(genome, reference, "synthetic", seed, "cpu") for genome, seed in order)
            if job.key not in done]
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool, journal.open("a") as out:
        futures = {pool.submit(run_job, job): job for job in todo}
        for future in as_completed(futures):
            job, record = futures[future], future.result()
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"{job.genome.id} reference seed {job.seed}: {record['top1']:.2f}% in {record['seconds']:.0f}s "
                  f"({record['precision']} on {record['device']}; {time.monotonic() - started:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
