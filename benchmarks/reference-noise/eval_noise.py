"""Is the 56 px reference's seed noise in its 1,000 evaluation images, or in its training?

At 98 % top-1 a 1,000-image evaluation set alone gives a binomial SD of about 0.4 points, as large as the seed SD
the baseline's five reference seeds show (0.42): if the seeds' errors fall on different images, a larger evaluation
set would remove most of the reference's noise and lift the ceiling on how well any proxy can rank like it.

Trains the baseline at the ``reference`` preset on the default data (training seeds ``--seeds``; one torch thread
each; saving at epoch ends, so a stopped run resumes) and evaluates each run's final weights on the default data's
1,000 validation images (the figure the fidelity journal holds for the same seed) and on 10,000 more images from
the same generator under another seed (``synthetic:seed=1,train=1,val=1000``: the same distribution, never trained
on). Labels cycle through the classes, so each of its ten 1,000-image slices is balanced. ``--summary`` splits the
seeds' spread over seeds x slices into evaluation noise (how differently the seeds' errors fall on the same 1,000
images) and training noise (how far the trainings differ over all 10,000), and says what seed SD a 1,000-image and a
10,000-image evaluation set would then show.

The same evaluation for every genome of a fidelity study is ``python -m evaluators.fidelity --held-out
synthetic:seed=1,train=1,val=1000``.

    python benchmarks/reference-noise/eval_noise.py OUT --seeds 0,1 --part 0 --parts 2   # one process per part
    python benchmarks/reference-noise/eval_noise.py OUT --summary
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import statistics
from pathlib import Path

import numpy as np
import torch
from scipy.stats import chi2

import evaluators.trainer as trainer
from evaluators.data import ImageData, load_data
from evaluators.presets import get_fidelity
from space import Genome
from space.baseline import baseline

EXTRA = "synthetic:seed=1,train=1,val=1000"
SLICE = 1000
BASELINE_ID = baseline("standard").replace(num_classes=10).id
STUDY = Path(__file__).resolve().parents[1] / "fidelity-1205" / "runs.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma-separated")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--summary", action="store_true", help="print the figures from the journals, train nothing")
    args = parser.parse_args()
    if args.summary:
        summarise(sorted(args.out.glob("runs*.jsonl")))
        return
    torch.set_num_threads(1)
    default, extra = load_data("synthetic"), load_data(EXTRA)
    fidelity = get_fidelity("reference")
    journal = args.out / f"runs{args.part}.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    done = {(run["genome_id"], run["seed"]) for run in read_runs(sorted(args.out.glob("runs*.jsonl")))}
    seeds = [int(seed) for seed in args.seeds.split(",")]
    genome = baseline("standard").replace(num_classes=10)
    for seed in seeds[args.part::args.parts]:
        if (genome.id, seed) not in done:
            checkpoints = args.out / "checkpoints" / f"{genome.id}-seed{seed}"
            record = train_and_evaluate(genome, seed, default, extra, fidelity, checkpoints)
            with journal.open("a") as file:
                file.write(json.dumps(record) + "\n")
            shutil.rmtree(checkpoints)
            print(json.dumps(record), flush=True)


def read_runs(journals: list[Path]) -> list[dict]:
    return [json.loads(line) for journal in journals for line in journal.read_text().splitlines()]


def train_and_evaluate(genome: Genome, seed: int, default: ImageData, extra: ImageData, fidelity,
                       checkpoints: Path) -> dict:
    """One reference training, and its last epoch's weights on the default evaluation set and on each 1,000-image
    slice of the extra one, evaluated as the trainer evaluates."""
    device = torch.device("cpu")
    dtype = trainer.precision_for(device, fidelity)
    final: dict[str, list[trainer.Evaluation]] = {}

    def keep_last(model: torch.nn.Module, info: dict) -> None:
        if info["epoch"] == fidelity.epochs - 1:
            final["default"] = [trainer.evaluate(model, default, fidelity, device, dtype)]
            final["extra"] = [trainer.evaluate(model, part, fidelity, device, dtype) for part in slices_of(extra)]

    result = trainer.train(genome, default, fidelity.replace(checkpoint=True), seed=seed, device="cpu", threads=1,
                           checkpoint_dir=checkpoints, snapshot=keep_last)
    if "extra" not in final:
        raise SystemExit(f"{genome.id} seed {seed}: its checkpoint in {checkpoints} holds a finished training, "
                         f"whose weights were never evaluated here; remove that folder and run again")
    [on_default], on_slices = final["default"], final["extra"]
    return {"genome_id": genome.id, "seed": seed, "status": result.status, "top1": result.accuracy,
            "loss": result.eval_loss, "seconds": result.seconds, "precision": result.precision,
            "default_top1": on_default.top1, "default_loss": on_default.loss,
            "extra_top1": statistics.fmean(part.top1 for part in on_slices),  # equal slices: the whole set's top-1
            "extra_slices": [part.top1 for part in on_slices],
            "extra_loss": statistics.fmean(part.loss for part in on_slices)}


def slices_of(data: ImageData) -> list[ImageData]:
    """The validation images in consecutive slices of SLICE (each balanced, as labels cycle through the classes)."""
    return [dataclasses.replace(data, val_images=data.val_images[start:start + SLICE],
                                val_labels=data.val_labels[start:start + SLICE])
            for start in range(0, len(data.val_labels), SLICE)]


def summarise(journals: list[Path]) -> None:
    runs = sorted((run for run in read_runs(journals) if run["genome_id"] == BASELINE_ID), key=lambda run: run["seed"])
    for run in runs:
        print(f"baseline seed {run['seed']}: trainer {run['top1']:.2f} %, default 1,000 images "
              f"{run['default_top1']:.2f} %, 10,000 more {run['extra_top1']:.2f} % "
              f"(slices {', '.join(f'{s:.1f}' for s in run['extra_slices'])}; "
              f"{run['seconds']:.0f} s, {run['precision']})")
    if len(runs) < 2:
        print("fewer than two seeds: no seed SD yet")
        return
    table = np.array([run["extra_slices"] for run in runs])  # seeds x slices
    seeds, slices = table.shape
    # Seed x slice, two-way without replication: the interaction is how differently two seeds' errors fall on
    # the same images (evaluation noise, as a comparison on one fixed set sees it); the seed effect beyond it is
    # the trainings' own difference. A slice's own difficulty is common to every seed and drops out.
    residual = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + table.mean()
    interaction_df = (seeds - 1) * (slices - 1)
    evaluation_var = (residual ** 2).sum() / interaction_df
    seed_mean_square = slices * table.mean(axis=1).var(ddof=1)
    training_var = max(0.0, (seed_mean_square - evaluation_var) / slices)
    low, high = (math.sqrt(interaction_df * evaluation_var / chi2.ppf(q, interaction_df)) for q in (0.95, 0.05))
    accuracy = table.mean()
    binomial = 100 * math.sqrt(accuracy / 100 * (1 - accuracy / 100) / SLICE)
    print(f"{seeds} seeds x {slices} slices of {SLICE:,} new images: seed SD on the default 1,000 images "
          f"{statistics.stdev(run['default_top1'] for run in runs):.2f}, on all 10,000 "
          f"{statistics.stdev(run['extra_top1'] for run in runs):.2f} points")
    print(f"evaluation noise on {SLICE:,} images, per seed: {math.sqrt(evaluation_var):.2f} points, 90 % chi-square "
          f"interval [{low:.2f}, {high:.2f}] ({interaction_df} degrees of freedom); binomial at {accuracy:.2f} % "
          f"(errors independent across seeds): {binomial:.2f}")
    print(f"training noise: {math.sqrt(training_var):.2f} points ({seeds - 1} degree(s) of freedom: rough); "
          f"expected seed SD with {SLICE:,} evaluation images {math.sqrt(training_var + evaluation_var):.2f}, "
          f"with {slices * SLICE:,} {math.sqrt(training_var + evaluation_var / slices):.2f}")
    print_reliabilities(statistics.stdev(run["default_top1"] for run in runs),
                        math.sqrt(training_var + evaluation_var / slices), slices * SLICE)


def print_reliabilities(seed_sd: float, larger_set_sd: float, larger_set: int) -> None:
    """What these seed SDs make of the reference's reliability over the committed study's 20 genomes (seed 0
    each), taking every genome to be as noisy as the baseline: the share of their spread that is not seed noise
    bounds how well any proxy can be seen to rank like the reference (the noise ceiling)."""
    at = [run["top1"] for run in map(json.loads, STUDY.read_text().splitlines())
          if run["fidelity"] == "reference" and run["seed"] == 0 and run["status"] == "ok"]
    spread = statistics.variance(at)
    true = spread - seed_sd ** 2
    now, larger = true / spread, true / (true + larger_set_sd ** 2)
    print(f"the reference over {len(at)} genomes spreads {math.sqrt(spread):.2f} points (SD): reliability {now:.2f} "
          f"with this seed SD on the default 1,000 images, {larger:.2f} expected with {larger_set:,}; an expected "
          f"Spearman of 0.8 then needs a proxy of reliability {0.8 ** 2 / larger:.2f} or more (noise ceiling)")


if __name__ == "__main__":
    main()
