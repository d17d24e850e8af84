"""Shared fixtures: one local Ray cluster for every test that runs trials, and a private data cache."""

import os

import pytest
import ray


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    os.environ["EFFCNN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()
