"""Fidelity presets: the paper's recipe exactly, cheaper presets, and validated overrides."""

import dataclasses
import math

import pytest

from evaluators.data import EVAL_CROP_FRACTION, SYNTHETIC_DEFAULTS
from evaluators.presets import ADDED_AS_BEFORE, PRESETS, get_fidelity, recorded_fidelity, run_identity

DEFAULT_TRAIN_IMAGES = SYNTHETIC_DEFAULTS["classes"] * SYNTHETIC_DEFAULTS["train"]
EARLIER_PROXY_STEPS = 312
"""The proxy before issue 14: 2 epochs over half of the 5,000 default images at batch 16."""


def test_full_preset_is_table_2():
    full = PRESETS["full"]
    assert (full.epochs, full.warmup_epochs, full.batch_size, full.crop, full.data_fraction) == (55, 5, 256, 56, 1.0)
    assert (full.lr, full.momentum, full.nesterov, full.weight_decay) == (0.2, 0.9, True, 5e-5)
    assert full.checkpoint and not full.lr_per_step


def test_full_schedule_warms_up_from_0_002_to_0_2_over_epochs_0_to_4():
    full = PRESETS["full"]
    assert [round(full.learning_rate(e), 6) for e in range(6)] == [0.002, 0.0515, 0.101, 0.1505, 0.2, 0.2]


def test_full_schedule_decays_by_half_cosine_to_0_0002_at_epoch_54():
    full = PRESETS["full"]
    for epoch in (5, 17, 30, 54):
        expected = 0.0002 + 0.5 * (0.2 - 0.0002) * (1 + math.cos(math.pi * (epoch - 5) / 49))
        assert full.learning_rate(epoch) == pytest.approx(expected, rel=1e-12)
    assert full.learning_rate(54) == pytest.approx(0.0002)


def test_cheaper_presets_cost_less_than_full():
    full = PRESETS["full"]
    for name in ("proxy", "smoke"):
        cheap = PRESETS[name]
        work = cheap.epochs * cheap.data_fraction * cheap.crop ** 2
        assert work < full.epochs * full.data_fraction * full.crop ** 2 / 50


def test_proxy56_is_the_proxy_s_recipe_and_steps_at_the_reference_s_resolution_and_precision():
    proxy, proxy56, reference = PRESETS["proxy"], PRESETS["proxy56"], PRESETS["reference"]
    assert (proxy56.crop, proxy56.bf16) == (reference.crop, reference.bf16)
    assert proxy56.replace(name="proxy", crop=proxy.crop, bf16=proxy.bf16) == proxy


def test_proxy_steps_its_schedule_per_batch_from_warm_up_to_near_zero():
    proxy = PRESETS["proxy"]
    assert proxy.lr_per_step
    assert proxy.learning_rate(proxy.warmup_epochs / 2) < proxy.learning_rate(proxy.warmup_epochs) == proxy.lr
    assert proxy.learning_rate(proxy.epochs) == pytest.approx(proxy.lr * proxy.lr_final_factor)


def test_per_step_schedule_spends_no_epoch_at_the_final_learning_rate():
    proxy = PRESETS["proxy"]
    assert proxy.learning_rate(proxy.epochs - 0.5) > 10 * proxy.lr * proxy.lr_final_factor


def test_override_changes_only_that_setting():
    changed = get_fidelity("proxy", epochs=7)
    assert changed.epochs == 7 and changed.replace(epochs=PRESETS["proxy"].epochs) == PRESETS["proxy"]


@pytest.mark.parametrize("overrides, message", [
    (dict(epochs=0), "epochs: must be an integer >= 1"),
    (dict(data_fraction=1.5), "data_fraction: must be in (0, 1]"),
    (dict(lr=-1.0), "lr: must be a number > 0 and <= 3.4e+38, got -1.0"),
    (dict(lr=1e300), "lr: must be a number > 0 and <= 3.4e+38, got 1e+300"),
    (dict(weight_decay=1e300), "weight_decay: must be in [0, 1], got 1e+300"),
    (dict(crop=1), "crop: must be an integer >= 8, got 1"),
    (dict(warmup_epochs=9.0), "warmup_epochs: must be in [0, epochs=2)"),
    (dict(label_smoothing=1.0), "label_smoothing: must be in [0, 1)"),
    (dict(bf16="maybe"), "bf16: must be one of auto, on, off"),
    (dict(routing_lr_factor=2.0), "routing_lr_factor: must be in [0, 1]"),
    (dict(head_lr_factor=0.0), "head_lr_factor: must be in (0, 1]"),
    (dict(bn_recalibration_images=-1), "bn_recalibration_images: must be an integer >= 0, got -1"),
    (dict(bn_recalibration_images=0.5), "bn_recalibration_images: must be an integer >= 0, got 0.5"),
])
def test_bad_override_names_the_setting(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("+", r"\+")):
        get_fidelity("proxy", **overrides)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match="fidelity: must be one of full, proxy, smoke, reference, proxy56"):
        get_fidelity("medium")


def test_describe_prints_every_setting():
    text = PRESETS["full"].describe()
    assert "epochs = 55" in text and "weight_decay = 5e-05" in text


def test_proxy_trains_four_times_the_earlier_proxys_steps_on_the_default_data():
    assert PRESETS["proxy"].total_steps(DEFAULT_TRAIN_IMAGES) >= 4 * EARLIER_PROXY_STEPS


def test_total_steps_follow_the_trainers_rule():
    proxy = PRESETS["proxy"].replace(batch_size=16, data_fraction=0.5, epochs=2)
    assert proxy.steps_per_epoch(5000) == 156 and proxy.total_steps(5000) == EARLIER_PROXY_STEPS
    assert proxy.steps_per_epoch(10) == 1  # a subset smaller than a batch still takes one (short) step


def test_reference_is_the_papers_resolution_with_four_times_the_proxys_steps():
    proxy, reference = PRESETS["proxy"], PRESETS["reference"]
    assert reference.crop == 56 and round(reference.crop / EVAL_CROP_FRACTION) == 64  # test: resize 64, crop 56
    assert reference.total_steps(DEFAULT_TRAIN_IMAGES) >= 4 * proxy.total_steps(DEFAULT_TRAIN_IMAGES)
    assert reference.warmup_epochs / reference.epochs == proxy.warmup_epochs / proxy.epochs


def test_reference_differs_from_the_proxy_only_in_resolution_length_and_cpu_precision():
    proxy, reference = PRESETS["proxy"], PRESETS["reference"]
    same = dict(name=proxy.name, crop=proxy.crop, epochs=proxy.epochs, warmup_epochs=proxy.warmup_epochs,
                bf16=proxy.bf16)
    assert reference.replace(**same) == proxy


def test_every_preset_starts_residual_blocks_as_the_identity():
    assert all(fidelity.zero_init_last for fidelity in PRESETS.values())


def test_a_fidelity_recorded_before_the_initialisation_settings_existed_trained_as_timm_initialises():
    record = dataclasses.asdict(PRESETS["proxy"])
    for name in ("zero_init_last", "zero_init_routing", "routing_lr_factor"):
        del record[name]
    assert recorded_fidelity(record) == PRESETS["proxy"].replace(zero_init_last=False, zero_init_routing=False,
                                                                 routing_lr_factor=1.0)


@pytest.mark.parametrize("setting, changed", [("head_lr_factor", 0.1), ("bn_recalibration_images", 1000)])
def test_a_setting_added_since_at_its_former_behaviour_leaves_a_runs_key_as_it_was(setting, changed):
    before = {key: value for key, value in dataclasses.asdict(PRESETS["proxy"]).items() if key not in ADDED_AS_BEFORE}
    assert run_identity(PRESETS["proxy"]) == before
    assert run_identity(PRESETS["proxy"].replace(**{setting: changed}))[setting] == changed
