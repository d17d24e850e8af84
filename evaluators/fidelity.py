"""``python -m evaluators.fidelity``: does the CPU proxy rank genomes like training at the paper's resolution?

Trains the baseline and ``--genomes - 1`` genomes drawn from the search's default space twice on the same
data: at the ``proxy`` preset (the fidelity the search judges its front by, on a CPU with one torch thread,
exactly as a search trial runs) and at the ``reference`` preset (the paper's 56 px crops, test resize 64 /
centre crop 56, with 4x the proxy's optimizer steps; on a GPU when there is one). It prints, per genome, both
accuracies and, last:

- Spearman and Kendall rank correlations between proxy and reference accuracy, each with a percentile
  bootstrap 90% confidence interval (genomes resampled with replacement);
- how many of the reference's top 5 genomes the proxy also puts in its top 5, beside what a random ranking
  is expected to share;
- for comparison, the Spearman correlation of MACs alone with the reference accuracy (what a cost-only
  guess would achieve), and the proxy's correlation minus it with a paired bootstrap interval;
- where the journal holds the reference's evaluation loss (trainings since 2026-12-06), the proxy's
  correlations with that loss too: a reference near 100 % top-1 ties its genomes in accuracy, not in loss;
- the baseline's mean +- SD over ``--baseline-seeds`` training seeds at both fidelities;
- with ``--genome-seeds 2`` or more (or a journal that holds a second seed of three genomes or more, among
  the seeds the flags ask for), how well each fidelity repeats its own ranking from one training seed to the
  next: the Spearman of its accuracies at the two lowest seeds; and the correlations of each genome's mean over
  its seeds, what a search judging by several seeds' mean would see;
- the noise ceiling: with one training seed per genome, each fidelity's accuracies carry its seed-to-seed
  noise, so even a proxy that ranked the true accuracies perfectly would be expected to show a correlation of
  only sqrt(reliability_proxy x reliability_reference) (Spearman's correction for attenuation), where a
  fidelity's reliability is the share of its across-genome variance not explained by its seed variance,
  pooled over every genome with repeated seeds (the baseline's alone where no other has them; the baseline
  alone understated the proxy's by more than half on the committed study). It is an expectation for Pearson's
  correlation (roughly Spearman's; Kendall's runs lower), not a bound: a sample of 20 genomes scatters around
  it, noise shared by the two fidelities (each genome starts from the same initial weights at both) can lift
  the observed correlation above it, and a seed SD from 3 seeds is itself uncertain by a factor of 2 or more
  (so the line gives the ceiling's range over the seed SDs' chi-square intervals as well). What it does say:
  a reference whose genomes differ by less than its seeds do cannot confirm any proxy, whatever the proxy does.

The noise ceiling's line also gives, beside each seed SD, the evaluation set's binomial SD at the baseline's
accuracy: the part of that noise more evaluation images would remove.

``--held-out SPEC`` removes it: each reference training's final weights are evaluated on SPEC's validation images
as well (``synthetic:seed=1,train=1,val=1000``: 10,000 images from the default data's generator that no training
saw), and the reference's figures in the report (rankings, seed agreement, noise ceiling, scatter) are those. A
reference near 100 % top-1 spreads its genomes over a point or two, as much as 1,000 evaluation images move one
genome: on the committed study the baseline's five reference seeds spread 0.42 points on the default 1,000 images
and 0.17 on the 10,000 (``benchmarks/reference-noise/``). The held-out figures are part of a reference run's
journal record, so a run with the flag trains the reference anew rather than reuse one journaled without it.

Files, in ``--out``: ``runs.jsonl`` (one line per finished training, appended as each finishes, so an
interrupted run resumes where it stopped; with ``--checkpoints DIR`` a training in flight resumes from its last
epoch too), ``fidelity.csv`` (genome id, block strings, MACs, both accuracies and evaluation losses,
seconds) and ``fidelity.html`` (a plotly scatter of reference against proxy accuracy; hover shows the block
strings, accuracies and MACs; the baseline is a star).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

from space import Genome, baseline, cost_of, default_space, sample_genomes

from .arguments import check_folder, random_seed
from .data import DataError, load_data
from .presets import Fidelity, get_fidelity, run_identity
from .ranking import (CONFIDENCE, TOP_K, bootstrap, bootstrap_difference, chance_overlap, kendall, spearman,
                      top_overlap)
from .trainer import SnapshotFn, TrainResult, checkpoint_path, evaluate, precision_for, resolve_device, train

CSV_COLUMNS = ["genome_id", "is_baseline", "blocks", "macs", "proxy_top1", "reference_top1", "proxy_eval_loss",
               "reference_eval_loss", "reference_held_out_top1", "reference_held_out_eval_loss", "proxy_seconds",
               "reference_seconds", "proxy_status", "reference_status"]


# --------------------------------------------------------------------------------------------- statistics


def reliability(values: Sequence[float], seed_sd: float) -> float:
    """Share of the across-genome variance of ``values`` (one seed each) that is not training-seed noise.

    One seed SD serves every genome (the baseline's, or one pooled over the genomes with repeated seeds), so
    this assumes every genome is about as noisy (a genome that diverged to chance widens the spread and so
    flatters the reliability); clipped at 0 when the genomes spread less than one genome's seeds do (the
    measurement cannot tell them apart).
    """
    if len(values) < 2:
        raise ValueError(f"reliability needs at least 2 genomes' accuracies, got {len(values)}")
    spread = statistics.variance(values)
    return max(0.0, 1 - seed_sd**2 / spread) if spread > 0 else 0.0


def evaluation_sd(accuracy: float, images: int) -> float:
    """The SD in points of a top-1 of ``accuracy`` % measured on ``images`` evaluation images, from which
    images a model gets wrong alone (binomial): the part of a seed SD that a larger evaluation set would
    shrink, if seeds' errors fell on images independently."""
    share = accuracy / 100
    return 100 * math.sqrt(share * (1 - share) / images)


def seed_sd_interval(seed_sd: float, runs: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The chi-square interval of a seed SD measured over ``runs`` seeds (normal noise): from 3 seeds an SD is
    known only to within a factor of about 0.6 to 4.4 (at 90 %), which the noise ceiling should not hide. (No
    floor at the evaluation set's binomial SD: every seed is scored on the same images, and the images a genome
    gets wrong are partly the same for every seed, so the seed SD can sit below it.)"""
    tail = (1 - confidence) / 2
    degrees = runs - 1
    return (seed_sd * math.sqrt(degrees / stats.chi2.ppf(1 - tail, degrees)),
            seed_sd * math.sqrt(degrees / stats.chi2.ppf(tail, degrees)))


@dataclass(frozen=True)
class SeedNoise:
    """A fidelity's training-seed SD, pooled within genomes (each genome's runs about its own mean), so that
    genomes of different accuracy can share one estimate."""

    sd: float
    degrees: int
    genomes: tuple[str, ...]

    def describe(self) -> str:
        if len(self.genomes) == 1:
            return f"{self.genomes[0]}, n = {self.degrees + 1}"
        return f"pooled over {len(self.genomes)} genomes' seeds, {self.degrees} degrees of freedom"


def pooled_seed_noise(runs_by_genome: Mapping[str, Sequence[float]]) -> SeedNoise | None:
    """The seed SD from every genome (by name) with two seeds or more; None where no genome has.

    The baseline's seeds alone understate it when other genomes are noisier (on the committed 20-genome
    study's proxy, 2.56 points from the baseline's 5 seeds against 6.01 pooled over them and the 20 genomes'
    second seeds), and the noise ceiling then promises more than a proxy can reach."""
    repeated = {name: runs for name, runs in runs_by_genome.items() if len(runs) > 1}
    if not repeated:
        return None
    degrees = sum(len(runs) - 1 for runs in repeated.values())
    squares = sum((len(runs) - 1) * statistics.variance(runs) for runs in repeated.values())
    return SeedNoise(math.sqrt(squares / degrees), degrees, tuple(repeated))


def noise_ceiling(proxy_reliability: float, reference_reliability: float) -> float:
    """The correlation two measurements of the same true accuracies, with independent noise of these
    reliabilities, are expected to show (Pearson's; an expectation, not a bound)."""
    return math.sqrt(proxy_reliability * reference_reliability)


def mean_sd(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{statistics.fmean(values):.2f} % (n = 1: no spread measured)"
    return f"{statistics.fmean(values):.2f} +- {statistics.stdev(values):.2f} % (n = {len(values)})"


# --------------------------------------------------------------------------------------------- trainings


@dataclass(frozen=True)
class Job:
    """One training: what it trains, how, and on which device; ``key`` identifies it in ``runs.jsonl``
    (``device``, ``graphs`` and ``checkpoint_dir`` say how the steps run, not what they compute, and are not
    part of it)."""

    genome: Genome
    fidelity: Fidelity
    data: str
    seed: int
    device: str
    graphs: bool = False
    checkpoint_dir: str | None = None
    """Where the training saves itself at epoch ends and resumes from, so a kill costs at most one epoch."""
    held_out: str | None = None
    """A data spec whose validation images the final weights are evaluated on as well."""

    @property
    def key(self) -> str:
        identity = [self.genome.id, run_identity(self.fidelity), self.data, self.seed]
        if self.held_out:  # what the record holds, not what is trained: a journal without it still reads
            identity.append({"held_out": self.held_out})
        return json.dumps(identity, sort_keys=True)

    @property
    def training_fidelity(self) -> Fidelity:
        """The preset as trained: checkpointing at epoch ends where the job has somewhere to save."""
        return self.fidelity.replace(checkpoint=True) if self.checkpoint_dir else self.fidelity

    def discard_checkpoint(self) -> None:
        """Remove the finished training's checkpoint, once its record is safe in the journal; a file that
        cannot be removed is only reported, since the result it led to is kept."""
        if not self.training_fidelity.checkpoint:
            return
        name, num_classes = _data_identity(self.data)
        genome = self.genome.replace(num_classes=num_classes)  # as ``train`` names it
        path = checkpoint_path(self.checkpoint_dir, genome, self.training_fidelity, name, self.seed)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            print(f"warning: could not remove the checkpoint {path}: {error}", file=sys.stderr)

    def work(self) -> float:
        """Relative cost, to order the trainings by their length."""
        return cost_of(self.genome).total_macs * self.fidelity.epochs * self.fidelity.crop ** 2


@functools.cache
def _data_identity(spec: str) -> tuple[str, int]:
    """A data set's name and class count, as ``train`` sees them; read once per spec, not once per job."""
    data = load_data(spec)
    return data.name, data.num_classes


def run_job(job: Job) -> dict[str, Any]:
    """Train in a worker process with one torch thread, as a search trial does."""
    held_out: dict[str, float] = {}
    snapshot = _held_out_snapshot(job, held_out) if job.held_out else None
    result = _train_job(job, snapshot)
    if job.held_out and result.status == "ok" and not held_out:
        # Resumed from the checkpoint of a finished training (killed before its journal line): its weights
        # were never evaluated on the held-out images, and only training them again brings them back.
        job.discard_checkpoint()
        result = _train_job(job, snapshot)
    record = {"key": job.key, "genome_id": job.genome.id, "fidelity": job.fidelity.name, "seed": job.seed,
              "top1": result.accuracy, "eval_loss": result.eval_loss, "seconds": result.seconds,
              "status": result.status, "reason": result.reason, "device": result.device,
              "precision": result.precision, "out_of_memory": result.out_of_memory}
    if job.held_out:
        record.update(held_out=job.held_out, held_out_top1=held_out.get("top1"),
                      held_out_eval_loss=held_out.get("loss"))
    return record


def _train_job(job: Job, snapshot: SnapshotFn | None) -> TrainResult:
    return train(job.genome, load_data(job.data), job.training_fidelity, seed=job.seed, device=job.device,
                 threads=1, graphs=job.graphs, checkpoint_dir=job.checkpoint_dir, snapshot=snapshot,
                 progress=functools.partial(_print_epoch, job))


def _print_epoch(job: Job, record: dict[str, Any]) -> None:
    """One line per epoch but the last (the journal's line reports that one): a reference training on a CPU
    runs for hours, and without these a study's log says nothing between one finished training and the next."""
    if record["epoch"] + 1 < record["epochs"]:
        print(f"  {job.genome.id} {job.fidelity.name} seed {job.seed}: epoch {record['epoch'] + 1}/"
              f"{record['epochs']}, {record['top1']:.2f}% ({record['seconds']:.0f}s)", flush=True)


def _held_out_snapshot(job: Job, into: dict[str, float]) -> SnapshotFn:
    """A ``train`` snapshot that evaluates the last epoch's weights on ``job.held_out``, as the trainer
    evaluates its own validation images, into ``into`` (top1, loss)."""
    data = load_data(job.held_out)
    device = resolve_device(job.device)
    dtype = precision_for(device, job.fidelity)

    def evaluate_last(model: Any, info: dict[str, Any]) -> None:
        if info["epoch"] == job.fidelity.epochs - 1:
            measured = evaluate(model, data, job.fidelity, device, dtype)
            into.update(top1=measured.top1, loss=measured.loss)

    return evaluate_last


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Finished trainings by key; a torn last line (a kill mid-write) is ignored."""
    if not path.exists():
        return {}
    done = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[record["key"]] = record
    return done


ORDERS = ("longest", "shortest", "given")
"""How ``run_jobs`` orders its trainings: longest first finishes the whole set soonest (the slowest training
does not start last), shortest first finishes the most of them by a deadline, given keeps the caller's order."""


def run_jobs(jobs: list[Job], journal: Path, workers: dict[str, int],
             report: Callable[[Job, dict[str, Any]], None], order: str = "longest") -> dict[str, dict[str, Any]]:
    """Every job's record, training only those not yet in ``journal``; one process pool per device kind.

    Spawned workers, since a forked child cannot initialise CUDA. Lowest seed first, then by ``order`` (one
    of ``ORDERS``) within a seed, except for ``given``.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    done = read_journal(journal)
    todo = []
    for job in jobs:
        if job.key in done:
            job.discard_checkpoint()  # left by a run killed between its journal line and the removal
        else:
            todo.append(job)
    if order != "given":
        direction = -1 if order == "longest" else 1
        todo.sort(key=lambda job: (job.seed, direction * job.work()))
    context = multiprocessing.get_context("spawn")
    pools = {kind: ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=exit_with_parent,
                                       initargs=(os.getpid(),)) for kind, count in workers.items()}
    try:
        futures: dict[Future, Job] = {pools[_kind(job.device)].submit(run_job, job): job for job in todo}
        with journal.open("a") as out:
            for future in as_completed(futures):
                record = future.result()
                if record.pop("out_of_memory"):
                    job = futures[future]
                    print(f"warning: {job.genome.id} at {job.fidelity.name}, seed {job.seed}: {record['reason']}; "
                          f"not journaled, its checkpoint kept: run the same command again (with fewer jobs) to "
                          f"retry it", file=sys.stderr, flush=True)
                    continue
                out.write(json.dumps(record) + "\n")
                out.flush()
                os.fsync(out.fileno())  # on disk before the checkpoint that could rebuild it goes
                futures[future].discard_checkpoint()
                done[record["key"]] = record
                report(futures[future], record)
    finally:
        for pool in pools.values():
            pool.shutdown(cancel_futures=True)
    return done


def exit_with_parent(parent: int) -> None:
    """Pool initializer: a worker whose parent is gone (killed by a time limit, say) exits instead of training
    on for nobody; its result could no longer reach the journal, and it would hold a core or the GPU."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _kind(device: str) -> str:
    return "cpu" if device == "cpu" else "gpu"


MAX_GENOMES = 1000
"""Every genome is trained at both fidelities, so a study of more is months of CPU time; a million took 100 s to
draw before the first line of output."""


def genomes_for(count: int, num_classes: int, seed: int) -> list[Genome]:
    """The baseline first, then ``count - 1`` genomes drawn uniformly from the search's default space: the
    proxy is judged on the population a search ranks, not on a wider one."""
    return [baseline().replace(num_classes=num_classes), *sample_genomes(default_space(), count - 1, num_classes, seed)]


def block_strings(genome: Genome) -> str:
    return " ".join(stage.encode() for stage in genome.stages)


# --------------------------------------------------------------------------------------------- files


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_scatter(rows: list[dict[str, Any]], path: Path, title: str,
                  baseline_sd: tuple[float, ...] | None = None, reference_column: str = "reference_top1") -> None:
    """Reference (its ``reference_column``) against proxy accuracy, one point per genome; hover: id, block
    strings, accuracies, MACs.

    ``baseline_sd`` (proxy, reference) draws the baseline's seed-to-seed SD as error bars on its star: the
    spread of a single run (two single-seed points differ by sqrt(2) times it from noise alone).
    """
    import plotly.graph_objects as go  # only here: the training workers never need it

    figure = go.Figure()
    bars = lambda sd: dict(type="data", array=[sd], visible=True) if sd is not None else None  # noqa: E731
    proxy_sd, reference_sd = baseline_sd or (None, None)
    for is_baseline, name, marker in ((False, "genome", dict(size=9, color="#1f77b4", opacity=0.7)),
                                      (True, "baseline", dict(size=16, symbol="star", color="#2ca02c",
                                                              line=dict(width=1, color="black")))):
        chosen = [row for row in rows if row["is_baseline"] == is_baseline]
        figure.add_trace(go.Scatter(
            x=[row["proxy_top1"] for row in chosen], y=[row[reference_column] for row in chosen],
            mode="markers", name=name + (" (bars: 1 seed SD)" if is_baseline and baseline_sd else ""),
            marker=marker, error_x=bars(proxy_sd) if is_baseline else None,
            error_y=bars(reference_sd) if is_baseline else None,
            customdata=[[row["genome_id"], row["blocks"].replace(" ", "<br>"), f"{row['macs'] / 1e6:.1f}M"]
                        for row in chosen],
            hovertemplate=("genome %{customdata[0]}<br>%{customdata[1]}<br>proxy %{x:.2f} %<br>"
                           "reference %{y:.2f} %<br>MACs %{customdata[2]}<extra>%{fullData.name}</extra>")))
    held_out = " on held-out images" if reference_column == "reference_held_out_top1" else ""
    figure.update_layout(title=title, xaxis_title="proxy top-1 (%)", yaxis_title=f"reference top-1{held_out} (%)",
                         template="plotly_white", hovermode="closest")
    figure.write_html(path, include_plotlyjs=True)


# --------------------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluators.fidelity", description=__doc__.splitlines()[0])
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
        args.proxy_fidelity = get_fidelity(args.proxy)
        args.reference_fidelity = get_fidelity(args.reference)
        args.reference_device = str(resolve_device(args.reference_device))
        check_folder("--out", args.out)
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
    proxy, reference = args.proxy_fidelity, args.reference_fidelity
    images = len(data.train_labels)
    genomes = genomes_for(args.genomes, data.num_classes, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{len(genomes)} genomes on {data.name}: {proxy.name} ({proxy.crop} px, {proxy.total_steps(images)} "
          f"steps of {proxy.batch_size}) on cpu x {args.jobs} vs {reference.name} ({reference.crop} px, "
          f"{reference.total_steps(images)} steps of {reference.batch_size}) on {args.reference_device}"
          + (f", judged on {len(held_out.val_labels):,} held-out images ({args.held_out})" if held_out else ""),
          flush=True)

    seeds = [args.train_seed + k for k in range(max(args.baseline_seeds, args.genome_seeds))]
    # The baseline's extra seeds go last (they sort after everything else), so that a run cut short by a time
    # limit has spent it on the genomes first.
    how = ((proxy, "cpu", False), (reference, args.reference_device, args.reference_graphs))
    held_out_for = lambda fidelity: args.held_out if fidelity == reference else None  # noqa: E731
    jobs = [Job(genome, fidelity, args.data, seed, device, graphs, args.checkpoints, held_out_for(fidelity))
            for seed in seeds for fidelity, device, graphs in how
            for genome in (genomes if seed < args.train_seed + args.genome_seeds else genomes[:1])]
    jobs = list({job.key: job for job in jobs}.values())  # one training when both presets are the same
    if args.only:
        jobs = [job for job in jobs if job.fidelity == getattr(args, f"{args.only}_fidelity")]
    workers = {"cpu": args.jobs} if args.reference_device == "cpu" else {"cpu": args.jobs, "gpu": args.reference_jobs}
    trained = [0]

    def report(job: Job, record: dict[str, Any]) -> None:
        trained[0] += 1
        held_out = (f", {record['held_out_top1']:.2f}% on the held-out images"
                    if record.get("held_out_top1") is not None else "")
        print(f"[{trained[0]}] {job.genome.id} {job.fidelity.name} seed {job.seed}: {record['top1']:.2f}%{held_out} "
              f"in {record['seconds']:.0f}s on {record['device']} ({time.monotonic() - started:.0f}s)", flush=True)

    journal = out / "runs.jsonl"
    records = read_journal(journal) if args.from_journal else run_jobs(jobs, journal, workers, report, args.order)
    if args.only:
        print(f"{args.only}: {len(jobs)} trainings in {journal} ({time.monotonic() - started:.0f}s)")
        return 0
    key = lambda genome, fidelity, seed=args.train_seed: Job(  # noqa: E731
        genome, fidelity, args.data, seed, "", held_out=held_out_for(fidelity)).key
    complete = [genome for genome in genomes if key(genome, proxy) in records and key(genome, reference) in records]
    unevaluated = [genome for genome in complete if args.held_out
                   and records[key(genome, reference)].get("held_out_top1") is None]
    if unevaluated:  # a reference training that failed before its last epoch left no weights to evaluate
        print(f"note: {len(unevaluated)} genome(s) left out, their reference training failed before it could be "
              f"evaluated on the held-out images: {', '.join(genome.id for genome in unevaluated)}")
        complete = [genome for genome in complete if genome not in unevaluated]
    if len(complete) < 3:
        print(f"error: {journal} holds {len(complete)} of the {len(genomes)} genomes at both fidelities; "
              f"at least 3 are needed", file=sys.stderr)
        return 2
    if len(complete) + len(unevaluated) < len(genomes):
        print(f"note: {len(genomes) - len(complete) - len(unevaluated)} of {len(genomes)} genomes left out, not "
              f"trained at both "
              f"fidelities in {journal}")
    rows = []
    for genome in complete:
        p, r = records[key(genome, proxy)], records[key(genome, reference)]
        rows.append({"genome_id": genome.id, "is_baseline": genome == genomes[0], "blocks": block_strings(genome),
                     "macs": cost_of(genome).total_macs, "proxy_top1": p["top1"], "reference_top1": r["top1"],
                     "proxy_eval_loss": p.get("eval_loss"), "reference_eval_loss": r.get("eval_loss"),
                     "reference_held_out_top1": r.get("held_out_top1"),
                     "reference_held_out_eval_loss": r.get("held_out_eval_loss"),
                     "proxy_seconds": round(p["seconds"], 1), "reference_seconds": round(r["seconds"], 1),
                     "proxy_status": p["status"], "reference_status": r["status"]})

    def finished(genome: Genome, fidelity: Fidelity) -> dict[int, float]:
        """Top-1 by seed of the runs that finished (on the held-out images where they are the reference's):
        one diverged seed would swamp the SD pooled over the rest."""
        found = {seed: records.get(key(genome, fidelity, seed)) for seed in seeds}
        figure = "held_out_top1" if held_out_for(fidelity) else "top1"
        return {seed: record[figure] for seed, record in found.items() if record and record["status"] == "ok"}

    baseline_runs = [list(finished(genomes[0], fidelity).values()) for fidelity in (proxy, reference)]
    seed_sds = baseline_seed_sds(baseline_runs)
    seed_runs = [[finished(genome, fidelity) for genome in complete] for fidelity in (proxy, reference)]
    evaluated = len(data.val_labels)
    judged = Judged.held_out(len(held_out.val_labels), evaluated) if held_out else Judged.default(evaluated)
    write_csv(rows, out / "fidelity.csv")
    write_scatter(rows, out / "fidelity.html", f"{proxy.name} vs {reference.name} on {data.name}, "
                  f"{len(rows)} genomes", seed_sds, judged.top1)
    print(f"files: {out / 'fidelity.csv'}, {out / 'fidelity.html'}")
    print(f"wall time: {time.monotonic() - started:.0f}s")
    print_ranking(rows, baseline_runs, seed_runs, proxy, reference, args.bootstrap, judged)
    return 0


@dataclass(frozen=True)
class Judged:
    """Which of a row's reference figures the report judges the proxy by, on how many images (``images``; the
    proxy's own figures are on ``proxy_images``)."""

    top1: str
    eval_loss: str
    images: int
    proxy_images: int
    label: str

    @classmethod
    def default(cls, images: int) -> Judged:
        return cls("reference_top1", "reference_eval_loss", images, images, "")

    @classmethod
    def held_out(cls, images: int, proxy_images: int) -> Judged:
        return cls("reference_held_out_top1", "reference_held_out_eval_loss", images, proxy_images,
                   f" on {images:,} held-out images")


def baseline_seed_sds(baseline_runs: list[list[float]]) -> tuple[float, ...] | None:
    """The baseline's seed SD at each fidelity, or None unless every fidelity has two seeds or more: the
    scatter's error bars on the baseline need both."""
    if not all(len(found) > 1 for found in baseline_runs):
        return None
    return tuple(statistics.stdev(found) for found in baseline_runs)


def print_ranking(rows: list[dict[str, Any]], baseline_runs: list[list[float]],
                  seed_runs: list[list[dict[int, float]]], proxy: Fidelity, reference: Fidelity, samples: int,
                  judged: Judged) -> None:
    """Per genome both accuracies, the baseline's seeds, then how well the proxy ranks: the report's last
    lines are the statistics a reader quotes. ``seed_runs``: per fidelity, each row's top-1 by training seed;
    the reference's figures are ``judged``'s (its own validation images, or the held-out ones)."""
    judge = reference.name + judged.label
    labels = (proxy.name, judge)
    print(f"{'genome':<14}{'MACs':>10}{proxy.name:>12}{reference.name:>12}{judged.label}")
    for row in rows:
        print(f"{row['genome_id']:<14}{row['macs'] / 1e6:>9.1f}M{row['proxy_top1']:>12.2f}"
              f"{row[judged.top1]:>12.2f}{' (baseline)' if row['is_baseline'] else ''}")
    for name, found in zip(labels, baseline_runs):
        if found:
            print(f"baseline at {name}, {len(found)} training seed{'s' * (len(found) > 1)}: {mean_sd(found)}")
    level = f"{CONFIDENCE:.0%} bootstrap CI over genomes"
    for name, by_seed in zip(labels, seed_runs):
        line = seed_agreement_line(name, by_seed, samples)
        if line:
            print(line)
    short = [row["proxy_top1"] for row in rows]
    long = [row[judged.top1] for row in rows]
    macs = [row["macs"] for row in rows]
    gain = bootstrap_difference(spearman, short, macs, long, samples)
    print(f"MACs alone vs {judge} ({level}): spearman {bootstrap(spearman, macs, long, samples)}; "
          f"{proxy.name}'s minus MACs alone's, paired over the same resamples: {gain.signed()}")
    k = min(TOP_K, len(rows))
    print(f"top-{k} overlap: {top_overlap(short, long, k)}/{k} (a random ranking's expectation: "
          f"{chance_overlap(k, len(rows)):.2f})")
    losses = [row[judged.eval_loss] for row in rows]
    lacking = sum(loss is None for loss in losses)
    if not lacking:
        negated = [-loss for loss in losses]
        print(f"{proxy.name} vs {judge}'s evaluation loss, lower ranked higher ({level}): spearman "
              f"{bootstrap(spearman, short, negated, samples)} kendall {bootstrap(kendall, short, negated, samples)}")
    elif lacking < len(rows):
        print(f"note: {lacking} of {len(rows)} {judge} runs have no evaluation loss (journaled before "
              f"2026-12-06, or never evaluated): no ranking by it")
    line = seed_mean_line(labels, seed_runs, samples)
    if line:
        print(line)
    print(f"{proxy.name} vs {judge} ({level}): spearman {bootstrap(spearman, short, long, samples)} "
          f"kendall {bootstrap(kendall, short, long, samples)}")
    names = ["baseline" if row["is_baseline"] else row["genome_id"] for row in rows]
    noises = [pooled_seed_noise({name: list(by_seed.values()) for name, by_seed in zip(names, runs)})
              for runs in seed_runs]
    if all(noises) and all(baseline_runs) and proxy != reference:
        print(noise_ceiling_line([(proxy.name, short), (judge, long)], baseline_runs, noises,
                                 (judged.proxy_images, judged.images)))


def seed_agreement_line(name: str, by_seed: list[dict[int, float]], samples: int) -> str | None:
    """How well a fidelity repeats its own ranking from one training seed to the next, over the genomes
    trained at both of its two lowest seeds (None with fewer than 3): the most any other measurement can
    agree with one of its single-seed rankings, and what a one-seed search's decisions rest on."""
    seeds = sorted({seed for runs in by_seed for seed in runs})[:2]
    pairs = [(runs[seeds[0]], runs[seeds[1]]) for runs in by_seed if len(seeds) == 2 and set(seeds) <= set(runs)]
    if len(pairs) < 3:
        return None
    first, second = zip(*pairs)
    agreement = bootstrap(spearman, first, second, samples)
    return (f"{name} seed {seeds[0]} vs seed {seeds[1]} over {len(pairs)} genomes, how well it repeats its own "
            f"ranking ({CONFIDENCE:.0%} bootstrap CI over genomes): spearman {agreement}")


def seed_mean_line(labels: Sequence[str], seed_runs: list[list[dict[int, float]]], samples: int) -> str | None:
    """The correlation of each fidelity's mean over the training seeds each genome finished (None unless three
    genomes or more have two seeds at one of them): what a search that judges its front by several seeds' mean,
    as ``search.confirm`` does, would see. Genomes with no finished run at a fidelity are left out."""
    kept = [k for k in range(len(seed_runs[0])) if all(by_seed[k] for by_seed in seed_runs)]
    if max(sum(len(by_seed[k]) > 1 for k in kept) for by_seed in seed_runs) < 3:
        return None
    means = [[statistics.fmean(by_seed[k].values()) for k in kept] for by_seed in seed_runs]
    counts = [[len(by_seed[k]) for k in kept] for by_seed in seed_runs]
    seeds = [f"{name} {min(found)}{'' if min(found) == max(found) else f'-{max(found)}'} seed(s)"
             for name, found in zip(labels, counts)]
    return (f"{labels[0]} vs {labels[1]}, each genome's mean over its training seeds ({', '.join(seeds)}; "
            f"{len(kept)} genomes, {CONFIDENCE:.0%} bootstrap CI over genomes): spearman "
            f"{bootstrap(spearman, *means, samples)} kendall {bootstrap(kendall, *means, samples)}")


def noise_ceiling_line(accuracies: list[tuple[str, list[float]]], baseline_runs: list[list[float]],
                       noises: Sequence[SeedNoise], evaluation_images: Sequence[int]) -> str:
    """What seed noise lets the correlation reach, for (proxy, reference), in one line; ``noises`` are each
    fidelity's seed SD, pooled over the genomes with repeated seeds (the baseline's alone where no other
    genome has them). Each seed SD is set beside the evaluation set's binomial SD at the baseline's accuracy
    (its ``baseline_runs``), which says how much of it more evaluation images could remove. The ceiling comes
    with the range its seed SDs' intervals (``seed_sd_interval``) allow: from a few seeds it is a rough guide,
    and the line says how rough. The range always holds the ceiling, as a reliability falls as its seed SD
    rises."""
    parts, reliabilities, optimistic, pessimistic = [], [], [], []
    for (name, values), runs, noise, images in zip(accuracies, baseline_runs, noises, evaluation_images):
        reliabilities.append(reliability(values, noise.sd))
        sampling = evaluation_sd(statistics.fmean(runs), images)
        low_sd, high_sd = seed_sd_interval(noise.sd, noise.degrees + 1)
        optimistic.append(reliability(values, low_sd))
        pessimistic.append(reliability(values, high_sd))
        parts.append(f"{name} seed SD {noise.sd:.2f} ({noise.describe()}; {images:,} evaluation "
                     f"images alone: {sampling:.2f}) vs "
                     f"{statistics.stdev(values):.2f} across {len(values)} genomes: "
                     f"reliability {reliabilities[-1]:.2f}")
    ceiling = noise_ceiling(*reliabilities)
    return (f"noise ceiling: {'; '.join(parts)}; a perfect proxy's expected correlation through this noise "
            f"(independent noise, one seed SD for every genome): {ceiling:.2f} "
            f"(from {noise_ceiling(*pessimistic):.2f} to {noise_ceiling(*optimistic):.2f} over each seed SD's "
            f"{CONFIDENCE:.0%} chi-square interval, the genomes' spread taken as exact: a range, not a confidence "
            "interval of the ceiling)")


if __name__ == "__main__":
    raise SystemExit(main())
