"""Is the proxy's seed-to-seed noise in how its final weights are evaluated, or in the weights themselves?

Trains genomes of the committed fidelity study (``evaluators.fidelity``'s draw: the baseline and 19 with ``--seed
0``) at the ``proxy`` preset exactly as the study did, one torch thread, and evaluates each run's final weights
several ways on the validation split: as trained ("stock", the study's figure), after recomputing every BatchNorm's
statistics over 2,000 training images (precise BN, with training crops or with evaluation crops), and, with
``--ema``, an exponential moving average of the weights (and buffers) kept over the whole run, also with precise BN.
Ten evaluations along the run record its learning curve (they change nothing in the training). One JSON line per
run in ``OUT/runs{PART}.jsonl``; a stopped run resumes there. Two processes share two cores:

    python benchmarks/proxy-noise/eval_variants.py OUT --part 0 --parts 2 --seeds 2 [--genomes ID,...] [--ema 0.99]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import evaluators.trainer as trainer
from evaluators.data import eval_batches, load_data, train_batches
from evaluators.fidelity import genomes_for
from evaluators.presets import get_fidelity

CALIBRATION_IMAGES = 2000
CALIBRATION_BATCH = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--genomes", default="", help="comma-separated genome ids (default: all 20)")
    parser.add_argument("--ema", default="", help="comma-separated EMA decays")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_data("synthetic")
    proxy = get_fidelity("proxy")
    decays = [float(d) for d in args.ema.split(",") if d]
    wanted = set(filter(None, args.genomes.split(",")))
    genomes = [g for g in genomes_for(20, num_classes=10, seed=0) if not wanted or g.id in wanted]
    kept = _keep_models(decays)
    journal = args.out / f"runs{args.part}.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    done = ({(r["genome_id"], r["seed"]) for r in map(json.loads, journal.read_text().splitlines())}
            if journal.exists() else set())
    jobs = [(genome, seed) for seed in range(args.seeds) for genome in genomes]
    for index, (genome, seed) in enumerate(jobs):
        if index % args.parts != args.part or (genome.id, seed) in done:
            continue
        started = time.perf_counter()
        result = trainer.train(genome, data, proxy, seed=seed, device="cpu", threads=1,
                               units=trainer.Units(10, range(1, 11)))
        record = {"genome_id": genome.id, "seed": seed, "status": result.status, "stock_top1": result.accuracy,
                  "train_seconds": result.seconds,
                  "curve": [(h["steps"], round(h["train_loss"], 3), h["top1"]) for h in result.history]}
        if result.status == "ok":
            record.update(_evaluations(kept["model"], kept["emas"], data, proxy))
        record["seconds"] = time.perf_counter() - started
        with journal.open("a") as file:
            file.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def _keep_models(decays: list[float]) -> dict:
    """Wrap the trainer's setup so that each run's model (and its EMAs, updated after every optimizer step) stay
    reachable after ``train`` returns; the training itself is untouched."""
    kept: dict = {}
    setup = trainer.training_setup

    def keeping(genome, fidelity, device):
        model, optimizer = setup(genome, fidelity, device)
        emas = {d: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(d), use_buffers=True) for d in decays}

        def update(*_) -> None:
            for ema in emas.values():
                ema.update_parameters(model)

        if emas:
            optimizer.register_step_post_hook(update)
        kept["model"], kept["emas"] = model, emas
        return model, optimizer

    trainer.training_setup = keeping
    return kept


def _evaluations(model, emas, data, proxy) -> dict:
    def score(network) -> dict:
        measured = trainer.evaluate(network, data, proxy, torch.device("cpu"))
        return {"top1": measured.top1, "loss": measured.loss}

    found = {"stock": score(model), "pbn_train": score(_recalibrated(model, data, proxy, "train")),
             "pbn_eval": score(_recalibrated(model, data, proxy, "eval"))}
    for decay, ema in emas.items():
        found[f"ema{decay}"] = score(ema.module)
        found[f"ema{decay}_pbn_train"] = score(_recalibrated(ema.module, data, proxy, "train"))
    return found


@torch.no_grad()
def _recalibrated(model, data, proxy, crops: str):
    """A copy whose BatchNorm statistics are the plain average over CALIBRATION_IMAGES training images, cropped
    as in training ("train") or as in evaluation ("eval"), instead of the run's last ~10 batches of 8."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    generator = torch.Generator().manual_seed(12345)
    if crops == "train":
        batches = train_batches(data, CALIBRATION_BATCH, proxy.crop, generator, channels_last=True,
                                scale=(proxy.crop_scale_min, 1.0))
    else:
        index = torch.randperm(len(data.train_labels), generator=generator)
        view = dataclasses.replace(data, val_images=data.train_images[index], val_labels=data.train_labels[index])
        batches = eval_batches(view, CALIBRATION_BATCH, proxy.crop, channels_last=True)
    for count, (images, _) in enumerate(batches):
        if count * CALIBRATION_BATCH >= CALIBRATION_IMAGES:
            break
        model(images)
    return model


if __name__ == "__main__":
    main()
