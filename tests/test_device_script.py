"""benchmarks/reference_device.sh refuses, before it starts anything, limits that could overrun a device call."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_device.sh"


def _run(tmp_path: Path, **limits: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT": str(tmp_path / "out"), **limits}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30,
                          cwd=SCRIPT.parents[1])


def test_limits_adding_up_to_more_than_the_call_are_refused_before_anything_runs(tmp_path):
    result = _run(tmp_path, CALL_LIMIT="100")
    assert result.returncode == 2
    assert result.stdout == "error: worst case 570s exceeds CALL_LIMIT=100s; lower TIME_LIMIT or the other limits\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, value", [("TIME_LIMIT", "4m"), ("TIME_LIMIT", "4.5"), ("TIME_LIMIT", "08"),
                                         ("STEP_LIMIT", "0")])
def test_a_limit_that_is_not_whole_seconds_is_a_one_line_error(tmp_path, name, value):
    result = _run(tmp_path, **{name: value})
    assert result.returncode == 2
    assert result.stdout == f"error: {name} must be a whole number of seconds, got '{value}'\n"
