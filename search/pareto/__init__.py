"""Pareto fronts and hypervolume: pure arithmetic on objective values, shared by the search's progress
display, its scheduler and its results."""

from ._front import (dominated_hypervolume, hypervolume, hypervolume_contributions, minimise_form,
                     nondominated_mask, nondominated_ranks, pareto_mask)

__all__ = ["dominated_hypervolume", "hypervolume", "hypervolume_contributions", "minimise_form", "nondominated_mask",
           "nondominated_ranks", "pareto_mask"]
