"""The device checks of one GPU lease, in one command (see benchmarks/README.md for the figures it printed).

Phases, each cut by its own time limit so that a slow machine still reports what finished:

``task``        the default task and harder variants of it (``--data synthetic:faint=..,faint_max=..``): the
                baseline at the proxy (24 px) and at 32 px on the CPU, one torch thread each as a search trial,
                and at the reference (56 px, 4x the proxy's steps) on the GPU; journal ``task.jsonl``.
``throughput``  two epochs of the full recipe (56 px crops, batch 256, bf16 autocast, channels_last) on data the
                size of ImageNet-100 (126,689 training images of 64 px, random pixels: speed does not depend on
                what the pixels show) held on the GPU, without and with ``torch.compile``: images per second
                and peak GPU memory.
``trials``      10 proxy trainings of the search space's genomes on the GPU, several at once as a search's
                trials packed onto one GPU would be: trials per minute. (Ray is not used: the device machine
                cannot install it, and what is timed is the trainings, not the scheduling.)

Run from the repository root: ``python3 benchmarks/gpu_check.py --out DIR [--phases task,throughput,trials]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from evaluators.data import ImageData, load_data
from evaluators.fidelity import Job, mean_sd, run_jobs
from evaluators.presets import get_fidelity
from evaluators.trainer import train
from space import baseline
from space.sampling import random_genome

TASKS = ("synthetic", "synthetic:faint=30,faint_max=20", "synthetic:faint=45,faint_max=30")
IMAGENET100_TRAIN = 126_689
DEVICE = "cuda"
"""Where the GPU phases run; a dry run on a CPU-only machine sets it to cpu (see tests/test_benchmarks.py)."""


def task_phase(out: Path, proxy_seeds: int, cpu_jobs: int, gpu_jobs: int) -> None:
    proxy = get_fidelity("proxy")
    proxy32 = proxy.replace(name="proxy32", crop=32)
    reference = get_fidelity("reference")
    for spec in TASKS:
        load_data(spec)  # generated once here, before the workers read the cache
    genome = baseline().replace(num_classes=10)
    jobs = [Job(genome, fidelity, spec, seed, "cpu") for spec in TASKS for seed in range(proxy_seeds)
            for fidelity in (proxy, proxy32)]
    jobs += [Job(genome, reference, spec, 0, DEVICE) for spec in TASKS]
    started = time.monotonic()

    def report(job: Job, record: dict) -> None:
        print(f"task {job.data} {job.fidelity.name} seed {job.seed}: {record['top1']:.2f}% in "
              f"{record['seconds']:.0f}s on {record['device']} ({time.monotonic() - started:.0f}s)", flush=True)

    records = run_jobs(jobs, out / "task.jsonl", {"cpu": cpu_jobs, "gpu": gpu_jobs}, report)
    for spec in TASKS:
        for fidelity in (proxy, proxy32, reference):
            found = [records[job.key]["top1"] for job in jobs
                     if job.data == spec and job.fidelity == fidelity and job.key in records]
            if found:
                print(f"task summary: {spec} {fidelity.name} baseline, {len(found)} seed(s): {mean_sd(found)}")


def imagenet100_sized(device: str) -> ImageData:
    generator = torch.Generator(device=device).manual_seed(0)
    train_images = torch.randint(0, 256, (IMAGENET100_TRAIN, 3, 64, 64), dtype=torch.uint8, device=device,
                                 generator=generator)
    val_images = torch.randint(0, 256, (5000, 3, 64, 64), dtype=torch.uint8, device=device, generator=generator)
    labels = lambda n: torch.arange(n, device=device) % 100  # noqa: E731
    return ImageData("random-imagenet100-size", [f"c{i}" for i in range(100)], train_images,
                     labels(IMAGENET100_TRAIN), val_images, labels(5000))


def throughput_phase(out: Path) -> None:
    data = imagenet100_sized(DEVICE)
    # Two epochs: the second shows the steady speed (the first pays torch.compile's compilation, if any).
    epoch = get_fidelity("full").replace(epochs=2, warmup_epochs=0, checkpoint=False)
    rows = []
    for compiled in (False, True):
        if DEVICE == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        try:
            result = train(baseline(), data, epoch.replace(compile=compiled), seed=0, device=DEVICE)
        except Exception as error:  # torch.compile needs a working compiler toolchain; report and go on
            print(f"throughput: compile={compiled} failed: {type(error).__name__}: {str(error)[:300]}", flush=True)
            continue
        wall = time.perf_counter() - started
        row = {"compile": compiled, "status": result.status,
               "images_per_second_by_epoch": [round(h["images_per_second"]) for h in result.history],
               "seconds": round(wall, 1), "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if DEVICE == "cuda" else None,
               "precision": result.precision}
        rows.append(row)
        print(f"throughput: full recipe, two epochs of {IMAGENET100_TRAIN} images at 56 px, batch 256, "
              f"compile={compiled}: {row}", flush=True)
    (out / "throughput.json").write_text(json.dumps(rows, indent=1))


def _proxy_trial(index: int) -> dict:
    genome = random_genome(random.Random(index), num_classes=10)
    result = train(genome, "synthetic", get_fidelity("proxy"), seed=index, device=DEVICE)
    return {"trial": index, "genome": genome.id, "top1": result.accuracy, "seconds": round(result.seconds, 1),
            "status": result.status}


def trials_phase(out: Path, trials: int, at_once: int) -> None:
    load_data("synthetic")
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    rows = []
    with ProcessPoolExecutor(max_workers=at_once, mp_context=context) as pool:
        for future in as_completed([pool.submit(_proxy_trial, index) for index in range(trials)]):
            rows.append(future.result())
            print(f"trials: {rows[-1]}", flush=True)
    minutes = (time.monotonic() - started) / 60
    summary = {"trials": len(rows), "at_once": at_once, "minutes": round(minutes, 2),
               "trials_per_minute": round(len(rows) / minutes, 2),
               "median_trial_seconds": statistics.median(row["seconds"] for row in rows)}
    print(f"trials summary: {summary}", flush=True)
    (out / "trials.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--phases", default="task,throughput,trials")
    parser.add_argument("--proxy-seeds", type=int, default=2)
    parser.add_argument("--cpu-jobs", type=int, default=12)
    parser.add_argument("--gpu-jobs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--trials-at-once", type=int, default=5)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not torch.cuda.is_available():
        print("error: no CUDA device", file=sys.stderr)
        return 2
    print(f"gpu: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    phases = args.phases.split(",")
    if "task" in phases:
        task_phase(out, args.proxy_seeds, args.cpu_jobs, args.gpu_jobs)
    if "throughput" in phases:
        throughput_phase(out)
    if "trials" in phases:
        trials_phase(out, args.trials, args.trials_at_once)
    return 0


if __name__ == "__main__":
    sys.exit(main())
