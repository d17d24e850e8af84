"""``python -m evaluators.bench``: training throughput of our pipeline against a plain reference loop.

Both train the baseline genome at the proxy preset's crop and batch on the same JPEG images:
- ours: images decoded once into the uint8 cache, crops/flips/normalisation batched in torch,
  channels_last, the preset's precision;
- reference: torchvision ImageFolder + DataLoader + PIL transforms, fp32, NCHW, as the paper's recipe ran.
It also reports the baseline's full-resolution (56 px) training FLOP/s against this CPU's measured fp32
matmul peak. The proxy-resolution pipelines run in ``--rounds`` alternating rounds (ours fp32, ours bf16, the
reference, each round starting one further along), so that this VM's drifting speed falls on all three alike; each rate is the median over the
rounds with its range, and the last line is the median of the rounds' ratios with theirs:
``speedup: <float>x (median of N alternating rounds' ratios, range <low>-<high>x)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from PIL import Image

from space import baseline, build, cost_of

from .arguments import int_between, non_negative_int, positive_int, thread_count
from .data import (IMAGENET_MEAN, IMAGENET_STD, MAX_PER_CLASS, MAX_SYNTHETIC_CLASSES, load_data, make_synthetic,
                   train_batches)
from .presets import PRESETS, Fidelity
from .trainer import precision_for, precision_name


FULL_BATCH = 64  # the paper's 256 would make a CPU measurement take minutes


def write_jpeg_tree(root: Path, images_per_class: int, classes: int) -> Path:
    """An ImageFolder tree (train/ and val/) of the synthetic images as JPEGs, like ImageNet-100 at 64 px."""
    train, train_labels, val, val_labels, names = make_synthetic(classes=classes, train_per_class=images_per_class,
                                                                 val_per_class=2)
    for split, images, labels in (("train", train, train_labels), ("val", val, val_labels)):
        for index, (image, label) in enumerate(zip(images, labels)):
            folder = root / split / names[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{index:05d}.jpg", quality=90)
    return root


def timed_steps(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], model: torch.nn.Module, steps: int,
                warmup: int, autocast_dtype: torch.dtype | None = None) -> float:
    """Images per second over ``steps`` SGD steps after ``warmup`` untimed ones (data loading included)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-5)
    model.train()
    seen, started = 0, None
    iterator = iter(batches)
    for step in range(warmup + steps):
        if step == warmup:
            seen, started = 0, time.perf_counter()
        images, labels = next(iterator)
        with torch.autocast("cpu", dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen / (time.perf_counter() - started)


def endless(make_epoch: Callable[[], Iterable]) -> Iterable:
    while True:
        empty = True
        for batch in make_epoch():
            empty = False
            yield batch
        if empty:
            raise ValueError("an epoch yielded no full batch: the image set is smaller than the batch size")


def load_timings(tree: Path, cache: Path) -> tuple[float, float]:
    """Seconds to decode the JPEG tree into the uint8 cache (the first load) and to load that cache after."""
    started = time.perf_counter()
    load_data(f"imagefolder:{tree}", cache_dir=cache)
    decode = time.perf_counter() - started
    started = time.perf_counter()
    load_data(f"imagefolder:{tree}", cache_dir=cache)
    return decode, time.perf_counter() - started


def ours(tree: Path, cache: Path, fidelity: Fidelity, classes: int, steps: int, warmup: int,
         autocast_dtype: torch.dtype | None) -> float:
    """Training images per second through our pipeline (the cache already decoded)."""
    data = load_data(f"imagefolder:{tree}", cache_dir=cache)
    generator = torch.Generator().manual_seed(0)
    model = build(baseline().replace(num_classes=classes)).to(memory_format=torch.channels_last)
    batches = endless(lambda: train_batches(data, fidelity.batch_size, fidelity.crop, generator, channels_last=True,
                                            scale=(fidelity.crop_scale_min, 1.0)))
    return timed_steps(batches, model, steps, warmup, autocast_dtype)


def reference(tree: Path, fidelity: Fidelity, classes: int, steps: int, warmup: int, workers: int) -> float:
    """The plain loop: ImageFolder + DataLoader + per-sample PIL transforms, fp32, NCHW."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.RandomResizedCrop(fidelity.crop, scale=(fidelity.crop_scale_min, 1.0)),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    dataset = datasets.ImageFolder(str(tree / "train"), transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=fidelity.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    model = build(baseline().replace(num_classes=classes))
    return timed_steps(endless(lambda: loader), model, steps, warmup)


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matmul FLOP/s on this machine with torch's current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size ** 3 * repeats / (time.perf_counter() - started)


def instruction_sets() -> str:
    """The vector instruction sets torch's kernels use here: ATen's dispatch level and oneDNN's cap, each set
    by an environment variable when emulating an older CPU (``ATEN_CPU_CAPABILITY=avx2
    ONEDNN_MAX_CPU_ISA=AVX2`` on an AVX-512 machine), and whether the CPU itself has AVX-512."""
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "the best the CPU has")
    return (f"instruction set: ATen {torch.backends.cpu.get_cpu_capability()}, oneDNN up to {onednn}; "
            f"this CPU has AVX-512: {'yes' if 'avx512f' in flags else 'no'}")


def cpu_topology() -> str:
    """The CPU's model and how its logical CPUs share cores: a search trains one trial per logical CPU, and
    two trials on SMT siblings share one core's vector units, so they train at about one core's pace, not two.
    Machines that differ in speed may differ here, not in their instruction set."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 "unknown model")
    siblings = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
    per_core = len(_cpu_list(siblings.read_text())) if siblings.exists() else None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    sharing = "unknown" if per_core is None else str(per_core)
    return f"cpu: {model}, {usable} logical CPUs usable, {sharing} per physical core (SMT siblings share one)"


def _cpu_list(text: str) -> list[int]:
    """``0-1,4`` -> [0, 1, 4]: the kernel's CPU list format."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        cpus += range(int(low), int(high or low) + 1)
    return cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-class", type=int_between(1, MAX_PER_CLASS), default=200)
    parser.add_argument("--classes", type=int_between(2, MAX_SYNTHETIC_CLASSES), default=10)
    parser.add_argument("--steps", type=positive_int, default=20, help="timed SGD steps per pipeline (default 20)")
    parser.add_argument("--warmup", type=non_negative_int, default=3)
    parser.add_argument("--workers", type=non_negative_int, default=os.cpu_count() or 1,
                        help="DataLoader workers of the reference loop (default: one per core)")
    parser.add_argument("--threads", type=thread_count, default=os.cpu_count() or 1)
    parser.add_argument("--full-steps", type=positive_int, default=5, help="timed steps at full resolution (default 5)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds of the proxy-resolution pipelines (default 3)")
    args = parser.parse_args(argv)
    if args.images_per_class * args.classes < FULL_BATCH:
        parser.error(f"--images-per-class x --classes must be at least {FULL_BATCH} (the full-resolution batch), "
                     f"got {args.images_per_class * args.classes}")
    torch.set_num_threads(args.threads)
    proxy = PRESETS["proxy"]
    print(f"baseline genome {baseline().id}, proxy settings: crop {proxy.crop}, batch {proxy.batch_size}, "
          f"{args.threads} threads, torch {torch.__version__}", flush=True)
    print(instruction_sets(), flush=True)
    print(cpu_topology(), flush=True)
    with tempfile.TemporaryDirectory() as temp:
        tree = write_jpeg_tree(Path(temp) / "images", args.images_per_class, args.classes)
        cache = Path(temp) / "cache"
        dtype = precision_for(torch.device("cpu"), proxy.replace(bf16="on"))
        decode, cached = load_timings(tree, cache)
        print(f"ours: decode {args.images_per_class * args.classes} JPEGs once {decode:.2f}s, cached load "
              f"{cached:.3f}s", flush=True)
        pipelines = {"fp32": lambda: ours(tree, cache, proxy, args.classes, args.steps, args.warmup, None),
                     "bf16": lambda: ours(tree, cache, proxy, args.classes, args.steps, args.warmup, dtype),
                     "reference": lambda: reference(tree, proxy, args.classes, args.steps, args.warmup, args.workers)}
        rates: dict[str, list[float]] = {name: [] for name in pipelines}
        order = list(pipelines)
        for round_ in range(args.rounds):
            # Each round starts with another pipeline, so no pipeline always runs first (or right after another).
            for name in order[round_ % len(order):] + order[:round_ % len(order)]:
                rates[name].append(pipelines[name]())
        print(f"ours, fp32 channels_last: {spread(rates['fp32'], 'img/s')}", flush=True)
        print(f"ours, bf16 autocast channels_last: {spread(rates['bf16'], 'img/s')}", flush=True)
        print(f"ours, bf16 / fp32: {ratio_spread(rates['bf16'], rates['fp32'])}", flush=True)
        chosen = precision_for(torch.device("cpu"), proxy)
        ours_rates = rates["bf16"] if chosen == torch.bfloat16 else rates["fp32"]
        print(f"reference (ImageFolder + DataLoader({args.workers} workers) + PIL, fp32 NCHW): "
              f"{spread(rates['reference'], 'img/s')}", flush=True)
        # Both precisions at full resolution too: which one wins depends on the image and batch size.
        full = PRESETS["full"].replace(batch_size=FULL_BATCH)
        full_dtypes = dict.fromkeys([None, precision_for(torch.device("cpu"), full)])
        full_rates = {dtype: ours(tree, cache, full, args.classes, args.full_steps, 1, dtype)
                      for dtype in full_dtypes}
    train_flops = 3 * 2 * cost_of(baseline().replace(num_classes=args.classes)).total_macs  # fwd + 2x bwd
    peak = matmul_peak()
    for dtype, rate in full_rates.items():
        achieved = rate * train_flops
        print(f"full resolution ({full.crop} px, batch {FULL_BATCH}, {precision_name(dtype)}): {rate:.1f} img/s = "
              f"{achieved / 1e9:.1f} GFLOP/s, {100 * achieved / peak:.1f}% of the {peak / 1e9:.1f} GFLOP/s "
              "fp32 matmul peak")
    print(f"proxy preset precision on this CPU: {precision_name(chosen)}")
    print(f"speedup: {ratio_spread(ours_rates, rates['reference'])}")
    return 0


def ratio_spread(numerators: list[float], denominators: list[float]) -> str:
    """The median of per-round ratios with their range: a round's two rates shared the machine's state."""
    ratios = [top / bottom for top, bottom in zip(numerators, denominators)]
    return (f"{statistics.median(ratios):.2f}x (median of {len(ratios)} alternating rounds' ratios, range "
            f"{min(ratios):.2f}-{max(ratios):.2f}x)")


def spread(values: list[float], unit: str) -> str:
    """A median with its range and count: one figure alone would hide this VM's drift."""
    return (f"{statistics.median(values):.1f} {unit} (median of {len(values)} rounds, range {min(values):.1f}-"
            f"{max(values):.1f})")


if __name__ == "__main__":
    raise SystemExit(main())
