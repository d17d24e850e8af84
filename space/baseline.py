"""The reference network of Table 1 (SPEC.md) as a genome."""

from __future__ import annotations

from .genome import BLOCK_TYPES, Genome, Stage

TABLE_1_STAGES = (
    # (out_channels, repeats, stride): Table 1's rows grouped timm-style into stages.
    (16, 1, 1),
    (24, 2, 1),
    (40, 3, 2),
    (80, 4, 2),
    (160, 5, 2),
    (320, 1, 1),
)


def baseline(block: str = "standard", se_ratio: int = 4, experts: int = 4) -> Genome:
    """Table 1 exactly: stem 16, expansion 4, 3x3 filters, head 1280, 100 classes, 56 px.

    ``block`` picks the paper's variant A (standard), B (se, R=4) or C (condconv, SE R=4 and M=4 experts).
    """
    if block not in BLOCK_TYPES:
        raise ValueError(f"block: must be one of {', '.join(BLOCK_TYPES)}, got {block!r}")
    stages = tuple(
        Stage(out_channels=c, repeats=n, stride=s, expansion=4, kernel=3, block=block,
              se_ratio=se_ratio, experts=experts)
        for c, n, s in TABLE_1_STAGES
    )
    return Genome(stem_channels=16, stages=stages, head_channels=1280, num_classes=100, resolution=56)
