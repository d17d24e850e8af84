"""Torch-side latency measurements: a whole network, one piece of it, and one training step.

Every measurement runs under the machine's settings (thread count, batch, device, channels_last) and the
protocol of ``time_call``. Inference runs the eval-mode model under ``torch.inference_mode``, as deployed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from space import Genome, build

from ._latency_timing import CLOCKS, Machine, Timing, time_call, torch_threads
from .presets import Fidelity
from .trainer import precision_for, training_setup

CONTIGUOUS = "contiguous"
CHANNELS_LAST = "channels_last"
LAYOUTS = {CONTIGUOUS: torch.contiguous_format, CHANNELS_LAST: torch.channels_last}


def example_input(machine: Machine, channels: int, size: int, layout: str = CHANNELS_LAST,
                  batch: int | None = None) -> torch.Tensor:
    """A random (batch, channels, size, size) input on the machine's device in the given memory layout."""
    images = torch.randn(batch or machine.batch, channels, size, size, device=machine.device)
    return images.contiguous(memory_format=LAYOUTS[layout])


def measure_inference(module: nn.Module, example: torch.Tensor, machine: Machine, *, warmup: int = 10,
                      runs: int = 50, repeats: int = 3) -> Timing:
    """Eval-mode, inference-mode latency of ``module(example)`` on the machine's device and threads."""
    module = module.to(machine.device).to(memory_format=torch.channels_last).eval()
    with torch_threads(machine.threads), torch.inference_mode():
        return time_call(lambda: module(example), warmup=warmup, runs=runs, repeats=repeats,
                         synchronize=_synchronizer(machine), clock=CLOCKS[machine.clock])


def measure_network(genome: Genome, machine: Machine, *, warmup: int = 10, runs: int = 50,
                    repeats: int = 3) -> Timing:
    """Latency of the whole built network at the genome's resolution."""
    return measure_inference(build(genome), example_input(machine, 3, genome.resolution), machine,
                             warmup=warmup, runs=runs, repeats=repeats)


def measure_training_step(genome: Genome, machine: Machine, fidelity: Fidelity, *, warmup: int = 3,
                          runs: int = 20, repeats: int = 3) -> Timing:
    """Milliseconds per SGD step (forward, loss, backward, optimizer step) at the fidelity's batch, crop,
    precision and memory format, with the trainer's optimizer settings: what a trial pays per step, data
    augmentation aside. The machine's batch does not apply; the fidelity's does."""
    device = torch.device(machine.device)
    model, optimizer = training_setup(genome, fidelity, device)
    layout = CHANNELS_LAST if fidelity.channels_last else CONTIGUOUS
    model.train()
    dtype = precision_for(device, fidelity)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    images = example_input(machine, 3, fidelity.crop, layout, batch=fidelity.batch_size)
    labels = torch.randint(genome.num_classes, (fidelity.batch_size,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(model(images), labels, label_smoothing=fidelity.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    with torch_threads(machine.threads):
        return time_call(step, warmup=warmup, runs=runs, repeats=repeats, synchronize=_synchronizer(machine),
                         clock=CLOCKS[machine.clock])


def _synchronizer(machine: Machine):
    device = torch.device(machine.device)
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
