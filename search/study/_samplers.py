"""The Optuna samplers a search may use, each set up for a multi-objective study."""

from __future__ import annotations

import optuna

SAMPLERS = ("tpe", "nsga2", "random", "gp")


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """Multi-objective samplers. TPE uses a constant liar so concurrent asks do not collide."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=10)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    raise ValueError(f"sampler: must be one of {', '.join(SAMPLERS)}, got {name!r}")
