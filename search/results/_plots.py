"""The accuracy-versus-MACs figure of a study, drawn from ``search.results.trials_frame``.

It takes the trials table rather than the study so that the figure shows exactly what ``trials.csv``
holds. Failed trials that have MACs are drawn as grey crosses along the bottom edge of the plot, at their
MACs, so one sees where in the cost range the search fails (their height means nothing).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

HOVER = ("trial %{customdata[0]}<br>genome %{customdata[1]}<br>%{customdata[2]}<br>"
         "top-1 %{customdata[3]}<br>MACs %{customdata[4]}<br>params %{customdata[5]}<br>"
         "seconds %{customdata[6]}<extra>%{fullData.name}</extra>")


def pareto_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Completed trials, the Pareto front as a staircase, baselines labelled, failed trials at the bottom."""
    complete = frame[frame["state"] == "COMPLETE"]
    baselines = complete[complete["is_baseline"]]
    front = complete[complete["is_pareto"]].sort_values(["macs", "accuracy"])
    failed = frame[(frame["state"] == "FAIL") & frame["macs"].notna()]
    figure = go.Figure()
    figure.add_trace(_points(complete[~complete["is_baseline"]], "trial",
                             dict(size=7, color="#1f77b4", opacity=0.6)))
    # "hv": flat to the next front point's MACs, then up: the best accuracy reachable at each MACs budget.
    figure.add_trace(go.Scatter(**_xy(front), mode="lines", line_shape="hv", name="Pareto front",
                                line=dict(color="#d62728", width=2), hoverinfo="skip"))
    if not baselines.empty:
        labelled = _points(baselines, "baseline", dict(size=14, symbol="star", color="#2ca02c",
                                                       line=dict(width=1, color="black")))
        labelled.update(mode="markers+text", text=[baseline_label(b) for b in baselines["baseline_block"]],
                        textposition="top center")
        figure.add_trace(labelled)
    if not failed.empty:
        floor = complete["accuracy"].min() - 1 if not complete.empty else 0.0
        figure.add_trace(_points(failed.assign(accuracy=floor), "failed (at its MACs; height meaningless)",
                                 dict(size=9, symbol="x", color="grey"),
                                 accuracy_text="failed: " + failed["reason"].fillna("")))
    figure.update_layout(title=title, xaxis_title="MACs (millions)", yaxis_title="top-1 accuracy (%)",
                         template="plotly_white", hovermode="closest")
    return figure


def _points(rows: pd.DataFrame, name: str, marker: dict, accuracy_text: pd.Series | None = None) -> go.Scatter:
    """One scatter trace whose hover shows what identifies and measures each trial."""
    if accuracy_text is None:
        accuracy_text = rows["accuracy"].map(lambda a: f"{a:.2f} %")
    custom = pd.DataFrame({
        "number": rows["number"],
        "genome_id": rows["genome_id"].fillna(""),
        "arch": rows["arch"].fillna("").str.replace(" ", "<br>"),
        "accuracy": accuracy_text,
        "macs": rows["macs"].map(lambda m: f"{m / 1e6:.1f}M"),
        "params": rows["params"].map(lambda p: "" if pd.isna(p) else f"{p / 1e6:.2f}M"),
        "seconds": rows["seconds"].map(lambda s: "" if pd.isna(s) else f"{s:.0f}"),
    })
    return go.Scatter(**_xy(rows), mode="markers", name=name, marker=marker, customdata=custom.to_numpy(),
                      hovertemplate=HOVER)


def _xy(rows: pd.DataFrame) -> dict:
    """MACs in millions on x, top-1 on y, as plain floats (the frame's MACs are nullable integers)."""
    return {"x": rows["macs"].astype(float) / 1e6, "y": rows["accuracy"].astype(float)}


def baseline_label(block: object) -> str:
    """How the figure and the summary name a baseline trial, e.g. "baseline (se)"."""
    return f"baseline ({block})" if isinstance(block, str) and block else "baseline"


def hypervolume_figure(history: pd.DataFrame, title: str) -> go.Figure:
    """The front's hypervolume after each trial (``search.results._report.hypervolume_history``)."""
    figure = go.Figure(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines+markers",
                                  line_shape="hv", name="hypervolume",
                                  hovertemplate="after trial %{x}<br>hypervolume %{y:.3f}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="trial number", template="plotly_white",
                         yaxis_title="hypervolume (top-1 points above chance x fraction of reference MACs)")
    return figure
