"""Pure description and arithmetic: the genome, its baseline, the model builder and the exact cost model.

The cost model and builder are exported lazily: ``python -m space.cost`` must not find its own module
already imported by the package, and cost arithmetic should not pay for importing torch.
"""

from importlib import import_module
from typing import Any

from .baseline import baseline
from .genome import BLOCK_TYPES, SE_POSITIONS, Genome, Stage, expanded_channels, load_genome

_LAZY = {"build": "builder", "Network": "builder", "cost_of": "cost", "Cost": "cost", "CostRow": "cost"}

__all__ = ["BLOCK_TYPES", "SE_POSITIONS", "Genome", "Stage", "baseline", "expanded_channels", "load_genome", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
