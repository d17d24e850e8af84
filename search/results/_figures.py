"""Every figure twice: a self-contained HTML page (hover, zoom, offline) and, next to it, a PNG of the same
name for the places that take only an image: summary.md, ablation.md, a paper, an issue, a chat.

The PNG goes through plotly's own exporter, kaleido 1, which drives a Chromium the machine has (Debian:
``apt-get install chromium``; kaleido finds it by itself, ``BROWSER_PATH`` overrides). Where there is none,
the figure's PNG is skipped with a one-line note that the markdown carries instead, and the run goes on.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import plotly.graph_objects as go

from space import atomic_write

PNG_SIZE = (1100, 700)
"""Width and height of every PNG, in pixels."""
PNG_TIMEOUT_S = 180.0
"""How long a PNG may take before the report goes on without it: kaleido waits on its browser without a time
limit, and a starved or wedged browser would otherwise hold the whole report (seen once at a load of 40)."""


def write_figure(figure: go.Figure, html: Path) -> Path | str:
    """Write ``html`` and the PNG next to it; return the PNG's path or the one-line note saying why none."""
    atomic_write(html, figure.to_html(include_plotlyjs=True))
    return _write_png(figure, html.with_suffix(".png"))


def image_markdown(png: Path | str, alt: str) -> str:
    """The markdown that shows the PNG from a file in the same folder, or the note saying why there is none."""
    return f"![{alt}]({png.name})" if isinstance(png, Path) else f"*No image: {png}*"


def _write_png(figure: go.Figure, path: Path) -> Path | str:
    image = io.BytesIO()  # the export writes here, so one that outlives its timeout leaves no file behind
    try:
        _within(PNG_TIMEOUT_S, lambda: figure.write_image(image, format="png", width=PNG_SIZE[0], height=PNG_SIZE[1]))
    except Exception as error:  # kaleido missing or no browser: the image is optional, the report is not
        path.unlink(missing_ok=True)  # an older run's image would no longer show these results
        first_line = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        reason = first_line.strip().rstrip(",:.")
        if "Chrome" in reason:  # plotly's words; on Debian the browser to install is Chromium
            reason += " (Debian: apt-get install chromium)"
        return f"skipped {path.name}: {reason}"
    atomic_write(path, image.getvalue())
    return path


def _within(seconds: float, call) -> None:
    """Run ``call`` on a daemon thread; TimeoutError if it has not returned after ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # handed to the caller below
            outcome.append(error)

    worker = threading.Thread(target=run, name="png-export", daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise TimeoutError(f"the PNG export did not finish within {seconds:.0f} s")
    if outcome[0] is not None:
        raise outcome[0]
