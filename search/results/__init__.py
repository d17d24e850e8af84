"""What a finished (or running) study says: trials.csv, the Pareto genomes, pareto.html/png, summary.md, runs
compared at equal wall time, and the figure, table and statistics helpers the ablation and confirmation
reports share."""

from ._compare import RunFigures, arm_labels, comparison_markdown, run_figures
from ._figures import PNG_SIZE, image_markdown, write_figure
from ._plots import baseline_label, pareto_figure
from ._report import (CONFIRMED_CSV, baseline_statistics, confirmation_section, hypervolume_history, pareto_table,
                      read_confirmed, rung_correlation_line, rungs_summary, summary_markdown, trials_frame,
                      write_report)
from ._statistics import CONFIDENCE, TEST, VERDICT_RULE, holm, paired_comparison, verdict
from ._tables import block_strings, describe_setting, markdown_table, millions

__all__ = ["CONFIDENCE", "CONFIRMED_CSV", "PNG_SIZE", "RunFigures", "TEST", "VERDICT_RULE", "arm_labels",
           "baseline_label", "baseline_statistics", "block_strings", "comparison_markdown", "confirmation_section",
           "describe_setting", "holm", "hypervolume_history", "image_markdown", "markdown_table", "millions",
           "paired_comparison", "pareto_figure", "pareto_table", "read_confirmed", "run_figures",
           "rung_correlation_line", "rungs_summary", "summary_markdown", "trials_frame", "verdict", "write_figure",
           "write_report"]
