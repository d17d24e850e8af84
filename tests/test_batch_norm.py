"""BatchNorm statistics recomputed before evaluation (evaluators._batch_norm; the bn_recalibration_images setting)."""

import copy

import pytest
import torch

from evaluators._batch_norm import recalibrate_batch_norm
from evaluators.data import ImageData, eval_batches, load_data
from evaluators.presets import get_fidelity
from evaluators.trainer import train
from space import Genome, Stage

CPU = torch.device("cpu")
FIDELITY = get_fidelity("smoke", crop=8, channels_last=False, bf16="off", bn_recalibration_images=6)


def tiny_data(train: int = 6) -> ImageData:
    generator = torch.Generator().manual_seed(0)
    return ImageData(name="tiny", classes=["a", "b"],
                     train_images=torch.randint(0, 256, (train, 3, 16, 16), dtype=torch.uint8, generator=generator),
                     train_labels=torch.arange(train) % 2,
                     val_images=torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=generator),
                     val_labels=torch.arange(2) % 2)


def conv_bn(*between: torch.nn.Module) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), *between, torch.nn.BatchNorm2d(4))


def features_of_every_training_image(model: torch.nn.Sequential, data: ImageData) -> torch.Tensor:
    images, _ = next(eval_batches(data, len(data.train_labels), FIDELITY.crop, split="train"))
    with torch.no_grad():
        return model[0](images)


def test_running_statistics_become_the_average_over_centre_cropped_training_images():
    data, model = tiny_data(), conv_bn()
    expected = features_of_every_training_image(model, data)
    recalibrate_batch_norm(model, data, FIDELITY, CPU, None, batch_size=6)
    norm = model[1]
    assert torch.allclose(norm.running_mean, expected.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(norm.running_var, expected.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4)


def test_batches_of_the_recalibration_count_alike():
    data, model = tiny_data(), conv_bn()
    features = features_of_every_training_image(model, data)
    recalibrate_batch_norm(model, data, FIDELITY, CPU, None, batch_size=3)
    halves = features[:3].mean(dim=(0, 2, 3)), features[3:].mean(dim=(0, 2, 3))
    assert torch.allclose(model[1].running_mean, (halves[0] + halves[1]) / 2, atol=1e-5)


def test_dropout_stays_off_while_the_statistics_are_recomputed():
    data, model = tiny_data(), conv_bn(torch.nn.Dropout(p=0.9))
    expected = features_of_every_training_image(model, data)
    recalibrate_batch_norm(model, data, FIDELITY, CPU, None, batch_size=6)
    assert torch.allclose(model[2].running_mean, expected.mean(dim=(0, 2, 3)), atol=1e-5)


def test_the_model_is_left_in_eval_mode_with_its_momentum():
    model = conv_bn()
    model[1].momentum = 0.3
    recalibrate_batch_norm(model.train(), tiny_data(), FIDELITY, CPU, None, batch_size=6)
    assert not any(module.training for module in model.modules()) and model[1].momentum == 0.3


def test_no_recalibration_images_leave_the_running_statistics_alone():
    model = conv_bn()
    before = copy.deepcopy(model.state_dict())
    recalibrate_batch_norm(model, tiny_data(), FIDELITY.replace(bn_recalibration_images=0), CPU, None, batch_size=6)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_more_images_than_the_training_split_use_all_of_it():
    data, capped, everything = tiny_data(), conv_bn(), conv_bn()
    recalibrate_batch_norm(capped, data, FIDELITY.replace(bn_recalibration_images=1000), CPU, None, batch_size=6)
    recalibrate_batch_norm(everything, data, FIDELITY, CPU, None, batch_size=6)
    assert torch.equal(capped[1].running_mean, everything[1].running_mean)


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory):
    """One genome trained at the same seed without and with recalibration, with the weights each evaluated."""
    data = load_data("synthetic:classes=3,train=24,val=8", cache_dir=tmp_path_factory.mktemp("cache"))
    genome = Genome(stem_channels=8, stages=(Stage(8, 1, 1), Stage(16, 1, 2, block="se")), head_channels=16,
                    num_classes=3, resolution=16)
    fidelity = get_fidelity("smoke", batch_size=8, data_fraction=1.0, crop=16, epochs=2, bf16="off")
    runs = {}
    for images in (0, 12):
        evaluated = []
        result = train(genome, data, fidelity.replace(bn_recalibration_images=images), seed=1, threads=1,
                       snapshot=lambda model, info: evaluated.append(copy.deepcopy(model)))
        runs[images] = result, evaluated
    return runs


def test_recalibration_changes_no_training_step(trained_twice):
    (plain, plain_models), (recalibrated, recalibrated_models) = trained_twice[0], trained_twice[12]
    assert [h["train_loss"] for h in plain.history] == [h["train_loss"] for h in recalibrated.history]
    for name, parameter in plain_models[-1].named_parameters():
        assert torch.equal(parameter, dict(recalibrated_models[-1].named_parameters())[name]), name


def test_a_run_is_evaluated_on_the_recalibrated_statistics(trained_twice):
    _, evaluated = trained_twice[12]
    norms = [m for m in evaluated[-1].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(int(norm.num_batches_tracked) == 1 for norm in norms)  # 12 images: one evaluation batch
