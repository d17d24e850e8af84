"""The Ray cluster that runs trials."""

from __future__ import annotations


def ensure_ray(address: str | None) -> None:
    """Join ``address`` (an existing cluster) or start a local one, quietly; keep one already running."""
    import ray  # here, so command lines that only print or validate do not pay for importing Ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
