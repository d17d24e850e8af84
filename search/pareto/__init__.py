"""Pareto fronts and hypervolume: pure arithmetic on objective values, shared by the search's progress
display, its scheduler and its results."""

from ._front import hypervolume, pareto_mask

__all__ = ["hypervolume", "pareto_mask"]
