"""``python -m evaluators.fidelity``'s command line: parse, train what the journal lacks, report."""
from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from space import Genome, cost_of

from ..arguments import check_folder, random_seed
from ..data import DataError, ImageData, load_data
from ..presets import Fidelity, get_fidelity
from ..trainer import resolve_device
from ._files import write_csv, write_scatter
from ._jobs import MAX_GENOMES, ORDERS, Job, block_strings, genomes_for, read_journal, run_jobs
from ._report import Judged, baseline_seed_sds, print_ranking

DESCRIPTION = "Does the CPU proxy rank genomes like training at the paper's resolution?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluators.fidelity", description=DESCRIPTION)
    parser.add_argument("--genomes", type=int, default=20, help="genomes to rank, baseline included (default 20)")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--proxy", default="proxy", help="the cheap preset (default proxy)")
    parser.add_argument("--reference", default="reference", help="the preset judged against (default reference)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of the random genomes (default 0)")
    parser.add_argument("--train-seed", type=random_seed, default=0, help="training seed of every genome (default 0)")
    parser.add_argument("--baseline-seeds", type=int, default=3,
                        help="training seeds of the baseline at both fidelities, for its mean +- SD (default 3; "
                             "at least --genome-seeds)")
    parser.add_argument("--genome-seeds", type=int, default=1,
                        help="training seeds of every genome at both fidelities (default 1); with 2 or more the "
                             "report measures how well each fidelity repeats its own ranking, and the noise "
                             "ceiling pools every genome's seeds instead of the baseline's alone")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel CPU trainings, one torch thread each (default: cores)")
    parser.add_argument("--reference-device", default="auto",
                        help="where the reference trains: auto (default: cuda if there is one), cpu, cuda")
    parser.add_argument("--reference-graphs", action="store_true",
                        help="replay each reference training step from a CUDA graph (CUDA only): at batch 8 a step "
                             "is bound by kernel launches, which a graph replays at once")
    parser.add_argument("--reference-jobs", type=int, default=4,
                        help="parallel reference trainings when they share a GPU (default 4)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--checkpoints", metavar="DIR", default=None,
                        help="save every training under DIR at its epoch ends, so that a run killed mid-training "
                             "resumes it from its last epoch; removed once in the journal (default: as the preset "
                             "says: reference and proxy do not checkpoint, a killed training starts over)")
    parser.add_argument("--held-out", metavar="SPEC", default=None,
                        help="also evaluate every reference training's final weights on SPEC's validation images "
                             "and judge the proxy by those figures, e.g. synthetic:seed=1,train=1,val=1000 (10,000 "
                             "images no training saw): a saturated reference's ranking is mostly the noise of "
                             "--data's 1,000 (default: none)")
    parser.add_argument("--order", choices=ORDERS[:2], default="longest",
                        help="which trainings of a seed start first: longest (default; the whole set finishes "
                             "soonest) or shortest (the most genomes finish by a deadline, e.g. a CPU run that "
                             "must stop within hours and resume later), by MACs x epochs x crop^2")
    parser.add_argument("--out", default="results/fidelity", help="folder for the CSV, plot and journal")
    parser.add_argument("--from-journal", action="store_true",
                        help="train nothing: report on the genomes --out's runs.jsonl holds at both fidelities")
    parser.add_argument("--only", choices=("proxy", "reference"),
                        help="train one fidelity's runs alone, e.g. the proxy on a CPU machine and the reference on "
                             "a GPU one; copy both journals into one runs.jsonl, then report with --from-journal")
    args = parser.parse_args(argv)
    problems = [f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}"
                for name, low in (("genomes", 3), ("baseline_seeds", 1), ("genome_seeds", 1), ("jobs", 1),
                                  ("reference_jobs", 1),
                                  ("bootstrap", 100)) if getattr(args, name) < low]
    try:
        args.proxy_fidelity = _preset("--proxy", args.proxy)
        args.reference_fidelity = _preset("--reference", args.reference)
        args.reference_device = str(resolve_device(args.reference_device))
        check_folder("--out", args.out)
        check_folder("--checkpoints", args.checkpoints)
    except ValueError as error:
        problems.append(str(error))
    if args.genomes > MAX_GENOMES:
        problems.append(f"--genomes must be <= {MAX_GENOMES}, got {args.genomes} (each one is trained at both "
                        f"fidelities)")
    if args.reference_graphs and not args.reference_device.startswith("cuda"):
        problems.append(f"--reference-graphs: CUDA graphs need the reference on a CUDA device, not "
                        f"{args.reference_device}")
    if problems:
        parser.exit(2, f"error: {problems[0]}\n")
    return args


def _preset(flag: str, name: str) -> Fidelity:
    try:
        return get_fidelity(name)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        data = load_data(args.data)  # decoded (and cached) once here, before the workers read the cache
        held_out = load_data(args.held_out) if args.held_out else None
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if held_out and held_out.num_classes != data.num_classes:
        print(f"error: --held-out {args.held_out!r} has {held_out.num_classes} classes and --data {args.data!r} "
              f"{data.num_classes}: the held-out images must be of --data's classes", file=sys.stderr)
        return 2
    study = Study(args, genomes_for(args.genomes, data.num_classes, args.seed))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print_header(args, data, held_out, len(study.genomes))

    journal = out / "runs.jsonl"
    jobs = study.jobs()
    report = functools.partial(print_trained, itertools.count(1), started)
    try:
        records = read_journal(journal) if args.from_journal else run_jobs(jobs, journal, study.workers(), report,
                                                                            args.order)
    except ValueError as error:  # a journal that is not one
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.only:
        print(f"{args.only}: {len(jobs)} trainings in {journal} ({time.monotonic() - started:.0f}s)")
        return 0
    complete = study.judged_genomes(records, journal)
    if len(complete) < 3:
        print(f"error: {journal} holds {len(complete)} of the {len(study.genomes)} genomes at both fidelities; "
              f"at least 3 are needed", file=sys.stderr)
        return 2
    rows = [study.row(genome, records) for genome in complete]
    fidelities = (args.proxy_fidelity, args.reference_fidelity)
    baseline_runs = [list(study.finished(study.genomes[0], fidelity, records).values()) for fidelity in fidelities]
    seed_runs = [[study.finished(genome, fidelity, records) for genome in complete] for fidelity in fidelities]
    evaluated = len(data.val_labels)
    judged = Judged.held_out(len(held_out.val_labels), evaluated) if held_out else Judged.default(evaluated)
    write_csv(rows, out / "fidelity.csv")
    write_scatter(rows, out / "fidelity.html", f"{fidelities[0].name} vs {fidelities[1].name} on {data.name}, "
                  f"{len(rows)} genomes", baseline_seed_sds(baseline_runs), judged.top1)
    print(f"files: {out / 'fidelity.csv'}, {out / 'fidelity.html'}")
    print(f"wall time: {time.monotonic() - started:.0f}s")
    print_ranking(rows, baseline_runs, seed_runs, *fidelities, args.bootstrap, judged, args.train_seed)
    return 0


def print_header(args: argparse.Namespace, data: ImageData, held_out: ImageData | None, genomes: int) -> None:
    proxy, reference = args.proxy_fidelity, args.reference_fidelity
    images = len(data.train_labels)
    print(f"{genomes} genomes on {data.name}: {proxy.name} ({proxy.crop} px, {proxy.total_steps(images)} "
          f"steps of {proxy.batch_size}) on cpu x {args.jobs} vs {reference.name} ({reference.crop} px, "
          f"{reference.total_steps(images)} steps of {reference.batch_size}) on {args.reference_device}"
          + (f", judged on {len(held_out.val_labels):,} held-out images ({args.held_out})" if held_out else ""),
          flush=True)


def print_trained(numbers: Iterator[int], started: float, job: Job, record: dict[str, Any]) -> None:
    """One line per finished training, numbered in the order they finish."""
    held_out = (f", {record['held_out_top1']:.2f}% on the held-out images"
                if record.get("held_out_top1") is not None else "")
    print(f"[{next(numbers)}] {job.genome.id} {job.fidelity.name} seed {job.seed}: {record['top1']:.2f}%{held_out} "
          f"in {record['seconds']:.0f}s on {record['device']} ({time.monotonic() - started:.0f}s)", flush=True)


@dataclass(frozen=True)
class Study:
    """The trainings the flags ask for, and how the journal's records of them make the report's rows."""

    args: argparse.Namespace
    genomes: list[Genome]

    @property
    def seeds(self) -> list[int]:
        return [self.args.train_seed + k for k in range(max(self.args.baseline_seeds, self.args.genome_seeds))]

    def held_out_for(self, fidelity: Fidelity) -> str | None:
        return self.args.held_out if fidelity == self.args.reference_fidelity else None

    def key(self, genome: Genome, fidelity: Fidelity, seed: int | None = None) -> str:
        seed = self.args.train_seed if seed is None else seed
        return Job(genome, fidelity, self.args.data, seed, "", held_out=self.held_out_for(fidelity)).key

    def jobs(self) -> list[Job]:
        """Every training, one per key (one when both presets are the same); the baseline's extra seeds go last
        (they sort after everything else), so that a run cut short by a time limit has spent it on the genomes
        first."""
        args = self.args
        how = ((args.proxy_fidelity, "cpu", False),
               (args.reference_fidelity, args.reference_device, args.reference_graphs))
        jobs = [Job(genome, fidelity, args.data, seed, device, graphs, args.checkpoints, self.held_out_for(fidelity))
                for seed in self.seeds for fidelity, device, graphs in how
                for genome in (self.genomes if seed < args.train_seed + args.genome_seeds else self.genomes[:1])]
        jobs = list({job.key: job for job in jobs}.values())
        if args.only:
            jobs = [job for job in jobs if job.fidelity == getattr(args, f"{args.only}_fidelity")]
        return jobs

    def workers(self) -> dict[str, int]:
        if self.args.reference_device == "cpu":
            return {"cpu": self.args.jobs}
        return {"cpu": self.args.jobs, "gpu": self.args.reference_jobs}

    def judged_genomes(self, records: dict[str, dict[str, Any]], journal: Path) -> list[Genome]:
        """The genomes the journal holds at both fidelities (with a held-out figure where one is asked for),
        saying which were left out and why."""
        proxy, reference = self.args.proxy_fidelity, self.args.reference_fidelity
        complete = [genome for genome in self.genomes
                    if self.key(genome, proxy) in records and self.key(genome, reference) in records]
        unevaluated = [genome for genome in complete if self.args.held_out
                       and records[self.key(genome, reference)].get("held_out_top1") is None]
        if unevaluated:  # a reference training that failed before its last epoch left no weights to evaluate
            print(f"note: {len(unevaluated)} genome(s) left out, their reference training failed before it could be "
                  f"evaluated on the held-out images: {', '.join(genome.id for genome in unevaluated)}")
        missing = len(self.genomes) - len(complete)
        if missing:
            print(f"note: {missing} of {len(self.genomes)} genomes left out, not trained at both fidelities in "
                  f"{journal}")
        return [genome for genome in complete if genome not in unevaluated]

    def row(self, genome: Genome, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
        p = records[self.key(genome, self.args.proxy_fidelity)]
        r = records[self.key(genome, self.args.reference_fidelity)]
        return {"genome_id": genome.id, "is_baseline": genome == self.genomes[0], "blocks": block_strings(genome),
                "macs": cost_of(genome).total_macs, "proxy_top1": p["top1"], "reference_top1": r["top1"],
                "proxy_eval_loss": p.get("eval_loss"), "reference_eval_loss": r.get("eval_loss"),
                "reference_held_out_top1": r.get("held_out_top1"),
                "reference_held_out_eval_loss": r.get("held_out_eval_loss"),
                "proxy_seconds": round(p["seconds"], 1), "reference_seconds": round(r["seconds"], 1),
                "proxy_status": p["status"], "reference_status": r["status"]}

    def finished(self, genome: Genome, fidelity: Fidelity, records: dict[str, dict[str, Any]]) -> dict[int, float]:
        """Top-1 by seed of the runs that finished (on the held-out images where they are the reference's):
        one diverged seed would swamp the SD pooled over the rest."""
        found = {seed: records.get(self.key(genome, fidelity, seed)) for seed in self.seeds}
        figure = "held_out_top1" if self.held_out_for(fidelity) else "top1"
        return {seed: record[figure] for seed, record in found.items() if record and record["status"] == "ok"}
