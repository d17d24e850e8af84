"""One training loop for every fidelity: genome + data + preset -> a result record.

The same function runs the paper's full recipe on a GPU and a 30-second proxy on one CPU core, so a proxy
differs from the real thing only in the preset's numbers, never in code paths.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, NamedTuple

import torch
import torch.nn.functional as F

from space import (Genome, build, cost_of, cpu_trainable, replacing, routing_parameters, zero_init_last,
                   zero_init_routing)

from ._batch_norm import recalibrate_batch_norm
from ._graphed import GraphedStep
from .data import EVAL_CROP_FRACTION, ImageData, eval_batches, load_data, train_batches
from .presets import Fidelity, run_identity

ProgressFn = Callable[[dict[str, Any]], None]
OUT_OF_MEMORY = "out of memory"
SnapshotFn = Callable[[torch.nn.Module, dict[str, Any]], None]


LOSS_CHECK_STEPS = 50
"""How often a whole-epoch GPU run reads its loss back (see train)."""

CPU_EVAL_BATCH = 100
"""A CPU evaluates at most this many images at once, whatever ``eval_batch_size`` says: larger batches spill its
caches and take twice as long (``benchmarks/cpu_eval.py``), while a batch's size changes no prediction, since
batch norm evaluates on its running statistics."""


@dataclass(frozen=True)
class Units:
    """The preset's whole training cut into ``count`` equal units of optimizer steps, for successive halving.

    Unit ``u`` ends after ``u * total_steps // count`` steps (``total_steps`` = epochs x steps per epoch): a
    unit is a fixed fraction of the preset, whatever the preset. The learning-rate schedule stays the
    preset's, defined over all ``count`` units, so a run stopped after ``u`` units is exactly the first ``u``
    units of the whole run, and accuracies after ``u`` units are comparable across genomes (each saw the same
    schedule up to there). The model is evaluated on the validation split after each unit in ``evaluate``
    and after the last one, and at no other time (not at epoch ends), so cheap units cost no evaluation.
    """

    count: int
    evaluate: Collection[int] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"units: must be an integer >= 1, got {self.count!r}")
        outside = sorted(u for u in self.evaluate if not 1 <= u <= self.count)
        if outside:
            raise ValueError(f"units: evaluation after unit(s) {outside} outside 1..{self.count}")
        object.__setattr__(self, "evaluate", frozenset(self.evaluate) | {self.count})

    def end(self, unit: int, total_steps: int) -> int:
        """The optimizer step after which ``unit`` ends."""
        return unit * total_steps // self.count


def check_units_fit(count: int, fidelity: Fidelity, train_images: int, name: str = "units") -> None:
    """Refuse more units than the fidelity's run has optimizer steps on ``train_images`` images: some units
    would hold no step, and their rungs would repeat the one before."""
    steps = fidelity.total_steps(train_images)
    if count > steps:
        raise ValueError(f"{name}: {count} units need at least as many optimizer steps, but fidelity "
                         f"{fidelity.name} trains {steps} on this data")


@dataclass
class TrainResult:
    """What one run measured. Accuracies are top-1/top-5 in percent, like the paper."""

    genome_id: str
    macs: int
    params: int
    fidelity: str
    data: str
    seed: int
    status: str = "ok"
    reason: str = ""
    accuracy: float = 0.0
    best_accuracy: float = 0.0
    best_epoch: int = -1
    top5: float = 0.0
    eval_loss: float | None = None
    """The last evaluation's mean cross-entropy (None before one, or in a checkpoint older than the field)."""
    epochs: int = 0
    steps: int = 0
    units: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def out_of_memory(self) -> bool:
        """Failed for want of memory: a fact of the machine and what else ran on it, not of the genome, so
        a caller that keeps results for good (the fidelity journal) retries it instead of recording it."""
        return self.status == "failed" and self.reason.startswith(OUT_OF_MEMORY)

    def to_dict(self, with_history: bool = True) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not with_history:
            data.pop("history")
        return data


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index is not None):
        raise ValueError(f"device: expected auto, cpu or cuda[:N], got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but torch sees no CUDA device")
    return device


def precision_for(device: torch.device, fidelity: Fidelity) -> torch.dtype | None:
    """Autocast dtype: AMP on CUDA unless ``amp`` is off, in bf16 where the GPU has it (unless ``bf16`` is
    ``off``), else fp16; on CPUs bf16 where the CPU has native bf16 (``auto``) or when forced (``on``). Two
    switches because the best choice differs: AMP always pays on a GPU, while CPU bf16 pays only at larger
    images and batches. bf16 needs no loss scaling, whose overflow check reads back from the GPU every step."""
    if device.type == "cuda":
        if not fidelity.amp:
            return None
        return torch.bfloat16 if fidelity.bf16 != "off" and torch.cuda.is_bf16_supported() else torch.float16
    if fidelity.bf16 == "on" or (fidelity.bf16 == "auto" and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def train(genome: Genome, data: ImageData | str, fidelity: Fidelity, seed: int = 0, device: str = "auto",
          threads: int | None = None, checkpoint_dir: str | Path | None = None,
          progress: ProgressFn | None = None, units: Units | None = None,
          snapshot: SnapshotFn | None = None, graphs: bool = False) -> TrainResult:
    """Train ``genome`` on ``data`` with ``fidelity``; never raises for a diverging run or one that runs out of
    memory (status ``failed``, with the reason).

    The classifier is sized to the data's classes, and MACs/params are those of the model actually trained.
    ``progress`` is called after every epoch, or, with ``units``, after every unit instead: then its record
    has ``unit``, ``units`` and ``steps``, and ``top1``/``top5`` are None after units not evaluated. To stop
    early, raise from ``progress``. A checkpointing preset saves at epoch ends; on resume, units that ended
    before the checkpoint are not reported again.
    ``snapshot(model, {"epoch", "top1", "best"})`` is called after every evaluation, to keep weights:
    ``best`` says this evaluation set the run's best top-1 (``result.best_epoch``).
    ``graphs`` replays each training step from a CUDA graph (``evaluators._graphed``) on a CUDA device: how the
    steps are launched, not what they compute, so it is an argument like ``device``, not a fidelity setting.
    """
    if isinstance(data, str):
        data = load_data(data)
    if genome.num_classes != data.num_classes:
        genome = genome.replace(num_classes=data.num_classes)
    run_device = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    costs = cost_of(genome)
    autocast_dtype = precision_for(run_device, fidelity)
    result = TrainResult(genome_id=genome.id, macs=costs.total_macs, params=costs.total_params,
                         fidelity=fidelity.name, data=data.name, seed=seed, device=str(run_device),
                         precision=precision_name(autocast_dtype))
    started = time.perf_counter()
    too_big = _batches_too_big(data, fidelity, run_device)
    if too_big:
        return _failed(result, started, f"{OUT_OF_MEMORY}: {too_big}")
    try:
        return _train(result, genome, data, fidelity, run_device, autocast_dtype, generator, checkpoint_dir,
                      progress, units, snapshot, graphs)
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        # The seconds stay those recorded at the last epoch end (a resumed run's earlier ones included).
        result.status = "failed"
        result.reason = (f"{OUT_OF_MEMORY} ({_first_line(error)}) at batch_size {fidelity.batch_size}, "
                         f"eval_batch_size {eval_batch_size(fidelity, run_device)}, crop {fidelity.crop} px: lower "
                         f"one of them, or train a smaller genome")
        return result


def _batches_too_big(data: ImageData, fidelity: Fidelity, device: torch.device) -> str:
    """Why a training or evaluation batch alone would not fit, naming the field to lower, or "". An epoch
    smaller than a batch trains one short batch; evaluation resizes to crop / 0.875 before its centre crop."""
    epoch_images = max(1, round(len(data.train_labels) * fidelity.data_fraction))
    eval_size = max(data.val_images.shape[-1], round(fidelity.crop / EVAL_CROP_FRACTION))
    checks = (("batch_size", min(fidelity.batch_size, epoch_images), fidelity.crop),
              ("eval_batch_size", min(eval_batch_size(fidelity, device), len(data.val_labels)), eval_size))
    for name, batch, size in checks:
        too_big = batch_too_big(batch, size, device)
        if too_big:
            return f"{name} {too_big}: lower {name} or crop"
    return ""


def batch_too_big(batch: int, size: int, device: torch.device) -> str:
    """Why one fp32 batch of ``batch`` RGB images at ``size`` px cannot fit in ``device``'s memory, or "".
    Checked before the first step: torch's CPU allocator prints a page of C++ stack before it raises."""
    needed = batch * 3 * size * size * 4
    available = (torch.cuda.get_device_properties(device).total_memory if device.type == "cuda"
                 else os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    if needed <= available:
        return ""
    return (f"{batch} images at {size} px take {_size(needed)} as one batch, more than the {_size(available)} of "
            f"{device.type}")


def _size(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB" if count >= 2**30 else f"{count / 2**20:,.1f} MiB"


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA raises its own class; the CPU allocator a plain RuntimeError that only its message tells apart."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error))


def _first_line(error: BaseException) -> str:
    """The allocator's own sentence, without the C++ location torch puts around it."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text.split(" (originally from")[0].split(". Error code")[0].split("err == 0. ")[-1]


def _train(result: TrainResult, genome: Genome, data: ImageData, fidelity: Fidelity, run_device: torch.device,
           autocast_dtype: torch.dtype | None, generator: torch.Generator, checkpoint_dir: str | Path | None,
           progress: ProgressFn | None, units: Units | None, snapshot: SnapshotFn | None,
           graphs: bool) -> TrainResult:
    data = _resident(data, run_device)
    model, optimizer = training_setup(genome, fidelity, run_device)
    # Compiled for the training steps only: evaluation's other batch sizes would recompile it, and weights are
    # saved from the plain module. On CPUs a proxy's few steps never repay the compile time.
    forward = torch.compile(model) if fidelity.compile and run_device.type == "cuda" else model
    scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype == torch.float16)

    def eager_step(images: torch.Tensor, labels: torch.Tensor, lr: float) -> torch.Tensor:
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_factor"]
        with torch.autocast(run_device.type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):
            loss = F.cross_entropy(forward(images), labels, label_smoothing=fidelity.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    epoch_images = int(len(data.train_labels) * fidelity.data_fraction)
    # A subset smaller than one batch still trains (one short batch) rather than silently not at all.
    drop_last = epoch_images >= fidelity.batch_size
    steps_per_epoch = fidelity.steps_per_epoch(len(data.train_labels))
    total_steps = fidelity.total_steps(len(data.train_labels))
    if units:
        check_units_fit(units.count, fidelity, len(data.train_labels))

    checkpoint = (checkpoint_path(checkpoint_dir, genome, fidelity, data.name, result.seed, units)
                  if fidelity.checkpoint else None)
    start_epoch = _resume(checkpoint, model, optimizer, scaler, generator, result)
    train_step = eager_step
    if graphs:  # after the resume, so that the graph updates the momentum buffers the checkpoint restored
        if run_device.type != "cuda" or fidelity.compile or autocast_dtype == torch.float16:
            raise ValueError("graphs: CUDA graphs need a CUDA device, no torch.compile, and no fp16 loss scaling "
                             "(bf16 or --amp no)")
        train_step = GraphedStep(model, optimizer, autocast_dtype, fidelity.label_smoothing, capture=True).step
    started = time.perf_counter() - result.seconds
    step_count = start_epoch * steps_per_epoch
    clock = _UnitClock(units, total_steps, step_count) if units else None
    # On a GPU, reading the loss back every step stalls the queue of kernels; a whole-epoch run (the full
    # recipe) reads it every LOSS_CHECK_STEPS steps instead. Unit runs keep reading it per step (their laps
    # report it), as do CPUs, where reading it costs nothing.
    deferred = run_device.type == "cuda" and clock is None

    def end_unit(lr: float) -> None:
        """Report the unit that just ended, evaluating first if it is one to evaluate after."""
        unit, lap = clock.next_unit, clock.lap()
        measured = None
        if unit in units.evaluate:
            measured = _evaluate_trained(model, data, fidelity, run_device, autocast_dtype)
            model.train()
            _note_evaluation(result, measured, (step_count - 1) // steps_per_epoch, model, snapshot)
        record = {"unit": unit, "units": units.count, "steps": step_count, "epochs": fidelity.epochs, "lr": lr,
                  "top1": measured and measured.top1, "top5": measured and measured.top5,
                  "eval_loss": measured and measured.loss, **lap}
        if measured is not None:
            result.history.append(record)
        result.units, result.steps = unit, step_count
        result.seconds = time.perf_counter() - started
        result.images_per_second = clock.images_per_second
        clock.next_unit += 1
        if progress:
            progress({**record, "genome_id": genome.id})
        clock.restart()  # a unit's seconds are training seconds, not the evaluation's

    for epoch in range(start_epoch, fidelity.epochs):
        model.train()
        epoch_start = time.perf_counter()
        loss_sum, seen, lr = 0.0, 0, fidelity.learning_rate(epoch)
        pending = torch.zeros((), device=run_device)
        batches = train_batches(data, fidelity.batch_size, fidelity.crop, generator, device=run_device,
                                fraction=fidelity.data_fraction, channels_last=fidelity.channels_last,
                                drop_last=drop_last, scale=(fidelity.crop_scale_min, 1.0))
        for step, (images, labels) in enumerate(batches):
            lr = fidelity.learning_rate(epoch + step / steps_per_epoch if fidelity.lr_per_step else epoch)
            loss = train_step(images, labels, lr)
            if not deferred and not torch.isfinite(loss):
                return _failed(result, started, f"non-finite loss ({loss.item()}) at epoch {epoch} step {step}, "
                                                f"lr {lr:.4g}")
            seen += len(labels)
            step_count += 1
            if deferred:
                pending = pending + loss.detach() * len(labels)
                if (step + 1) % LOSS_CHECK_STEPS:
                    continue
                loss_value, pending = pending.item(), torch.zeros((), device=run_device)
                if not math.isfinite(loss_value):
                    return _failed(result, started, f"non-finite loss at epoch {epoch} by step {step}, lr {lr:.4g}")
                loss_sum += loss_value
                continue
            loss_value = loss.item()
            loss_sum += loss_value * len(labels)
            if clock:
                clock.count(loss_value, len(labels))
                # The last unit ends with the last epoch, however many batches the epochs really held.
                while clock.next_unit < units.count and step_count >= units.end(clock.next_unit, total_steps):
                    end_unit(lr)
        if deferred:
            loss_value = pending.item()
            if not math.isfinite(loss_value):
                return _failed(result, started, f"non-finite loss at epoch {epoch}, lr {lr:.4g}")
            loss_sum += loss_value
        result.epochs, result.steps = epoch + 1, step_count
        if clock:
            if epoch == fidelity.epochs - 1:
                end_unit(lr)
            if checkpoint:
                _save(checkpoint, model, optimizer, scaler, generator, result)
            continue
        train_seconds = time.perf_counter() - epoch_start
        measured = _evaluate_trained(model, data, fidelity, run_device, autocast_dtype)
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "top1": measured.top1,
                  "top5": measured.top5, "eval_loss": measured.loss, "lr": lr,
                  "seconds": time.perf_counter() - epoch_start,
                  "images_per_second": seen / train_seconds if train_seconds > 0 else 0.0}
        result.history.append(record)
        _note_evaluation(result, measured, epoch, model, snapshot)
        result.seconds = time.perf_counter() - started
        result.images_per_second = sum(h["images_per_second"] for h in result.history) / len(result.history)
        if checkpoint:
            _save(checkpoint, model, optimizer, scaler, generator, result)
        if progress:
            progress({**record, "genome_id": genome.id, "epochs": fidelity.epochs})
    return result


def training_setup(genome: Genome, fidelity: Fidelity, device: torch.device
                   ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model and optimizer a run trains with, in the fidelity's memory format: one definition for the
    trainer and for what `evaluators.latency` says a training step costs.

    On a CPU the model's 1x1 CondConv layers run as per-example matrix products (``space.cpu_trainable``), and
    SGD updates all parameters with torch's multi-tensor (foreach) ops rather than one tensor at a time: the
    same update, bit for bit. Not the fused kernel: torch 2.14's fused CPU SGD does not make plain SGD's update
    here (it misapplies it to a channels-last weight whose gradient is contiguous); the baseline trained with it
    lost ~4 points at the proxy (3 seeds). tests/test_trainer.py compares a run with plain SGD's. The fidelity's
    initialisation settings apply here (``zero_init_last``, ``zero_init_routing``), and CondConv's routing
    layers get their own parameter group (``parameter_groups``).
    """
    model = build(genome)
    if fidelity.zero_init_last:
        zero_init_last(model)
    if fidelity.zero_init_routing:
        zero_init_routing(model)
    if device.type == "cpu":
        model = cpu_trainable(model)
    model = model.to(device)
    if fidelity.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(parameter_groups(model, fidelity), lr=fidelity.learning_rate(0),
                                momentum=fidelity.momentum,
                                nesterov=fidelity.nesterov and fidelity.momentum > 0,
                                weight_decay=fidelity.weight_decay, foreach=device.type == "cpu" or None)
    return model, optimizer


def parameter_groups(model: torch.nn.Module, fidelity: Fidelity) -> list[dict[str, Any]]:
    """SGD's parameter groups, each with the ``lr_factor`` its learning rate is scaled by: CondConv's routing
    layers apart at ``routing_lr_factor`` when the model has any, the classifier apart at ``head_lr_factor``
    when that is not 1, so other networks and presets keep one group."""
    routing = {id(param) for param in routing_parameters(model)}
    classifier = getattr(model, "classifier", None)
    head = {id(param) for param in classifier.parameters()} if classifier is not None else set()

    def factor(param: torch.nn.Parameter) -> float:
        if id(param) in routing:
            return fidelity.routing_lr_factor
        return fidelity.head_lr_factor if id(param) in head else 1.0

    groups: dict[float, list[torch.nn.Parameter]] = {}
    for param in model.parameters():
        groups.setdefault(factor(param), []).append(param)
    return [{"params": params, "lr_factor": lr_factor} for lr_factor, params in groups.items()]


def _note_evaluation(result: TrainResult, measured: Evaluation, epoch: int, model: torch.nn.Module,
                     snapshot: SnapshotFn | None) -> None:
    """Record an evaluation (and the best accuracy so far); hand the model to ``snapshot`` to keep weights."""
    result.accuracy, result.top5, result.eval_loss = measured
    if measured.top1 > result.best_accuracy or result.best_epoch < 0:
        result.best_accuracy, result.best_epoch = measured.top1, epoch
    if snapshot:
        snapshot(model, {"epoch": epoch, "top1": measured.top1, "best": result.best_epoch == epoch})


class _UnitClock:
    """Which unit ends next, and the loss, images and training seconds since the last one ended."""

    def __init__(self, units: Units, total_steps: int, steps_done: int):
        self.next_unit = next((u for u in range(1, units.count + 1) if units.end(u, total_steps) > steps_done),
                              units.count)
        self._images = self._seconds = 0.0
        self._lap_loss = self._lap_images = 0.0
        self._since = time.perf_counter()

    def count(self, loss: float, images: int) -> None:
        self._lap_loss += loss * images
        self._lap_images += images

    def lap(self) -> dict[str, float]:
        seconds = time.perf_counter() - self._since
        self._images += self._lap_images
        self._seconds += seconds
        lap = {"train_loss": self._lap_loss / max(self._lap_images, 1), "seconds": seconds,
               "images_per_second": self._lap_images / seconds if seconds > 0 else 0.0}
        self._lap_loss = self._lap_images = 0.0
        return lap

    def restart(self) -> None:
        self._since = time.perf_counter()

    @property
    def images_per_second(self) -> float:
        return self._images / self._seconds if self._seconds > 0 else 0.0


def _failed(result: TrainResult, started: float, reason: str) -> TrainResult:
    result.status, result.reason = "failed", reason
    result.seconds = time.perf_counter() - started
    return result


def _resident(data: ImageData, device: torch.device) -> ImageData:
    """The data on the GPU as uint8 when it fits in a quarter of the free memory: every batch's gather, crop
    and flip then run there, and nothing crosses the bus per step. On a CPU, or when too big, as it is."""
    if device.type != "cuda" or data.train_images.is_cuda:
        return data
    size = sum(t.numel() * t.element_size() for t in (data.train_images, data.val_images))
    if size > torch.cuda.mem_get_info(device)[0] / 4:
        return data
    return dataclasses.replace(data, **{name: getattr(data, name).to(device) for name in
                                        ("train_images", "train_labels", "val_images", "val_labels")})


def eval_batch_size(fidelity: Fidelity, device: torch.device) -> int:
    return min(fidelity.eval_batch_size, CPU_EVAL_BATCH) if device.type == "cpu" else fidelity.eval_batch_size


class Evaluation(NamedTuple):
    """Top-1 and top-5 accuracy in percent and the mean cross-entropy on the whole validation split. The loss
    keeps ranking networks where top-1 saturates: near 100 %, a network sure of its right answers and one
    barely so score alike, but not alike in loss."""

    top1: float
    top5: float
    loss: float


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: ImageData, fidelity: Fidelity, device: torch.device,
             autocast_dtype: torch.dtype | None = None, batch_size: int | None = None) -> Evaluation:
    """The model on the whole validation split; ``batch_size`` None: the fidelity's, at most CPU_EVAL_BATCH
    on a CPU."""
    model.eval()
    correct1 = correct5 = total = 0
    loss_sum = 0.0
    if batch_size is None:
        batch_size = eval_batch_size(fidelity, device)
    for images, labels in eval_batches(data, batch_size, fidelity.crop, device=device,
                                       channels_last=fidelity.channels_last):
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits = model(images)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels[:, None]
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=1).sum().item()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        total += len(labels)
    return Evaluation(100.0 * correct1 / total, 100.0 * correct5 / total, loss_sum / total)


def _evaluate_trained(model: torch.nn.Module, data: ImageData, fidelity: Fidelity, device: torch.device,
                      autocast_dtype: torch.dtype | None) -> Evaluation:
    """The evaluation a run reports, on BatchNorm statistics recomputed first where the fidelity asks for it."""
    recalibrate_batch_norm(model, data, fidelity, device, autocast_dtype, eval_batch_size(fidelity, device))
    return evaluate(model, data, fidelity, device, autocast_dtype)


def checkpoint_path(directory: str | Path | None, genome: Genome, fidelity: Fidelity, data_name: str,
                    seed: int, units: Units | None = None) -> Path:
    """The file a checkpointing training saves itself to, named by its genome, preset, data, seed and units
    (not by device or precision: a training moved to another device resumes there); ``directory`` None:
    ``$EFFCNN_CHECKPOINTS``, else results/checkpoints."""
    directory = Path(directory or os.environ.get("EFFCNN_CHECKPOINTS", "results/checkpoints"))
    # A unit run keeps another history (per evaluated unit), so it resumes only from its own kind of run.
    plan = [[units.count, sorted(units.evaluate)]] if units else []
    key = json.dumps([genome.id, run_identity(fidelity), data_name, seed, *plan], sort_keys=True)
    return directory / f"{genome.id}-{fidelity.name}-s{seed}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.pt"


def _resume(path: Path | None, model, optimizer, scaler, generator, result: TrainResult) -> int:
    if path is None or not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    for key, value in state["result"].items():
        setattr(result, key, value)
    return result.epochs


def _save(path: Path, model, optimizer, scaler, generator, result: TrainResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "result": result.to_dict()}
    with replacing(path) as partial:
        torch.save(state, partial)
