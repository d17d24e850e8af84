"""What a finished (or running) study says: trials.csv, the Pareto genomes, pareto.html/png, summary.md, and
the small table helpers the ablation reports share."""

from ._plots import baseline_label, pareto_figure
from ._report import pareto_table, summary_markdown, trials_frame, write_report
from ._tables import describe_setting, markdown_table, millions, write_png

__all__ = ["baseline_label", "describe_setting", "markdown_table", "millions", "pareto_figure", "pareto_table",
           "summary_markdown", "trials_frame", "write_png", "write_report"]
