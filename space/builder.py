"""Genome -> PyTorch model, assembled from timm's own EfficientNet blocks and layers.

Mapping onto timm (so the cost model can count exactly what runs):
- standard block: timm's ``InvertedResidual`` (a private module's, through ``space._timm_internals``) with ReLU, ``exp_ratio`` = expansion
  (timm rounds Ne with ``make_divisible``; ``space.genome.expanded_channels`` states the same rule);
- se block: the same block with ``se_layer = SqueezeExcite(rd_channels=Ne // R)``. timm's SqueezeExcite
  squeezes the width it is given (Ne, after the depthwise conv) with 1x1 convs with bias, which on the pooled
  1x1 map are exactly the paper's Linear(Ne -> Ne/R) and Linear(Ne/R -> Ne). We pass ``rd_channels``
  instead of ``rd_ratio = 1/R`` so the width is Ne // R by construction rather than timm's ``round``;
  the two agree whenever R divides Ne, as in every paper configuration;
- condconv block: ``CondConvResidual`` with ``num_experts = M`` (its 1x1 and depthwise convs are timm
  CondConv2d, routing = sigmoid(Linear(pooled block input))) and the same SE;
- SE at the block end: timm's SqueezeExcite on the output width after the last BN (``bn3``).
"""

from __future__ import annotations

from copy import deepcopy
from functools import partial
from typing import Callable

import torch
from torch import nn
from timm.layers import BatchNormAct2d, SelectAdaptivePool2d, create_conv2d

from ._timm_internals import (CondConv2d, CondConvResidual, InvertedResidual, PerExampleCondConv2d, SqueezeExcite,
                              efficientnet_init_weights)
from .genome import BlockSpec, Genome


class Network(nn.Module):
    """Stem conv/BN/ReLU, the blocks, head conv/BN/ReLU, global average pool, linear classifier."""

    def __init__(self, genome: Genome):
        super().__init__()
        self.genome = genome
        self.conv_stem, self.bn1 = build_stem(genome)
        self.blocks = nn.Sequential(*(build_block(spec) for spec in genome.blocks()))
        self.conv_head, self.bn2, self.global_pool, self.classifier = build_head(genome)
        # timm's EfficientNet initialisation (TF-style fan-out normal, CondConv experts included), with a
        # zero classifier so training starts at the uniform prediction (loss ln C) instead of confident noise:
        # both matter most in the few hundred steps of a CPU proxy.
        efficientnet_init_weights(self)
        nn.init.zeros_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks(x)
        return self.bn2(self.conv_head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pool(self.forward_features(x)))


def build(genome: Genome) -> Network:
    """The model a genome describes; a batch (N, 3, res, res) gives logits (N, num_classes)."""
    return Network(genome)


def exportable(model: Network) -> Network:
    """A copy of ``model`` for graph export (ONNX): the same class, parameters and outputs, but its CondConv
    layers mix and apply per-example kernels without timm's grouped-convolution view, whose group count is
    the batch size and would freeze the batch dimension of an exported graph (see ``PerExampleCondConv2d``).
    """
    copy = deepcopy(model)
    _per_example_condconv(copy, lambda conv: True)
    return copy


def cpu_trainable(model: Network) -> Network:
    """``model`` itself, its 1x1 CondConv layers computed as per-example matrix products: the same parameters
    (same names) and the same outputs, for training on a CPU.

    timm applies every example's kernels as one grouped convolution over a ``(1, B*C, H, W)`` view. For 1x1
    kernels at batches below 16 on one thread torch does not use oneDNN there and runs that convolution one
    group, that is one example, at a time; as per-example matrix products a CondConv baseline's training step
    at the proxy's batch 8 ran 1.18x faster (benchmarks/cpu_step.py). Depthwise layers keep timm's form, which
    oneDNN runs well.
    """
    _per_example_condconv(model, lambda conv: conv.kernel_size == (1, 1) and conv.groups == 1)
    return model


def zero_init_last(model: Network) -> int:
    """Zero the scale of the last BN in every block with an identity path, so each such block starts as the
    identity (timm's ResNet ``zero_init_last``, Goyal et al. 2017); returns how many blocks it changed.

    Part of a training run, not of a network's definition (``Fidelity.zero_init_last``). Without it the
    proxy's first few hundred steps at batch 8 overshoot (loss above ln C after the warm-up) and networks
    with SE gates recover far later than plain ones. At the proxy, paired by training seed: the standard
    baseline 56.7 +- 2.6 % with it against 50.5 +- 4.0 % without (n = 5, +6.2 points, 95 % CI +1.8 to +10.6),
    the SE baseline 47.0 +- 3.4 % against 30.3 +- 3.5 % (n = 3, +16.7, CI +1.4 to +32.1); README, 2026-12-05.
    """
    changed = 0
    for block in model.blocks:
        if block.has_skip:
            last_norm = block.bn3[0] if isinstance(block.bn3, nn.Sequential) else block.bn3
            nn.init.zeros_(last_norm.weight)
            changed += 1
    return changed


def zero_init_routing(model: Network) -> int:
    """Zero every CondConv block's routing layer, so that each starts mixing its experts equally for every
    example (every routing weight sigmoid(0) = 0.5: one static kernel); returns how many blocks it changed.

    Part of a training run (``Fidelity.zero_init_routing``). With timm's initialisation the routing weights
    differ between examples from the first step, so every example meets different random kernels, and the
    routing saturates at 0 or 1 within ~100 proxy steps. At the proxy the CondConv baseline scored 10.7 +- 0.7 %
    (chance 10 %) from timm's initialisation and 51.3 +- 6.7 % with this and ``routing_lr_factor`` 0.01 (n = 3
    paired training seeds; README, 2026-12-05).
    """
    routings = [block.routing_fn for block in model.blocks if isinstance(block, CondConvResidual)]
    for routing in routings:
        nn.init.zeros_(routing.weight)
        nn.init.zeros_(routing.bias)
    return len(routings)


def routing_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of every CondConv routing layer (what ``Fidelity.routing_lr_factor`` scales)."""
    return [param for block in model.modules() if isinstance(block, CondConvResidual)
            for param in block.routing_fn.parameters()]


def _per_example_condconv(model: nn.Module, chosen: Callable[[CondConv2d], bool]) -> None:
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, CondConv2d) and chosen(child):
                setattr(module, name, PerExampleCondConv2d(child))


def build_stem(genome: Genome) -> tuple[nn.Module, nn.Module]:
    """The stem's conv and BN+ReLU, in forward order (also what a latency table times as the stem)."""
    return (create_conv2d(3, genome.stem_channels, genome.stem_kernel, stride=genome.stem_stride),
            BatchNormAct2d(genome.stem_channels, act_layer=nn.ReLU))


def build_head(genome: Genome) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """Head conv, BN+ReLU, global average pool and classifier, in forward order."""
    return (create_conv2d(genome.stages[-1].out_channels, genome.head_channels, 1),
            BatchNormAct2d(genome.head_channels, act_layer=nn.ReLU),
            SelectAdaptivePool2d(pool_type="avg", flatten=True),
            nn.Linear(genome.head_channels, genome.num_classes))


def build_block(spec: BlockSpec) -> nn.Module:
    stage = spec.stage
    se_inside = partial(SqueezeExcite, rd_channels=spec.se_channels) \
        if spec.has_se and stage.se_position != "end" else None
    common = dict(dw_kernel_size=stage.kernel, stride=spec.stride, exp_ratio=stage.expansion,
                  act_layer=nn.ReLU, se_layer=se_inside)
    if stage.block == "condconv":
        block = CondConvResidual(spec.in_channels, spec.out_channels, num_experts=stage.experts, **common)
    else:
        block = InvertedResidual(spec.in_channels, spec.out_channels, **common)
    if spec.has_se and stage.se_position == "end":
        block.bn3 = nn.Sequential(block.bn3, SqueezeExcite(spec.out_channels, rd_channels=spec.se_channels))
    if block.conv_pw.out_channels != spec.mid_channels or block.has_skip != spec.has_skip:
        raise RuntimeError(f"timm built Ne={block.conv_pw.out_channels}, skip={block.has_skip} for {spec}; "
                           "space.genome's width rule no longer matches this timm version")
    return block
