"""Evaluating the proxy's validation images on one CPU core at several batch sizes (``CPU_EVAL_BATCH``).

    python benchmarks/cpu_eval.py [--blocks standard,se,condconv] [--batches 500,250,100,50] [--rounds 3]

Per baseline block type: the fastest of ``--rounds`` evaluations of the default data's 1,000 validation images
at the proxy's crop (one thread, channels last, untrained weights: speed does not depend on them) at each batch
size. That the batch size changes no prediction is a test (tests/test_trainer.py).
"""

from __future__ import annotations

import argparse
import time

import torch

from evaluators.arguments import block_type_list, positive_int, positive_int_list
from evaluators.data import ImageData, load_data
from evaluators.presets import PRESETS, Fidelity
from evaluators.trainer import CPU_EVAL_BATCH, evaluate, training_setup
from space import BLOCK_TYPES, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=block_type_list, default="standard,se,condconv",
                        help=f"comma-separated baseline block types, of {', '.join(BLOCK_TYPES)}")
    parser.add_argument("--batches", type=positive_int_list, default="500,250,100,50",
                        help="comma-separated evaluation batch sizes")
    parser.add_argument("--rounds", type=positive_int, default=3, help="timed evaluations per batch size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    proxy, data, cpu = PRESETS["proxy"], load_data("synthetic"), torch.device("cpu")
    print(f"torch {torch.__version__}, ATen {torch.backends.cpu.get_cpu_capability()}, 1 thread, "
          f"{len(data.val_labels)} images at {proxy.crop} px; the trainer evaluates in batches of at most "
          f"{CPU_EVAL_BATCH} on a CPU")
    for block in args.blocks:
        model, _ = training_setup(baseline(block).replace(num_classes=data.num_classes), proxy, cpu)
        figures = []
        for batch in args.batches:
            figures.append(f"{batch}: {timed_evaluation(model, data, proxy, batch, args.rounds):.2f} s")
        print(f"{block:>9}: " + ", ".join(figures))


def timed_evaluation(model: torch.nn.Module, data: ImageData, fidelity: Fidelity, batch_size: int,
                     rounds: int) -> float:
    """Seconds of the fastest of ``rounds`` whole evaluations in batches of ``batch_size``, after one warm-up."""
    times = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        evaluate(model, data, fidelity, torch.device("cpu"), batch_size=batch_size)
        times.append(time.perf_counter() - started)
    return min(times[1:])


if __name__ == "__main__":
    main()
