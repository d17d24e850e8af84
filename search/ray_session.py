"""Starting (or joining) the Ray cluster that runs trials, the same way for searches and ablations."""

from __future__ import annotations

import ray


def ensure_ray(address: str | None) -> None:
    """Join ``address`` (an existing cluster) or start a local one, quietly; keep one already running."""
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
