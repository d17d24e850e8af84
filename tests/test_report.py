"""Reports rebuilt from an Optuna study: trials table, Pareto front, genome files, figure, summary and CLI.

The fake studies follow the search's data contract: real genomes with their real MACs, made-up accuracies.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from search.pareto import hypervolume, pareto_mask
from search.results import hypervolume_history, rung_correlation_line, trials_frame, write_report
from search.study import StudyError, load_existing_study
from space import Stage, baseline, cost_of, load_genome
from space.sampling import random_genome

ROOT = Path(__file__).resolve().parents[1]
DIRECTIONS = ["maximize", "minimize"]
# Accuracies for six random genomes in increasing MACs (104M ... 212M); the standard baseline (193.9M, 67 %)
# sits between the third and the fourth, so the third (186M, 68 %) beats it at fewer MACs.
RANDOM_ACCURACIES = [60.0, 66.5, 68.0, 67.5, 72.0, 71.0]
BASELINE_ACCURACY = 67.0


def _trial(genome, state=TrialState.COMPLETE, accuracy=None, **attrs):
    cost = cost_of(genome)
    user_attrs = {"genome": genome.to_dict(), "genome_id": genome.id, "is_baseline": "baseline_block" in attrs,
                  "status": "failed" if state == TrialState.FAIL else "ok", "reason": "", **attrs}
    values = None
    if state == TrialState.COMPLETE:
        user_attrs.update(accuracy=accuracy, top5=accuracy + 20, seconds=12.5, fidelity="proxy", data="fake")
        values = [accuracy, cost.total_macs]
    if state in (TrialState.COMPLETE, TrialState.FAIL):
        user_attrs.update(macs=cost.total_macs, params=cost.total_params)
    return optuna.trial.create_trial(
        state=state, values=values, user_attrs=user_attrs, params={"stem_channels": genome.stem_channels},
        distributions={"stem_channels": CategoricalDistribution((8, 12, 16, 24, 32))})


def _populate(study: optuna.Study) -> dict:
    """Fill a study with every kind of trial; return the trial numbers of each role."""
    genomes = sorted((random_genome(random.Random(seed)) for seed in range(6)),
                     key=lambda g: cost_of(g).total_macs)
    assert cost_of(genomes[2]).total_macs < cost_of(baseline()).total_macs < cost_of(genomes[3]).total_macs
    study.set_user_attr("data", "fake")
    study.set_user_attr("fidelity", {"name": "proxy", "epochs": 5})
    study.add_trial(_trial(baseline(), accuracy=BASELINE_ACCURACY, baseline_block="standard"))
    for genome, accuracy in zip(genomes, RANDOM_ACCURACIES):
        study.add_trial(_trial(genome, accuracy=accuracy))
    study.add_trial(_trial(genomes[4], accuracy=RANDOM_ACCURACIES[4]))  # the same point measured twice
    study.add_trial(_trial(random_genome(random.Random(6)), TrialState.FAIL, reason="diverged: loss is nan"))
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.FAIL, user_attrs={"is_baseline": False, "status": "failed",
                                           "reason": "invalid genome from the search space: stride"}))
    study.add_trial(_trial(random_genome(random.Random(7)), TrialState.RUNNING))
    study.add_trial(_trial(baseline("se"), TrialState.WAITING, baseline_block="se"))
    return {"baseline": 0, "front": [1, 2, 3, 5, 7], "dominated": [0, 4, 6], "failed": [8, 9], "in_flight": [10, 11],
            "best_at_baseline_macs": 3, "cheapest_within_a_point": 2, "genomes": genomes}


@pytest.fixture(autouse=True)
def no_png(monkeypatch):
    """Static export needs kaleido and a Chrome; make it fail fast so tests neither need nor wait for them."""
    def unavailable(self, *args, **kwargs):
        raise RuntimeError("Kaleido is not available (stubbed in tests)")
    monkeypatch.setattr(go.Figure, "write_image", unavailable)


@pytest.fixture
def study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=DIRECTIONS, study_name="fake-search")
    study.roles = _populate(study)
    return study


def test_pareto_mask_drops_dominated_points():
    accuracy = [70, 60, 80, 65]
    macs = [100, 120, 200, 90]
    assert pareto_mask(accuracy, macs).tolist() == [True, False, True, True]


def test_pareto_mask_keeps_every_duplicate_of_a_front_point():
    assert pareto_mask([70, 70, 60], [100, 100, 100]).tolist() == [True, True, False]


def test_pareto_mask_tie_in_one_objective_keeps_only_the_better_in_the_other():
    same_macs = pareto_mask([70, 75], [100, 100])
    same_accuracy = pareto_mask([70, 70], [100, 90])
    assert same_macs.tolist() == [False, True] and same_accuracy.tolist() == [False, True]


def test_pareto_mask_of_no_points_is_empty():
    assert pareto_mask([], []).shape == (0,)


def test_hypervolume_equals_hand_computed_staircase_area():
    # (accuracy, cost); reference (0, 5). (60, 4) is dominated, (80, 6) costs more than the reference.
    points = [(50, 1), (70, 3), (60, 4), (80, 6)]
    assert hypervolume(points, (0, 5)) == pytest.approx(50 * (3 - 1) + 70 * (5 - 3))


def test_hypervolume_is_measured_from_the_reference_accuracy():
    assert hypervolume(np.array([(50.0, 1.0)]), (40, 2)) == pytest.approx(10 * 1)
    assert hypervolume(np.array([(30.0, 1.0)]), (40, 2)) == 0.0


def test_trials_csv_has_one_row_per_trial_in_every_state_with_the_genome_flattened(study, tmp_path):
    table = write_report(study, tmp_path)["trials_csv"]
    frame = pd.read_csv(table)
    assert frame["number"].tolist() == list(range(12))
    assert frame["state"].value_counts().to_dict() == {"COMPLETE": 8, "FAIL": 2, "RUNNING": 1, "WAITING": 1}
    stage_columns = [f"s{i}_{field}" for i in range(6) for field in Stage.__dataclass_fields__]
    expected = ["number", "state", "genome_id", "stem_channels", "head_channels", "num_classes", "resolution",
                "stem_kernel", "stem_stride", *stage_columns, "arch", "accuracy", "top5", "macs", "latency_ms",
                "params", "seconds", "rung", "units", "is_baseline", "is_pareto", "reason"]
    assert list(frame.columns[:len(expected)]) == expected
    assert frame.loc[0, "arch"] == " ".join(stage.encode() for stage in baseline().stages)
    assert frame.loc[0, "s5_out_channels"] == 320 and frame.loc[0, "macs"] == 193_898_304
    assert frame.loc[8, "reason"] == "diverged: loss is nan"


def test_is_pareto_flags_exactly_the_non_dominated_completed_trials(study):
    frame = trials_frame(study)
    assert frame.index[frame["is_pareto"]].tolist() == study.roles["front"]


def test_baseline_trials_are_flagged(study):
    frame = trials_frame(study)
    assert frame.index[frame["is_baseline"]].tolist() == [0, 11]
    assert frame.loc[0, "baseline_block"] == "standard"


def test_pareto_genome_files_load_back_equal_to_the_trials_genomes(study, tmp_path):
    folder = write_report(study, tmp_path)["pareto_dir"]
    genomes = {g.id: g for g in study.roles["genomes"]}
    saved = {path.stem: load_genome(path) for path in folder.glob("*.json")}
    front_ids = {study.trials[n].user_attrs["genome_id"] for n in study.roles["front"]}
    assert set(saved) == front_ids
    assert all(saved[genome_id] == genomes[genome_id] for genome_id in saved)


def test_rebuild_removes_genome_files_no_longer_on_the_front(study, tmp_path):
    stale = baseline("condconv").save(tmp_path / "pareto" / f"{baseline('condconv').id}.json")
    write_report(study, tmp_path)
    assert not stale.exists()


def test_pareto_html_is_self_contained_and_labels_the_baseline(study, tmp_path):
    html = write_report(study, tmp_path)["pareto_html"].read_text()
    assert "baseline (standard)" in html
    assert "fake-search" in html
    assert "<script src=" not in html  # plotly.js embedded, so it opens offline


def test_png_export_failure_is_a_note_in_the_summary_and_removes_an_older_png(study, tmp_path):
    (tmp_path / "pareto.png").write_bytes(b"an earlier run's image")
    paths = write_report(study, tmp_path)
    assert paths["pareto_png"] == "skipped pareto.png: Kaleido is not available (stubbed in tests)"
    assert not (tmp_path / "pareto.png").exists()
    assert f"*No image: {paths['pareto_png']}*" in paths["summary_md"].read_text()


def test_summary_states_the_gain_over_the_baseline_and_the_hypervolume_reference(study, tmp_path):
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    best = study.trials[study.roles["best_at_baseline_macs"]].user_attrs["genome_id"]
    cheapest = study.trials[study.roles["cheapest_within_a_point"]].user_attrs["genome_id"]
    assert f"best trial at <= baseline MACs: trial 3 (`{best}`, 68.00 % top-1" in summary
    assert "+1.00 points top-1 vs the baseline's mean" in summary
    assert f"cheapest trial within 1 point of the baseline's mean: trial 2 (`{cheapest}`" in summary
    assert "Reference point: chance accuracy 1 % top-1 and MACs = 2 x the standard Table 1 baseline's MACs at " \
           "100 classes = 387,796,608 MACs" in summary
    assert "- trials: 12 — 8 complete, 2 failed, 2 running or waiting" in summary
    assert "diverged: loss is nan" in summary and "invalid genome from the search space" in summary


def test_unconfirmed_headlines_say_single_seed_next_to_the_baselines_spread(study, tmp_path):
    study.add_trial(_trial(baseline(), accuracy=BASELINE_ACCURACY + 2, baseline_block="standard", train_seed=12))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert "baseline (standard): 68.00 ± 1.41 % top-1 over 2 seed(s)" in summary
    assert "single seed, unconfirmed (the baseline's SD over 2 training seeds is 1.41 points" in summary


def test_hypervolume_counts_only_area_above_chance_accuracy(tmp_path):
    study = optuna.create_study(directions=DIRECTIONS, study_name="chance")
    macs = cost_of(baseline()).total_macs
    study.add_trial(_trial(baseline(), accuracy=51.0, baseline_block="standard"))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    # 100 classes: chance is 1 %; the baseline spans (51 - 1) points x (1 - macs / (2 x macs)) of the MACs.
    assert f"**{50.0 * 0.5:.3f}**" in summary and macs * 2 == 387_796_608


def test_hypervolume_history_is_written_per_trial(study, tmp_path):
    paths = write_report(study, tmp_path)
    assert Path(paths["hypervolume_html"]).is_file()
    history = hypervolume_history(trials_frame(study))
    assert list(history["number"]) == sorted(t.number for t in study.trials)
    assert (np.diff(history["hypervolume"]) >= -1e-9).all()  # a front only grows
    final = history["hypervolume"].iloc[-1]
    assert final > 0 and f"**{final:.3f}**" in Path(paths["summary_md"]).read_text()


def test_confirmed_figures_replace_the_single_seed_headlines(study, tmp_path):
    best = study.trials[study.roles["best_at_baseline_macs"]]
    pd.DataFrame([
        {"genome_id": baseline().id, "arch": "a", "macs": cost_of(baseline()).total_macs, "params": 1,
         "is_baseline": True, "baseline_block": "standard", "trials": "0", "n": 3, "mean": 66.0, "sd": 1.0,
         "n_paired": 3, "delta": 0.0, "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan"),
         "p_holm": float("nan"), "verdict": "", "seeds": "1000000..1000002", "fidelity": "proxy"},
        {"genome_id": best.user_attrs["genome_id"], "arch": "b", "macs": best.user_attrs["macs"], "params": 1,
         "is_baseline": False, "baseline_block": "", "trials": "3", "n": 3, "mean": 66.5, "sd": 2.0,
         "n_paired": 3, "delta": 0.5, "ci_low": -1.5, "ci_high": 2.5, "p": 0.4, "p_holm": 0.4,
         "verdict": "within noise", "seeds": "1000000..1000002", "fidelity": "proxy"},
    ]).to_csv(tmp_path / "confirmed.csv", index=False)
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert "## Confirmation" in summary and "single seed, unconfirmed" not in summary
    assert f"best confirmed genome at <= baseline MACs: `{best.user_attrs['genome_id']}` (66.50 ± 2.00 % top-1 " \
           "over 3 seeds" in summary
    assert "+0.50 [-1.50, +2.50] points vs the baseline: within noise" in summary


def test_summary_without_completed_trials_says_so_instead_of_failing(tmp_path):
    study = optuna.create_study(directions=DIRECTIONS, study_name="empty")
    study.add_trial(_trial(baseline(), TrialState.FAIL, baseline_block="standard", reason="out of memory"))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert "No completed trials, so no Pareto front yet." in summary
    assert "No completed baseline trial" in summary
    assert "No completed trials, so no hypervolume." in summary


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``search.report`` in a process of its own, with no browser: like the in-process reports here (see
    no_png), it writes no PNG rather than starting a browser per image."""
    return subprocess.run([sys.executable, "-m", "search.report", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "BROWSER_PATH": "/nonexistent"})


def _sqlite_study(folder: Path, name: str) -> str:
    folder.mkdir(parents=True)
    storage = f"sqlite:///{folder / 'study.db'}"
    _populate(optuna.create_study(directions=DIRECTIONS, study_name=name, storage=storage))
    (folder / "study.json").write_text(json.dumps({"study_name": name, "storage": storage, "budget": 12}))
    return storage


def test_cli_rebuilds_every_file_from_the_sqlite_storage(tmp_path):
    folder = tmp_path / "search-a"
    _sqlite_study(folder, "search-a")
    result = _cli(str(folder))
    assert result.returncode == 0, result.stderr
    for name in ("trials.csv", "pareto.html", "summary.md"):
        assert (folder / name).is_file() and str(folder / name) in result.stdout
    assert len(list((folder / "pareto").glob("*.json"))) == 4  # five front trials, one genome measured twice
    assert "| trial | genome_id | arch |" in result.stdout


def test_cli_missing_folder_is_a_one_line_error_naming_it(tmp_path):
    result = _cli(str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and str(tmp_path / "nowhere") in result.stderr


def test_cli_results_folder_that_is_a_file_is_named_as_not_a_folder(tmp_path):
    (tmp_path / "trials.csv").write_text("")
    result = _cli(str(tmp_path / "trials.csv"))
    assert result.returncode == 2 and result.stderr == (f"error: results folder {tmp_path / 'trials.csv'} is a file, "
                                                        "not a folder (or pass --storage and --study-name)\n")


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe", "not a text file"),
    (b'{"study_name": 5, "storage": ["x"]}', "storage and study_name must be text, got list, int"),
])
def test_a_pointer_file_that_is_not_a_study_s_is_named(tmp_path, content, message):
    (tmp_path / "study.json").write_bytes(content)
    with pytest.raises(StudyError, match=f"study.json: {message}"):
        load_existing_study(tmp_path)


def test_a_folder_without_a_study_pointer_is_named_as_no_results_folder(tmp_path):
    with pytest.raises(StudyError, match=r"study\.json not found: not a results folder of search\.run \(or pass"):
        load_existing_study(tmp_path)


def test_cli_unknown_study_name_lists_the_studies_in_the_storage(tmp_path):
    storage = _sqlite_study(tmp_path / "search-b", "search-b")
    result = _cli(str(tmp_path / "search-b"), "--storage", storage, "--study-name", "typo")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: study 'typo' not found in {storage}; studies there: search-b"


def test_summary_counts_the_search_trials_near_chance(tmp_path):
    study = optuna.create_study(directions=DIRECTIONS, study_name="chance_count")
    study.add_trial(_trial(baseline(), accuracy=2.0, baseline_block="standard"))  # a baseline is not counted
    for seed, accuracy in enumerate([1.0, 2.9, 3.1, 40.0]):
        study.add_trial(_trial(random_genome(random.Random(seed)), accuracy=accuracy))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert "- near chance: 2 of 4 completed search trials scored within 2 top-1 points of chance (1 %)" in summary


def test_a_close_trial_dearer_than_the_baseline_is_not_the_cheapest_within_a_point(tmp_path):
    study = optuna.create_study(directions=DIRECTIONS, study_name="dearer")
    study.add_trial(_trial(baseline(), accuracy=50.0, baseline_block="standard"))
    dearer = next(g for g in (random_genome(random.Random(seed)) for seed in range(50))
                  if cost_of(g).total_macs > 1.2 * cost_of(baseline()).total_macs)
    study.add_trial(_trial(dearer, accuracy=55.0))
    summary = write_report(study, tmp_path)["summary_md"].read_text()
    assert "- no search trial within 1 point of the baseline's mean is cheaper than the baseline in MACs" in summary
    assert "cheapest trial within" not in summary


def _rung_study(rung_one_accuracies: list[float]) -> optuna.Study:
    """Trials stopped at rung 1 of 1 / 4 / 16 units with these accuracies, and the baseline at the top."""
    study = optuna.create_study(directions=DIRECTIONS, study_name="rungs")
    study.set_user_attr("halving", {"scheduler": "moasha", "grace": 1, "eta": 4, "max_units": 16})
    study.add_trial(_trial(baseline().replace(num_classes=10), accuracy=55.0, baseline_block="standard",
                           rung=3, rung_accuracy_1=10.5, rung_accuracy_2=20.0, rung_accuracy_3=55.0))
    for seed, accuracy in enumerate(rung_one_accuracies):
        study.add_trial(_trial(random_genome(random.Random(seed), num_classes=10), TrialState.PRUNED,
                               rung=1, rung_accuracy_1=accuracy))
    return study


def test_summary_says_when_every_trial_at_a_rung_sat_near_chance(tmp_path):
    summary = write_report(_rung_study([9.0, 11.9, 12.0]), tmp_path)["summary_md"].read_text()
    assert ("- near chance at rung 1: 4 of 4 trials recorded there within 2 top-1 points of chance (10 %): its "
            "decisions followed their costs and noise, not what they learned") in summary
    assert "- near chance at rung 2: 0 of 1 trials recorded there" in summary


def test_a_rung_where_some_trials_learned_is_counted_without_the_warning(tmp_path):
    summary = write_report(_rung_study([9.0, 25.0]), tmp_path)["summary_md"].read_text()
    assert "- near chance at rung 1: 2 of 3 trials recorded there within 2 top-1 points of chance (10 %)\n" in summary


def _rung_frame(first: list[float], top: list[float], states: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"state": states or ["COMPLETE"] * len(top), "accuracy": top, "rung_accuracy_1": first})


def test_rung_correlation_states_its_bootstrap_interval_and_one_seed_per_trial():
    line = rung_correlation_line(_rung_frame([10.0, 12.0, 11.0, 15.0, 14.0, 20.0, 13.0, 16.0],
                                             [40.0, 52.0, 44.0, 45.0, 50.0, 61.0, 47.0, 43.0]))
    value = 1 - 6 * 48 / (8 * 63)  # Spearman: rank differences 0, -4, -1, 2, -1, 0, -1, 5 (squares sum to 48)
    assert line.startswith("rank correlation (Spearman) of rung-1 and top-rung accuracy over the 8 trials that "
                           f"reached the top (one training seed each): {value:.3f}, 90% bootstrap CI over trials [")
    low, high = (float(x) for x in line.rsplit("[", 1)[1].rstrip("]").split(", "))
    assert -1.0 <= low < value < high <= 1.0


def test_rung_correlation_counts_only_trials_that_reached_the_top():
    frame = _rung_frame([10.0, 12.0, 30.0, 11.0], [40.0, 45.0, 30.0, 44.0],
                        ["COMPLETE", "COMPLETE", "PRUNED", "FAIL"])
    assert rung_correlation_line(frame) == ("rank correlation of rung-1 and top-rung accuracy: too few trials "
                                            "reached the top (2)")


def test_rung_correlation_is_undefined_when_every_trial_tied_at_a_rung():
    line = rung_correlation_line(_rung_frame([10.0, 10.0, 10.0], [40.0, 45.0, 44.0]))
    assert line.endswith("(one training seed each): undefined (all equal at one of the two rungs)")


@pytest.mark.parametrize("name", ["trials.csv", "summary.md"])
def test_a_report_interrupted_before_a_file_s_rename_leaves_that_file_whole(study, tmp_path, monkeypatch, name):
    write_report(study, tmp_path)
    before = (tmp_path / name).read_text()
    study.add_trial(_trial(random_genome(random.Random(9)), accuracy=50.0))
    replace = os.replace

    def interrupted_at_the_file(source, target):
        if Path(target).name == name:
            raise KeyboardInterrupt
        replace(source, target)
    monkeypatch.setattr(os, "replace", interrupted_at_the_file)
    with pytest.raises(KeyboardInterrupt):
        write_report(study, tmp_path)
    assert (tmp_path / name).read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))
