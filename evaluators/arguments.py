"""Number types for the commands' flags: argparse refuses a bad value in one line that names the flag, before
anything starts. Plain ``type=int`` or ``float`` lets through what fails much later and deeper: a NaN passes
every ``> 0`` check, a thread count of 0 reaches ``torch.set_num_threads``, a seed past 2**32 reaches numpy's
and Optuna's generators."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

MAX_SEED = 2**32 - 1
"""The largest seed every generator a run feeds takes (numpy's ``RandomState``, which Optuna's samplers use)."""


def positive_int(text: str) -> int:
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    return _integer(text, 0)


def random_seed(text: str) -> int:
    return _integer(text, 0, MAX_SEED)


def int_at_least(low: int) -> Callable[[str], int]:
    """A flag's type for an integer with a floor above 0 or 1 (a minimum of timed runs, of genomes)."""
    return lambda text: _integer(text, low)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A flag's type for an integer with known bounds, which argparse then names in its one-line error."""
    return lambda text: _integer(text, low, high)


def thread_count(text: str) -> int:
    """Torch threads on this machine: 1 up to its CPU count. Far more fail inside OpenMP (its per-thread
    allocations run out of memory, or the process crashes) long after the command started."""
    return _integer(text, 1, os.cpu_count() or 1)


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int_list(text: str) -> list[int]:
    """``500,250,100``: comma-separated integers >= 1, refused whole if one is not one."""
    try:
        return [positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be integers >= 1, comma-separated, got {text!r}") from None


def block_type_list(text: str) -> list[str]:
    """``standard,se,condconv``: a comma-separated choice of block types, refused whole if one is not one."""
    from space import BLOCK_TYPES  # here: space imports timm, which the other flags' commands may never need

    blocks = text.split(",")
    if not set(blocks) <= set(BLOCK_TYPES):
        raise argparse.ArgumentTypeError(f"must be block types from {', '.join(BLOCK_TYPES)}, comma-separated, got "
                                         f"{text!r}")
    return blocks


def check_folder(flag: str, folder: str | None) -> None:
    """A folder a command writes into later must not already be a file: found now, not after the work."""
    if folder and Path(folder).exists() and not Path(folder).is_dir():
        raise ValueError(f"{flag}: must be a folder, and {folder} is a file")


def _integer(text: str, low: int, high: int | None = None) -> int:
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def refuse(parser: argparse.ArgumentParser, error: Exception | str,
           args: argparse.Namespace | None = None) -> NoReturn:
    """End the command with ``error`` as its one line, naming the flag the user gave where the error names the
    setting behind it: ``--data-fraction 2`` is refused by the fidelity's own check as ``data_fraction: ...``,
    which is the right name in a settings file or the Python API, and ``--data-fraction: ...`` here. A flag counts
    as given when ``args`` holds a value for it other than the parser's default (however it was spelt: ``--data-frac
    2`` and ``--data-fraction=2`` too)."""
    message = str(error)
    field, separator, rest = message.partition(": ")
    given = (args is not None and field.isidentifier() and hasattr(args, field)
             and getattr(args, field) != parser.get_default(field))
    if separator and given:
        message = f"--{field.replace('_', '-')}: {rest}"
    parser.exit(2, f"error: {message}\n")
