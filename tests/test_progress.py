"""The search's progress display: what a person watching a running study reads."""

from types import SimpleNamespace

from search.tune import StudyProgress
from space import baseline


def _trial(config, result):
    return SimpleNamespace(trial_id="ab12cd34", config=config, last_result=result)


def test_a_finished_trial_is_named_by_the_genome_id_the_result_tables_use(capsys):
    genome = baseline().replace(num_classes=10)
    progress = StudyProgress(total=2)
    progress.on_trial_complete(0, [], _trial({"genome": genome.to_dict()}, {"status": "ok", "accuracy": 19.9,
                                                                            "macs": 193_783_104}))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"genome {genome.id}: 19.90% at 193.8M MACs"
    assert lines[1].startswith("[1/2] running 0  failed 0  best 19.90%  pareto 1")


def test_a_failed_trial_shows_its_reason_and_counts_as_failed(capsys):
    progress = StudyProgress(total=2)
    progress.on_trial_complete(0, [], _trial({}, {"status": "failed", "reason": "loss is nan at epoch 1"}))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "trial ab12cd34 failed: loss is nan at epoch 1"
    assert "failed 1" in lines[1]


def test_a_trial_stopped_at_a_rung_counts_as_stopped_not_failed(capsys):
    progress = StudyProgress(total=2)
    progress.on_trial_complete(0, [], _trial({}, {"status": "running", "accuracy": 12.0, "units": 3}))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "trial ab12cd34 stopped after 3 units"
    assert "stopped 1  failed 0" in lines[1]
