"""The builder: timm blocks assembled into the network a genome describes."""

import random

import pytest
import torch
from space._timm_internals import (CondConv2d, CondConvResidual, InvertedResidual, PerExampleCondConv2d,
                                  SqueezeExcite)

from space import baseline, build, cpu_trainable, routing_parameters, zero_init_last, zero_init_routing
from space.sampling import random_genome


@pytest.mark.parametrize("block", ["standard", "se", "condconv"])
def test_batch_gives_logits_per_class(block):
    model = build(baseline(block)).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 56, 56)).shape == (3, 100)


def test_blocks_are_timm_inverted_residuals():
    blocks = list(build(baseline()).blocks)
    assert len(blocks) == 16 and all(type(b) is InvertedResidual for b in blocks)


def test_se_block_squeezes_ne_to_ne_over_r():
    se = build(baseline("se")).blocks[3].se
    assert isinstance(se, SqueezeExcite)
    assert (se.conv_reduce.in_channels, se.conv_reduce.out_channels) == (96, 24)


def test_condconv_block_has_m_experts_and_se():
    block = build(baseline("condconv")).blocks[5]
    assert isinstance(block, CondConvResidual)
    assert block.conv_pw.num_experts == 4 and block.routing_fn.out_features == 4
    assert isinstance(block.se, SqueezeExcite)


def test_se_at_block_end_squeezes_output_width():
    block = build(baseline("se").replace_stages(se_position="end")).blocks[4]
    assert isinstance(block.se, torch.nn.Identity)
    assert block.bn3[1].conv_reduce.in_channels == 40


def test_se_noskip_only_in_blocks_without_identity():
    model = build(baseline("se").replace_stages(se_position="noskip"))
    assert [isinstance(b.se, SqueezeExcite) for b in model.blocks] == [not b.has_skip for b in model.blocks]


@pytest.mark.parametrize("block, gates", [("standard", set()), ("se", {"Sigmoid"}), ("condconv", {"Sigmoid"})])
def test_activations_are_relu_besides_the_se_gate(block, gates):
    """Every activation module, torch's or timm's (both live in modules named ``...activation...``)."""
    acts = {type(m).__name__ for m in build(baseline(block)).modules() if "activation" in type(m).__module__}
    assert acts == {"ReLU"} | gates


def test_built_strides_follow_the_genome():
    model = build(baseline()).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 56, 56))
    assert features.shape == (1, 1280, 7, 7)


@pytest.mark.parametrize("seed", range(5))
def test_random_genome_builds_and_runs(seed):
    genome = random_genome(random.Random(seed), num_classes=7, resolution=40)
    with torch.no_grad():
        assert build(genome).eval()(torch.randn(2, 3, 40, 40)).shape == (2, 7)


def test_cpu_trainable_condconv_keeps_parameters_and_outputs_and_only_its_1x1_layers_change():
    torch.manual_seed(0)
    model = build(baseline("condconv").replace(num_classes=10))
    names = list(model.state_dict())
    images = torch.randn(4, 3, 24, 24)
    timm_out = model.train()(images)
    trainable = cpu_trainable(model)
    assert trainable is model and list(trainable.state_dict()) == names
    assert torch.allclose(trainable(images), timm_out, atol=1e-5)
    kinds = {type(m).__name__ for m in trainable.modules() if isinstance(m, (CondConv2d, PerExampleCondConv2d))}
    assert kinds == {"CondConv2d", "PerExampleCondConv2d"}
    assert all(m.kernel_size != (1, 1) for m in trainable.modules() if isinstance(m, CondConv2d))


def test_cpu_trainable_gradients_match_timms():
    torch.manual_seed(0)
    timm_model = build(baseline("condconv").replace(num_classes=10)).train()
    ours = cpu_trainable(build(baseline("condconv").replace(num_classes=10)))
    ours.load_state_dict(timm_model.state_dict())
    images = torch.randn(4, 3, 24, 24)
    timm_model(images).square().mean().backward()
    ours.train()(images).square().mean().backward()
    for (name, a), b in zip(timm_model.named_parameters(), ours.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-4), name


@pytest.mark.parametrize("se_position", ["dw", "end"])
def test_zero_init_last_makes_every_block_with_an_identity_path_start_as_the_identity(se_position):
    genome = baseline("se").replace(num_classes=10).replace_stages(se_position=se_position)
    model = build(genome).eval()
    assert zero_init_last(model) == sum(spec.has_skip for spec in genome.blocks())
    features = torch.randn(2, genome.stages[1].out_channels, 12, 12)
    with torch.no_grad():
        assert torch.equal(model.blocks[2](features), features)  # stage 1's second block


def test_zero_init_last_leaves_blocks_without_an_identity_path_as_they_were():
    model = build(baseline().replace(num_classes=10))
    zero_init_last(model)
    widening = model.blocks[1]  # stage 1's first block: 16 -> 24 channels
    assert not widening.has_skip and torch.all(widening.bn3.weight == 1)


def test_zero_init_routing_makes_every_condconv_block_weigh_its_experts_equally_for_every_example():
    model = build(baseline("condconv").replace(num_classes=10))
    assert zero_init_routing(model) == len(model.blocks)
    block = model.blocks[2]
    pooled = torch.randn(5, block.routing_fn.in_features)
    assert torch.equal(torch.sigmoid(block.routing_fn(pooled)), torch.full((5, block.num_experts), 0.5))


def test_routing_parameters_are_the_routing_layers_weights_and_biases_only():
    model = build(baseline("condconv").replace(num_classes=10))
    routing = {id(p) for p in routing_parameters(model)}
    named = {name for name, p in model.named_parameters() if id(p) in routing}
    assert len(named) == 2 * len(model.blocks) and all(".routing_fn." in name for name in named)
    assert routing_parameters(build(baseline("se").replace(num_classes=10))) == []
