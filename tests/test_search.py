"""The search front door: Ray Tune trials, an Optuna study that survives stops, the baseline exactly once."""

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import optuna
import pandas as pd
import pytest
from PIL import Image

from search.pareto import pareto_mask
from search.confirm import main as confirm
from search.results import PNG_SIZE
from search.run import main, parse_duration
from search.study import INTERRUPTED, chance_floor
from space import load_genome

DATA = "synthetic:classes=3,train=16,val=8"
TINY = ["--data", DATA, "--fidelity", "smoke", "--crop", "16", "--batch-size", "8", "--data-fraction", "1"]
FAST = [*TINY, "--scheduler", "fifo"]
"""Every trial to the top rung, so a test's trials complete; the tests of successive halving add MOASHA."""


pytestmark = pytest.mark.usefixtures("ray_cluster", "shared_chromium")


def _run(tmp_path, *args, study="s"):
    """A tiny search; one baseline seed unless the test asks for more."""
    return main([*FAST, "--baseline-seeds", "1", "--results-dir", str(tmp_path), "--study-name", study, *args])


def _trials(tmp_path, study="s"):
    return pd.read_csv(tmp_path / study / "trials.csv")


SEARCHED = ["--budget", "3", "--train-seed", "0"]
"""The search of the module's ``searched`` fixture: three trials, training seeds from 0."""


@pytest.fixture(scope="module")
def searched(tmp_path_factory, ray_cluster, shared_chromium):
    """One 3-trial search, run once for the tests that only read its results (or rerun a copy of them): the
    exit code of ``search.run`` and the results folder holding study ``s``. A search costs seconds of Ray and
    reporting whatever its budget, so each test that needs a finished study does not pay for its own."""
    results = tmp_path_factory.mktemp("searched")
    return _run(results, *SEARCHED), results


def _copy(searched, tmp_path):
    """The shared search's results, copied for a test that runs the study again."""
    shutil.copytree(searched[1], tmp_path / "results")
    return tmp_path / "results"


def test_search_trains_the_baseline_once_as_trial_0_and_writes_results(searched):
    code, results = searched
    assert code == 0
    trials = _trials(results)
    assert len(trials) == 3 and (trials["state"] == "COMPLETE").all()
    assert trials["is_baseline"].tolist() == [True, False, False]
    for name in ("pareto.html", "summary.md", "study.db", "study.json"):
        assert (results / "s" / name).exists()


def test_summary_shows_the_pareto_png_or_says_why_there_is_none(searched, chromium):
    results = searched[1]
    summary = (results / "s" / "summary.md").read_text()
    if chromium is None:
        assert "*No image: skipped pareto.png: " in summary and not (results / "s" / "pareto.png").exists()
        return
    assert "](pareto.png)" in summary
    with Image.open(results / "s" / "pareto.png") as image:
        assert image.size == PNG_SIZE


def test_pareto_flags_and_genome_files_match_the_completed_trials(searched):
    results = searched[1]
    trials = _trials(results)
    assert trials["is_pareto"].tolist() == pareto_mask(trials["accuracy"], trials["macs"]).tolist()
    files = sorted((results / "s" / "pareto").glob("*.json"))
    assert sorted(f.stem for f in files) == sorted(trials.loc[trials["is_pareto"], "genome_id"])
    assert all(load_genome(f).id == f.stem for f in files)


def test_rerun_with_a_larger_budget_continues_the_study(searched, tmp_path):
    results = _copy(searched, tmp_path)
    first = _trials(results)
    _run(results, "--budget", "5", "--train-seed", "0")
    second = _trials(results)
    assert len(second) == 5 and int(second["is_baseline"].sum()) == 1
    pd.testing.assert_frame_equal(second.iloc[:3][["number", "genome_id", "accuracy"]],
                                  first[["number", "genome_id", "accuracy"]])


def test_rerun_at_budget_trains_nothing_new(searched, tmp_path):
    results = _copy(searched, tmp_path)
    before = _trials(results)
    assert _run(results, *SEARCHED) == 0
    pd.testing.assert_frame_equal(_trials(results), before)  # the same trials, times and seconds included


def test_same_seed_gives_the_same_study(searched, tmp_path):
    _run(tmp_path, *SEARCHED)
    columns = ["genome_id", "accuracy", "macs"]
    pd.testing.assert_frame_equal(_trials(searched[1])[columns], _trials(tmp_path)[columns])


def test_diverging_trials_are_recorded_as_failed_and_the_study_goes_on(tmp_path):
    assert _run(tmp_path, "--budget", "2", "--lr", "1e30", "--momentum", "0") == 0
    trials = _trials(tmp_path)
    assert (trials["state"] == "FAIL").all() and len(trials) == 2
    assert trials["reason"].str.contains("non-finite loss").all()
    assert "non-finite loss" in (tmp_path / "s" / "summary.md").read_text()


def test_invalid_genome_from_the_space_is_a_failed_trial_with_its_reason(tmp_path):
    """A space of the Python API that builds nothing (an SE ratio above every stage's width): the command line
    refuses such a space file up front, but a trial that draws an invalid genome fails, saying why."""
    from search import SearchConfig, run_search
    from search.study import Halving
    from space import default_space
    from evaluators.presets import get_fidelity
    base = default_space()
    space = dataclasses.replace(base, stages=tuple(dataclasses.replace(stage, block=("se",), se_ratio=(100000,))
                                                   for stage in base.stages))
    fidelity = get_fidelity("smoke", crop=16, batch_size=8, data_fraction=1)
    run_search(SearchConfig(
        study_name="s", study_dir=tmp_path / "s", storage=None, resume=False, budget=2, data=DATA, num_classes=3,
        fidelity=fidelity, space=space, search_training=False, sampler="tpe", seed=0, train_seed=0,
        baseline_blocks=["standard"], baseline_seeds=1, address=None, cpus_per_trial=1, gpus_per_trial=None,
        max_concurrent=None, cache_dir=None, halving=Halving("fifo", max_units=1), latency_genomes=0))
    trials = _trials(tmp_path)
    assert trials.loc[0, "state"] == "COMPLETE" and trials.loc[1, "state"] == "FAIL"
    assert "se_ratio" in trials.loc[1, "reason"]


def test_the_baseline_trains_with_three_seeds_by_default(tmp_path):
    assert main([*FAST, "--results-dir", str(tmp_path), "--study-name", "s", "--budget", "4"]) == 0
    trials = _trials(tmp_path)
    baselines = trials[trials["is_baseline"]]
    assert len(baselines) == 3 and baselines["genome_id"].nunique() == 1
    assert baselines["train_seed"].tolist() == [0, 1, 2]
    assert "top-1 % (mean ± SD over training seeds)" in (tmp_path / "s" / "summary.md").read_text()


def test_training_seed_is_set_apart_from_the_sampler_seed(searched, tmp_path):
    _run(tmp_path, "--budget", "3", "--train-seed", "7")
    a, b = _trials(searched[1]), _trials(tmp_path)
    assert a["genome_id"].tolist() == b["genome_id"].tolist()  # the same sampler seed proposes the same genomes
    assert a["train_seed"].tolist() == [0, 1, 2] and b["train_seed"].tolist() == [7, 8, 9]


def test_confirmation_retrains_the_front_and_the_baseline_with_shared_fresh_seeds(tmp_path, monkeypatch):
    assert _run(tmp_path, "--budget", "4", "--baseline-seeds", "2") == 0
    monkeypatch.chdir(tmp_path)
    assert confirm(["s", "--seeds", "2"]) == 0  # relative, as the README writes it
    trials, confirmed = _trials(tmp_path), pd.read_csv(tmp_path / "s" / "confirmed.csv")
    front = set(trials.loc[trials["is_pareto"] & ~trials["is_baseline"], "genome_id"])
    assert set(confirmed["genome_id"]) == front | set(trials.loc[trials["is_baseline"], "genome_id"])
    assert (confirmed["n"] == 2).all() and confirmed["is_baseline"].sum() == 1
    assert confirmed.loc[~confirmed["is_baseline"], "verdict"].isin(
        ["more accurate", "within noise", "less accurate", "no interval (too few runs)"]).all()
    runs = sorted((tmp_path / "s" / "confirm" / "runs").glob("*.json"))
    assert len(runs) == 2 * len(confirmed) and all("seed100000" in run.name for run in runs)
    assert "## Confirmation" in (tmp_path / "s" / "summary.md").read_text()
    before = {run.name: run.stat().st_mtime_ns for run in runs}
    assert confirm([str(tmp_path / "s"), "--seeds", "2"]) == 0  # a re-run trains nothing again
    assert {run.name: run.stat().st_mtime_ns for run in runs} == before


def test_confirmation_without_a_study_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        confirm([str(tmp_path / "nowhere"), "--seeds", "2"])
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1 and "does not exist" in error


def test_confirm_offers_no_results_dir_since_it_writes_into_the_study_folder(capsys):
    with pytest.raises(SystemExit) as exit_info:
        confirm(["results/s", "--results-dir", "elsewhere"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --results-dir" in capsys.readouterr().err


def test_extra_baseline_blocks_are_fixed_trials(tmp_path):
    _run(tmp_path, "--budget", "2", "--baseline-blocks", "standard,se")
    trials = _trials(tmp_path)
    assert trials["baseline_block"].tolist() == ["standard", "se"]


def _own_process_env() -> dict[str, str]:
    """The environment of a search run in a process of its own: no browser, so its report writes no PNG instead
    of starting one per image (the PNG is test_summary_shows_the_pareto_png_or_says_why_there_is_none's)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "BROWSER_PATH": "/nonexistent"}


def _study_created(study_dir) -> bool:
    """Whether a run in another process has created its study (it writes study.json right after): a test that
    opened the database before then would race the run to create its tables (optuna/optuna#4621)."""
    return (study_dir / "study.json").is_file()


def test_killed_run_resumes_keeping_completed_trials(tmp_path):
    arguments = [*FAST, "--baseline-seeds", "1", "--results-dir", str(tmp_path), "--study-name", "k", "--budget", "6",
                 "--max-concurrent", "1", "--heartbeat-grace", "4"]
    log = tmp_path / "first-run.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "search.run", *arguments], env=_own_process_env(),
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    storage = f"sqlite:///{tmp_path / 'k' / 'study.db'}"
    deadline = time.monotonic() + 240
    completed, last_error = [], None
    while time.monotonic() < deadline and len(completed) < 2:
        time.sleep(1)
        if not _study_created(tmp_path / "k"):
            continue
        try:
            study = optuna.load_study(study_name="k", storage=storage)
            completed = [t for t in study.trials if t.state.name == "COMPLETE"]
        except Exception as error:  # the run has not created the study yet
            last_error = error
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    output = log.read_text(errors="replace")[-3000:]
    assert len(completed) >= 2, f"last poll: {last_error!r}; the run's output:\n{output}"
    before = {t.number: t.values for t in completed}

    assert main(arguments) == 0  # resumed by a run of its own, as after a restart
    study = optuna.load_study(study_name="k", storage=storage)
    after = {t.number: t.values for t in study.trials if t.state.name == "COMPLETE"}
    assert all(after[n] == v for n, v in before.items())
    assert sum(1 for t in study.trials if t.user_attrs.get("is_baseline")
               and t.state.name == "COMPLETE") == 1
    assert len(after) == 6


def test_resume_without_a_study_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--budget", "2", "--resume", study="missing")
    assert exit_info.value.code == 2
    assert "--resume: no study 'missing'" in capsys.readouterr().err


def test_a_refused_run_leaves_no_folder_it_made_behind(tmp_path):
    with pytest.raises(SystemExit):
        main(["--fidelity", "smoke", "--results-dir", str(tmp_path / "results"), "--study-name", "missing",
              "--budget", "2", "--resume"])
    assert list(tmp_path.iterdir()) == []


def test_a_refused_run_keeps_a_results_folder_that_was_there(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(SystemExit):
        _run(tmp_path, "--budget", "2", "--resume", study="missing")
    assert [path.name for path in tmp_path.iterdir()] == ["other"]


def test_a_refused_run_never_removes_a_file_another_run_wrote_into_the_new_folder(tmp_path):
    from search._orchestrate import _remove_empty
    study = tmp_path / "results" / "s"
    study.mkdir(parents=True)
    (study / "study.db").write_text("another run's study")
    _remove_empty(study, tmp_path / "results")
    assert (study / "study.db").read_text() == "another run's study"


@pytest.mark.parametrize("inside", ["", "sub"])
def test_a_results_dir_that_is_a_file_is_refused_before_anything_starts(tmp_path, capsys, inside):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main([*FAST, "--results-dir", str(tmp_path / "taken" / inside), "--budget", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: --results-dir: must be a folder, and {tmp_path / 'taken'} is a file\n"


def test_continuing_a_study_with_other_data_is_an_error(tmp_path, capsys):
    _run(tmp_path, "--budget", "1")
    with pytest.raises(SystemExit):
        main(["--data", "synthetic:classes=4,train=16,val=8", "--fidelity", "smoke", "--results-dir", str(tmp_path),
              "--study-name", "s", "--budget", "2"])
    assert "use another --study-name" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("stages:\n  all: {kernel: [3, 4]}\n", "stages.all.kernel: filter sizes must be odd integers from 1 to 31"),
    ("stages:\n  2: {width: [20, 40]}\n", "stages.2.width: bounds must be multiples of 8"),
    ("stages:\n  9: {kernel: [3]}\n", "stages.9: stage keys must be 'all' or an index 0..5"),
    ("stages:\n  1.5: {kernel: [3]}\n", "stages.1.5: stage keys must be 'all' or an index 0..5"),
    ("stages:\n  true: {kernel: [3]}\n", "stages.True: stage keys must be 'all' or an index 0..5"),
    ('{"stages": {"01": {"kernel": [3]}, "1": {"kernel": [5]}}}', "stages.1: stage 1 is also given as stages.01"),
    ("lr: [0.01, 0.1]\ntraining: {lr: [0.02, 0.2]}\n", "lr: given both at the top level and as training.lr"),
    ("stages:\n  all: {block: [mbconv]}\n", "stages.all.block: must be a non-empty list from standard, se, condconv"),
    ("depth: 3\n", "unknown key(s) depth"),
    ("stages: [1, 2\n", "not valid YAML/JSON"),
    ('{"training": {"lr": [0.5, 0.1]}}', "training.lr: need > 0, high <= 3.4e+38 and low <= high"),
    ("training: {lr: [.nan, .nan]}\n", "training.lr: must be a [low, high] pair of finite floats"),
    ("stages:\n  all: {expansion: [.inf]}\n", "stages.all.expansion: must be a non-empty list of numbers > 0 and <= 16"),
    ("stages:\n  all: {block: [se], se_ratio: [100000]}\n", "no valid genome in 20 random draws from this space"),
    (b"\xff\xfe\x00binary", "not a text file"),
    ("stages:\n  all: {width: [8, 8000000000000]}\n", "stages.all.width: need >= 8, high <= 8192 and low <= high"),
    ("stages:\n  all: {repeats: [1, 1000000]}\n", "stages.all.repeats: need >= 1, high <= 32 and low <= high"),
    ("stages:\n  all: {kernel: [9999]}\n", "stages.all.kernel: must be a non-empty list of integers from 1 to 31"),
    ("stages:\n  all: {block: [condconv], experts: [1000000]}\n",
     "stages.all.experts: must be a non-empty list of integers from 1 to 64"),
    ("stem_channels: [100000000000000000000]\n", "stem_channels: must be a non-empty list of integers from 1 to 8192"),
    ("training: {weight_decay: [0.1, 5.0]}\n", "training.weight_decay: need > 0, high <= 1 and low <= high"),
])
def test_bad_space_file_is_a_one_line_error_before_anything_starts(tmp_path, capsys, content, message):
    space = tmp_path / "space.yaml"
    space.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--budget", "2", "--space", str(space))
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1
    assert message in error and str(space) in error
    assert not (tmp_path / "s").exists()


def test_show_space_lists_every_searched_parameter(capsys):
    assert main(["--show-space"]) == 0
    text = capsys.readouterr().out
    for name in ("width", "repeats", "kernel", "expansion", "block", "se_ratio", "experts", "stem_channels"):
        assert name in text


def test_a_relative_results_dir_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*FAST, "--results-dir", "out", "--study-name", "s", "--budget", "1"]) == 0
    assert (tmp_path / "out" / "s" / "trials.csv").exists()


MOASHA = ["--scheduler", "moasha", "--max-units", "4", "--grace", "1", "--eta", "2"]


def test_successive_halving_is_the_default_scheduler(tmp_path):
    assert main([*TINY, "--baseline-seeds", "1", "--budget", "1", "--results-dir", str(tmp_path)]) == 0
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    assert study.user_attrs["halving"]["scheduler"] == "moasha"
    assert study.user_attrs["halving"]["accuracy_floor"] is None


def test_a_chance_rung_floor_is_recorded_from_the_datas_classes_and_validation_images(tmp_path):
    assert main([*TINY, "--rung-floor", "chance", "--baseline-seeds", "1", "--budget", "1",
                 "--results-dir", str(tmp_path)]) == 0
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    floor = chance_floor(3, 3 * 8)  # DATA: 3 classes, 8 validation images each
    assert floor > 100 / 3 and study.user_attrs["halving"]["accuracy_floor"] == floor


def test_fifo_trials_all_reach_the_top_rung_and_keep_their_rung_accuracies(tmp_path):
    _run(tmp_path, "--budget", "2", "--max-units", "4", "--grace", "1", "--eta", "2")
    trials = _trials(tmp_path)
    assert (trials["state"] == "COMPLETE").all()
    assert trials["rung"].tolist() == [3, 3] and trials["units"].tolist() == [4, 4]
    assert trials[["rung_accuracy_1", "rung_accuracy_2", "rung_accuracy_3"]].notna().all().all()
    assert (trials["rung_accuracy_3"] == trials["accuracy"]).all()


def test_moasha_stops_trials_at_rungs_as_pruned_and_never_puts_them_on_the_front(tmp_path):
    assert _run(tmp_path, "--budget", "8", *MOASHA) == 0
    trials = _trials(tmp_path)
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    stopped = trials[trials["state"] == "PRUNED"]
    assert stopped["rung"].between(1, 2).all() and stopped["accuracy"].notna().all()
    assert (stopped["units"] >= stopped["rung"].map({1: 1, 2: 2})).all()
    assert not stopped["is_pareto"].any()
    complete = trials[trials["state"] == "COMPLETE"]
    assert complete["is_pareto"].tolist() == pareto_mask(complete["accuracy"], complete["macs"]).tolist()
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert {t.number for t in study.best_trials} == set(complete.loc[complete["is_pareto"], "number"])
    assert "Scheduler moasha: rungs at 1, 2, 4 of 4 units" in (tmp_path / "s" / "summary.md").read_text()


def test_moasha_trains_the_baseline_to_the_top_rung_however_it_ranks(tmp_path):
    _run(tmp_path, "--budget", "4", *MOASHA, "--lr", "1e-9")  # nothing learns: the baseline's MACs rank it last
    trials = _trials(tmp_path)
    baseline = trials[trials["is_baseline"]].iloc[0]
    assert baseline["state"] == "COMPLETE" and baseline["rung"] == 3 and baseline["units"] == 4


def test_a_study_keeps_its_scheduler_settings(tmp_path, capsys):
    _run(tmp_path, "--budget", "1", *MOASHA)
    with pytest.raises(SystemExit):
        _run(tmp_path, "--budget", "2")
    assert "was run with halving" in capsys.readouterr().err


def test_re_running_a_studys_command_without_halving_options_continues_it_as_it_was_run(tmp_path):
    _run(tmp_path, "--budget", "1", *MOASHA)
    assert main([*TINY, "--baseline-seeds", "1", "--results-dir", str(tmp_path), "--study-name", "s",
                 "--budget", "2"]) == 0
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert {key: study.user_attrs["halving"][key] for key in ("scheduler", "grace", "eta", "max_units")} == \
        {"scheduler": "moasha", "grace": 1, "eta": 2, "max_units": 4}
    assert "Scheduler moasha: rungs at 1, 2, 4 of 4 units" in (tmp_path / "s" / "summary.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--eta", "1"], "--eta: must be an integer >= 2, got 1"),
    (["--grace", "5", "--max-units", "4"], "--grace: must be <= max_units (4), got 5"),
    (["--max-units", "7"],
     "--max-units: 7 units need at least as many optimizer steps, but fidelity smoke trains 6 on this data"),
])
def test_bad_halving_settings_are_one_line_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--budget", "2", *args)
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and error == f"error: {message}"


@pytest.mark.parametrize("args, message", [
    (["--grace", "-1"], "--grace: must be an integer >= 1, got -1"),
    (["--eta", "0"], "--eta: must be an integer >= 2, got 0"),
    (["--max-units", "0"], "--max-units: must be an integer >= 1, got 0"),
    (["--data", "synthetic:classes=1"], "synthetic classes must be in 2.."),
])
def test_show_fidelity_refuses_what_the_run_would_refuse(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--show-fidelity", *args)
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1 and message in error


def test_moasha_resumed_in_the_middle_of_a_bracket_decides_as_an_uninterrupted_run(tmp_path):
    # Epochs of 15 steps, so a trial spends long enough between rungs to be caught there by polling even on a
    # busy machine (with the default tiny data a whole trial can pass between two polls).
    arguments = [*FAST, "--data", "synthetic:classes=3,train=40,val=8", "--results-dir", str(tmp_path),
                 "--budget", "6", "--max-concurrent", "1", "--epochs", "4", "--heartbeat-grace", "4", *MOASHA]
    process = subprocess.Popen([sys.executable, "-m", "search.run", *arguments, "--study-name", "cut"],
                               env=_own_process_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    caught: list = []  # the trial caught climbing, and the trials sampled by then
    catcher = threading.Thread(target=lambda: caught.extend(_kill_between_rungs(process, tmp_path / "cut")))
    catcher.start()  # the run to cut climbs in its own process while the uninterrupted one runs here, on the tests' Ray
    try:
        assert main([*arguments, "--study-name", "whole"]) == 0
    finally:
        catcher.join()
    assert caught, "no trial was caught between two rungs"
    cut, sampled_before = caught

    assert main([*arguments, "--study-name", "cut"]) == 0  # resumed by a run of its own, as after a restart
    whole, resumed = _trials(tmp_path, "whole"), _trials(tmp_path, "cut")
    columns = ["number", "genome_id", "state", "rung", "accuracy", "rung_accuracy_1"]
    pd.testing.assert_frame_equal(resumed.iloc[:sampled_before][columns], whole.iloc[:sampled_before][columns])
    assert resumed.loc[cut.number, "rung_accuracy_1"] == cut.user_attrs["rung_accuracy_1"]
    assert set(resumed["state"]) <= {"COMPLETE", "PRUNED"} and len(resumed) == 6


def _kill_between_rungs(process: subprocess.Popen, study_dir) -> tuple:
    """Kills the run (its process group, its Ray with it) once a trial has been decided and another has passed
    rung 1 without ending; returns that trial and how many trials were sampled, or nothing if none was caught."""
    storage = f"sqlite:///{study_dir / 'study.db'}"
    deadline, cut, trials = time.monotonic() + 300, None, []
    while time.monotonic() < deadline and cut is None and process.poll() is None:
        time.sleep(0.1)
        if not _study_created(study_dir):
            continue
        try:
            trials = optuna.load_study(study_name=study_dir.name, storage=storage).trials
        except Exception:
            continue
        decided = any(t.state.is_finished() for t in trials)
        climbing = [t for t in trials if t.state.name == "RUNNING" and "rung_accuracy_1" in t.user_attrs
                    and t.user_attrs.get("status") not in ("ok", "failed")]
        cut = climbing[0] if decided and climbing else None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return () if cut is None else (cut, len(trials))


@pytest.mark.parametrize("text, seconds", [("900", 900), ("900s", 900), ("20m", 1200), ("1.5h", 5400)])
def test_time_limit_reads_seconds_minutes_and_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5m", "20 minutes", "m", ""])
def test_a_bad_time_limit_is_a_one_line_error(tmp_path, capsys, text):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--budget", "2", f"--time-limit={text}")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: --time-limit: must be a positive duration")


def test_time_limit_stops_running_trials_and_leaves_them_to_be_retrained(tmp_path, capsys):
    # ~600 steps: the baseline trains far longer than the limit, so the limit cuts it mid-training.
    assert _run(tmp_path, "--budget", "2", "--epochs", "100", "--time-limit", "2s") == 0
    assert "time limit of 2s reached" in capsys.readouterr().err
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert study.trials and all(t.state.name == "FAIL" and t.user_attrs["reason"] == INTERRUPTED
                                for t in study.trials)
