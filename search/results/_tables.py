"""Small formatting helpers shared by the search and ablation reports."""

from __future__ import annotations

import pandas as pd

from space import Genome


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


def block_strings(genome: Genome) -> str:
    """The genome's stages as block strings (timm's spelling), space-separated: trials.csv's ``arch`` column."""
    return " ".join(stage.encode() for stage in genome.stages)
