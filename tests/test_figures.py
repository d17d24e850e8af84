"""Figures a person would rather look at: what pareto.html/png must let a reader tell apart, and every figure
also a PNG next to its HTML through plotly's own exporter (kaleido with the machine's Chromium).

The exports here start their own browser, as a run does (no shared browser: see conftest's shared_chromium).
"""

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from search.results import PNG_SIZE, image_markdown, pareto_figure, write_figure

ARCH = "ds_r1_k3_s1_c16 ir_r2_k3_s2_e6_c24_sq4"


def _row(number, accuracy, macs, state="COMPLETE", **extra):
    return {"number": number, "state": state, "genome_id": f"g{number}", "arch": ARCH, "accuracy": accuracy,
            "macs": macs, "params": 2_000_000, "seconds": 30.0, "is_baseline": False, "is_pareto": False,
            "reason": None, "baseline_block": None, **extra}


def _frame(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["macs"] = frame["macs"].astype("Int64")
    return frame


def _trace(figure: go.Figure, name_start: str) -> go.Scatter:
    return next(trace for trace in figure.data if trace.name and trace.name.startswith(name_start))


def _one_trial_front() -> pd.DataFrame:
    """The default run's shape: the baseline and two trials as good as each other, only the cheaper one on the front."""
    return _frame(_row(0, 29.0, 194e6, is_baseline=True, baseline_block="standard"),
                  _row(1, 33.0, 189e6, is_pareto=True), _row(2, 33.0, 339e6))


def test_a_one_trial_front_is_ringed_and_numbered():
    front = _trace(pareto_figure(_one_trial_front(), "t"), "Pareto front")
    assert front.name == "Pareto front (1)" and list(front.text) == ["#1"]
    assert list(front.x) == [189.0] and front.marker.line.color == front.textfont.color


def test_the_front_staircase_runs_on_to_the_largest_macs_so_one_point_still_draws_a_line():
    line = next(trace for trace in pareto_figure(_one_trial_front(), "t").data if trace.mode == "lines")
    assert (list(line.x), list(line.y), line.line.shape) == ([189.0, 339.0], [33.0, 33.0], "hv")


def test_the_baseline_is_a_labelled_star():
    star = _trace(pareto_figure(_one_trial_front(), "t"), "baseline")
    assert star.marker.symbol == "star" and list(star.text) == ["baseline (standard)"]


def test_hover_names_the_trial_its_block_strings_accuracy_and_macs():
    trial = _trace(pareto_figure(_one_trial_front(), "t"), "trial")
    number, genome_id, arch, accuracy, macs = trial.customdata[1][:5]
    assert (number, genome_id, accuracy, macs) == (2, "g2", "33.00 %", "339.0M")
    assert arch == ARCH.replace(" ", "<br>")
    assert all(f"customdata[{i}]" in trial.hovertemplate for i in range(5))


def test_trials_stopped_early_are_faded_with_their_rung_and_units_in_the_hover():
    frame = _frame(*_one_trial_front().to_dict("records"),
                   _row(3, 20.0, 250e6, state="PRUNED", rung=0, units=1),
                   _row(4, 25.0, 260e6, state="PRUNED", rung=1, units=3))
    figure = pareto_figure(frame, "t")
    stopped = _trace(figure, "stopped early")
    assert stopped.name.startswith("stopped early (2;")
    assert stopped.marker.opacity < _trace(figure, "trial").marker.opacity
    assert [row[3] for row in stopped.customdata] == ["20.00 %, stopped at rung 0, units trained 1",
                                                      "25.00 %, stopped at rung 1, units trained 3"]


def test_trials_stopped_early_are_drawn_without_rung_columns_too():
    frame = _frame(*_one_trial_front().to_dict("records"), _row(3, 20.0, 250e6, state="PRUNED"))
    stopped = _trace(pareto_figure(frame, "t"), "stopped early")
    assert (stopped.customdata[0][0], stopped.customdata[0][3]) == (3, "20.00 %")


def test_confirmed_genomes_are_drawn_at_their_mean_with_a_one_sd_bar():
    confirmed = pd.DataFrame({"genome_id": ["g1", "g0"], "mean": [32.0, 28.5], "sd": [0.5, 1.5], "n": [3, 3]})
    points = _trace(pareto_figure(_one_trial_front(), "t", confirmed=confirmed), "confirmed")
    by_x = sorted(zip(points.x, points.y, points.error_y.array))
    assert by_x == [(189.0, 32.0, 0.5), (194.0, 28.5, 1.5)]
    assert points.error_y.visible and "mean ± SD over 3 seeds" in points.customdata[0][3]


def test_png_is_written_next_to_its_html_and_decodes_at_the_png_size(chromium, tmp_path):
    if chromium is None:
        pytest.skip("no Chromium on PATH: apt-get install chromium (.ci/run does)")
    png = write_figure(pareto_figure(_one_trial_front(), "t"), tmp_path / "pareto.html")
    assert png == tmp_path / "pareto.png", png
    assert "plotly" in (tmp_path / "pareto.html").read_text()
    with Image.open(png) as image:
        image.load()
        assert (image.format, image.size) == ("PNG", PNG_SIZE)
    assert image_markdown(png, "the front") == "![the front](pareto.png)"


def test_without_a_browser_the_png_is_a_one_line_note_that_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))  # choreographer's browser override
    note = write_figure(pareto_figure(_one_trial_front(), "t"), tmp_path / "pareto.html")
    assert note == ("skipped pareto.png: Kaleido requires Google Chrome to be installed "
                    "(Debian: apt-get install chromium)")
    assert (tmp_path / "pareto.html").exists() and not (tmp_path / "pareto.png").exists()
    assert image_markdown(note, "the front") == f"*No image: {note}*"


def test_a_png_export_that_hangs_is_skipped_with_a_note(tmp_path, monkeypatch):
    import threading

    from search.results import _figures

    released = threading.Event()
    monkeypatch.setattr(_figures, "PNG_TIMEOUT_S", 1.0)
    monkeypatch.setattr(go.Figure, "write_image", lambda *args, **kwargs: released.wait(30))
    note = write_figure(pareto_figure(_one_trial_front(), "t"), tmp_path / "pareto.html")
    released.set()
    assert note == "skipped pareto.png: the PNG export did not finish within 1 s"
    assert not (tmp_path / "pareto.png").exists()


def _export_writing(content: bytes, wait_for=None, done=None):
    """A stand-in for plotly's ``write_image`` that writes ``content`` where it is told to, as kaleido does."""
    def export(figure, file, **kwargs):
        if wait_for is not None:
            wait_for.wait(30)
        if isinstance(file, (str, Path)):
            Path(file).write_bytes(content)
        else:
            file.write(content)
        if done is not None:
            done.set()
    return export


def test_an_exported_png_is_written_whole_beside_the_html(tmp_path, monkeypatch):
    monkeypatch.setattr(go.Figure, "write_image", _export_writing(b"\x89PNG image"))
    png = write_figure(pareto_figure(_one_trial_front(), "t"), tmp_path / "pareto.html")
    assert png == tmp_path / "pareto.png" and png.read_bytes() == b"\x89PNG image"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pareto.html", "pareto.png"]


def test_a_png_export_that_finishes_after_its_timeout_leaves_no_file_behind(tmp_path, monkeypatch):
    import threading

    from search.results import _figures

    released, finished = threading.Event(), threading.Event()
    monkeypatch.setattr(_figures, "PNG_TIMEOUT_S", 0.5)
    monkeypatch.setattr(go.Figure, "write_image", _export_writing(b"late", released, finished))
    note = write_figure(pareto_figure(_one_trial_front(), "t"), tmp_path / "pareto.html")
    released.set()
    assert finished.wait(30) and note.startswith("skipped pareto.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pareto.html"]
