"""What a piece of a network costs, in the terms a CPU's latency is roughly linear in.

A search space of the default size holds about 300,000 distinct blocks (every width pair times kernel,
expansion, block type, R, M and input layout), far more than a lookup table can measure before a search
starts (about a second each). The pieces a search samples that the table lacks are therefore estimated by a
linear model fitted on the pieces it has (``_fit``), on these features: a constant per kind of
piece (the calls and their fixed costs), multiply-accumulates split by the kind of kernel that does them
(dense and depthwise convolutions are different kernels on a CPU, and CondConv's grouped per-example
convolutions and expert mixing are different again), and the activation elements read and written (memory
traffic, which dominates at batch 1 on small maps), with extra terms where the layout is contiguous
(reorders) and for the SE and the residual add. A 1x1 depthwise convolution gets terms of its own, per
channel (group) and per output element, separately for standard and CondConv blocks (CondConv's groups are
per example): torch 2.14 on an AVX-512 Xeon runs it ~70x slower than a 3x3 one of the same width (10 ms
against 0.14 ms at 768 channels and 7x7), a cost that follows the channels and the map, not the MACs. With
one shared per-channel term, fitted on 20 random genomes' pieces timed in context, the 1x1 pieces of the
other 30 genomes came out 16 % short in standard blocks and 24 % long in CondConv ones; split and with the
per-element term, 28 of 30 genomes were within 10 % against 23 (features chosen on those 30); on a fresh
sample of 30, also 28, but on a third only 24. What moved the share was more fitted genomes, not more
features: richer ones (per-kernel depthwise terms, per-channel terms, padded widths) overfitted at 10
genomes, while 30 genomes gave 28 of 30 on two fresh samples (README.md, "Measured here";
benchmarks/latency_fit_cv.py).
"""

from __future__ import annotations

from space import Genome
from space.genome import BlockSpec

FEATURES = ("stem", "ir_block", "condconv_block", "head", "se", "dense_macs", "depthwise_macs", "condconv_macs",
            "condconv_depthwise_macs", "expert_mixing_macs", "activations", "contiguous_activations",
            "se_activations", "skip_activations", "depthwise_1x1_groups", "depthwise_1x1_elements",
            "condconv_depthwise_1x1_groups", "condconv_depthwise_1x1_elements")


def stem_features(genome: Genome) -> dict[str, float]:
    size, channels, kernel = genome.stem_output_size, genome.stem_channels, genome.stem_kernel
    return {"stem": 1.0, "dense_macs": 3.0 * channels * kernel ** 2 * size ** 2,
            "activations": 3.0 * genome.resolution ** 2 + 2.0 * channels * size ** 2}


def block_features(spec: BlockSpec, input_layout: str) -> dict[str, float]:
    stage = spec.stage
    ni, ne, no, k = spec.in_channels, spec.mid_channels, spec.out_channels, stage.kernel
    area_in, area_out = spec.input_size ** 2, spec.output_size ** 2
    pointwise = ni * ne * area_in + ne * no * area_out
    depthwise = ne * k * k * area_out
    # Read the input, write and re-read the expanded map twice (conv, BN+ReLU), write the output.
    features = {"activations": float(ni * area_in + 2 * ne * area_in + 2 * ne * area_out + no * area_out)}
    if stage.block == "condconv":
        weights = ni * ne + ne * k * k + ne * no
        features.update(condconv_block=1.0, condconv_macs=float(pointwise), condconv_depthwise_macs=float(depthwise),
                        expert_mixing_macs=float(stage.experts * weights + ni * stage.experts))
    else:
        features.update(ir_block=1.0, dense_macs=float(pointwise), depthwise_macs=float(depthwise))
    if input_layout == "contiguous":
        features["contiguous_activations"] = float(ni * area_in)
    if spec.has_se:
        features["se"] = 1.0
        features["se_activations"] = float(2 * spec.se_channels_in * area_out)
    if spec.has_skip:
        features["skip_activations"] = float(no * area_out)
    if k == 1:
        prefix = "condconv_" if stage.block == "condconv" else ""
        features[f"{prefix}depthwise_1x1_groups"] = float(ne)
        features[f"{prefix}depthwise_1x1_elements"] = float(ne * area_out)
    return features


def head_features(genome: Genome, input_layout: str) -> dict[str, float]:
    area, channels, head = genome.final_size ** 2, genome.stages[-1].out_channels, genome.head_channels
    features = {"head": 1.0, "dense_macs": float(channels * head * area + head * genome.num_classes),
                "activations": float(channels * area + 3 * head * area)}
    if input_layout == "contiguous":
        features["contiguous_activations"] = float(channels * area)
    return features
