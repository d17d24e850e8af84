"""Trials on a real multi-node Ray cluster started with Ray's CLI, and what each trial asks Ray for: GPUs by
default where CUDA is present (fractions pack several trials onto one), concurrency following the GPUs."""

import argparse
import subprocess
import sys

import pandas as pd
import pytest
import ray
import torch

from search._cli import check_cluster
from search.run import main
from search.tune import _runner, ensure_ray

from servers import free_port, ray_cluster_nodes

FAST = ["--data", "synthetic:classes=3,train=16,val=8", "--fidelity", "smoke", "--crop", "16", "--batch-size", "8",
        "--data-fraction", "1", "--baseline-seeds", "1", "--scheduler", "fifo"]


def test_a_search_on_a_two_node_cluster_trains_trials_on_both_nodes(tmp_path):
    # Trials of a few seconds, so the second starts (a new trial process on the other node's one CPU) before
    # the first ends and its process is reused.
    with ray_cluster_nodes(cpus_per_node=1, nodes=2) as cluster:
        done = subprocess.run([sys.executable, "-m", "search.run", *FAST, "--data", "synthetic:classes=3,train=100,val=8",
                               "--epochs", "2", "--max-concurrent", "2", "--budget", "4", "--address",
                               cluster.address, "--results-dir", str(tmp_path), "--study-name", "c"],
                              env={**cluster.env, "PYTHONUNBUFFERED": "1", "BROWSER_PATH": "/nonexistent"},
                              capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "c" / "trials.csv")
    assert (trials["state"] == "COMPLETE").all() and len(trials) == 4
    assert trials["node"].nunique() == 2, trials[["number", "node", "host"]]
    assert trials["host"].notna().all()


@pytest.fixture
def ray_init_address(monkeypatch):
    """The address ensure_ray hands ray.init (no cluster is started)."""
    asked = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda address=None, **_: asked.setdefault("address", address))
    return asked


def test_without_an_address_a_run_starts_a_cluster_of_its_own(monkeypatch, ray_init_address):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ensure_ray(None)
    assert ray_init_address["address"] == "local"


def test_without_an_address_a_run_joins_the_cluster_named_by_ray_address(monkeypatch, ray_init_address):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    ensure_ray(None)
    assert ray_init_address["address"] == "10.0.0.5:6379"


def test_an_explicit_address_wins_over_ray_address(monkeypatch, ray_init_address):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    ensure_ray("127.0.0.1:6390")
    assert ray_init_address["address"] == "127.0.0.1:6390"


class Planned(Exception):
    """Raised by the stand-in Tuner: the test needs what it was given, not a run."""


@pytest.fixture
def tuner_request(monkeypatch):
    """What run_trials asks Ray Tune for (each trial's resources, trials at once), stopping before any trial."""
    asked = {}
    real_with_resources = _runner.tune.with_resources

    def with_resources(trainable, resources):
        asked["resources"] = dict(resources)
        return real_with_resources(trainable, resources)

    class Tuner:
        def __init__(self, trainable, tune_config, run_config):
            asked["concurrent"] = tune_config.max_concurrent_trials

        def fit(self):
            raise Planned

    monkeypatch.setattr(_runner.tune, "with_resources", with_resources)
    monkeypatch.setattr(_runner.tune, "Tuner", Tuner)
    return asked


def _fake_cuda(monkeypatch, gpus: int) -> None:
    """CUDA as the driver would see it on a 16-CPU machine with ``gpus`` GPUs (the trials never start)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, **({"GPU": float(gpus)} if gpus else {})})


def _plan(tmp_path, *args: str) -> None:
    with pytest.raises(Planned):
        main([*FAST, "--budget", "8", "--results-dir", str(tmp_path), *args])


@pytest.mark.usefixtures("ray_cluster")
def test_with_cuda_each_trial_asks_ray_for_a_gpu_by_default_and_one_runs_per_gpu(tmp_path, monkeypatch,
                                                                                 tuner_request):
    _fake_cuda(monkeypatch, gpus=2)
    _plan(tmp_path)
    assert tuner_request == {"resources": {"cpu": 1.0, "gpu": 1.0}, "concurrent": 2}


@pytest.mark.usefixtures("ray_cluster")
def test_a_fraction_of_a_gpu_per_trial_packs_several_trials_onto_each_gpu(tmp_path, monkeypatch, tuner_request):
    _fake_cuda(monkeypatch, gpus=1)
    _plan(tmp_path, "--gpus-per-trial", "0.25")
    assert tuner_request == {"resources": {"cpu": 1.0, "gpu": 0.25}, "concurrent": 4}


@pytest.mark.usefixtures("ray_cluster")
def test_without_cuda_trials_ask_for_no_gpu_and_concurrency_follows_the_cpus(tmp_path, monkeypatch, tuner_request):
    _fake_cuda(monkeypatch, gpus=0)
    _plan(tmp_path, "--cpus-per-trial", "2")
    assert tuner_request == {"resources": {"cpu": 2.0, "gpu": 0.0}, "concurrent": 8}


def test_a_trial_trains_on_the_gpu_ray_assigned_it_and_on_the_cpu_when_it_assigned_none(monkeypatch):
    from search.tune import _trial

    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [3])
    assert _trial._device("auto") == "cuda"  # Ray set CUDA_VISIBLE_DEVICES=3: torch's cuda is that GPU
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    assert _trial._device("auto") == "cpu"
    assert _trial._device("cuda:1") == "cuda:1"


def _refused(capsys, tmp_path, *args: str) -> str:
    """The one-line refusal of a search given ``args``, which started nothing and made no folder."""
    with pytest.raises(SystemExit) as exit_info:
        main([*FAST, "--results-dir", str(tmp_path / "results"), *args])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1 and not (tmp_path / "results").exists()
    return error


@pytest.mark.parametrize("args, message", [
    (["--cpus-per-trial", "100"], "error: --cpus-per-trial: 100 is more CPUs than this machine has ("),
    (["--gpus-per-trial", "1"], "error: --gpus-per-trial: 1 is more GPUs than this machine has (0 that torch can use)"),
])
def test_a_trial_larger_than_this_machine_is_refused_before_a_local_cluster_starts(tmp_path, monkeypatch, capsys,
                                                                                   args, message):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _refused(capsys, tmp_path, *args).startswith(message)


def test_an_address_where_nothing_listens_is_refused_in_one_line(tmp_path, capsys):
    address = f"127.0.0.1:{free_port()}"
    assert _refused(capsys, tmp_path, "--address", address).startswith(
        f"error: --address {address}: nothing accepts a connection there (Connection refused); ")


def test_joining_a_cluster_that_is_not_there_is_one_line_naming_the_address(monkeypatch):
    def no_cluster(**_):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    with pytest.raises(ValueError, match=r"^Ray address 'auto': no running Ray cluster found there; "):
        ensure_ray("auto")


@pytest.mark.parametrize("address", ["foo", "localhost:abc"])
def test_an_address_that_is_not_host_and_port_is_refused_in_one_line(tmp_path, capsys, address):
    assert _refused(capsys, tmp_path, "--address", address) == \
        f"error: --address: expected HOST:PORT (a Ray head's), auto or ray://HOST:PORT, got {address!r}\n"


@pytest.mark.parametrize("address", ["auto", "ray://127.0.0.1:1"])
def test_auto_and_ray_client_addresses_are_left_to_ray(address):
    check_cluster(argparse.Namespace(address=address, cpus_per_trial=1000.0, gpus_per_trial=1000.0))
