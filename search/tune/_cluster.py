"""The Ray cluster that runs trials, and what each trial asks it for."""

from __future__ import annotations

import os


def ensure_ray(address: str | None) -> None:
    """Join ``address`` (an existing cluster) or start a local one, quietly; keep one already running.

    Without ``address`` (and without ``RAY_ADDRESS``) this always starts a cluster of its own: left to itself
    ``ray.init()`` would join whatever cluster someone last started on this machine with ``ray start``, and
    trials would then run on, and die with, a cluster this run knows nothing about. A local cluster gets the
    GPUs torch sees, so trials can ask Ray for them."""
    import ray  # here, so command lines that only print or validate do not pay for importing Ray
    import torch

    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        gpus = torch.cuda.device_count() if address == "local" and torch.cuda.is_available() else None
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     configure_logging=True, num_gpus=gpus)
        except ConnectionError:  # "auto" with no cluster started on this machine, or a head that went away
            raise ValueError(f"Ray address {address!r}: no running Ray cluster found there; start one with "
                             "`ray start --head`, or give no address to start one for this run") from None


def trial_resources(cpus_per_trial: float, gpus_per_trial: float | None) -> dict[str, float]:
    """What one trial asks Ray for. ``gpus_per_trial`` None (the default): one GPU per trial where CUDA is
    present (the cluster has GPUs, or torch sees one here), else none; a fraction packs several small trials
    onto one GPU. Ray then places each trial on a GPU it assigns (``CUDA_VISIBLE_DEVICES``), and runs as many
    at once as the GPUs (and CPUs) allow."""
    import ray
    import torch

    if gpus_per_trial is None:
        cuda = ray.cluster_resources().get("GPU", 0) > 0 or torch.cuda.is_available()
        gpus_per_trial = 1.0 if cuda else 0.0
    return {"cpu": cpus_per_trial, "gpu": gpus_per_trial}


def concurrent_trials(resources: dict[str, float], max_concurrent: int | None) -> int:
    """Trials at once: ``max_concurrent`` if given, else as many as the cluster's CPUs and GPUs hold."""
    import ray

    if max_concurrent:
        return max_concurrent
    cluster = ray.cluster_resources()
    fits = [cluster.get(name.upper(), 0) // amount for name, amount in resources.items() if amount > 0]
    return max(1, int(min(fits)))
