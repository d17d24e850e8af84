"""Ablations: the baseline and its one-factor variants, trained with several seeds each, and each arm's change
against the baseline arm with its uncertainty."""

from ._config import AblationConfig, Outcome
from ._levels import FACTORS, Arm, Factor, get_factor, make_arms, parse_levels
from ._report import ablation_figure, ablation_markdown, write_outputs
from ._runner import run_ablation
from ._runs import load_runs, run_columns, save_run
from ._statistics import arm_statistics

__all__ = ["FACTORS", "AblationConfig", "Arm", "Factor", "Outcome", "ablation_figure", "ablation_markdown",
           "arm_statistics", "get_factor", "load_runs", "make_arms", "parse_levels", "run_ablation", "run_columns",
           "save_run", "write_outputs"]
