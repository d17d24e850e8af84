"""Pure description and arithmetic: the genome, its baseline, the search space around it, the model builder and
the exact cost model.

The cost model, builder and weight files are exported lazily: ``python -m space.cost`` must not find its own
module already imported by the package. Importing the package registers the networks with timm
(``timm.create_model("effcnn_baseline")``, see ``space._timm_models``), which imports torch and timm.
"""

from importlib import import_module
from typing import Any

from ._atomic import atomic_write, replacing
from .baseline import baseline
from .genome import (BLOCK_TYPES, MAX_CHANNELS, MAX_CLASSES, MAX_EXPANSION, MAX_EXPERTS, MAX_KERNEL, MAX_REPEATS,
                     MAX_RESOLUTION, SE_POSITIONS, Genome, Stage, expanded_channels, load_genome)
from ._search_space import (WIDTH_STEP, SearchSpace, StageSpace, default_space, genome_params, sample_genomes,
                            suggest)

_LAZY = {"build": "builder", "exportable": "builder", "cpu_trainable": "builder", "zero_init_last": "builder",
         "zero_init_routing": "builder", "routing_parameters": "builder", "Network": "builder",
         "cost_of": "cost", "Cost": "cost", "CostRow": "cost", "save_weights": "weights", "load_weights": "weights", "check_weights": "weights",
         "WeightsError": "weights"}

__all__ = ["BLOCK_TYPES", "MAX_CHANNELS", "MAX_CLASSES", "MAX_EXPANSION", "MAX_EXPERTS", "MAX_KERNEL", "MAX_REPEATS",
           "MAX_RESOLUTION", "SE_POSITIONS", "WIDTH_STEP", "Genome", "SearchSpace", "Stage", "StageSpace", "baseline",
           "atomic_write", "default_space", "expanded_channels", "genome_params", "load_genome", "replacing",
           "sample_genomes", "suggest", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from . import _timm_models  # noqa: E402,F401 - registers the timm model names; needs the names above
