"""A network cut into the pieces a latency table times: the stem, each block, the head, each with its key.

The stem is its conv, BN and ReLU; a block is one timm block; the head is its conv, BN, ReLU, global pool and
classifier. Each piece is keyed by everything its latency depends on and nothing more, so identical modules
share one row: the block's kind (timm's InvertedResidual or CondConvResidual), its input, expanded and output
widths (Ne stands for expansion, after timm's rounding), filter size, stride, input size, SE (where it sits and
its squeezed width Ne // R, when the block has one), experts M, and the memory layout of its input. The layout
is part of the key because it is part of what runs: timm's CondConv2d convolves a ``(1, B*C, H, W)`` view with
grouped weights and returns a contiguous tensor, so a layer after a CondConv block takes a contiguous input
where the same layer elsewhere takes channels_last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from space import Genome
from space.builder import build_block, build_head, build_stem
from space.genome import BlockSpec

from ._features import block_features, head_features, stem_features

CONTIGUOUS = "contiguous"
CHANNELS_LAST = "channels_last"


@dataclass(frozen=True)
class Piece:
    """One separately timed part of a network: its table key, the input it takes and how to build it."""

    key: str
    channels: int
    size: int
    layout: str
    features: dict[str, float] = field(compare=False, repr=False)
    build: Callable[[], nn.Module] = field(compare=False, repr=False)


def pieces(genome: Genome) -> list[Piece]:
    """The stem, every block and the head of ``genome``, in forward order, each with its table key."""
    stem_key = (f"stem 3>{genome.stem_channels} k{genome.stem_kernel} s{genome.stem_stride} "
                f"{genome.resolution}px")
    result = [Piece(stem_key, 3, genome.resolution, CHANNELS_LAST, stem_features(genome),
                    lambda: nn.Sequential(*build_stem(genome)))]
    layout = CHANNELS_LAST
    for spec in genome.blocks():
        result.append(Piece(block_key(spec, layout), spec.in_channels, spec.input_size, layout,
                            block_features(spec, layout), lambda spec=spec: build_block(spec)))
        layout = output_layout(spec)
    head_key = (f"head {genome.stages[-1].out_channels}>{genome.head_channels}>{genome.num_classes} "
                f"{genome.final_size}px {layout}")
    result.append(Piece(head_key, genome.stages[-1].out_channels, genome.final_size, layout,
                        head_features(genome, layout), lambda: nn.Sequential(*build_head(genome))))
    return result


def block_key(spec: BlockSpec, input_layout: str) -> str:
    """Everything a block's latency depends on; blocks that build identical modules share a key."""
    stage = spec.stage
    kind = "condconv" if stage.block == "condconv" else "ir"
    key = (f"{kind} {spec.in_channels}>{spec.mid_channels}>{spec.out_channels} k{stage.kernel} s{spec.stride} "
           f"{spec.input_size}px {input_layout}")
    if spec.has_se:
        key += f" se@{'end' if stage.se_position == 'end' else 'dw'}/{spec.se_channels}"
    if kind == "condconv":
        key += f" x{stage.experts}"
    return key


def output_layout(spec: BlockSpec) -> str:
    """The memory layout a block hands on in a channels_last model: contiguous after CondConv (see above)."""
    return CONTIGUOUS if spec.stage.block == "condconv" else CHANNELS_LAST
