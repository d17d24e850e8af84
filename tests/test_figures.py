"""Static images: every figure is also a PNG, through plotly's own exporter (kaleido with the machine's Chromium).

Each export here starts its own browser, as a run does (no shared browser: see conftest's shared_chromium).
"""

from pathlib import Path

import plotly.graph_objects as go
import pytest
from PIL import Image

from search.tables import write_png


def _figure() -> go.Figure:
    return go.Figure(go.Scatter(x=[100.0, 200.0], y=[60.0, 70.0], mode="markers"))


def test_png_is_written_and_decodes_at_the_exported_size(chromium, tmp_path):
    if chromium is None:
        pytest.skip("no Chromium on PATH: apt-get install chromium (.ci/run does)")
    written = write_png(_figure(), tmp_path / "figure.png")
    assert written == tmp_path / "figure.png", written
    with Image.open(written) as image:
        image.load()
        assert (image.format, image.size) == ("PNG", (1100, 700))


def test_without_a_browser_the_png_is_skipped_with_a_one_line_note(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))  # choreographer's browser override
    note = write_png(_figure(), tmp_path / "figure.png")
    assert isinstance(note, str) and note.startswith("skipped figure.png: Kaleido requires Google Chrome")
    assert "\n" not in note
    assert not (tmp_path / "figure.png").exists()
