"""The README's promise: a finished study opens as it is in optuna-dashboard (the ``[dashboard]`` extra).

A real smoke search writes the study; the dashboard's own server is started on it, the way the README
says (``optuna-dashboard sqlite:///.../study.db``), and the study and its trials are read back through
the server's HTTP API (``/api/studies`` and ``/api/studies/<id>``, the routes its web page calls).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from search.run import main

# The console script sits next to the interpreter in a virtual environment, even one not activated.
DASHBOARD = shutil.which("optuna-dashboard", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
if DASHBOARD is None:
    pytest.skip("optuna-dashboard is not installed: pip install -e '.[dashboard]'", allow_module_level=True)

DATA = "synthetic:classes=3,train=16,val=8"
FAST = ["--data", DATA, "--fidelity", "smoke", "--crop", "16", "--batch-size", "8", "--data-fraction", "1",
        "--scheduler", "fifo"]
STUDY = "dash"
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _wait_until_serving(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"optuna-dashboard exited with {server.returncode}: {log.read_text()}")
        try:
            _get(f"{url}/api/meta")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"optuna-dashboard did not answer on {url} within {STARTUP_SECONDS} s")


@pytest.fixture(scope="module")
def served_study(ray_cluster, shared_chromium, tmp_path_factory):
    """A finished 3-trial smoke study, its trials.csv, and the URL of a dashboard serving its storage."""
    results = tmp_path_factory.mktemp("results")
    assert main([*FAST, "--results-dir", str(results), "--study-name", STUDY, "--budget", "3"]) == 0
    storage = json.loads((results / STUDY / "study.json").read_text())["storage"]
    port = _free_port()
    log = results / "dashboard.log"
    with log.open("w") as log_file:
        server = subprocess.Popen([DASHBOARD, storage, "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=log_file, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(server, url, log)
        yield {"url": url, "trials": pd.read_csv(results / STUDY / "trials.csv")}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _summaries(served_study) -> list[dict]:
    return _get(f"{served_study['url']}/api/studies")["study_summaries"]


def _study_detail(served_study) -> dict:
    study_id = next(s["study_id"] for s in _summaries(served_study) if s["study_name"] == STUDY)
    return _get(f"{served_study['url']}/api/studies/{study_id}")


def test_dashboard_lists_the_study_with_its_two_objectives(served_study):
    summaries = _summaries(served_study)
    assert [(s["study_name"], s["directions"]) for s in summaries] == [(STUDY, ["maximize", "minimize"])]


def test_dashboard_shows_every_trial_with_its_genome_and_measurements(served_study):
    trials = _study_detail(served_study)["trials"]
    expected = served_study["trials"]
    assert [t["number"] for t in trials] == expected["number"].tolist()
    assert [t["state"] for t in trials] == ["Complete"] * len(expected)
    genome_ids = [next(a["value"] for a in t["user_attrs"] if a["key"] == "genome_id") for t in trials]
    assert genome_ids == expected["genome_id"].tolist()
    values = [value for t in trials for value in t["values"]]
    assert values == pytest.approx(expected[["accuracy", "macs"]].to_numpy().ravel().tolist())


def test_dashboard_front_is_the_front_in_trials_csv(served_study):
    best = sorted(t["number"] for t in _study_detail(served_study)["best_trials"])
    assert best == served_study["trials"].loc[served_study["trials"]["is_pareto"], "number"].tolist()
