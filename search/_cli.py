"""What the commands share: the cluster arguments, folder names, the data check before anything starts, and how
a finished or interrupted run ends the command."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evaluators.arguments import check_folder, non_negative_float, positive_float, refuse
from evaluators.data import DataError, ImageData, load_data

if TYPE_CHECKING:  # Ray is imported only once a run starts
    from .tune import Resources


CONNECT_SECONDS = 5
"""How long ``--address`` has to accept a connection before the run is refused."""


def add_results_dir_argument(parser: argparse.ArgumentParser) -> None:
    """Where a run writes its folder, shared by ``search.run`` and ``search.ablate`` (``search.confirm`` writes
    into the study's folder, so it has no such flag)."""
    parser.add_argument("--results-dir", default="results", help="where the results folder is written (default results/)")


def check_results_dir(folder: Path) -> None:
    """The folder a run writes, ``<--results-dir>/<name>``, is made with whatever parents it lacks: the nearest
    of them that exists must be a folder, refused now in one line rather than as a NotADirectoryError once the
    run first writes."""
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    check_folder("--results-dir", str(existing))


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Where trials run and with what, shared by ``search.run``, ``search.ablate`` and ``search.confirm``."""
    parser.add_argument("--address", default=None,
                        help="address of an existing Ray cluster (default: $RAY_ADDRESS if set, else start one here, "
                             "never joining a cluster that `ray start` left running)")
    parser.add_argument("--cpus-per-trial", type=positive_float, default=1.0,
                        help="CPUs per trial; also its torch threads (default 1)")
    parser.add_argument("--gpus-per-trial", type=non_negative_float, default=None,
                        help="GPUs per trial, fractions allowed (0.25 packs four small trials onto a GPU); default: "
                             "1 where CUDA is present, else 0. Ray assigns each trial its GPU and runs as many at "
                             "once as the GPUs allow")


def check_cluster(args: argparse.Namespace) -> None:
    """Refuse in one line, before anything starts, what would leave Ray waiting silently for ever: an address
    where nothing listens (Ray retries it with pages of warnings), or, on the cluster a run starts here, a trial
    asking for more CPUs or GPUs than this machine has (Ray Tune queues it and only logs a warning). A trial
    that no node of an existing cluster can hold is left to Ray: such a cluster may be autoscaling."""
    address = args.address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        _check_trial_fits_here(args.cpus_per_trial, args.gpus_per_trial)
    elif address != "auto" and "://" not in address:  # ray://HOST:PORT is a Ray Client server, reached by Ray
        _check_listening(address, "--address" if args.address else "RAY_ADDRESS")


def _check_trial_fits_here(cpus_per_trial: float, gpus_per_trial: float | None) -> None:
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cpus_per_trial > cpus:
        raise ValueError(f"--cpus-per-trial: {cpus_per_trial:g} is more CPUs than this machine has ({cpus}); ask "
                         "for at most that, or pass --address of a larger cluster")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0  # the GPUs ensure_ray gives Ray here
    if gpus_per_trial is not None and gpus_per_trial > gpus:
        raise ValueError(f"--gpus-per-trial: {gpus_per_trial:g} is more GPUs than this machine has ({gpus} that "
                         "torch can use); ask for at most that, or pass --address of a cluster with GPUs")


def _check_listening(address: str, flag: str) -> None:
    """A HOST:PORT address must accept a TCP connection (a Ray head's GCS port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{flag}: expected HOST:PORT (a Ray head's), auto or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ValueError(f"{flag} {address}: nothing accepts a connection there ({error.strerror or error}); "
                         "give the address `ray start --head` printed, or none to start a cluster here") from None


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
        refuse(parser, error)


def finish(paths: dict[str, Path | str], interrupted: bool, again: str) -> int:
    """Print the files a run wrote; an interrupted run says how to continue and exits 130 like Ctrl-C."""
    for name, path in paths.items():
        print(f"{name}: {path}")
    if interrupted:
        print(f"interrupted: run the same command again to {again}", file=sys.stderr)
        return 130
    return 0
