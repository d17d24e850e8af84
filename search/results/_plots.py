"""The accuracy-versus-cost figure of a study, drawn from ``search.results.trials_frame``.

It takes the trials table rather than the study so that the figure shows exactly what ``trials.csv``
holds. What a reader must tell apart, in the HTML and in the PNG (which has no hover):

- the front's trials: ringed and numbered whatever their count, with the staircase of the best top-1
  reachable within each MACs budget, drawn on to the largest MACs plotted (so a one-trial front is a line);
- the baseline: a labelled star;
- trials a multi-fidelity scheduler stopped early (state PRUNED): faded, at the top-1 of their last rung,
  which is after fewer units of training than the others'; the ``rung`` and ``units`` columns, when present,
  in the hover;
- confirmed genomes (``confirmed``: genome_id, mean, sd, n over seeds): a black diamond at the mean with a
  one-SD bar;
- failed trials that have MACs: grey crosses along the bottom edge at their MACs (their height means nothing).

The cost axis is the study's cost objective (``frame.attrs["objectives"]``): MACs, or the predicted latency.
A study of three objectives (accuracy, MACs, latency) gets the three pairwise projections side by side,
top-1 against MACs, top-1 against latency and latency against MACs, with the trials of the 3-objective front
ringed in each (a front trial can look dominated in one projection: the third objective keeps it) and no
staircase, which only means something for two objectives.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

FRONT_COLOUR = "#d62728"
TRIAL_COLOUR = "#1f77b4"
HOVER = ("trial %{customdata[0]}<br>genome %{customdata[1]}<br>%{customdata[2]}<br>"
         "top-1 %{customdata[3]}<br>MACs %{customdata[4]}<br>latency %{customdata[7]}<br>params %{customdata[5]}<br>"
         "seconds %{customdata[6]}<extra>%{fullData.name}</extra>")
AXES = {"accuracy": ("accuracy", 1.0, "top-1 accuracy (%)", "top-1"),
        "macs": ("macs", 1e6, "MACs (millions)", "MACs"),
        "latency": ("latency_ms", 1.0, "latency (ms, predicted)", "latency")}
"""Per objective: its frame column, the divisor to the axis's unit, the axis title, its name in legends."""


def pareto_figure(frame: pd.DataFrame, title: str, confirmed: pd.DataFrame | None = None) -> go.Figure:
    """Every placeable trial of ``frame`` by cost and top-1; ``confirmed`` adds each genome's mean ± SD."""
    objectives = frame.attrs.get("objectives", ("accuracy", "macs"))
    if len(objectives) == 2:
        figure = go.Figure()
        _panel(figure, frame, objectives[1], "accuracy", confirmed, staircase=True)
        figure.update_layout(xaxis_title=AXES[objectives[1]][2], yaxis_title=AXES["accuracy"][2])
    else:
        pairs = [(cost, "accuracy") for cost in objectives[1:]] + [(objectives[1], objectives[2])]
        figure = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.07)
        for column, (x, y) in enumerate(pairs, start=1):
            _panel(figure, frame, x, y, confirmed, staircase=False, cell=dict(row=1, col=column), legend=column == 1)
            figure.update_xaxes(title_text=AXES[x][2], row=1, col=column)
            figure.update_yaxes(title_text=AXES[y][2], row=1, col=column)
    figure.update_layout(title=title, template="plotly_white", hovermode="closest")
    return figure


def _panel(figure: go.Figure, frame: pd.DataFrame, x: str, y: str, confirmed: pd.DataFrame | None,
           staircase: bool, cell: dict | None = None, legend: bool = True) -> None:
    """One scatter of the trials by objective ``x`` (across) and ``y`` (up); failed trials and confirmed
    genomes only where ``y`` is accuracy, since that is what they lack or what was confirmed."""
    x_column, y_column = AXES[x][0], AXES[y][0]
    complete = frame[frame["state"] == "COMPLETE"]
    baselines = complete[complete["is_baseline"]]
    others = complete[~complete["is_baseline"]]
    front = complete[complete["is_pareto"]].sort_values([x_column, "accuracy"])
    stopped = frame[(frame["state"] == "PRUNED") & frame[y_column].notna() & frame[x_column].notna()]
    failed = frame[(frame["state"] == "FAIL") & frame[x_column].notna()]
    traces = [_points(others, f"trial ({len(others)})", dict(size=7, color=TRIAL_COLOUR, opacity=0.6), x, y)]
    if not stopped.empty:
        traces.append(_points(stopped, f"stopped early ({len(stopped)}; top-1 at the rung it stopped at)",
                              dict(size=7, color=TRIAL_COLOUR, opacity=0.2), x, y, _stopped_text(stopped)))
    if not front.empty:
        if staircase:
            traces.append(go.Scatter(**_staircase(front, float(frame[x_column].max()), x), mode="lines",
                                     line_shape="hv", line=dict(color=FRONT_COLOUR, width=2), hoverinfo="skip",
                                     name=f"best top-1 within the {AXES[x][3]}", legendgroup="front"))
        ringed = _points(front, f"Pareto front ({len(front)})",
                         dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color=FRONT_COLOUR)), x, y)
        ringed.update(mode="markers+text", text=[f"#{number}" for number in front["number"]],
                      textposition="bottom right", textfont=dict(color=FRONT_COLOUR), legendgroup="front")
        traces.append(ringed)
    if not baselines.empty:
        labelled = _points(baselines, "baseline", dict(size=14, symbol="star", color="#2ca02c",
                                                       line=dict(width=1, color="black")), x, y)
        labelled.update(mode="markers+text", text=[baseline_label(b) for b in baselines["baseline_block"]],
                        textposition="top center", legendgroup="baseline")
        traces.append(labelled)
    if y == "accuracy" and confirmed is not None and not confirmed.empty:
        traces.append(_confirmed(complete, confirmed, x))
    if y == "accuracy" and not failed.empty:
        placed = pd.concat([complete["accuracy"], stopped["accuracy"]])
        floor = placed.min() - 1 if not placed.empty else 0.0
        traces.append(_points(failed.assign(accuracy=floor),
                              f"failed ({len(failed)}; at its {AXES[x][3]}, height meaningless)",
                              dict(size=9, symbol="x", color="grey"), x, y, "failed: " + failed["reason"].fillna("")))
    for trace in traces:
        trace.update(showlegend=legend, legendgroup=trace.legendgroup or trace.name)
        figure.add_trace(trace, **(cell or {}))


def _staircase(front: pd.DataFrame, largest: float, x: str) -> dict:
    """The front's points, then flat on to the largest cost plotted: beyond the front's dearest trial the
    best reachable top-1 stays that trial's. Drawn with "hv": flat to the next point's cost, then up."""
    xy = _xy(front, x, "accuracy")
    xs, ys = xy["x"].tolist(), xy["y"].tolist()
    if largest / AXES[x][1] > xs[-1]:
        xs.append(largest / AXES[x][1])
        ys.append(ys[-1])
    return {"x": xs, "y": ys}


def _stopped_text(rows: pd.DataFrame) -> pd.Series:
    """Top-1 of a stopped trial, with the rung it stopped at and the units it trained when the table has them."""
    text = rows["accuracy"].map(lambda a: f"{a:.2f} %")
    for column, words in (("rung", "stopped at rung"), ("units", "units trained")):
        if column in rows:
            text = text + f", {words} " + rows[column].map(lambda v: "?" if pd.isna(v) else str(int(v)))
    return text


def _confirmed(complete: pd.DataFrame, confirmed: pd.DataFrame, x: str) -> go.Scatter:
    """Each confirmed genome at its cost (from its first completed trial): mean top-1 with a one-SD bar."""
    rows = complete.drop_duplicates("genome_id").merge(confirmed[["genome_id", "mean", "sd", "n"]], on="genome_id")
    text = [f"{m:.2f} ± {s:.2f} % (mean ± SD over {n} seeds)" for m, s, n in zip(rows["mean"], rows["sd"], rows["n"])]
    points = _points(rows.assign(accuracy=rows["mean"]), f"confirmed ({len(rows)}; mean ± SD over seeds)",
                     dict(size=9, symbol="diamond", color="black"), x, "accuracy", pd.Series(text, index=rows.index))
    points.update(error_y=dict(type="data", array=rows["sd"].astype(float), visible=True, color="black",
                               thickness=1.5, width=6))
    return points


def _points(rows: pd.DataFrame, name: str, marker: dict, x: str = "macs", y: str = "accuracy",
            accuracy_text: pd.Series | None = None) -> go.Scatter:
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
        "latency": (rows["latency_ms"] if "latency_ms" in rows else pd.Series(float("nan"), index=rows.index)).map(
            lambda t: "n/a" if pd.isna(t) else f"{t:.3f} ms"),
    })
    return go.Scatter(**_xy(rows, x, y), mode="markers", name=name, marker=marker, customdata=custom.to_numpy(),
                      hovertemplate=HOVER)


def _xy(rows: pd.DataFrame, x: str, y: str) -> dict:
    """Each axis's objective in its axis unit, as plain floats (the frame's MACs are nullable integers)."""
    return {axis: rows[AXES[name][0]].astype(float) / AXES[name][1] for axis, name in (("x", x), ("y", y))}


def baseline_label(block: object) -> str:
    """How the figure and the summary name a baseline trial, e.g. "baseline (se)"."""
    return f"baseline ({block})" if isinstance(block, str) and block else "baseline"


def hypervolume_figure(history: pd.DataFrame, title: str,
                       units: str = "top-1 points above chance x fraction of reference MACs") -> go.Figure:
    """The front's hypervolume after each trial (``search.results._report.hypervolume_history``)."""
    figure = go.Figure(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines+markers",
                                  line_shape="hv", name="hypervolume",
                                  hovertemplate="after trial %{x}<br>hypervolume %{y:.3f}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="trial number", template="plotly_white",
                         yaxis_title=f"hypervolume ({units})")
    return figure
