"""The trainer: one loop for every fidelity, seeded, failure-safe, resumable."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from evaluators.data import load_data
from evaluators.presets import get_fidelity
from evaluators.trainer import CPU_EVAL_BATCH, Units, evaluate, precision_for, train, training_setup
from space import Genome, Stage, baseline, cost_of

TINY_DATA = "synthetic:classes=3,train=24,val=8"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_data(TINY_DATA, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def genome():
    return Genome(stem_channels=8, stages=(Stage(8, 1, 1), Stage(16, 2, 2), Stage(24, 1, 2, block="se")),
                  head_channels=32, num_classes=3, resolution=32)


SMOKE = get_fidelity("smoke", batch_size=8, data_fraction=1.0, crop=16, epochs=2, bf16="off")


def test_result_record_holds_accuracy_cost_and_time(data, genome):
    result = train(genome, data, SMOKE, threads=1)
    assert result.ok and result.epochs == 2 and len(result.history) == 2
    assert 0 <= result.accuracy <= 100 and result.top5 == 100.0  # 3 classes: top-5 always hits
    assert (result.macs, result.params) == (cost_of(genome).total_macs, cost_of(genome).total_params)
    assert result.seconds > 0 and result.genome_id == genome.id
    assert set(result.history[0]) >= {"train_loss", "top1", "top5", "lr", "seconds", "images_per_second"}


def test_classifier_is_sized_to_the_data_classes(data, genome):
    result = train(genome.replace(num_classes=100), data, SMOKE.replace(epochs=1), threads=1)
    assert result.genome_id == genome.id


def test_same_seed_repeats_the_run(data, genome):
    first, second = (train(genome, data, SMOKE, seed=3, threads=1) for _ in range(2))
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert first.accuracy == second.accuracy


def test_different_seed_changes_the_run(data, genome):
    first, second = train(genome, data, SMOKE, seed=1, threads=1), train(genome, data, SMOKE, seed=2, threads=1)
    assert first.history[0]["train_loss"] != second.history[0]["train_loss"]


def test_diverging_run_ends_as_failed_with_reason(data, genome):
    result = train(genome, data, SMOKE.replace(lr=1e30, momentum=0.0), threads=1)
    assert result.status == "failed"
    assert "non-finite loss" in result.reason


def test_a_batch_larger_than_memory_fails_before_the_first_step_naming_the_field(data, genome):
    result = train(genome, data, SMOKE.replace(crop=1_000_000), threads=1)
    assert result.status == "failed" and result.steps == 0
    assert result.reason.startswith("out of memory: batch_size 8 images at 1000000 px")
    assert result.reason.endswith("lower batch_size or crop")


def test_an_evaluation_batch_larger_than_memory_fails_naming_eval_batch_size(data, genome, monkeypatch):
    train_batch = 24 * 3 * 100 * 100 * 4  # fits; evaluation resizes to 100 / 0.875 = 114 px first, which does not
    memory = {"SC_PAGE_SIZE": 1, "SC_PHYS_PAGES": int(train_batch * 1.1)}
    monkeypatch.setattr("evaluators.trainer.os.sysconf", memory.__getitem__)
    result = train(genome, data, SMOKE.replace(crop=100), threads=1)
    assert result.status == "failed" and result.reason.startswith("out of memory: eval_batch_size 24 images at 114 px")


CPU_ALLOCATOR_ERROR = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 128000000000000 bytes. Error code 12 (Cannot allocate memory)\nframe #0: c10::ThrowEnforceNotMet")


@pytest.mark.parametrize("error", [CPU_ALLOCATOR_ERROR, torch.OutOfMemoryError("CUDA out of memory. Tried to "
                                                                               "allocate 2.00 GiB.")])
def test_running_out_of_memory_mid_training_fails_with_a_one_line_reason(data, genome, monkeypatch, error):
    monkeypatch.setattr("evaluators.trainer.training_setup", lambda *args: (_ for _ in ()).throw(error))
    result = train(genome, data, SMOKE, threads=1)
    assert result.status == "failed" and result.out_of_memory and "\n" not in result.reason
    assert result.reason.startswith("out of memory (") and "batch_size 8, eval_batch_size" in result.reason
    assert "frame #0" not in result.reason and "tried to allocate" in result.reason.lower()


def test_a_diverging_run_is_not_out_of_memory(data, genome):
    assert not train(genome, data, SMOKE.replace(lr=1e30, momentum=0.0), threads=1).out_of_memory


def test_an_error_other_than_memory_still_raises(data, genome, monkeypatch):
    monkeypatch.setattr("evaluators.trainer.training_setup", lambda *args: (_ for _ in ()).throw(RuntimeError("bug")))
    with pytest.raises(RuntimeError, match="bug"):
        train(genome, data, SMOKE, threads=1)


def test_bf16_autocast_runs_on_cpu(data, genome):
    result = train(genome, data, SMOKE.replace(bf16="on", epochs=1), threads=1)
    assert result.ok and result.precision == "bf16"


def test_bf16_off_trains_in_fp32_on_cpu(data, genome):
    result = train(genome, data, SMOKE.replace(bf16="off", epochs=1), threads=1)
    assert result.ok and result.precision == "fp32"


def test_proxy_trains_in_fp32_on_cpu_and_with_fp16_amp_on_gpu():
    proxy = get_fidelity("proxy")
    assert precision_for(torch.device("cpu"), proxy) is None
    assert precision_for(torch.device("cuda"), proxy) == torch.float16


def test_full_recipe_uses_bf16_on_cpus_that_have_it():
    expected = torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    assert precision_for(torch.device("cpu"), get_fidelity("full")) == expected


@pytest.mark.parametrize("has_bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_full_recipe_uses_bf16_amp_on_gpus_that_have_it(monkeypatch, has_bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: has_bf16)
    assert precision_for(torch.device("cuda"), get_fidelity("full")) == expected


def test_evaluation_builds_no_autograd_graph(data):
    """A graph kept across a 500-image evaluation batch held 11 GB for one CondConv genome."""
    class Probe(torch.nn.Module):
        def forward(self, images):
            assert not torch.is_grad_enabled(), "evaluate ran with autograd on"
            return torch.zeros(images.shape[0], data.num_classes)

    evaluate(Probe(), data, SMOKE, torch.device("cpu"))


def test_a_cpu_evaluates_at_most_cpu_eval_batch_images_at_once(tmp_path):
    many = load_data("synthetic:classes=3,train=2,val=50", cache_dir=tmp_path)
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, images):
            seen.append(images.shape[0])
            return torch.zeros(images.shape[0], many.num_classes)

    evaluate(Probe(), many, SMOKE.replace(eval_batch_size=500), torch.device("cpu"))
    assert max(seen) == CPU_EVAL_BATCH < 500 and sum(seen) == 150


def test_the_evaluation_batch_size_changes_no_prediction(data, genome):
    torch.manual_seed(0)
    model, _ = training_setup(genome, SMOKE, torch.device("cpu"))
    model.train()
    model(torch.randn(16, 3, 16, 16))  # running statistics away from their initial values
    whole = evaluate(model, data, SMOKE.replace(eval_batch_size=500), torch.device("cpu"))
    batched = evaluate(model, data, SMOKE.replace(eval_batch_size=5), torch.device("cpu"))
    assert (batched.top1, batched.top5) == (whole.top1, whole.top5)
    assert batched.loss == pytest.approx(whole.loss, rel=1e-6)


def test_evaluation_loss_is_the_mean_cross_entropy(data):
    """Logits of zeros give every class 1 / C, so each image's cross-entropy is ln C."""
    class Uniform(torch.nn.Module):
        def forward(self, images):
            return torch.zeros(images.shape[0], data.num_classes)

    assert evaluate(Uniform(), data, SMOKE, torch.device("cpu")).loss == pytest.approx(math.log(data.num_classes))


def test_a_confident_right_answer_scores_a_lower_loss_at_the_same_accuracy(data):
    labels = data.val_labels

    class Sure(torch.nn.Module):
        def __init__(self, margin: float):
            super().__init__()
            self.margin = margin

        def forward(self, images):
            return self.margin * F.one_hot(labels[:images.shape[0]], data.num_classes).float()

    batch = SMOKE.replace(eval_batch_size=len(labels))
    barely, surely = (evaluate(Sure(margin), data, batch, torch.device("cpu"), batch_size=len(labels))
                      for margin in (0.1, 5.0))
    assert barely.top1 == surely.top1 == 100.0
    assert surely.loss < barely.loss


def test_amp_off_means_fp32_on_gpu_whatever_bf16_says():
    assert precision_for(torch.device("cuda"), get_fidelity("full", amp=False, bf16="on")) is None


def test_checkpointing_run_resumes_where_it_stopped(data, genome, tmp_path):
    fidelity = SMOKE.replace(epochs=3, checkpoint=True)
    uninterrupted = train(genome, data, fidelity, checkpoint_dir=tmp_path / "a", threads=1)

    def stop_after_first_epoch(record):
        if record["epoch"] == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(genome, data, fidelity, checkpoint_dir=tmp_path / "b", threads=1, progress=stop_after_first_epoch)
    seen = []
    resumed = train(genome, data, fidelity, checkpoint_dir=tmp_path / "b", threads=1,
                    progress=lambda r: seen.append(r["epoch"]))
    assert seen == [1, 2]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in uninterrupted.history]
    assert resumed.accuracy == uninterrupted.accuracy


def test_a_checkpoint_save_interrupted_before_its_rename_leaves_the_last_one_to_resume_from(data, genome, tmp_path,
                                                                                              monkeypatch):
    fidelity = SMOKE.replace(epochs=3, checkpoint=True)
    uninterrupted = train(genome, data, fidelity, checkpoint_dir=tmp_path / "a", threads=1)
    replace, saves = os.replace, []

    def interrupted_at_the_second_save(source, target):
        saves.append(target)
        if len(saves) == 2:
            raise KeyboardInterrupt
        replace(source, target)
    monkeypatch.setattr(os, "replace", interrupted_at_the_second_save)
    with pytest.raises(KeyboardInterrupt):
        train(genome, data, fidelity, checkpoint_dir=tmp_path / "b", threads=1)
    monkeypatch.setattr(os, "replace", replace)
    assert not list((tmp_path / "b").rglob(".*.tmp"))
    seen = []
    resumed = train(genome, data, fidelity, checkpoint_dir=tmp_path / "b", threads=1,
                    progress=lambda r: seen.append(r["epoch"]))
    assert seen == [1, 2] and resumed.accuracy == uninterrupted.accuracy


def _cli(*args, cache):
    env = {"EFFCNN_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "evaluators.train", *args], capture_output=True, text=True,
                          env=env)


def test_cli_json_last_line_is_the_result_record(tmp_path, genome):
    path = genome.save(tmp_path / "g.json")
    out = _cli(str(path), "--data", TINY_DATA, "--fidelity", "smoke", "--batch-size", "8", "--crop", "16",
               "--data-fraction", "1", "--json", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"accuracy", "top5", "macs", "params", "seconds", "epochs"} <= set(record)
    assert "epoch 1/1" in out.stderr


def test_cli_names_the_genome_by_the_id_its_result_carries(tmp_path, genome):
    path = genome.replace(num_classes=100).save(tmp_path / "g.json")
    out = _cli(str(path), "--data", TINY_DATA, "--fidelity", "smoke", "--batch-size", "8", "--crop", "16",
               "--data-fraction", "1", "--json", cache=tmp_path)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["genome_id"] == genome.id
    assert f"training {genome.id} on" in out.stderr


def test_cli_show_fidelity_prints_overridden_preset(tmp_path):
    out = _cli("--fidelity", "full", "--epochs", "8", "--show-fidelity", "--data", TINY_DATA, cache=tmp_path)
    assert "epochs = 8" in out.stdout and "batch_size = 256" in out.stdout


def test_cli_show_fidelity_refuses_what_the_run_would_refuse(tmp_path):
    out = _cli("--show-fidelity", "--data", "synthetic:foo=1", cache=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: bad --data 'synthetic:foo=1'")


def test_cli_bad_override_is_a_one_line_error(tmp_path):
    out = _cli("--fidelity", "proxy", "--data-fraction", "2", cache=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: --data-fraction: must be in (0, 1], got 2.0"


def test_cli_bad_data_spec_is_a_one_line_error(tmp_path):
    out = _cli("--data", "mnist", cache=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: bad --data 'mnist'")


def test_cli_graphs_on_a_cpu_is_a_one_line_error(tmp_path):
    out = _cli("--device", "cpu", "--graphs", cache=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: --graphs: CUDA graphs need a CUDA device, not --device cpu"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_uses_fp16_amp(data, genome):
    result = train(genome, data, SMOKE, device="cuda")
    assert result.ok and result.precision == "fp16" and result.device.startswith("cuda")


def _unit_records(genome, data, fidelity, units, **kwargs):
    records = []
    result = train(genome, data, fidelity, threads=1, progress=records.append, units=units, **kwargs)
    return result, records


def test_units_report_after_every_unit_and_evaluate_only_where_asked(data, genome):
    result, records = _unit_records(genome, data, SMOKE, Units(4, evaluate={2}))
    total = result.steps
    assert [r["unit"] for r in records] == [1, 2, 3, 4] and result.units == 4
    assert [r["steps"] for r in records] == [u * total // 4 for u in (1, 2, 3, 4)]
    assert [r["top1"] is not None for r in records] == [False, True, False, True]  # the last unit always
    assert [h["unit"] for h in result.history] == [2, 4]
    assert result.accuracy == records[-1]["top1"] and result.epochs == SMOKE.epochs


def test_units_do_not_change_the_training(data, genome):
    whole = train(genome, data, SMOKE, seed=4, threads=1)
    cut, _ = _unit_records(genome, data, SMOKE, Units(5, evaluate={1, 2, 3}), seed=4)
    assert (cut.accuracy, cut.top5, cut.steps) == (whole.accuracy, whole.top5, whole.steps)


def test_the_learning_rate_schedule_spans_all_units(data, genome):
    # A trial stopped after unit u trained exactly the first u units of the whole schedule, so accuracies
    # after u units are comparable between trials.
    result, records = _unit_records(genome, data, SMOKE, Units(3))
    per_epoch = result.steps // SMOKE.epochs
    for record in records:
        last_step = record["steps"] - 1
        assert record["lr"] == SMOKE.learning_rate(last_step // per_epoch + last_step % per_epoch / per_epoch)
    assert records[0]["lr"] > records[-1]["lr"]


def test_more_units_than_optimizer_steps_is_a_one_line_error(data, genome):
    with pytest.raises(ValueError, match=r"units: 1000 units need at least as many optimizer steps, but fidelity "
                                         r"smoke trains \d+"):
        train(genome, data, SMOKE, threads=1, units=Units(1000))


def test_evaluating_after_a_unit_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match=r"units: evaluation after unit\(s\) \[0, 5\] outside 1..4"):
        Units(4, evaluate={0, 2, 5})


def test_a_unit_run_resumes_from_its_checkpoint_and_reports_the_units_after_it(data, genome, tmp_path):
    fidelity = SMOKE.replace(epochs=3, checkpoint=True)
    units = Units(6, evaluate={2, 4})
    uninterrupted, _ = _unit_records(genome, data, fidelity, units, checkpoint_dir=tmp_path / "a")

    def stop_in_the_second_epoch(record):
        if record["steps"] > uninterrupted.steps // 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(genome, data, fidelity, threads=1, checkpoint_dir=tmp_path / "b", units=units,
              progress=stop_in_the_second_epoch)
    resumed, records = _unit_records(genome, data, fidelity, units, checkpoint_dir=tmp_path / "b")
    # Six units over three epochs: units 1-2 end in the first epoch, the checkpoint; 3-6 are trained again.
    assert [r["unit"] for r in records] == [3, 4, 5, 6]
    assert (resumed.accuracy, resumed.steps) == (uninterrupted.accuracy, uninterrupted.steps)


def test_the_cpu_optimizer_trains_exactly_as_plain_sgd(monkeypatch):
    # torch 2.14's fused CPU SGD does not (its updates drift from the plain loop's; the baseline lost ~4 points).
    data = load_data("synthetic:classes=3,train=64,val=8")
    fidelity = get_fidelity("smoke").replace(data_fraction=1.0, batch_size=8, epochs=3)
    ours = train(baseline().replace(num_classes=3), data, fidelity, seed=0, threads=1)
    plain_sgd = torch.optim.SGD

    def plain(params, **settings):
        settings.pop("foreach", None), settings.pop("fused", None)
        return plain_sgd(params, **settings)

    monkeypatch.setattr(torch.optim, "SGD", plain)
    theirs = train(baseline().replace(num_classes=3), data, fidelity, seed=0, threads=1)
    assert [h["train_loss"] for h in ours.history] == [h["train_loss"] for h in theirs.history]


@pytest.mark.parametrize("zero", [True, False])
def test_a_training_run_starts_residual_blocks_as_the_identity_as_its_fidelity_says(genome, zero):
    model, _ = training_setup(genome, SMOKE.replace(zero_init_last=zero), torch.device("cpu"))
    scales = [block.bn3.weight for block in model.blocks if block.has_skip]
    assert scales and all(bool(torch.all(scale == 0)) == zero for scale in scales)


def test_condconv_routing_learns_at_its_fraction_of_the_learning_rate_and_other_networks_keep_one_group(genome):
    condconv = genome.replace(stages=(*genome.stages[:2], Stage(24, 1, 2, block="condconv", experts=2)))
    fidelity = SMOKE.replace(routing_lr_factor=0.01)
    _, optimizer = training_setup(condconv, fidelity, torch.device("cpu"))
    assert [group["lr_factor"] for group in optimizer.param_groups] == [1.0, 0.01]
    assert len(optimizer.param_groups[1]["params"]) == 2  # the one CondConv block's routing weight and bias
    _, optimizer = training_setup(genome, fidelity, torch.device("cpu"))
    assert [group["lr_factor"] for group in optimizer.param_groups] == [1.0]


def test_the_classifier_learns_at_its_own_fraction_of_the_learning_rate_when_the_fidelity_asks(genome):
    model, optimizer = training_setup(genome, SMOKE.replace(head_lr_factor=0.1), torch.device("cpu"))
    assert [group["lr_factor"] for group in optimizer.param_groups] == [1.0, 0.1]
    assert optimizer.param_groups[1]["params"] == list(model.classifier.parameters())
