"""What the commands share: the cluster arguments, folder names, the data check before anything starts, and how
a finished or interrupted run ends the command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evaluators.arguments import non_negative_float, positive_float
from evaluators.data import DataError, ImageData, load_data

if TYPE_CHECKING:  # Ray is imported only once a run starts
    from .tune import Resources


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Where trials run and with what, shared by ``search.run`` and ``search.ablate``."""
    parser.add_argument("--results-dir", default="results", help="where the results folder is written (default results/)")
    parser.add_argument("--address", default=None,
                        help="address of an existing Ray cluster (default: $RAY_ADDRESS if set, else start one here, "
                             "never joining a cluster that `ray start` left running)")
    parser.add_argument("--cpus-per-trial", type=positive_float, default=1.0,
                        help="CPUs per trial; also its torch threads (default 1)")
    parser.add_argument("--gpus-per-trial", type=non_negative_float, default=None,
                        help="GPUs per trial, fractions allowed (0.25 packs four small trials onto a GPU); default: "
                             "1 where CUDA is present, else 0. Ray assigns each trial its GPU and runs as many at "
                             "once as the GPUs allow")


def resources_from_args(args: argparse.Namespace) -> Resources:
    from .tune import Resources  # here, so validating arguments does not import Ray

    return Resources(address=args.address, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial)


def add_latency_clock_argument(parser: argparse.ArgumentParser) -> None:
    """How the latency table is timed, shared by ``search.run`` and ``search.ablate``."""
    parser.add_argument("--latency-clock", choices=("wall", "cpu"), default="wall",
                        help="wall (default) or cpu: the measuring thread's CPU time, steadier on a shared machine")


def folder_name(text: str) -> str:
    """A study's or an ablation's name, which names its folder under ``--results-dir``: one folder there, not
    the results folder itself nor a path out of it."""
    if not text or text in (".", "..") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"must name one folder (no '/', not empty, '.' or '..'), got {text!r}")
    return text


def load_data_or_exit(parser: argparse.ArgumentParser, spec: str) -> ImageData:
    """The data a run will train on, loaded (and cached) once up front: a bad spec is a one-line error."""
    try:
        return load_data(spec)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")


def finish(paths: dict[str, Path | str], interrupted: bool, again: str) -> int:
    """Print the files a run wrote; an interrupted run says how to continue and exits 130 like Ctrl-C."""
    for name, path in paths.items():
        print(f"{name}: {path}")
    if interrupted:
        print(f"interrupted: run the same command again to {again}", file=sys.stderr)
        return 130
    return 0
