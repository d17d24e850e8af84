"""The training step captured in a CUDA graph: the same update as torch's SGD, the same training as eager."""

import copy

import pytest
import torch

from evaluators._graphed import GraphedStep
from evaluators.data import load_data
from evaluators.presets import get_fidelity
from evaluators.trainer import parameter_groups, train, training_setup
from space import Genome, Stage

GENOME = Genome(stem_channels=8, stages=(Stage(8, 1, 1), Stage(16, 2, 2), Stage(24, 1, 2, block="se")),
                head_channels=32, num_classes=3, resolution=16)
CONDCONV_GENOME = GENOME.replace(stages=(*GENOME.stages[:2], Stage(24, 1, 2, block="condconv", experts=2)))
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _batches(count: int, device: str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 3, 16, 16, generator=generator).to(device),
             torch.randint(0, 3, (8,), generator=generator).to(device), 0.05 / (step + 1)) for step in range(count)]


@pytest.mark.parametrize("genome", [GENOME, CONDCONV_GENOME], ids=["one group", "routing apart"])
def test_the_written_out_update_is_torchs_sgd_with_momentum_nesterov_and_weight_decay(genome):
    """Each step is compared from the same state: both sides then start the next step from ours (weights, BN
    statistics, momentum), because rounding differences of one ulp, left to compound, grow past any tight tolerance
    within a few steps for some initial weights (seen: 6e-8 after three steps, 4e-6 after five)."""
    fidelity = get_fidelity("smoke", weight_decay=1e-3, routing_lr_factor=0.1)
    model, optimizer = training_setup(genome, fidelity, torch.device("cpu"))
    theirs = copy.deepcopy(model)
    their_optimizer = torch.optim.SGD(parameter_groups(theirs, fidelity), lr=0.0, momentum=fidelity.momentum,
                                      nesterov=True, weight_decay=fidelity.weight_decay)
    ours = GraphedStep(model, optimizer, None, 0.0, capture=False)
    assert len(ours.groups) == len(their_optimizer.param_groups) == (2 if genome is CONDCONV_GENOME else 1)
    for images, labels, lr in _batches(5):
        our_loss = ours.step(images, labels, lr)
        for group in their_optimizer.param_groups:
            group["lr"] = lr * group["lr_factor"]
        their_optimizer.zero_grad(set_to_none=True)
        their_loss = torch.nn.functional.cross_entropy(theirs(images), labels)
        their_loss.backward()
        their_optimizer.step()
        torch.testing.assert_close(our_loss, their_loss.detach(), rtol=1e-5, atol=1e-6)
        for our_param, their_param in zip(model.parameters(), theirs.parameters()):
            our_buffer = optimizer.state[our_param]["momentum_buffer"]
            their_buffer = their_optimizer.state[their_param]["momentum_buffer"]
            torch.testing.assert_close(our_param, their_param, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(our_buffer, their_buffer, rtol=1e-5, atol=1e-6)
            their_buffer.copy_(our_buffer)
        theirs.load_state_dict(model.state_dict())


def test_the_momentum_buffers_are_the_optimizers_state_so_checkpoints_keep_them():
    model, optimizer = training_setup(GENOME, get_fidelity("smoke"), torch.device("cpu"))
    step = GraphedStep(model, optimizer, None, 0.0, capture=False)
    images, labels, lr = _batches(1)[0]
    step.step(images, labels, lr)
    assert all(optimizer.state[param]["momentum_buffer"] is buffer for param, buffer in zip(step.params, step.buffers))
    assert any(buffer.abs().sum() > 0 for buffer in step.buffers)


def test_graphs_without_a_cuda_device_are_refused():
    data = load_data("synthetic:classes=3,train=16,val=8")
    with pytest.raises(ValueError, match="graphs: CUDA graphs need a CUDA device"):
        train(GENOME, data, get_fidelity("smoke"), device="cpu", graphs=True)


@CUDA
def test_a_captured_step_trains_as_the_eager_step_on_a_gpu():
    data = load_data("synthetic:classes=3,train=64,val=16")
    fidelity = get_fidelity("smoke", data_fraction=1.0, batch_size=8, crop=16, epochs=2, amp=False)
    eager = train(GENOME, data, fidelity, seed=0, device="cuda")
    graphed = train(GENOME, data, fidelity, seed=0, device="cuda", graphs=True)
    assert graphed.ok and graphed.steps == eager.steps
    for ours, theirs in zip(graphed.history, eager.history):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-3)


@CUDA
def test_a_captured_step_refuses_a_batch_of_another_shape():
    model, optimizer = training_setup(GENOME, get_fidelity("smoke"), torch.device("cuda"))
    step = GraphedStep(model, optimizer, None, 0.0, capture=True)
    for images, labels, lr in _batches(5, "cuda"):
        step.step(images, labels, lr)
    with pytest.raises(ValueError, match="one batch shape"):
        step.step(images[:4], labels[:4], lr)
