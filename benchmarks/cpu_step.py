"""A training step on a CPU as a trial takes it, before and after the trainer's CPU set-up (``training_setup``):
timm's model with torch's default SGD against 1x1 CondConv layers as per-example matrix products
(``space.cpu_trainable``) with multi-tensor (foreach) SGD.

    python benchmarks/cpu_step.py [--blocks standard,se,condconv] [--rounds 5] [--steps 20]

Per baseline block type: the median ms per step (batch and crop of the proxy preset, one thread, channels
last) of each set-up, measured in alternating rounds so both see the same machine, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from evaluators.arguments import block_type_list, positive_int
from evaluators.presets import PRESETS
from evaluators.trainer import training_setup
from space import BLOCK_TYPES, baseline, build


def step_ms(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
            steps: int) -> float:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=block_type_list, default="standard,se,condconv",
                        help=f"comma-separated baseline block types, of {', '.join(BLOCK_TYPES)}")
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds of both set-ups")
    parser.add_argument("--steps", type=positive_int, default=20, help="timed steps per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    proxy = PRESETS["proxy"]
    print(f"torch {torch.__version__}, ATen {torch.backends.cpu.get_cpu_capability()}, 1 thread, batch "
          f"{proxy.batch_size}, {proxy.crop} px")
    for block in args.blocks:
        genome = baseline(block).replace(num_classes=10)
        torch.manual_seed(0)
        plain = build(genome).to(memory_format=torch.channels_last).train()
        plain_sgd = torch.optim.SGD(plain.parameters(), lr=proxy.lr, momentum=proxy.momentum, nesterov=True,
                                    weight_decay=proxy.weight_decay)
        tuned, tuned_sgd = training_setup(genome, proxy, torch.device("cpu"))
        tuned.train()
        images = torch.randn(proxy.batch_size, 3, proxy.crop, proxy.crop).contiguous(
            memory_format=torch.channels_last)
        labels = torch.randint(10, (proxy.batch_size,))
        before, after = [], []
        for _ in range(args.rounds):
            before.append(step_ms(plain, plain_sgd, images, labels, args.steps))
            after.append(step_ms(tuned, tuned_sgd, images, labels, args.steps))
        b, a = statistics.median(before), statistics.median(after)
        print(f"{block:>9}: timm + SGD {b:6.1f} ms/step, trainer's CPU set-up {a:6.1f} ms/step, {b / a:.2f}x "
              f"(rounds {[round(v) for v in before]} / {[round(v) for v in after]})")


if __name__ == "__main__":
    main()
