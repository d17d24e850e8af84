"""Orchestration: the Optuna/Ray Tune search over genomes, its results, and ablations.

Packages (imports flow one way, top to bottom)::

    search.pareto    Pareto fronts and hypervolume (arithmetic only)
    search.study     the Optuna study: storage, samplers, baselines, search space, settling a stop
    search.tune      Ray Tune: the trial, the searcher subclass, progress, running trials
    search.results   trials.csv, Pareto genomes, figures, summary.md
    search.ablation  one-factor sweeps with seeds and their statistics

Commands: ``search.run``, ``search.report``, ``search.ablate``. The heavy packages load lazily, so a command
that only validates its arguments does not pay for importing Ray.
"""

from importlib import import_module
from typing import Any

_LAZY = {"SearchConfig": "._config", "Outcome": "._orchestrate", "run_search": "._orchestrate"}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
