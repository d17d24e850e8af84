"""Ablations: the baseline and its one-factor variants, trained with several seeds each, and each arm's change
against the baseline arm with its uncertainty."""

from ._config import AblationConfig, Outcome
from ._levels import FACTORS, Arm, Factor, get_factor, make_arms, parse_levels
from ._report import FEW_SEEDS, ablation_figure, ablation_markdown, write_outputs
from ._runner import run_ablation, run_columns
from ._statistics import arm_statistics

__all__ = ["FACTORS", "FEW_SEEDS", "AblationConfig", "Arm", "Factor", "Outcome", "ablation_figure",
           "ablation_markdown", "arm_statistics", "get_factor", "make_arms", "parse_levels", "run_ablation",
           "run_columns", "write_outputs"]
