"""An ablation's result files: ablation.csv, ablation.md (Table 3 extended), ablation.html/png."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from space import atomic_write

from ..results import (CONFIDENCE, TEST, VERDICT_RULE, block_strings, describe_setting, image_markdown, markdown_table,
                       millions, verdict, write_figure)
from ._config import AblationConfig
from ._levels import Arm
from ._statistics import arm_statistics

FEW_SEEDS = 3
"""Below this many seeds per arm an ablation warns that its intervals are too wide to say much."""


def write_outputs(config: AblationConfig, frame: pd.DataFrame, latencies: dict[str, float] | None = None,
                  latency_machine: str | None = None) -> dict[str, Path | str]:
    """``ablation.csv``, ``ablation.md``, ``ablation.html`` and ``ablation.png``; the last maps to the one-line
    note saying why, where the PNG was skipped (no browser for plotly's exporter). ``latencies`` (ms per arm,
    measured for ``latency_machine``) become a ``latency_ms`` column after ``macs`` and in the table."""
    out = config.out_dir
    if latencies:
        frame = frame.copy()
        frame.insert(frame.columns.get_loc("macs") + 1, "latency_ms", frame["arm"].map(latencies))
    atomic_write(out / "ablation.csv", frame.to_csv(index=False))
    summary = arm_statistics(frame, config.arms, latencies)
    title = f"{config.name}: top-1 accuracy vs MACs by {config.factor.name}"
    png = write_figure(ablation_figure(summary, config.arms, title), out / "ablation.html")
    atomic_write(out / "ablation.md", ablation_markdown(config, frame, summary, image_markdown(png, title),
                                                        latency_machine))
    return {"ablation_csv": out / "ablation.csv", "ablation_md": out / "ablation.md",
            "ablation_html": out / "ablation.html", "ablation_png": png}


def ablation_markdown(config: AblationConfig, frame: pd.DataFrame, summary: pd.DataFrame, image: str,
                      latency_machine: str | None = None) -> str:
    """Table 3 extended: one row per arm, with the change against the baseline arm and its interval, under the
    figure (``image``: its markdown, see ``search.results.image_markdown``)."""
    factor = config.factor
    base = summary[summary["is_baseline"]].iloc[0]
    failed = frame[frame["status"] != "ok"]
    lines = [
        f"# Ablation `{config.name}`: {factor.name}", "",
        f"- factor: {factor.name} — {factor.description}; every other setting is the "
        f"{factor.base_block} Table 1 baseline's",
        f"- baseline arm: {base['arm']}",
        f"- data: {config.data} ({config.num_classes} classes)",
        f"- fidelity: {config.fidelity.name} ({describe_setting(dataclasses.asdict(config.fidelity))})",
        f"- seeds: {config.seeds} per arm (0..{config.seeds - 1}); runs: {int((frame['status'] == 'ok').sum())} ok, "
        f"{len(failed)} failed (left out of the statistics)",
        f"- change: mean over the seeds both ran of (arm top-1 - baseline arm top-1), in points, with its "
        f"{CONFIDENCE:.0%} interval and p-value; test: {TEST}; n/a where no spread can be estimated",
        f"- verdict, against the baseline arm: {VERDICT_RULE}",
        "- train s: wall seconds of one training, on whatever share of this machine's CPUs the runs in flight left "
        "it: a cost indication, not a speed measurement side by side",
    ]
    if latency_machine:
        lines.append(f"- latency: inference at batch 1 on {latency_machine}, predicted as the sum of the network's "
                     "pieces measured into this machine's lookup table before training, not a timing of the whole "
                     "network (`python -m evaluators.latency GENOME` times one; `--validate N` measures the "
                     "prediction's error)")
    if config.seeds == 1:
        lines.append("- With one seed per arm there is no spread: no standard deviation and no confidence interval "
                     "can be given, so a change may be seed noise. Run with --seeds 3 or more.")
    elif config.seeds < FEW_SEEDS:
        lines.append(f"- Only {config.seeds} seeds per arm: the intervals are wide and say little; run with --seeds "
                     f"{FEW_SEEDS} or more (default 5).")
    return "\n".join([*lines, "", image, "", arms_table(summary, factor.name), "", "## Failed runs", "",
                      _failures(failed)]) + "\n"


def arms_table(summary: pd.DataFrame, factor: str) -> str:
    latency = summary["latency_ms"].notna().any()
    rows = [[f"**{r.arm}** (baseline)" if r.is_baseline else r.arm, r.label, millions(r.macs, 2),
             *([f"{r.latency_ms:.2f}"] if latency else []), millions(r.params, 2), _accuracy(r), str(r.n),
             _change(r), _p_value(r), "" if r.is_baseline else verdict(r), _seconds(r)]
            for r in summary.itertuples()]
    return markdown_table(["arm", factor, "MACs", *(["latency ms"] if latency else []), "params",
                           "top-1 % (mean ± std)", "n", f"change vs baseline [{CONFIDENCE:.0%} CI]", "p (Holm)",
                           "verdict", "train s (mean ± std)"], rows)


def _seconds(row: Any) -> str:
    if row.n == 0:
        return ""
    return f"{row.seconds:.1f}" if row.n == 1 else f"{row.seconds:.1f} ± {row.seconds_sd:.1f}"


def _p_value(row: Any) -> str:
    return "" if row.is_baseline or math.isnan(row.p_holm) else f"{row.p_holm:.3f}"


def _accuracy(row: Any) -> str:
    if row.n == 0:
        return "no successful run"
    return f"{row.mean:.2f}" if row.n == 1 else f"{row.mean:.2f} ± {row.std:.2f}"


def _change(row: Any) -> str:
    if row.is_baseline:
        return "baseline"
    if math.isnan(row.delta):
        return "n/a"
    interval = "n/a" if math.isnan(row.ci_low) else f"{row.ci_low:+.2f}, {row.ci_high:+.2f}"
    return f"{row.delta:+.2f} [{interval}]"


def _failures(failed: pd.DataFrame) -> str:
    if failed.empty:
        return "None."
    return markdown_table(["arm", "seed", "reason"],
                           [[r.arm, str(r.seed), " ".join(str(r.reason).split()).replace("|", "\\|")]
                            for r in failed.itertuples()])


def ablation_figure(summary: pd.DataFrame, arms: list[Arm], title: str) -> go.Figure:
    """Mean top-1 vs MACs, one point per arm labelled with its level and n, a one-SD bar where n >= 2; the
    baseline arm a star, its mean a dotted line to read each arm's change against; arms without a
    successful run named above the plot (they cannot be placed)."""
    arch = {arm.name: block_strings(arm.genome) for arm in arms}
    measured = summary[summary["n"] > 0]
    figure = go.Figure()
    for is_baseline, name, marker in ((False, "arm", dict(size=10, color="#1f77b4")),
                                      (True, "baseline arm", dict(size=16, symbol="star", color="#2ca02c",
                                                                  line=dict(width=1, color="black")))):
        rows = measured[measured["is_baseline"] == is_baseline]
        custom = pd.DataFrame({"arm": rows["arm"], "arch": rows["arm"].map(arch).str.replace(" ", "<br>"),
                               "accuracy": [_accuracy(r) for r in rows.itertuples()],
                               "change": [_change(r) for r in rows.itertuples()],
                               "params": rows["params"].map(lambda p: millions(p, 2))})
        figure.add_trace(go.Scatter(
            x=rows["macs"] / 1e6, y=rows["mean"], mode="markers+text", name=name, marker=marker,
            text=[f"{r.label} (n={r.n})" for r in rows.itertuples()], textposition="top center",
            error_y=dict(type="data", array=rows["std"], visible=True),  # NaN (n = 1): no bar
            customdata=custom.to_numpy(),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>top-1 %{customdata[2]} %<br>"
                          f"change vs baseline [{CONFIDENCE:.0%} CI] %{{customdata[3]}}<br>"
                          "MACs %{x:.2f}M<br>params %{customdata[4]}<extra></extra>"))
    base = measured[measured["is_baseline"]]
    if not base.empty:
        figure.add_hline(y=float(base["mean"].iloc[0]), line=dict(dash="dot", color="#2ca02c", width=1),
                         annotation_text="baseline arm mean", annotation_position="bottom right")
    unplaced = summary.loc[summary["n"] == 0, "arm"].tolist()
    if unplaced:
        figure.add_annotation(text="no successful run: " + ", ".join(unplaced), xref="paper", yref="paper",
                              x=0, y=1.0, xanchor="left", yanchor="bottom", showarrow=False)
    figure.update_layout(title=title, xaxis_title="MACs (millions)",
                         yaxis_title="top-1 accuracy (%): mean ± SD over seeds", template="plotly_white",
                         hovermode="closest")
    return figure
