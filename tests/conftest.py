"""Shared fixtures: one local Ray cluster for every test that runs trials, a private data cache, one browser
for the PNGs a test module writes."""

import os
import shutil

import kaleido
import plotly.graph_objects
import pytest
import ray
import torch

from search.results import write_figure

# Ray starts trial workers at niceness 15: beside the other xdist process's training at niceness 0 a trial gets a
# few percent of a core, and a run in a subprocess (which inherits this) can take minutes just to import torch.
os.environ.setdefault("RAY_worker_niceness", "0")

# Two xdist workers on two cores, each with torch's default of one intra-op thread per core, fought over the cores
# wherever both computed at once: an Optuna GP fit took 58 s against 3 s with one thread each. One thread per worker
# process; the runs a test starts in a subprocess or a Ray worker set their own.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# The names kaleido looks for on PATH (it also knows a few fixed install paths; these cover Debian's package).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    os.environ["EFFCNN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def chromium() -> str | None:
    """The browser plotly's PNG export would use, or None where the machine has none."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def shared_chromium(chromium, tmp_path_factory):
    """One Chromium for every PNG a test module's reports write.

    Plotly's exporter starts a fresh browser per image (seconds each on this machine); kaleido's sync server
    keeps one open, so a module that writes a dozen reports pays that once. Module-scoped, so a module that
    tests the one-browser-per-image path or the no-browser path is not affected. Without a browser nothing
    starts, and every export ends in the run's one-line note.

    The server starts its browser on a thread of its own, after ``start_sync_server`` has returned, and that thread
    registers a new logger ("browser_proc") as the browser comes up. pytest's log capture iterates the logging
    registry unlocked as each test phase begins, so a logger registered at that moment failed the module's first
    test with "dictionary changed size during iteration" (seen once in a full run). One export here waits for the
    browser, so it is up, and its logger registered, before any test starts (through the reports' own writer, so a
    browser that fails or hangs ends in its one-line note here too, not in a stuck fixture).
    """
    if chromium is None:
        yield
        return
    kaleido.start_sync_server(silence_warnings=True)
    write_figure(plotly.graph_objects.Figure(), tmp_path_factory.mktemp("browser") / "warm-up.html")
    yield
    kaleido.stop_sync_server(silence_warnings=True)
