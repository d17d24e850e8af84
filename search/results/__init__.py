"""What a finished (or running) study says: trials.csv, the Pareto genomes, pareto.html/png, summary.md, and
the small table helpers the ablation reports share."""

from ._plots import baseline_label, pareto_figure
from ._report import (CONFIRMED_CSV, baseline_statistics, confirmation_section, hypervolume_history, pareto_table,
                      read_confirmed, summary_markdown, trials_frame, write_report)
from ._statistics import CONFIDENCE, TEST, holm, paired_comparison, verdict
from ._tables import describe_setting, markdown_table, millions, write_png

__all__ = ["CONFIDENCE", "CONFIRMED_CSV", "TEST", "baseline_label", "baseline_statistics", "confirmation_section",
           "describe_setting", "holm", "hypervolume_history", "markdown_table", "millions", "paired_comparison",
           "pareto_figure", "pareto_table", "read_confirmed", "summary_markdown", "trials_frame", "verdict",
           "write_png", "write_report"]
