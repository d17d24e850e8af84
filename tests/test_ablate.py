"""One-factor ablations: arms that change one thing, seeds, resumable runs, statistics against the baseline."""

import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from evaluators.presets import get_fidelity
from search.ablate import main
from search.ablation import (FACTORS, AblationConfig, ablation_figure, ablation_markdown, arm_statistics,
                             make_arms, run_columns)
from search.results import PNG_SIZE
from search.tune import Resources, load_runs, save_run
from space import Genome, baseline, cost_of

DATA = "synthetic:classes=3,train=16,val=8"
FAST = ["--data", DATA, "--fidelity", "smoke", "--crop", "16", "--batch-size", "8", "--data-fraction", "1"]
TRAINED = re.compile(r"^block=\w+ seed \d+(:| failed)", re.MULTILINE)
"""The progress line printed once per run that finished training in this invocation."""

CHANGED_FIELDS = {
    "block": {"stages.block"}, "kernel": {"stages.kernel"}, "expansion": {"stages.expansion"},
    "se_ratio": {"stages.se_ratio"}, "experts": {"stages.experts"},
    "width": {"stem_channels", "stages.out_channels"}, "depth": {"stages.repeats"},
    "se_position": {"stages.se_position"},
}


pytestmark = pytest.mark.usefixtures("ray_cluster", "shared_chromium")


@pytest.fixture(scope="module")
def block_results(tmp_path_factory):
    """The block ablation with 2 seeds, trained once for every test that reads or extends it."""
    results = tmp_path_factory.mktemp("block")
    assert _run(results, "--factor", "block", "--seeds", "2") == 0
    return results


def _run(results, *args):
    return main([*FAST, "--results-dir", str(results), *args])


def _copy(block_results, tmp_path):
    shutil.copytree(block_results, tmp_path / "results")
    return tmp_path / "results"


def _mtimes(folder):
    return {path.name: path.stat().st_mtime_ns for path in (folder / "ablation-block" / "runs").glob("*.json")}


def _differences(genome: Genome, reference: Genome) -> set[str]:
    """Names of the genome fields (stage fields as ``stages.<field>``) where the two genomes differ."""
    ours, theirs = genome.to_dict(), reference.to_dict()
    fields = {key for key in ours if key != "stages" and ours[key] != theirs[key]}
    return fields | {f"stages.{key}" for a, b in zip(ours["stages"], theirs["stages"]) for key in a if a[key] != b[key]}


def _config(tmp_path, factor="block", seeds=2):
    return AblationConfig(name="t", out_dir=tmp_path, factor=FACTORS[factor], arms=make_arms(FACTORS[factor]),
                          seeds=seeds, data="fake", num_classes=100, fidelity=get_fidelity("smoke"),
                          resources=Resources(address=None, cpus_per_trial=1, gpus_per_trial=0), cache_dir=None)


def _record(arm, seed, accuracy, factor="block"):
    level = arm.split("=")[1]
    ok = accuracy is not None
    values = [arm, seed, level, "id", 1, 1, accuracy, accuracy, 2.0, "ok" if ok else "failed",
              "" if ok else "non-finite loss"]
    return dict(zip(run_columns(factor), values))


@pytest.mark.parametrize("factor", list(FACTORS))
def test_each_factors_arms_differ_from_the_baseline_only_in_that_factor(factor):
    arms = make_arms(FACTORS[factor])
    base = next(arm for arm in arms if arm.is_baseline)
    assert base.genome == baseline(FACTORS[factor].base_block)
    assert [arm.level for arm in arms] == list(FACTORS[factor].levels)
    for arm in arms:
        if arm is not base:
            changed = _differences(arm.genome, base.genome)
            assert changed and changed <= CHANGED_FIELDS[factor], (arm.name, changed)


def test_se_position_arms_cost_what_cost_of_says_and_order_as_expected():
    arms = {arm.label: arm for arm in make_arms(FACTORS["se_position"])}
    for arm in arms.values():
        assert (arm.macs, arm.params) == (cost_of(arm.genome).total_macs, cost_of(arm.genome).total_params)
    assert arms["none"].macs == cost_of(baseline("standard")).total_macs  # no SE layer anywhere
    assert arms["none"].macs < arms["noskip"].macs < arms["dw"].macs      # SE only where there is no skip
    assert arms["none"].macs < arms["end"].macs < arms["dw"].macs         # SE on No instead of Ne = 4 Ni


def test_show_levels_prints_every_arm_with_its_genome_id_and_macs_without_training(tmp_path, capsys):
    assert main(["--factor", "kernel", "--show-levels", "--results-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for arm in make_arms(FACTORS["kernel"]):
        row = next(line for line in text.splitlines() if f"| {arm.genome.id}" in line.replace("`", ""))
        assert arm.name in row and f"{arm.macs:,}" in row and ("(baseline)" in row) == arm.is_baseline
    assert not any(tmp_path.iterdir())


def test_show_fidelity_refuses_what_the_run_would_refuse(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--factor", "kernel", "--show-fidelity", "--data", "synthetic:foo=1", "--results-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "bad --data 'synthetic:foo=1'" in capsys.readouterr().err


def test_show_levels_for_width_says_the_head_stays_1280(capsys):
    assert main(["--factor", "width", "--show-levels"]) == 0
    assert "head stays 1280" in capsys.readouterr().out


def test_block_ablation_with_two_seeds_writes_csv_markdown_and_figure(block_results):
    folder = block_results / "ablation-block"
    csv = pd.read_csv(folder / "ablation.csv")
    columns = run_columns("block")
    after_macs = columns.index("macs") + 1
    assert list(csv.columns) == [*columns[:after_macs], "latency_ms", *columns[after_macs:]] and len(csv) == 6
    assert (csv["latency_ms"] > 0).all() and csv.groupby("block")["latency_ms"].nunique().eq(1).all()
    assert sorted(zip(csv["block"], csv["seed"])) == sorted((b, s) for b in ("standard", "se", "condconv")
                                                            for s in (0, 1))
    assert (csv["status"] == "ok").all()
    markdown = (folder / "ablation.md").read_text()
    assert len(re.findall(r"\| \d+\.\d\d ± \d+\.\d\d \| 2 \|", markdown)) == 3
    assert "**block=standard** (baseline)" in markdown
    assert len(re.findall(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]", markdown)) == 2
    assert "plotly" in (folder / "ablation.html").read_text()
    assert "| latency ms |" in markdown and "1 thread, batch 1" in markdown


def test_block_ablation_markdown_shows_the_figure_as_a_png(block_results, chromium):
    folder = block_results / "ablation-block"
    markdown = (folder / "ablation.md").read_text()
    if chromium is None:
        assert "*No image: skipped ablation.png: " in markdown and not (folder / "ablation.png").exists()
        return
    assert "](ablation.png)" in markdown
    with Image.open(folder / "ablation.png") as image:
        assert image.size == PNG_SIZE


def test_rerun_with_the_same_arguments_trains_nothing(block_results, tmp_path, capsys):
    results = _copy(block_results, tmp_path)
    before = _mtimes(results)
    capsys.readouterr()
    assert _run(results, "--factor", "block", "--seeds", "2") == 0
    err = capsys.readouterr().err
    assert "6 of 6 runs already done, training 0" in err and not TRAINED.findall(err)
    assert _mtimes(results) == before


def test_more_seeds_train_only_the_new_runs(block_results, tmp_path, capsys):
    results = _copy(block_results, tmp_path)
    before = _mtimes(results)
    capsys.readouterr()
    assert _run(results, "--factor", "block", "--seeds", "3") == 0
    trained = re.findall(r"^block=\w+ seed (\d+):", capsys.readouterr().err, re.MULTILINE)
    assert trained == ["2", "2", "2"]
    after = _mtimes(results)
    assert {name: after[name] for name in before} == before and len(after) == 9
    assert len(pd.read_csv(results / "ablation-block" / "ablation.csv")) == 9


def test_continuing_with_another_fidelity_is_a_one_line_error(block_results, tmp_path, capsys):
    results = _copy(block_results, tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        _run(results, "--factor", "block", "--seeds", "2", "--epochs", "2")
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1 and "use another --name" in error


@pytest.mark.parametrize("args, message", [
    (["--factor", "resnet"], "--factor: must be one of block, kernel, expansion, se_ratio, experts, width, depth"),
    ([], "--factor: required, one of block, kernel"),
    (["--factor", "kernel", "--levels", "3,4"], "kernel level '4'"),
    (["--factor", "se_ratio", "--levels", "4,1000"],
     "se_ratio level '1000': stages[0].se_ratio: R=1000 leaves 64/1000 < 1 SE channel"),
    (["--factor", "block", "--levels", "standard,mbconv"], "block levels are one of standard, se, condconv"),
    (["--factor", "width", "--levels", "0,1"], "width level '0': must be a positive number"),
    (["--factor", "width", "--levels", "1,1.01"], "width=1 and width=1.01 give the same network"),
    (["--factor", "depth", "--levels=-100"], "depth level '-100': at -4 every stage already has 1 repeat"),
    (["--factor", "kernel", "--levels", "3,,5"], "--levels '3,,5': an empty level (a comma too many); kernel levels are"),
    (["--factor", "kernel", "--levels", " , "], "--levels ' , ': no levels given; kernel levels are"),
    (["--factor", "kernel", "--seeds", "0"], "--seeds: must be >= 1"),
])
def test_bad_factor_or_levels_is_a_one_line_error_before_anything_runs(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, *args)
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(error.splitlines()) == 1
    assert error.startswith("error: ") and message in error
    assert not any(tmp_path.iterdir())


def test_a_results_dir_that_is_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path / "taken", "--factor", "kernel")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: --results-dir: must be a folder, and {tmp_path / 'taken'} is a file\n"


@pytest.mark.parametrize("content", ["{'factor': 'kernel'}", "[]"])
def test_an_unreadable_settings_file_is_a_one_line_error_naming_it_and_is_kept(tmp_path, capsys, content):
    settings = tmp_path / "ablation-kernel" / "ablation.json"
    settings.parent.mkdir()
    settings.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--factor", "kernel", "--seeds", "1", "--latency", "no")
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and error[-1].startswith(f"error: {settings}: ")
    assert error[-1].endswith("it records the settings of the runs beside it: repair it")
    assert settings.read_text() == content


def test_diverging_run_is_recorded_with_its_reason_and_left_out_of_the_statistics(tmp_path):
    assert _run(tmp_path, "--factor", "block", "--levels", "standard", "--seeds", "1", "--lr", "1e30",
                "--momentum", "0") == 0
    folder = tmp_path / "ablation-block"
    csv = pd.read_csv(folder / "ablation.csv")
    assert csv["status"].tolist() == ["failed"] and csv["accuracy"].isna().all()
    assert "non-finite loss" in csv.loc[0, "reason"]
    markdown = (folder / "ablation.md").read_text()
    assert "| no successful run | 0 |" in markdown and "non-finite loss" in markdown.split("## Failed runs")[1]


def test_statistics_use_successful_runs_only_paired_with_the_baseline_arm(tmp_path):
    config = _config(tmp_path)
    frame = pd.DataFrame([_record("block=standard", 0, 50.0), _record("block=standard", 1, 60.0),
                          _record("block=standard", 2, None), _record("block=se", 0, 70.0),
                          _record("block=se", 1, 84.0), _record("block=se", 2, 90.0),
                          _record("block=condconv", 0, 65.0)], columns=run_columns("block"))
    summary = arm_statistics(frame, config.arms).set_index("arm")
    assert summary.loc["block=standard", "n"] == 2 and summary.loc["block=standard", "mean"] == 55.0
    se = summary.loc["block=se"]
    # Pairs on seeds 0 and 1 only: differences 20 and 24; condconv's single pair (15) adds no degree of freedom.
    half = stats.t.ppf(0.975, 1) * math.sqrt(8 / 2)
    assert se["n_paired"] == 2 and se["delta"] == 22.0
    assert np.allclose([se["ci_low"], se["ci_high"]], [22 - half, 22 + half])
    condconv = summary.loc["block=condconv"]
    assert condconv["n"] == 1 and condconv["delta"] == 15.0
    assert np.allclose([condconv["ci_low"], condconv["ci_high"]], [15 - stats.t.ppf(0.975, 1) * math.sqrt(8),
                                                                   15 + stats.t.ppf(0.975, 1) * math.sqrt(8)])
    markdown = ablation_markdown(config, frame, arm_statistics(frame, config.arms), image="")
    assert "| 81.33 ± 10.26 | 3 | +22.00 [" in markdown and "| 65.00 | 1 | +15.00 [" in markdown
    assert "paired t" in markdown and "Holm" in markdown


def test_training_seconds_show_their_spread_and_say_they_are_no_side_by_side_timing(tmp_path):
    config = _config(tmp_path)
    frame = pd.DataFrame([{**_record(arm.name, seed, 60.0 + seed), "seconds": 10.0 + 4 * seed}
                          for arm in config.arms for seed in (0, 1)], columns=run_columns("block"))
    markdown = ablation_markdown(config, frame, arm_statistics(frame, config.arms), image="")
    assert "| train s (mean ± std) |" in markdown and markdown.count("| 12.0 ± 2.8 |") == len(config.arms)
    assert "not a speed measurement side by side" in markdown


def test_two_seeds_warn_that_the_intervals_say_little(tmp_path):
    config = _config(tmp_path, seeds=2)
    frame = pd.DataFrame([_record(arm.name, seed, 60.0 + seed) for arm in config.arms for seed in (0, 1)],
                         columns=run_columns("block"))
    markdown = ablation_markdown(config, frame, arm_statistics(frame, config.arms), image="")
    assert "intervals are wide and say little" in markdown


def test_one_seed_says_plainly_that_no_interval_can_be_given(tmp_path):
    config = _config(tmp_path, seeds=1)
    frame = pd.DataFrame([_record(arm.name, 0, 60.0) for arm in config.arms], columns=run_columns("block"))
    markdown = ablation_markdown(config, frame, arm_statistics(frame, config.arms), image="")
    assert "no standard deviation and no confidence interval can be given" in markdown
    assert not re.search(r"\d ± \d", markdown) and "| 60.00 | 1 | +0.00 [n/a] |" in markdown


def test_ablation_figure_draws_a_one_sd_bar_only_where_an_arm_has_two_runs(tmp_path):
    config = _config(tmp_path)
    frame = pd.DataFrame([_record("block=standard", 0, 50.0), _record("block=standard", 1, 60.0),
                          _record("block=se", 0, 70.0)], columns=run_columns("block"))
    figure = ablation_figure(arm_statistics(frame, config.arms), config.arms, "t")
    bars = {text: bar for trace in figure.data for text, bar in zip(trace.text, trace.error_y.array)}
    assert set(bars) == {"standard (n=2)", "se (n=1)"}
    assert bars["standard (n=2)"] == pytest.approx(np.std([50.0, 60.0], ddof=1)) and math.isnan(bars["se (n=1)"])
    assert [shape.y0 for shape in figure.layout.shapes] == [55.0]  # the baseline arm's mean, to read changes by


def test_ablation_figure_names_the_arms_it_cannot_place(tmp_path):
    config = _config(tmp_path)
    frame = pd.DataFrame([_record("block=standard", 0, 50.0), _record("block=se", 0, 70.0),
                          _record("block=condconv", 0, None)], columns=run_columns("block"))
    figure = ablation_figure(arm_statistics(frame, config.arms), config.arms, "t")
    assert [a.text for a in figure.layout.annotations if "no successful run" in a.text] == [
        "no successful run: block=condconv"]


def test_saved_runs_are_read_back_and_a_half_written_file_is_ignored(tmp_path):
    record = _record("block=se", 1, 70.0)
    save_run(tmp_path, record)
    (tmp_path / "block=se-seed2.json.tmp").write_text('{"arm": "block=se", "se')  # killed mid-write
    assert load_runs(tmp_path) == {("block=se", 1): record}


def test_a_relative_results_dir_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*FAST, "--results-dir", "out", "--factor", "block", "--levels", "standard", "--seeds", "1"]) == 0
    assert (tmp_path / "out" / "ablation-block" / "ablation.csv").exists()
