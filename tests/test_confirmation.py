"""Confirmation seeds: fresh ones, never a seed a search trial trained with; which finished runs are kept."""

import fcntl
import threading
import time

import pytest

from evaluators.trainer import OUT_OF_MEMORY
from search.confirmation import SEED_OFFSET, ConfirmationError
from search.confirmation._runner import COLUMNS, check_fresh_seeds
from search.tune import _seeded, load_runs, save_run, train_runs
from search.tune._seeded import RunRecorder


def test_seeds_no_search_trial_used_are_accepted() -> None:
    check_fresh_seeds("s", [0, 1, 2, None, SEED_OFFSET - 1, SEED_OFFSET + 3], seeds=3)


def test_a_confirmation_seed_a_search_trial_trained_with_is_a_one_line_error() -> None:
    with pytest.raises(ConfirmationError) as error:
        check_fresh_seeds("s", [SEED_OFFSET - 5, SEED_OFFSET + 1], seeds=3)
    message = str(error.value)
    assert message.startswith(f"--seeds: seed {SEED_OFFSET + 1} of the confirmation's {SEED_OFFSET}..")
    assert "study 's'" in message and "\n" not in message


class FinishedTrial:
    """What RunRecorder reads of a Ray Tune trial that has ended."""

    def __init__(self, result: dict, seed: int):
        self.trial_id = f"t{seed}"
        self.config = {"run": {"arm": "a", "seed": seed, "genome_id": "a", "macs": 1, "params": 1}}
        self.last_result = result


def _recorder(tmp_path) -> RunRecorder:
    return RunRecorder(tmp_path, COLUMNS, total=2, already_done=0)


def test_a_run_out_of_memory_is_not_saved_so_the_next_run_retries_it(tmp_path) -> None:
    _recorder(tmp_path).on_trial_complete(0, [], FinishedTrial(
        {"status": "failed", "reason": f"{OUT_OF_MEMORY} at batch_size 256"}, seed=0))
    assert load_runs(tmp_path) == {}


def test_a_run_that_raised_is_not_saved_so_the_next_run_retries_it(tmp_path) -> None:
    trial = FinishedTrial({}, seed=0)
    trial.get_error = lambda: "Traceback ...\nRuntimeError: worker died"
    _recorder(tmp_path).on_trial_error(0, [], trial)
    assert load_runs(tmp_path) == {}


def test_a_run_that_failed_for_its_genome_is_saved_with_its_reason(tmp_path) -> None:
    _recorder(tmp_path).on_trial_complete(0, [], FinishedTrial({"status": "diverged", "reason": "loss is nan"}, seed=0))
    assert load_runs(tmp_path)[("a", 0)]["reason"] == "loss is nan"


def test_a_second_command_on_the_same_runs_waits_for_the_first_and_trains_only_what_it_left(tmp_path, monkeypatch,
                                                                                             capsys) -> None:
    trained = []
    monkeypatch.setattr(_seeded, "_train", lambda runs, *_: trained.extend(runs))
    runs = [FinishedTrial({}, seed).config["run"] for seed in (0, 1)]
    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".lock", "a+") as first_command:
        fcntl.flock(first_command, fcntl.LOCK_EX)
        second = threading.Thread(target=train_runs, args=(runs, tmp_path, COLUMNS, None, None, "x", 2))
        second.start()
        waited = ""
        for _ in range(100):
            waited += capsys.readouterr().err
            if "waiting for it to end" in waited:
                break
            time.sleep(0.1)
        save_run(tmp_path, {**runs[0], "accuracy": 50.0, "status": "ok"})  # the first command's run ends
        fcntl.flock(first_command, fcntl.LOCK_UN)
    second.join(timeout=30)
    assert "waiting for it to end" in waited and [run["seed"] for run in trained] == [1]
