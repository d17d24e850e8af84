"""Reference trainings of the committed fidelity run on this CPU, the baseline's seeds first.

``python -m evaluators.fidelity --only reference --reference-device cpu`` trains the same runs, longest first,
which on a CPU means an hour or more before the first genome lands. This script trains them in an order that
gives figures early (the baseline's training seeds, then the drawn genomes cheapest first, by their proxy
training's seconds in the journal: at the reference they cost ~15-25x that), two at a time with
one torch thread each, through the fidelity command's own ``Job`` and ``run_jobs``, and appends each run to the
journal the moment it finishes, exactly as the command would; a device run or the command itself skips them
afterwards. Each training saves itself at its epoch ends (under ``--checkpoints``, outside the repository by
default), so a stopped session loses at most an epoch of each training in flight: the same command resumes them.
It refuses, before training anything, a folder whose journal lacks the proxy run of a training asked for: the
proxy half (``python -m evaluators.fidelity --only proxy --out DIR``) comes first.

    python benchmarks/fidelity_cpu_reference.py benchmarks/fidelity-1205 [--jobs 2] [--checkpoints DIR]
        [--baseline-seeds 3] [--baseline-only]

More baseline seeds (``--baseline-seeds 5 --baseline-only``) narrow the seed SD the report's noise ceiling
rests on; their proxy half is ``python -m evaluators.fidelity --only proxy --baseline-seeds 5``, and the report
then takes the same ``--baseline-seeds``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from evaluators.arguments import check_folder, positive_int, refuse
from evaluators.data import default_cache_dir, load_data
from evaluators.fidelity import Job, genomes_for, read_journal, run_jobs
from evaluators.presets import get_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path,
                        help="folder holding runs.jsonl with the run's proxy half (python -m evaluators.fidelity "
                             "--only proxy --out OUT)")
    parser.add_argument("--jobs", type=positive_int, default=2)
    parser.add_argument("--baseline-seeds", type=positive_int, default=3,
                        help="the baseline's training seeds 0..N-1, trained first (default 3)")
    parser.add_argument("--baseline-only", action="store_true", help="train the baseline's seeds, no drawn genome")
    parser.add_argument("--checkpoints", type=Path, default=default_cache_dir() / "checkpoints",
                        help="where trainings save themselves at epoch ends (default: the data cache's checkpoints/)")
    args = parser.parse_args()
    try:
        check_folder("--checkpoints", str(args.checkpoints))
    except ValueError as error:
        refuse(parser, error, args)
    genomes = genomes_for(20, num_classes=10, seed=0)
    journal = args.out / "runs.jsonl"
    proxy_half = f"python -m evaluators.fidelity --only proxy --baseline-seeds {args.baseline_seeds} --out {args.out}"
    if not journal.is_file():
        parser.exit(2, f"error: {args.out}: no runs.jsonl; this trains the reference half of a fidelity run whose "
                       f"proxy half is journaled there ({proxy_half})\n")
    try:  # (genome id, seed): the proxy training's seconds
        proxy = {(record["genome_id"], record["seed"]): record.get("seconds", math.inf)
                 for record in read_journal(journal).values() if record["fidelity"] == "proxy"}
    except ValueError as error:  # read_journal's, naming the file and line (it checks the fields read here)
        refuse(parser, error, args)
    proxy_seconds = {genome_id: seconds for (genome_id, seed), seconds in proxy.items() if seed == 0}
    drawn = sorted(genomes[1:], key=lambda genome: proxy_seconds.get(genome.id, math.inf))
    order = [(genomes[0], seed) for seed in range(args.baseline_seeds)]
    if not args.baseline_only:
        order += [(genome, 0) for genome in drawn]
    missing = [(genome, seed) for genome, seed in order if (genome.id, seed) not in proxy]
    if missing:
        genome, seed = missing[0]
        parser.exit(2, f"error: {journal}: no proxy run of {len(missing)} of the {len(order)} reference trainings "
                       f"asked for (first {genome.id} seed {seed}); its proxy half first: {proxy_half}\n")
    load_data("synthetic")  # decoded into the cache once, before the workers read it
    reference = get_fidelity("reference")
    jobs = [Job(genome, reference, "synthetic", seed, "cpu", checkpoint_dir=str(args.checkpoints))
            for genome, seed in order]
    started = time.monotonic()

    def report(job: Job, record: dict) -> None:
        print(f"{job.genome.id} reference seed {job.seed}: {record['top1']:.2f}% in {record['seconds']:.0f}s "
              f"({record['precision']} on {record['device']}; {time.monotonic() - started:.0f}s)", flush=True)

    run_jobs(jobs, journal, {"cpu": args.jobs}, report, order="given")


if __name__ == "__main__":
    main()
