"""Searching on latency: the table is built before trials start, trials record the predicted latency and the
machine, and the front, hypervolume, summary and figure follow the study's 2 or 3 objectives.

The stopwatch is replaced by a made-up cost linear in a piece's features (so the search's plumbing, not this
machine's speed, is tested, and the fit reproduces the made-up costs exactly).
"""

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from evaluators.latency import InContext, _table
from search.pareto import dominated_hypervolume, minimise_form, nondominated_mask
from search.results import pareto_figure, trials_frame, write_report
from search.run import main
from search.study import RUNG_ACCURACY, Halving, load_ladder, settle_unfinished
from space import baseline, cost_of
from space.sampling import random_genome

DATA = "synthetic:classes=3,train=16,val=8"
FAST = ["--data", DATA, "--fidelity", "smoke", "--crop", "16", "--batch-size", "8", "--data-fraction", "1",
        "--baseline-seeds", "1", "--latency-genomes", "6", "--scheduler", "fifo"]

pytestmark = pytest.mark.usefixtures("ray_cluster", "shared_chromium")


@pytest.fixture(autouse=True)
def made_up_stopwatch(monkeypatch, tmp_path):
    """Every piece 'takes' 0.1 ms plus 1 ms per 10M multiply-accumulates; measured genomes are counted. The tables go to a
    cache of the test's own, so made-up rows never meet rows other tests measured."""
    monkeypatch.setenv("EFFCNN_CACHE", str(tmp_path / "cache"))
    calls = []

    def piece_ms(piece):
        return 0.1 + sum(value for name, value in piece.features.items() if name.endswith("macs")) / 1e7

    def measure(machine):
        def timed(genome):
            parts = _table.pieces(genome)
            calls.append(genome.id)
            # A reference of 1 ms, so a piece's ratio is its made-up milliseconds.
            return InContext(tuple(piece_ms(part) for part in parts), sum(piece_ms(part) for part in parts), 1.0)
        return timed

    monkeypatch.setattr(_table, "_default_measure", measure)
    return calls


def _run(tmp_path, *args, study="s"):
    return main([*FAST, "--results-dir", str(tmp_path), "--study-name", study, *args])


def test_latency_search_builds_the_table_first_and_every_trial_records_its_predicted_latency(
        tmp_path, capsys, made_up_stopwatch):
    assert _run(tmp_path, "--budget", "3", "--objectives", "accuracy,latency") == 0
    err = capsys.readouterr().err
    assert "before trials start (no latency is measured while trials train)" in err
    assert made_up_stopwatch and err.index("latency table: timing the pieces") < err.index("[0/3]")
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    complete = trials[trials["state"] == "COMPLETE"]
    assert len(complete) == 3 and (complete["latency_ms"] > 0).all()
    assert complete["latency_machine"].str.contains("1 thread, batch 1").all()
    points = minimise_form(complete[["accuracy", "latency_ms"]].to_numpy(float), ["maximize", "minimize"])
    assert complete["is_pareto"].tolist() == nondominated_mask(points).tolist()


def test_the_baselines_latency_is_the_sum_of_its_measured_pieces(tmp_path, made_up_stopwatch):
    _run(tmp_path, "--budget", "1", "--objectives", "accuracy,latency")
    base = pd.read_csv(tmp_path / "s" / "trials.csv").iloc[0]
    genome = baseline().replace(num_classes=3)
    expected = sum(0.1 + sum(v for n, v in p.features.items() if n.endswith("macs")) / 1e7
                   for p in _table.pieces(genome))
    assert base["is_baseline"] and base["latency_ms"] == pytest.approx(expected)
    assert base["latency_measured_share"] == 1.0


def test_three_objective_search_flags_the_three_objective_front_and_states_both_references(tmp_path):
    assert _run(tmp_path, "--budget", "3", "--objectives", "accuracy,macs,latency") == 0
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    complete = trials[trials["state"] == "COMPLETE"]
    points = minimise_form(complete[["accuracy", "macs", "latency_ms"]].to_numpy(float),
                           ["maximize", "minimize", "minimize"])
    assert complete["is_pareto"].tolist() == nondominated_mask(points).tolist()
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "fraction of the reference MACs x fraction of the reference latency" in summary
    assert "latency = 2 x the standard baseline's predicted latency" in summary
    assert "at <= baseline latency" in summary and "at <= baseline MACs" in summary


def test_a_resumed_latency_study_predicts_with_its_saved_predictor_and_measures_nothing(
        tmp_path, capsys, made_up_stopwatch):
    _run(tmp_path, "--budget", "2", "--objectives", "accuracy,latency")
    made_up_stopwatch.clear()
    capsys.readouterr()
    assert _run(tmp_path, "--budget", "3", "--objectives", "accuracy,latency") == 0
    assert made_up_stopwatch == [] and "the study's saved predictor" in capsys.readouterr().err


def test_continuing_a_study_with_other_objectives_is_a_one_line_error(tmp_path, capsys):
    _run(tmp_path, "--budget", "1")
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        _run(tmp_path, "--budget", "2", "--objectives", "accuracy,latency")
    error = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(error.splitlines()) == 1
    assert "was run with --objectives accuracy,macs, not accuracy,latency" in error


@pytest.mark.parametrize("text", ["latency,accuracy", "accuracy", "accuracy,flops", "accuracy,latency,macs"])
def test_objectives_other_than_the_three_choices_are_a_one_line_error(tmp_path, capsys, text):
    with pytest.raises(SystemExit) as stopped:
        _run(tmp_path, "--objectives", text)
    error = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(error.splitlines()) == 1
    assert error.startswith("error: --objectives: must be one of accuracy,macs | accuracy,latency")


def _three_objective_study(points):
    """A study of hand-made (accuracy, MACs, latency) points on random genomes (MACs as given, not real)."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], study_name="three")
    study.set_user_attr("objectives", ["accuracy", "macs", "latency"])
    study.set_user_attr("latency_reference_ms", 20.0)
    study.set_user_attr("latency_machine", {"processor": "a CPU", "isa": "AVX2", "threads": 1, "batch": 1})
    for seed, (accuracy, macs, latency) in enumerate(points):
        genome = random_genome(__import__("random").Random(seed))
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, values=[accuracy, macs, latency],
            user_attrs={"genome": genome.to_dict(), "genome_id": genome.id, "is_baseline": seed == 0,
                        "baseline_block": "standard" if seed == 0 else None, "status": "ok",
                        "latency_ms": latency, "macs": macs}))
    return study


def test_three_objective_flags_keep_a_point_only_the_third_objective_saves():
    # (60, 100M, 5 ms) is dominated on accuracy and MACs by (70, 90M, 9 ms) but is the fastest.
    study = _three_objective_study([(65.0, 120e6, 10.0), (70.0, 90e6, 9.0), (60.0, 100e6, 5.0), (50.0, 130e6, 12.0)])
    assert trials_frame(study)["is_pareto"].tolist() == [False, True, True, False]


def test_three_objective_hypervolume_is_normalised_by_both_references(tmp_path, monkeypatch):
    study = _three_objective_study([(65.0, 120e6, 10.0), (70.0, 90e6, 9.0), (60.0, 100e6, 5.0)])
    reference_macs = 2 * cost_of(baseline()).total_macs
    points = [(-65.0, 120e6 / reference_macs, 10 / 20), (-70.0, 90e6 / reference_macs, 9 / 20),
              (-60.0, 100e6 / reference_macs, 5 / 20)]
    expected = dominated_hypervolume(points, (-1.0, 1.0, 1.0))  # chance is 1 % top-1 at 100 classes
    monkeypatch.setattr("plotly.graph_objects.Figure.write_image", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert f"**{expected:.3f}**" in summary
    assert "latency = 2 x the standard baseline's predicted latency = 20.000 ms (on a CPU, AVX2" in summary


def test_three_objectives_are_drawn_as_three_pairwise_projections_with_the_front_ringed_in_each():
    study = _three_objective_study([(65.0, 120e6, 10.0), (70.0, 90e6, 9.0), (60.0, 100e6, 5.0), (50.0, 130e6, 12.0)])
    figure = pareto_figure(trials_frame(study), "t")
    fronts = [trace for trace in figure.data if trace.name == "Pareto front (2)"]
    assert sorted(trace.xaxis for trace in fronts) == ["x", "x2", "x3"]
    assert [figure.layout[f"xaxis{n}"].title.text for n in ("", "2", "3")] == [
        "MACs (millions)", "latency (ms, predicted)", "MACs (millions)"]
    latency_vs_macs = next(trace for trace in fronts if trace.xaxis == "x3")
    assert sorted(latency_vs_macs.y) == [5.0, 9.0]
    assert sum(trace.name == "baseline" for trace in figure.data) == 3


def _latency_study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["accuracy", "latency"])
    return study


def test_a_stopped_latency_study_completes_a_finished_trial_with_its_accuracy_and_latency():
    study = _latency_study()
    trial = study.ask()
    for key, value in {"status": "ok", "accuracy": 61.0, "macs": 5e6, "latency_ms": 3.5}.items():
        trial.set_user_attr(key, value)
    settle_unfinished(study, Halving("fifo"))
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].values == [61.0, 3.5]


def test_successive_halving_ranks_a_latency_studys_rungs_by_accuracy_and_latency():
    study = _latency_study()
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.PRUNED, user_attrs={RUNG_ACCURACY.format(1): 40.0, "latency_ms": 2.0, "macs": 9e6}))
    assert load_ladder(study, Halving("moasha", grace=1, eta=2, max_units=4)).records(0) == {1: (40.0, 2.0)}
