"""The accuracy-versus-MACs figure of a study, drawn from ``search.results.trials_frame``.

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
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

FRONT_COLOUR = "#d62728"
TRIAL_COLOUR = "#1f77b4"
HOVER = ("trial %{customdata[0]}<br>genome %{customdata[1]}<br>%{customdata[2]}<br>"
         "top-1 %{customdata[3]}<br>MACs %{customdata[4]}<br>params %{customdata[5]}<br>"
         "seconds %{customdata[6]}<extra>%{fullData.name}</extra>")


def pareto_figure(frame: pd.DataFrame, title: str, confirmed: pd.DataFrame | None = None) -> go.Figure:
    """Every placeable trial of ``frame`` by MACs and top-1; ``confirmed`` adds each genome's mean ± SD."""
    complete = frame[frame["state"] == "COMPLETE"]
    baselines = complete[complete["is_baseline"]]
    others = complete[~complete["is_baseline"]]
    front = complete[complete["is_pareto"]].sort_values(["macs", "accuracy"])
    stopped = frame[(frame["state"] == "PRUNED") & frame["accuracy"].notna() & frame["macs"].notna()]
    failed = frame[(frame["state"] == "FAIL") & frame["macs"].notna()]
    figure = go.Figure()
    figure.add_trace(_points(others, f"trial ({len(others)})", dict(size=7, color=TRIAL_COLOUR, opacity=0.6)))
    if not stopped.empty:
        figure.add_trace(_points(stopped, f"stopped early ({len(stopped)}; top-1 at the rung it stopped at)",
                                 dict(size=7, color=TRIAL_COLOUR, opacity=0.2), _stopped_text(stopped)))
    if not front.empty:
        figure.add_trace(go.Scatter(**_staircase(front, float(frame["macs"].max())), mode="lines", line_shape="hv",
                                    line=dict(color=FRONT_COLOUR, width=2), hoverinfo="skip",
                                    name="best top-1 within the MACs", legendgroup="front"))
        ringed = _points(front, f"Pareto front ({len(front)})",
                         dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color=FRONT_COLOUR)))
        ringed.update(mode="markers+text", text=[f"#{number}" for number in front["number"]],
                      textposition="bottom right", textfont=dict(color=FRONT_COLOUR), legendgroup="front")
        figure.add_trace(ringed)
    if not baselines.empty:
        labelled = _points(baselines, "baseline", dict(size=14, symbol="star", color="#2ca02c",
                                                       line=dict(width=1, color="black")))
        labelled.update(mode="markers+text", text=[baseline_label(b) for b in baselines["baseline_block"]],
                        textposition="top center")
        figure.add_trace(labelled)
    if confirmed is not None and not confirmed.empty:
        figure.add_trace(_confirmed(complete, confirmed))
    if not failed.empty:
        placed = pd.concat([complete["accuracy"], stopped["accuracy"]])
        floor = placed.min() - 1 if not placed.empty else 0.0
        figure.add_trace(_points(failed.assign(accuracy=floor),
                                 f"failed ({len(failed)}; at its MACs, height meaningless)",
                                 dict(size=9, symbol="x", color="grey"), "failed: " + failed["reason"].fillna("")))
    figure.update_layout(title=title, xaxis_title="MACs (millions)", yaxis_title="top-1 accuracy (%)",
                         template="plotly_white", hovermode="closest")
    return figure


def _staircase(front: pd.DataFrame, largest_macs: float) -> dict:
    """The front's points, then flat on to the largest MACs plotted: beyond the front's dearest trial the
    best reachable top-1 stays that trial's. Drawn with "hv": flat to the next point's MACs, then up."""
    xy = _xy(front)
    x, y = xy["x"].tolist(), xy["y"].tolist()
    if largest_macs / 1e6 > x[-1]:
        x.append(largest_macs / 1e6)
        y.append(y[-1])
    return {"x": x, "y": y}


def _stopped_text(rows: pd.DataFrame) -> pd.Series:
    """Top-1 of a stopped trial, with the rung it stopped at and the units it trained when the table has them."""
    text = rows["accuracy"].map(lambda a: f"{a:.2f} %")
    for column, words in (("rung", "stopped at rung"), ("units", "units trained")):
        if column in rows:
            text = text + f", {words} " + rows[column].map(lambda v: "?" if pd.isna(v) else str(int(v)))
    return text


def _confirmed(complete: pd.DataFrame, confirmed: pd.DataFrame) -> go.Scatter:
    """Each confirmed genome at its MACs (from its first completed trial): mean top-1 with a one-SD bar."""
    rows = complete.drop_duplicates("genome_id").merge(confirmed[["genome_id", "mean", "sd", "n"]], on="genome_id")
    text = [f"{m:.2f} ± {s:.2f} % (mean ± SD over {n} seeds)" for m, s, n in zip(rows["mean"], rows["sd"], rows["n"])]
    points = _points(rows.assign(accuracy=rows["mean"]), f"confirmed ({len(rows)}; mean ± SD over seeds)",
                     dict(size=9, symbol="diamond", color="black"), pd.Series(text, index=rows.index))
    points.update(error_y=dict(type="data", array=rows["sd"].astype(float), visible=True, color="black",
                               thickness=1.5, width=6))
    return points


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
