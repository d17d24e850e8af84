"""Would a change to the proxy's recipe make a noisy network's proxy accuracy repeat across training seeds?

Trains one of the paper's baselines (``--block``, default condconv: Table 3's noisiest arm at the proxy) at the
``proxy`` preset, one torch thread per run, in arms that each change one thing: ``stock`` (the preset as it is),
``headF`` (the classifier's learning rate times F), ``clipN`` (the gradient's global norm clipped to N) and
``lsS`` (label smoothing S). Every arm trains the same training seeds, so arms pair by seed. Ten evaluations along
each run record its learning curve (they change nothing in the training). One JSON line per run in
``OUT/runs{PART}.jsonl``; a stopped run resumes there. Two processes share two cores:

    python benchmarks/proxy-noise/recipe_arms.py OUT --arms stock,head0.1,clip1 --seeds 4 --part 0 --parts 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import evaluators.trainer as trainer
from evaluators.data import load_data
from evaluators.presets import get_fidelity
from space.baseline import baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--arms", default="stock,head0.1,clip1")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--block", default="condconv")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_data("synthetic")
    arm_now: dict[str, str] = {}
    _change_setup(arm_now)
    genome = baseline(args.block).replace(num_classes=10)
    journal = args.out / f"runs{args.part}.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    done = ({(r["arm"], r["block"], r["seed"]) for r in map(json.loads, journal.read_text().splitlines())}
            if journal.exists() else set())
    jobs = [(arm, seed) for seed in range(args.seeds) for arm in args.arms.split(",")]
    for index, (arm, seed) in enumerate(jobs):
        if index % args.parts != args.part or (arm, args.block, seed) in done:
            continue
        arm_now["name"] = arm
        fidelity = get_fidelity("proxy")
        if arm.startswith("ls"):
            fidelity = fidelity.replace(label_smoothing=float(arm[2:]))
        result = trainer.train(genome, data, fidelity, seed=seed, device="cpu", threads=1,
                               units=trainer.Units(10, range(1, 11)))
        record = {"arm": arm, "block": args.block, "seed": seed, "status": result.status, "top1": result.accuracy,
                  "loss": result.eval_loss, "seconds": result.seconds,
                  "curve": [(h["steps"], round(h["train_loss"], 3), h["top1"]) for h in result.history]}
        with journal.open("a") as file:
            file.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def _change_setup(arm_now: dict[str, str]) -> None:
    """Wrap the trainer's model-and-optimizer setup with the current arm's change (``headF``, ``clipN``)."""
    setup = trainer.training_setup

    def changed(genome, fidelity, device):
        model, optimizer = setup(genome, fidelity, device)
        arm = arm_now["name"]
        if arm.startswith("head"):
            optimizer = _classifier_apart(model, optimizer, fidelity, float(arm[4:]))
        if arm.startswith("clip"):
            limit, parameters = float(arm[4:]), list(model.parameters())

            def clip(*_) -> None:
                torch.nn.utils.clip_grad_norm_(parameters, limit)

            optimizer.register_step_pre_hook(clip)
        return model, optimizer

    trainer.training_setup = changed


def _classifier_apart(model, optimizer, fidelity, factor: float) -> torch.optim.Optimizer:
    """The same SGD with the classifier's parameters in groups of their own, at ``factor`` times their LR."""
    classifier = {id(p) for p in model.classifier.parameters()}
    groups = []
    for group in optimizer.param_groups:
        groups.append({"params": [p for p in group["params"] if id(p) not in classifier],
                       "lr_factor": group["lr_factor"]})
        groups.append({"params": [p for p in group["params"] if id(p) in classifier],
                       "lr_factor": group["lr_factor"] * factor})
    return torch.optim.SGD([g for g in groups if g["params"]], lr=fidelity.learning_rate(0),
                           momentum=fidelity.momentum, nesterov=fidelity.nesterov,
                           weight_decay=fidelity.weight_decay, foreach=True)


if __name__ == "__main__":
    main()
