"""What a fidelity study writes beside its journal: the CSV and the plotly scatter."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from space import atomic_write

CSV_COLUMNS = ["genome_id", "is_baseline", "blocks", "macs", "proxy_top1", "reference_top1", "proxy_eval_loss",
               "reference_eval_loss", "reference_held_out_top1", "reference_held_out_eval_loss", "proxy_seconds",
               "reference_seconds", "proxy_status", "reference_status"]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, text.getvalue())


def write_scatter(rows: list[dict[str, Any]], path: Path, title: str,
                  baseline_sd: tuple[float, ...] | None = None, reference_column: str = "reference_top1") -> None:
    """Reference (its ``reference_column``) against proxy accuracy, one point per genome; hover: id, block
    strings, accuracies, MACs.

    ``baseline_sd`` (proxy, reference) draws the baseline's seed-to-seed SD as error bars on its star: the
    spread of a single run (two single-seed points differ by sqrt(2) times it from noise alone).
    """
    import plotly.graph_objects as go  # only here: the training workers never need it

    figure = go.Figure()
    bars = lambda sd: dict(type="data", array=[sd], visible=True) if sd is not None else None  # noqa: E731
    proxy_sd, reference_sd = baseline_sd or (None, None)
    for is_baseline, name, marker in ((False, "genome", dict(size=9, color="#1f77b4", opacity=0.7)),
                                      (True, "baseline", dict(size=16, symbol="star", color="#2ca02c",
                                                              line=dict(width=1, color="black")))):
        chosen = [row for row in rows if row["is_baseline"] == is_baseline]
        figure.add_trace(go.Scatter(
            x=[row["proxy_top1"] for row in chosen], y=[row[reference_column] for row in chosen],
            mode="markers", name=name + (" (bars: 1 seed SD)" if is_baseline and baseline_sd else ""),
            marker=marker, error_x=bars(proxy_sd) if is_baseline else None,
            error_y=bars(reference_sd) if is_baseline else None,
            customdata=[[row["genome_id"], row["blocks"].replace(" ", "<br>"), f"{row['macs'] / 1e6:.1f}M"]
                        for row in chosen],
            hovertemplate=("genome %{customdata[0]}<br>%{customdata[1]}<br>proxy %{x:.2f} %<br>"
                           "reference %{y:.2f} %<br>MACs %{customdata[2]}<extra>%{fullData.name}</extra>")))
    held_out = " on held-out images" if reference_column == "reference_held_out_top1" else ""
    figure.update_layout(title=title, xaxis_title="proxy top-1 (%)", yaxis_title=f"reference top-1{held_out} (%)",
                         template="plotly_white", hovermode="closest")
    atomic_write(path, figure.to_html(include_plotlyjs=True))
