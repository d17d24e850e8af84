"""The trainings of a fidelity study: each a ``Job`` keyed in an append-only journal, run in spawned worker
processes (one torch thread each, as a search trial trains), resumed from the journal and from epoch checkpoints."""
from __future__ import annotations

import functools
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from space import Genome, baseline, cost_of, default_space, sample_genomes

from ..data import load_data
from ..presets import Fidelity, run_identity
from ..trainer import SnapshotFn, TrainResult, checkpoint_path, evaluate, precision_for, resolve_device, train


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
    """Train in a worker process with one torch thread, as a search trial does. The record keeps the top-1 of
    every evaluation (``curve_top1``, one per epoch, the last being ``top1``): whether a reference's early epochs
    rank genomes as its end does says whether a short proxy can (``benchmarks/reference_curves.py``)."""
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
              "precision": result.precision, "out_of_memory": result.out_of_memory,
              "curve_top1": [evaluation["top1"] for evaluation in result.history]}
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


RECORD_FIELDS = ("key", "genome_id", "fidelity", "seed", "status")
"""What every reader of a journal relies on in each line."""


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Finished trainings by key; a torn line (a kill mid-write) is ignored, a line of another file's refused.

    Raises one ValueError naming the file and line when a line is JSON but not a training record (a journal of
    another tool, a hand-edited one), instead of a KeyError wherever a reader first misses a field."""
    if not path.exists():
        return {}
    try:
        text = path.read_text()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a journal of trainings") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a journal is one JSON record per line)") from None
    done = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        missing = [field for field in RECORD_FIELDS if field not in record] if isinstance(record, dict) else None
        if missing is None or missing:
            lacks = f"lacks {', '.join(missing)}" if missing else f"is a JSON {type(record).__name__}"
            raise ValueError(f"{path}: line {number} is not a training record ({lacks})")
        done[record["key"]] = record
    return done


def held_out_references(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The finished seed-0 reference trainings that carry held-out figures, by genome id.

    Seed 0 is the one every genome of a study has; a journal mixing held-out sets would rank genomes by
    different images, so that is refused (ValueError naming the sets) rather than silently pooled.
    """
    runs = {record["genome_id"]: record for record in records
            if record["fidelity"] == "reference" and record["seed"] == 0 and record["status"] == "ok"
            and record.get("held_out_top1") is not None}
    specs = sorted({record["held_out"] for record in runs.values()})
    if len(specs) > 1:
        raise ValueError(f"reference runs evaluated on different held-out images ({', '.join(specs)})")
    return runs


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
        _end_torn_line(journal)
        with journal.open("a") as out:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # one training's crash, or its worker's, must not cost the others theirs
                    first_line = next(iter(str(error).strip().splitlines()), "")
                    _not_journaled(job, f"{type(error).__name__}: {first_line}")
                    continue
                if record.pop("out_of_memory"):
                    _not_journaled(job, f"{record['reason']} (retry it with fewer jobs)")
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


def _end_torn_line(journal: Path) -> None:
    """End a last line a kill left without its newline, so the next record starts a line of its own instead of
    joining it (and being skipped with it)."""
    if journal.is_file() and journal.stat().st_size:
        with journal.open("rb+") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                file.write(b"\n")


def _not_journaled(job: Job, why: str) -> None:
    print(f"warning: {job.genome.id} at {job.fidelity.name}, seed {job.seed}: {why}; not journaled, its checkpoint "
          f"kept: run the same command again to retry it", file=sys.stderr, flush=True)


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
