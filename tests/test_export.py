"""From a trained genome to a model people can use: kept weights, timm model names, export folders, ONNX."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnxruntime
import optuna
import pytest
import timm
import torch
from optuna.trial import TrialState
from safetensors.torch import save_file

import space
from evaluators.data import load_data
from evaluators.presets import get_fidelity
from evaluators.saving import SaveDir
from evaluators.train import main as train_cli
from evaluators.trainer import train
from search.export import OPSET, ExportError, export, from_files, from_study
from search.export.__main__ import main as export_cli
from search.run import main as search_run
from search.study import (DIRECTIONS, default_storage, kept_trials, load_existing_study, prune_weights, trial_weights,
                          write_study_pointer)
from space import Genome, Stage, baseline, build, save_weights
from space.weights import load_weights, read_metadata

TINY_DATA = "synthetic:classes=3,train=24,val=8"
SMOKE = get_fidelity("smoke", batch_size=8, data_fraction=1.0, crop=16, epochs=3, bf16="off")
SEARCH_FAST = ["--data", "synthetic:classes=3,train=16,val=8", "--fidelity", "smoke", "--crop", "16", "--batch-size",
               "8", "--data-fraction", "1", "--scheduler", "fifo"]


def tiny_genome(block: str = "standard") -> Genome:
    return Genome(stem_channels=8, stages=(Stage(8, 1, 1, block=block), Stage(16, 2, 2, block=block, kernel=5)),
                  head_channels=32, num_classes=3, resolution=32)


def trained_like(model: space.Network) -> space.Network:
    """Weights that give distinct logits of a trained network's size: the builder starts the classifier at
    zero (all logits 0) and BN at the identity (activations that grow block after block, to logits in the
    thousands); here BN statistics are measured on random images, as training does, around a random affine."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("bias") or (name.endswith("weight") and tensor.dim() == 1):
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.1)
            if name.startswith("classifier."):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # a cumulative average over the calibration batches
        model.train()
        for _ in range(3):
            model(torch.randn(8, 3, 32, 32, generator=generator))
    return model.eval()


def save_pair(tmp_path, genome: Genome, model: space.Network, **details) -> tuple:
    return genome.save(tmp_path / "genome.json"), save_weights(tmp_path / "weights.safetensors", model, genome,
                                                                **details)


def logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(images)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_data(TINY_DATA, cache_dir=tmp_path_factory.mktemp("cache"))


# ------------------------------------------------------------------------------------------ training keeps weights


def test_training_with_a_save_dir_keeps_last_and_best_weights_with_genome_and_result(data, tmp_path):
    save = SaveDir(tmp_path, SMOKE, data.name, seed=0, classes=data.classes)
    result = train(tiny_genome(), data, SMOKE, snapshot=save.snapshot)
    save.finish(result, ["python", "-m", "evaluators.train"])
    last, best = read_metadata(tmp_path / "last.safetensors"), read_metadata(tmp_path / "best.safetensors")
    assert int(last["epoch"]) == SMOKE.epochs - 1 and float(last["top1"]) == result.accuracy
    assert int(best["epoch"]) == result.best_epoch and float(best["top1"]) == result.best_accuracy
    assert Genome.from_json((tmp_path / "genome.json").read_text()).id == result.genome_id == last["genome_id"]
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["recipe"]["epochs"] == SMOKE.epochs and record["classes"] == data.classes
    assert not list(tmp_path.glob(".*tmp")), "no temporary file is left behind"


def test_kept_last_weights_are_the_trained_model_at_its_last_evaluation(data, tmp_path):
    kept = {}
    save = SaveDir(tmp_path, SMOKE, data.name, seed=0, classes=data.classes)

    def snapshot(model, evaluation):
        save.snapshot(model, evaluation)
        kept.update({key: value.clone() for key, value in model.state_dict().items()})

    train(tiny_genome(), data, SMOKE, snapshot=snapshot)
    reloaded = from_files(tmp_path / "genome.json", tmp_path / "last.safetensors")
    assert sorted(reloaded.weights) == sorted(kept)
    assert all(torch.equal(reloaded.weights[key], kept[key]) for key in kept)


def test_train_cli_save_writes_the_folder_export_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EFFCNN_CACHE", str(tmp_path / "cache"))
    genome_path = tiny_genome().save(tmp_path / "tiny.json")
    assert train_cli([str(genome_path), "--data", TINY_DATA, "--fidelity", "smoke", "--batch-size", "8", "--crop",
                      "16", "--data-fraction", "1", "--save", str(tmp_path / "run")]) == 0
    assert "saved" in capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["best.safetensors", "genome.json",
                                                                         "last.safetensors", "result.json"]
    trained = from_files(tmp_path / "run" / "genome.json", tmp_path / "run" / "best.safetensors")
    assert trained.facts["recipe"]["crop"] == 16
    assert trained.facts["command"][:3] == ["python", "-m", "evaluators.train"]


# ------------------------------------------------------------------------------------------------------- timm


@pytest.mark.parametrize("name, block", [("effcnn_baseline", "standard"), ("effcnn_baseline_se", "se"),
                                         ("effcnn_baseline_condconv", "condconv")])
def test_timm_name_builds_exactly_the_space_model(name, block):
    torch.manual_seed(7)
    from_timm = timm.create_model(name)
    torch.manual_seed(7)
    from_space = build(baseline(block))
    assert type(from_timm) is type(from_space)
    assert from_timm.genome == from_space.genome
    ours, theirs = from_timm.state_dict(), from_space.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[key], theirs[key]) for key in ours), "the same seed gives the same initial weights"


def test_timm_num_classes_resizes_the_classifier_as_for_any_timm_model():
    model = timm.create_model("effcnn_baseline", num_classes=10)
    assert model.classifier.out_features == 10 and model.genome == baseline().replace(num_classes=10)
    assert timm.data.resolve_data_config({}, model=model)["input_size"] == (3, 56, 56)


def test_timm_refuses_switches_that_would_change_the_network():
    with pytest.raises(ValueError, match="in_chans: effcnn models are built with 3 only, got 1"):
        timm.create_model("effcnn_baseline", in_chans=1)


def test_timm_genome_file_with_local_weights_gives_the_trained_logits(tmp_path):
    genome = tiny_genome("se")
    model = trained_like(build(genome))
    genome_path, weights_path = save_pair(tmp_path, genome, model)
    loaded = timm.create_model("effcnn_genome", genome=str(genome_path), pretrained=True,
                               pretrained_cfg_overlay=dict(file=str(weights_path)))
    images = torch.randn(2, 3, 32, 32)
    assert type(loaded) is type(model) and torch.equal(logits(loaded, images), logits(model, images))


def test_timm_weights_of_another_genome_fail_in_one_line_naming_the_first_mismatch(tmp_path):
    _, weights_path = save_pair(tmp_path, tiny_genome("standard"), build(tiny_genome("standard")))
    with pytest.raises(ValueError, match=r"^\S+weights.safetensors: weights of another genome: "
                                         r"blocks.0.se.conv_reduce.weight is missing$"):
        timm.create_model("effcnn_genome", genome=tiny_genome("se"), pretrained=True,
                          pretrained_cfg_overlay=dict(file=str(weights_path)))


def test_timm_loads_an_export_folder_with_its_weights_and_input_size(tmp_path):
    model = trained_like(build(tiny_genome("condconv")))
    genome_path, weights_path = save_pair(tmp_path, tiny_genome("condconv"), model, recipe={"crop": 24})
    folder = export(from_files(genome_path, weights_path), tmp_path / "export").folder
    loaded = timm.create_model(f"local-dir:{folder}", pretrained=True)
    images = torch.randn(3, 3, 24, 24)
    assert torch.equal(logits(loaded, images), logits(model, images))
    assert tuple(timm.data.resolve_data_config({}, model=loaded)["input_size"]) == (3, 24, 24)


# ----------------------------------------------------------------------------------------------------- export


def test_export_round_trip_reloaded_weights_give_the_same_logits(tmp_path):
    model = trained_like(build(tiny_genome("se")))
    exported = export(from_files(*save_pair(tmp_path, tiny_genome("se"), model)), tmp_path / "out")
    assert sorted(path.name for path in exported.files) == ["config.json", "genome.json", "model.safetensors",
                                                             "model_card.md"]
    again = from_files(exported.folder / "genome.json", exported.folder / "model.safetensors")
    reloaded = build(again.genome)
    reloaded.load_state_dict(again.weights)
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(logits(reloaded, images), logits(model, images))


def test_model_card_states_blocks_cost_accuracy_with_seed_data_fidelity_and_the_full_recipe(tmp_path):
    genome = tiny_genome("condconv")
    pair = save_pair(tmp_path, genome, build(genome), epoch=2, top1=41.5, seed=3, fidelity="proxy",
                     data="synthetic", recipe=dataclasses.asdict(SMOKE.replace(name="proxy")))
    card = (export(from_files(*pair), tmp_path / "out").folder / "model_card.md").read_text()
    for stage in genome.stages:
        assert stage.encode() in card
    assert f"{space.cost_of(genome).total_macs:,}" in card and f"{space.cost_of(genome).total_params:,}" in card
    assert "41.50% top-1" in card and "after epoch 3" in card
    assert "1 seed (3)" in card and "`synthetic`" in card and "fidelity `proxy`" in card
    assert "Latency: not measured" in card
    assert "python -m evaluators.train genome.json --fidelity full --data imagefolder:PATH --save DIR" in card


# ------------------------------------------------------------------------------------------------------- ONNX


def condconv_genome() -> Genome:
    """Table 1's CondConv variant, one block per stage, with a 5x5 stage and SE at a block end: every
    per-example kernel shape (1x1, depthwise 3x3 and 5x5, stride 1 and 2) in a quick export."""
    stages = [dataclasses.replace(stage, repeats=1) for stage in baseline("condconv").stages]
    stages[3] = dataclasses.replace(stages[3], kernel=5, se_position="end")
    return baseline("condconv").replace(stages=tuple(stages))


@pytest.mark.parametrize("genome", [baseline("standard"), baseline("se"), condconv_genome()],
                         ids=["standard", "se", "condconv"])
def test_onnx_matches_pytorch_logits_with_a_dynamic_batch(genome, tmp_path):
    model = trained_like(build(genome))
    pair = save_pair(tmp_path, genome, model, recipe={"crop": 32})
    exported = export(from_files(*pair), tmp_path / "out", onnx=True)
    assert exported.onnx["opset"] == OPSET and "opset 17" in (exported.folder / "model_card.md").read_text()
    session = onnxruntime.InferenceSession(str(exported.folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 3, 32, 32]
    generator = torch.Generator().manual_seed(5)
    for batch in (1, 3):
        images = torch.randn(batch, 3, 32, 32, generator=generator)
        expected = logits(model, images).numpy()
        (found,) = session.run(["logits"], {"images": images.numpy()})
        assert found.shape == (batch, genome.num_classes)
        assert np.abs(found - expected).max() <= 1e-4
        assert np.abs(expected).max() > 0.1, "the logits are not trivially zero"


def test_exportable_condconv_keeps_the_state_dict_and_the_outputs():
    model = trained_like(build(tiny_genome("condconv")))
    graph = space.exportable(model)
    assert list(graph.state_dict()) == list(model.state_dict())
    images = torch.randn(3, 3, 32, 32)
    assert torch.allclose(logits(graph, images), logits(model, images), atol=1e-5)


# ------------------------------------------------------------------------------------------------- bad input


def cli_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        export_cli(list(map(str, argv)))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_missing_genome_file_is_a_one_line_error(tmp_path, capsys):
    _, weights = save_pair(tmp_path, tiny_genome(), build(tiny_genome()))
    assert cli_error(capsys, "--genome", tmp_path / "nope.json", "--weights", weights) == \
        f"error: {tmp_path / 'nope.json'}: cannot read genome file (No such file or directory)"


def test_missing_weights_file_is_a_one_line_error(tmp_path, capsys):
    genome_path, _ = save_pair(tmp_path, tiny_genome(), build(tiny_genome()))
    assert cli_error(capsys, "--genome", genome_path, "--weights", tmp_path / "nope.safetensors") == \
        f"error: {tmp_path / 'nope.safetensors'}: no such weights file"


def test_weights_that_are_a_folder_are_a_one_line_error(tmp_path, capsys):
    genome_path, _ = save_pair(tmp_path, tiny_genome(), build(tiny_genome()))
    assert cli_error(capsys, "--genome", genome_path, "--weights", tmp_path) == \
        f"error: {tmp_path}: is a folder, not a weights file (a .safetensors file)"


def test_weights_of_another_genome_name_the_first_differing_field(tmp_path, capsys):
    _, weights = save_pair(tmp_path, tiny_genome(), build(tiny_genome()))
    other = tiny_genome().replace_stages(stride=1)
    other_path = other.save(tmp_path / "other.json")
    assert cli_error(capsys, "--genome", other_path, "--weights", weights) == \
        f"error: {weights}: weights of another genome ({tiny_genome().id}, not {other.id}): " \
        "stages[1].stride: 2 in the file, 1 given"


def test_weights_without_a_genome_inside_are_checked_by_tensor_names_and_shapes(tmp_path, capsys):
    genome_path = tiny_genome("se").save(tmp_path / "genome.json")
    save_file({key: value.contiguous() for key, value in build(tiny_genome("standard")).state_dict().items()},
              tmp_path / "plain.safetensors")
    assert cli_error(capsys, "--genome", genome_path, "--weights", tmp_path / "plain.safetensors") == \
        f"error: {tmp_path / 'plain.safetensors'}: weights of another genome: blocks.0.se.conv_reduce.weight is missing"


def test_an_out_folder_that_is_a_file_is_refused_before_exporting(tmp_path, capsys):
    genome_path, weights = save_pair(tmp_path, tiny_genome(), build(tiny_genome()))
    (tmp_path / "taken").write_text("mine")
    assert cli_error(capsys, "--genome", genome_path, "--weights", weights, "--out", tmp_path / "taken") == \
        f"error: --out: must be a folder, and {tmp_path / 'taken'} is a file"
    assert (tmp_path / "taken").read_text() == "mine"


def test_export_error_is_a_value_error_for_library_callers(tmp_path):
    with pytest.raises(ExportError):
        from_files(tmp_path / "nope.json", tmp_path / "nope.safetensors")
    assert issubclass(ExportError, ValueError)


# ------------------------------------------------------------------------------------------- a search's weights


def study_folder(tmp_path, trials: list[dict]) -> tuple[Path, optuna.Study]:
    """A study folder as search.run leaves it (storage, study.json), with the trials given as
    ``dict(state=, values=, seed=, genome=, baseline=, reason=)``."""
    folder = tmp_path / "study"
    folder.mkdir()
    storage = default_storage(folder)
    study = optuna.create_study(study_name="s", storage=storage, directions=DIRECTIONS)
    write_study_pointer(folder, "s", storage)
    for spec in trials:
        genome = spec.get("genome", tiny_genome())
        attrs = {"genome": genome.to_dict(), "genome_id": genome.id, "train_seed": spec["seed"],
                 "is_baseline": spec.get("baseline", False), "fidelity": "smoke", "data": TINY_DATA}
        if spec.get("values"):
            attrs.update(status="ok", accuracy=spec["values"][0])
        if spec.get("reason"):
            attrs.update(status="failed", reason=spec["reason"])
        study.add_trial(optuna.trial.create_trial(state=spec.get("state", TrialState.COMPLETE),
                                                  values=spec.get("values"), user_attrs=attrs))
    return folder, study


def write_trial_weights(folder: Path, study: optuna.Study, number: int) -> Path:
    trial = study.trials[number]
    genome = Genome.from_dict(trial.user_attrs["genome"])
    return save_weights(trial_weights(folder, trial), trained_like(build(genome)), genome, epoch=1, top1=33.0,
                        seed=trial.user_attrs["train_seed"], recipe=dataclasses.asdict(SMOKE))


def test_pruning_keeps_the_weights_of_the_front_and_the_baselines(tmp_path):
    folder, study = study_folder(tmp_path, [
        dict(seed=0, values=[20.0, 100], baseline=True),  # a dominated baseline: kept as the yardstick
        dict(seed=1, values=[30.0, 50]),                   # front
        dict(seed=2, values=[25.0, 80]),                   # dominated by trial 1
        dict(seed=3, values=[35.0, 90]),                   # front
        dict(seed=4, state=TrialState.FAIL, reason="non-finite loss"),
        dict(seed=5, state=TrialState.RUNNING),            # another process is still training it
    ])
    paths = [write_trial_weights(folder, study, n) for n in range(6)]
    removed = prune_weights(study, folder, "front")
    assert sorted(removed) == sorted([paths[2], paths[4]])
    assert [path.exists() for path in paths] == [True, True, False, True, False, True]


def test_keep_weights_all_prunes_nothing(tmp_path):
    folder, study = study_folder(tmp_path, [dict(seed=0, values=[30.0, 50]), dict(seed=1, values=[20.0, 80])])
    paths = [write_trial_weights(folder, study, n) for n in range(2)]
    assert prune_weights(study, folder, "all") == [] and all(path.exists() for path in paths)


def test_export_of_a_study_trial_carries_its_weights_seed_and_recipe(tmp_path):
    folder, study = study_folder(tmp_path, [dict(seed=7, values=[33.0, 50])])
    kept = load_weights(write_trial_weights(folder, study, 0))[0]
    exported = export(from_study(folder, 0), tmp_path / "out")
    card = (exported.folder / "model_card.md").read_text()
    assert "trial 0 of study 's'" in card and "1 seed (7)" in card and "33.00% top-1" in card
    assert f"crop {SMOKE.crop}" in card
    written = from_files(exported.folder / "genome.json", exported.folder / "model.safetensors").weights
    assert sorted(written) == sorted(kept) and all(torch.equal(written[key], kept[key]) for key in kept)


@pytest.mark.parametrize("spec, message", [
    (dict(seed=0, state=TrialState.PRUNED), "trial 0 of study 's' was pruned: the scheduler stopped it before its "
                                            "training ended, so it has no finished weights"),
    (dict(seed=0, state=TrialState.FAIL, reason="non-finite loss"),
     "trial 0 of study 's' failed (non-finite loss): it has no weights"),
    (dict(seed=0, values=[30.0, 50]), "trial 0 of study 's' has no weights: "),
], ids=["pruned", "failed", "without-weights"])
def test_study_trial_without_finished_weights_is_a_one_line_error(tmp_path, capsys, spec, message):
    folder, _ = study_folder(tmp_path, [spec])
    assert cli_error(capsys, folder, "--trial", 0).startswith(f"error: {message}")


def test_missing_study_and_missing_trial_are_one_line_errors(tmp_path, capsys):
    assert cli_error(capsys, tmp_path / "nope", "--trial", 0) == \
        f"error: results folder {tmp_path / 'nope'} does not exist (or pass --storage and --study-name)"
    folder, _ = study_folder(tmp_path, [dict(seed=0, values=[30.0, 50])])
    assert cli_error(capsys, folder, "--trial", 5) == "error: study 's' has no trial 5 (trials 0..0)"


@pytest.mark.usefixtures("ray_cluster", "shared_chromium")
def test_search_keeps_front_and_baseline_weights_across_resumed_runs_and_exports_a_trial(tmp_path):
    def run(budget):
        assert search_run([*SEARCH_FAST, "--budget", str(budget), "--baseline-seeds", "1", "--results-dir",
                           str(tmp_path), "--study-name", "s"]) == 0
        study = load_existing_study(tmp_path / "s")
        kept = {trial_weights(tmp_path / "s", t) for t in study.trials if t.number in kept_trials(study, "front")}
        assert set((tmp_path / "s" / "weights").glob("*.safetensors")) == kept
        baseline_trial = next(t for t in study.trials if t.user_attrs.get("is_baseline"))
        assert trial_weights(tmp_path / "s", baseline_trial) in kept
        return study, kept

    run(2)
    study, kept = run(4)  # a resumed study: whatever is off the front now has no weights, whenever it was trained
    trial = study.trials[max(kept_trials(study, "front"))]
    exported = export(from_study(tmp_path / "s", trial.number), tmp_path / "export")
    facts = from_files(exported.folder / "genome.json", exported.folder / "model.safetensors").facts
    assert facts["top1"] == trial.user_attrs["accuracy"] and facts["seed"] == trial.user_attrs["train_seed"]
