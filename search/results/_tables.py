"""Small formatting helpers shared by the search and ablation reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def millions(value, decimals: int = 1) -> str:
    return "" if pd.isna(value) else f"{value / 1e6:.{decimals}f}M"


def describe_setting(value: object) -> str:
    """A recorded setting on one line; the fidelity is recorded as a dict of its settings."""
    if value is None:
        return "unknown"
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def write_png(figure: go.Figure, path: Path) -> Path | str:
    """The figure as a PNG where plotly's image export works, else a one-line note saying why not."""
    try:
        figure.write_image(path, width=1100, height=700)
    except Exception as error:  # kaleido missing, too old, or without a Chrome: the PNG is optional
        first_line = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        return f"skipped {path.name}: {first_line.strip().rstrip(',:')}"
    return path
