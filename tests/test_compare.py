"""Runs of a search side by side at equal wall time (``search.compare``), on studies with made-up timings.

The fake studies follow the search's data contract: real genomes with their real MACs, made-up accuracies
and made-up times at which Optuna was told each trial's outcome.
"""

import datetime
import random

import optuna
import pytest
from optuna.trial import TrialState

from search.compare import main
from search.results import arm_labels, comparison_markdown, run_figures
from search.study import StudyError
from space import baseline, cost_of
from space.sampling import random_genome

START = datetime.datetime(2026, 1, 1, 12, 0, 0)
GENOMES = [baseline().replace(num_classes=10), *(random_genome(random.Random(s)).replace(num_classes=10)
                                                  for s in range(3))]


def _trial(genome, told_after: float, state=TrialState.COMPLETE, accuracy=50.0, rung=3, is_baseline=False,
           host=None):
    macs = cost_of(genome).total_macs
    trial = optuna.trial.create_trial(
        state=state, values=[accuracy, macs] if state == TrialState.COMPLETE else None,
        user_attrs={"genome": genome.to_dict(), "genome_id": genome.id, "accuracy": accuracy, "macs": macs,
                    "rung": rung, "status": "ok" if state == TrialState.COMPLETE else "stopped",
                    "is_baseline": is_baseline, **({"host": host} if host else {})})
    trial.datetime_start = START
    trial.datetime_complete = START + datetime.timedelta(seconds=told_after)
    return trial


def _study(tmp_path, name: str, scheduler: str, trials: list, eta: int = 3, train_seed=None) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'runs.db'}",
                                directions=["maximize", "minimize"])
    study.set_user_attr("halving", {"scheduler": scheduler, "grace": 1, "eta": eta, "max_units": 9})
    study.set_user_attr("sampler", "tpe")
    study.set_user_attr("seed", int(name[-1]))
    if train_seed is not None:
        study.set_user_attr("train_seed", train_seed)
    for trial in trials:
        study.add_trial(trial)
    return study


def test_the_front_at_t_holds_only_the_trials_told_by_t(tmp_path):
    study = _study(tmp_path, "moasha-0", "moasha", [
        _trial(GENOMES[0], 100, accuracy=40.0), _trial(GENOMES[1], 150, TrialState.PRUNED, accuracy=30.0, rung=1),
        _trial(GENOMES[2], 300, accuracy=70.0)])
    early, late = run_figures(study, seconds=200), run_figures(study, seconds=400)
    assert (early.screened_at, late.screened_at) == (2, 3)
    assert (early.complete, early.stopped, early.wall_seconds) == (2, 1, 300)
    alone = run_figures(_study(tmp_path, "alone-0", "fifo", [_trial(GENOMES[0], 100, accuracy=40.0)]), 200)
    assert early.hypervolume_at == pytest.approx(alone.hypervolume_at) and early.hypervolume_at > 0
    assert late.hypervolume_at > early.hypervolume_at


def test_the_baselines_fixed_trials_are_not_counted_as_screened_genomes(tmp_path):
    study = _study(tmp_path, "fifo-0", "fifo", [
        _trial(GENOMES[0], 100, accuracy=40.0, is_baseline=True),
        _trial(GENOMES[0], 200, accuracy=41.0, is_baseline=True), _trial(GENOMES[1], 300, accuracy=30.0)])
    figures = run_figures(study, seconds=400)
    assert (figures.screened, figures.screened_at, figures.complete) == (1, 1, 3)


def test_runs_are_summed_up_per_scheduler_with_their_spread_and_count(tmp_path):
    fifo = [_study(tmp_path, f"fifo-{seed}", "fifo", [_trial(GENOMES[0], 100, accuracy=40.0 + seed),
                                                      _trial(GENOMES[1], 400, accuracy=60.0)]) for seed in (0, 1)]
    moasha = _study(tmp_path, "moasha-0", "moasha", [_trial(GENOMES[2], 50, accuracy=55.0)])
    text = comparison_markdown([*fifo, moasha], seconds=None, cpus=2)
    assert text.startswith("Equal wall time T = 50 s of each run, 2 CPUs")  # the shortest run
    assert "- scheduler=fifo, n = 2 run(s): hypervolume at T 0.000 +- 0.000, genomes per CPU-hour 0.000 +- 0.000" \
        in text
    assert "- scheduler=moasha, n = 1 run(s): hypervolume at T" in text and "(one run: no spread measured)" in text
    assert "| moasha-0 | scheduler=moasha | 0 | not recorded | 50 | 1 (1 complete, 0 stopped) | 1 | 36.0 |" in text


def test_arms_are_named_by_the_settings_in_which_runs_differ():
    runs = [{"sampler": "tpe", "scheduler": "moasha", "eta": 3}, {"sampler": "tpe", "scheduler": "moasha", "eta": 4}]
    assert arm_labels(runs) == ["eta=3", "eta=4"]
    assert arm_labels([{**runs[0], "sampler": "random"}, runs[1]]) == ["sampler=random eta=3", "sampler=tpe eta=4"]
    assert arm_labels([runs[0], runs[0]]) == ["scheduler=moasha", "scheduler=moasha"]


def _screening_runs(tmp_path, scheduler: str, counts: list[int], eta: int = 3, host=None,
                    train_seed=None) -> list[optuna.Study]:
    """One run per sampler seed, screening ``counts[seed]`` genomes by 500 s."""
    return [_study(tmp_path, f"{scheduler}-{eta}-{seed}", scheduler,
                   [_trial(GENOMES[1 + i % 3], 100 + i, accuracy=40.0 + i + seed, host=host) for i in range(count)],
                   eta=eta, train_seed=train_seed)
            for seed, count in enumerate(counts)]


def _paired_line(text: str, arm: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"- {arm}: hypervolume at T "))


def test_arms_are_compared_paired_by_seed_with_the_rate_as_a_ratio(tmp_path):
    moasha = _screening_runs(tmp_path, "moasha", [2, 4, 6])
    text = comparison_markdown([*_screening_runs(tmp_path, "fifo", [1, 2, 3]), *reversed(moasha)], seconds=500,
                               cpus=2)
    assert "Against scheduler=fifo, paired by sampler seed (95% intervals;" in text
    ratio = _paired_line(text, "scheduler=moasha").split("genomes per CPU-hour ")[1]
    assert ratio.startswith("x2.00 [") and "(n = 3 pair(s)), p (Holm)" in ratio  # each seed screened twice as many


def test_one_seed_per_arm_gives_an_estimate_without_an_interval(tmp_path):
    text = comparison_markdown([*_screening_runs(tmp_path, "fifo", [1]), *_screening_runs(tmp_path, "moasha", [3])],
                               seconds=500, cpus=2)
    assert "genomes per CPU-hour x3.00 (n = 1 pair(s); no interval: too few pairs)" in text


def test_a_run_that_screened_nothing_is_named_and_left_out_of_the_rate_s_pairs(tmp_path):
    fifo = _screening_runs(tmp_path, "fifo", [1, 2, 3])
    moasha = _screening_runs(tmp_path, "moasha", [2, 4, 6])
    late = _study(tmp_path, "late-moasha-3", "moasha", [_trial(GENOMES[1], 900)])
    late.set_user_attr("seed", 3)
    early = _study(tmp_path, "early-fifo-3", "fifo", [_trial(GENOMES[1], 100)])
    early.set_user_attr("seed", 3)
    text = comparison_markdown([*fifo, early, *moasha, late], seconds=500, cpus=2)
    assert "- Screened no genome by T, left out of the rate's pairs (no ratio exists): late-moasha-3" in text
    line = _paired_line(text, "scheduler=moasha")
    assert "(n = 4 pair(s))" in line.split("; genomes per")[0] and "(n = 3 pair(s))" in line.split("; genomes per")[1]


def test_runs_without_a_recorded_seed_are_left_out_of_the_pairs(tmp_path):
    unseeded = _study(tmp_path, "moasha-unseeded-0", "moasha", [_trial(GENOMES[1], 100)])
    unseeded.set_user_attr("seed", None)
    text = comparison_markdown([*_screening_runs(tmp_path, "fifo", [1]), *_screening_runs(tmp_path, "moasha", [2]),
                                unseeded], seconds=500, cpus=2)
    assert "- Without a recorded sampler seed, left out of the pairs: moasha-unseeded-0" in text
    assert "| moasha-unseeded-0 | scheduler=moasha | not recorded |" in text
    assert "x2.00 (n = 1 pair(s); no interval" in _paired_line(text, "scheduler=moasha")


def test_runs_on_other_data_are_flagged(tmp_path):
    fifo, moasha = _screening_runs(tmp_path, "fifo", [1]), _screening_runs(tmp_path, "moasha", [2])
    moasha[0].set_user_attr("data", "synthetic:classes=20")
    text = comparison_markdown([*fifo, *moasha], seconds=500, cpus=2)
    assert "**The runs differ in data**" in text


def test_a_run_without_a_finished_trial_is_a_one_line_error(tmp_path):
    empty = _study(tmp_path, "empty-0", "fifo", [])
    with pytest.raises(StudyError, match="'empty-0' has no started trial"):
        comparison_markdown([*_screening_runs(tmp_path, "fifo", [1]), empty], seconds=None, cpus=2)


def test_runs_of_one_arm_that_share_a_seed_are_not_paired(tmp_path):
    (tmp_path / "again").mkdir()
    twice = _screening_runs(tmp_path, "fifo", [1]) + _screening_runs(tmp_path / "again", "fifo", [2])
    text = comparison_markdown([*twice, *_screening_runs(tmp_path, "moasha", [2])], seconds=500, cpus=2)
    assert "No paired comparison: two runs of one arm share a sampler seed." in text


def test_runs_on_different_hosts_are_flagged(tmp_path):
    here = _screening_runs(tmp_path, "fifo", [1], host="box-a")
    there = _screening_runs(tmp_path, "moasha", [2], host="box-b")
    text = comparison_markdown([*here, *there], seconds=500, cpus=2)
    assert "**The runs trained on different hosts**" in text and "| box-a |" in text
    same = _screening_runs(tmp_path, "moasha", [2], eta=4, host="box-a")
    assert "different hosts" not in comparison_markdown([*here, *same], seconds=500, cpus=2)


def test_a_run_without_a_recorded_host_is_named_not_counted_as_another_host(tmp_path):
    here = _screening_runs(tmp_path, "fifo", [1], host="box-a")
    unknown = _screening_runs(tmp_path, "moasha", [2])
    text = comparison_markdown([*here, *unknown], seconds=500, cpus=2)
    assert "different hosts" not in text
    assert "- No host recorded for moasha-3-0: whether all ran on one machine is unknown." in text


def test_runs_paired_by_sampler_seed_with_different_training_seeds_are_flagged(tmp_path):
    fifo = _screening_runs(tmp_path, "fifo", [1], train_seed=0)
    text = comparison_markdown([*fifo, *_screening_runs(tmp_path, "moasha", [2], train_seed=7)], seconds=500, cpus=2)
    assert "| fifo-3-0 | scheduler=fifo | 0 | 0 |" in text and "| moasha-3-0 | scheduler=moasha | 0 | 7 |" in text
    assert ("- The runs of sampler seed 0 trained with different training seeds (0, 7): they share the sampler's "
            "first proposals but not their training luck, so pairing them removes less noise.") in text
    alike = comparison_markdown([*fifo, *_screening_runs(tmp_path, "moasha", [2], eta=4, train_seed=0)],
                                seconds=500, cpus=2)
    assert "different training seeds" not in alike


def test_cli_names_a_missing_results_folder_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: results folder {tmp_path / 'nowhere'} does not exist"]


def test_cli_refuses_the_same_run_given_twice(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "run"), str(tmp_path / "other"), f"{tmp_path}/./run/"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: study_dirs: {tmp_path / 'run'} is given twice; each run is compared once, with other runs"]
