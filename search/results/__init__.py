"""What a finished (or running) study says: trials.csv, the Pareto genomes, pareto.html/png, summary.md, and
the figure and table helpers the ablation reports share."""

from ._figures import PNG_SIZE, image_markdown, write_figure
from ._plots import baseline_label, pareto_figure
from ._report import pareto_table, summary_markdown, trials_frame, write_report
from ._tables import block_strings, describe_setting, markdown_table, millions

__all__ = ["PNG_SIZE", "baseline_label", "block_strings", "describe_setting", "image_markdown", "markdown_table",
           "millions", "pareto_figure", "pareto_table", "summary_markdown", "trials_frame", "write_figure",
           "write_report"]
