"""The timing protocol and the machine a latency belongs to.

A latency is only meaningful with the machine that measured it: the CPU model, the instruction set torch
actually dispatches to (AVX2 and AVX-512 kernels differ by up to 2x), the thread count, the batch, the torch
version, the device and the memory format. ``Machine`` holds all of them, and its ``key`` names the lookup
table cached for it, so a table measured elsewhere or under other settings is never reused.
"""

from __future__ import annotations

import hashlib
import json
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ..trainer import resolve_device

MEMORY_FORMAT = "channels_last"
"""Models are timed in channels_last, the layout the trainer uses and the faster one for these nets on CPUs."""

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
"""``wall`` is latency proper. ``cpu`` is the calling thread's CPU time: with one torch thread on a CPU (torch
then runs every op on the calling thread) it equals the wall time on an idle machine, and on a shared one it
leaves out the time other processes hold the core, which otherwise lengthens long calls (a whole network)
far more often than short ones (one block) and so breaks the sum. Cache and SMT contention still count."""


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call: the median of ``repeats`` medians of ``runs`` calls each, and the spread."""

    median_ms: float
    iqr_ms: float
    repeat_medians_ms: tuple[float, ...]
    runs: int

    def describe(self) -> str:
        repeats = " / ".join(f"{value:.3f}" for value in self.repeat_medians_ms)
        return (f"{self.median_ms:.3f} ms median (IQR {self.iqr_ms:.3f} ms; repeat medians {repeats} ms; "
                f"{len(self.repeat_medians_ms)} x {self.runs} runs)")


def time_call(call: Callable[[], Any], *, warmup: int = 10, runs: int = 50, repeats: int = 3,
              synchronize: Callable[[], None] | None = None,
              clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``call`` one call at a time: ``warmup`` untimed calls, then ``repeats`` blocks of ``runs`` timed ones.

    The reported latency is the median of the blocks' medians and the IQR the median of their IQRs, so one
    burst of load from another process moves neither. ``synchronize`` (``torch.cuda.synchronize``) makes an
    asynchronous device finish inside each timed call.
    """
    if runs < 2 or repeats < 1 or warmup < 0:
        raise ValueError(f"need runs >= 2, repeats >= 1, warmup >= 0; got {runs}, {repeats}, {warmup}")
    finish = synchronize or (lambda: None)
    for _ in range(warmup):
        call()
    finish()
    medians, iqrs = [], []
    for _ in range(repeats):
        samples = []
        for _ in range(runs):
            started = clock()
            call()
            finish()
            samples.append(1000.0 * (clock() - started))
        q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        medians.append(q2)
        iqrs.append(q3 - q1)
    return Timing(statistics.median(medians), statistics.median(iqrs), tuple(medians), runs)


@dataclass(frozen=True)
class Machine:
    """Everything a measured latency depends on besides the network; ``key`` names its cached table."""

    device: str
    processor: str
    isa: str
    threads: int
    batch: int
    torch_version: str
    memory_format: str = MEMORY_FORMAT
    clock: str = "wall"

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return (f"{self.processor} ({self.device}, {self.isa}), {threads}, batch {self.batch}, "
                f"torch {self.torch_version}, {self.memory_format}, {self.clock} clock")


def machine_fingerprint(device: str = "cpu", threads: int = 1, batch: int = 1, clock: str = "wall") -> Machine:
    """This machine under the given settings; ``device`` is ``cpu``, ``cuda[:N]`` or ``auto`` (ValueError if
    absent), ``clock`` is ``wall`` or ``cpu`` (one CPU thread only, see ``CLOCKS``)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: must be an integer >= 1, got {threads!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: must be an integer >= 1, got {batch!r}")
    target = resolve_device(device)
    if clock not in CLOCKS:
        raise ValueError(f"clock: must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and (target.type != "cpu" or threads != 1):
        raise ValueError("clock: cpu measures the calling thread, so it needs device cpu and 1 thread")
    processor = cpu_model()
    if target.type == "cuda":
        processor = f"{torch.cuda.get_device_name(target)} with {processor}"
    return Machine(device=str(target), processor=processor, isa=torch.backends.cpu.get_cpu_capability(),
                   threads=threads, batch=batch, torch_version=torch.__version__, clock=clock)


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with torch's intra-op thread count set to ``count``, restoring the caller's afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
