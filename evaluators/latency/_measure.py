"""Torch-side latency measurements: a whole network, its pieces in context, and one training step.

Every measurement runs under the machine's settings (thread count, batch, device, channels_last) and the
protocol of ``time_call``. Inference runs the eval-mode model under ``torch.inference_mode``, as deployed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from space import Genome, build

from ..presets import Fidelity
from ..trainer import precision_for, training_setup
from ._pieces import CHANNELS_LAST, CONTIGUOUS, pieces
from ._timing import CLOCKS, Machine, Timing, time_call, torch_threads

LAYOUTS = {CONTIGUOUS: torch.contiguous_format, CHANNELS_LAST: torch.channels_last}


def example_input(machine: Machine, channels: int, size: int, layout: str = CHANNELS_LAST,
                  batch: int | None = None) -> torch.Tensor:
    """A random (batch, channels, size, size) input on the machine's device in the given memory layout."""
    images = torch.randn(batch or machine.batch, channels, size, size, device=machine.device)
    return images.contiguous(memory_format=LAYOUTS[layout])


def measure_inference(module: nn.Module, example: torch.Tensor, machine: Machine, *, warmup: int = 10,
                      runs: int = 50, repeats: int = 3) -> Timing:
    """Eval-mode, inference-mode latency of ``module(example)`` on the machine's device and threads."""
    module = _for_inference(module, machine)
    with torch_threads(machine.threads), torch.inference_mode():
        return time_call(lambda: module(example), warmup=warmup, runs=runs, repeats=repeats,
                         synchronize=_synchronizer(machine), clock=CLOCKS[machine.clock])


def measure_network(genome: Genome, machine: Machine, *, warmup: int = 10, runs: int = 50,
                    repeats: int = 3) -> Timing:
    """Latency of the whole built network at the genome's resolution."""
    return measure_inference(build(genome), example_input(machine, 3, genome.resolution), machine,
                             warmup=warmup, runs=runs, repeats=repeats)


@dataclass(frozen=True)
class InContext:
    """A genome's pieces timed inside the running network, each as a ratio to the reference network's latency.

    ``piece_ratios`` are in forward order (``pieces(genome)``); ``network_ratio`` is the built network's own
    latency on the same scale; ``reference_ms`` is the reference's median latency during this measurement."""

    piece_ratios: tuple[float, ...]
    network_ratio: float
    reference_ms: float


def measure_in_context(genome: Genome, reference: Genome, machine: Machine, *, warmup: int = 5, runs: int = 50,
                       repeats: int = 3) -> InContext:
    """Time each piece of ``genome`` as it runs in the chain stem -> blocks -> head, and the built network whole,
    each call followed by a call of ``reference``; every time is divided by that reference call's.

    Why in context: a piece timed alone, called again and again on the same input, finds its weights in cache,
    and the sum of such pieces ran 13-16% short of the network by an amount that varied from genome to genome.
    Why ratios: on a shared virtual machine the speed of a core wanders (one network measured back to back:
    16.2, 22.3, 22.0, 23.1, 23.7 ms), so two measurements taken a minute apart do not add up; a call's ratio to a
    reference call made right after it cancels that drift. ``runs * repeats`` rounds, each round one chain, one
    reference, one network, one reference; the medians of the ratios are reported."""
    parts = pieces(genome)
    chain = [_for_inference(part.build(), machine) for part in parts]
    network = _for_inference(build(genome), machine)
    clock_network = _for_inference(build(reference), machine)
    example = example_input(machine, 3, genome.resolution)
    reference_example = example_input(machine, 3, reference.resolution)
    clock, finish = CLOCKS[machine.clock], _synchronizer(machine) or (lambda: None)

    def timed(call) -> float:
        finish()
        started = clock()
        call()
        finish()
        return 1000.0 * (clock() - started)

    def run_chain() -> list[float]:
        finish()
        times, tensor, started = [], example, clock()
        for module in chain:
            tensor = module(tensor)
            finish()
            now = clock()
            times.append(1000.0 * (now - started))
            started = now
        return times

    piece_ratios: list[list[float]] = [[] for _ in parts]
    network_ratios, reference_ms = [], []
    with torch_threads(machine.threads), torch.inference_mode():
        for _ in range(warmup):
            run_chain(), network(example), clock_network(reference_example)
        for _ in range(runs * repeats):
            piece_ms = run_chain()
            after_chain = timed(lambda: clock_network(reference_example))
            network_ms = timed(lambda: network(example))
            after_network = timed(lambda: clock_network(reference_example))
            for ratios, ms in zip(piece_ratios, piece_ms):
                ratios.append(ms / after_chain)
            network_ratios.append(network_ms / after_network)
            reference_ms += [after_chain, after_network]
    return InContext(tuple(statistics.median(ratios) for ratios in piece_ratios), statistics.median(network_ratios),
                     statistics.median(reference_ms))


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


def _for_inference(module: nn.Module, machine: Machine) -> nn.Module:
    return module.to(machine.device).to(memory_format=torch.channels_last).eval()


def _synchronizer(machine: Machine):
    device = torch.device(machine.device)
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
