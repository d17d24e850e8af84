"""Exact analytic cost of a genome: MACs, filter coefficients and parameters, per Table 4 row and in total.

Convention: count exactly what the built model multiplies at batch 1, the way
``torch.utils.flop_counter.FlopCounterMode`` counts it (MACs = FLOPs / 2): convolutions and linear layers
(including SE's two 1x1 convs on the pooled vector, CondConv's routing Linear and its per-example mixing
of M expert kernels, ``routing (1 x M) @ experts (M x numel)``); not BN, activations, pooling, the SE
rescale or the residual add, which are elementwise. "Filter coefficients" follows Table 4's "Filter Cx":
convolution weights only (M expert copies for CondConv), no BN, biases, SE or routing or classifier
weights. Parameters are everything ``model.parameters()`` holds.

CLI: ``python -m space.cost [GENOME] [--block standard|se|condconv] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from .baseline import baseline
from .genome import BLOCK_TYPES, BlockSpec, Genome, load_genome


@dataclass(frozen=True)
class CostRow:
    operation: str
    rep: int
    macs: int
    filter_coefficients: int
    params: int


@dataclass(frozen=True)
class Cost:
    genome_id: str
    rows: tuple[CostRow, ...]

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_filter_coefficients(self) -> int:
        return sum(r.filter_coefficients for r in self.rows)

    def to_dict(self) -> dict:
        return {"genome_id": self.genome_id, "rows": [asdict(r) for r in self.rows],
                "total_macs": self.total_macs, "total_params": self.total_params}

    def table(self) -> str:
        """Table 4 as aligned text, totals last."""
        header = ("operation", "rep", "MACs", "filter coeffs", "params")
        lines = [(r.operation, str(r.rep), f"{r.macs:,}", f"{r.filter_coefficients:,}", f"{r.params:,}")
                 for r in self.rows]
        lines.append(("Total", "", f"{self.total_macs:,}", f"{self.total_filter_coefficients:,}",
                      f"{self.total_params:,}"))
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

        def fmt(row: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([f"genome {self.genome_id}", fmt(header), rule, *map(fmt, lines[:-1]), rule, fmt(lines[-1])])


def cost_of(genome: Genome) -> Cost:
    """Per-row and total cost without building the model; rows grouped like Table 4."""
    rows = [_stem_row(genome)]
    for group in _identical_runs(genome.blocks()):
        one = _block_cost(group[0])
        rows.append(CostRow(_block_name(group[0]), len(group), one.macs * len(group),
                            one.filter_coefficients * len(group), one.params * len(group)))
    rows.append(_head_row(genome))
    rows.append(CostRow("Global avg pool, Linear, bias", 1, genome.head_channels * genome.num_classes, 0,
                        genome.head_channels * genome.num_classes + genome.num_classes))
    return Cost(genome.id, tuple(rows))


def _stem_row(genome: Genome) -> CostRow:
    k, c, size = genome.stem_kernel, genome.stem_channels, genome.stem_output_size
    weights = 3 * c * k * k
    return CostRow(f"Conv {k}x{k}/{genome.stem_stride} stem", 1, weights * size * size, weights, weights + 2 * c)


def _head_row(genome: Genome) -> CostRow:
    size = genome.final_size
    weights = genome.stages[-1].out_channels * genome.head_channels
    return CostRow("Conv 1x1 head", 1, weights * size * size, weights, weights + 2 * genome.head_channels)


def _identical_runs(blocks: list[BlockSpec]) -> list[list[BlockSpec]]:
    runs: list[list[BlockSpec]] = []
    for spec in blocks:
        if runs and runs[-1][0] == spec:
            runs[-1].append(spec)
        else:
            runs.append([spec])
    return runs


def _block_cost(spec: BlockSpec) -> CostRow:
    stage = spec.stage
    ni, ne, no, k = spec.in_channels, spec.mid_channels, spec.out_channels, stage.kernel
    hw_in, hw_out = spec.input_size ** 2, spec.output_size ** 2
    pw, dw, pwl = ni * ne, ne * k * k, ne * no
    macs = pw * hw_in + dw * hw_out + pwl * hw_out
    conv_weights = pw + dw + pwl
    params = 2 * (ne + ne + no)
    if stage.block == "condconv":
        m = stage.experts
        macs += m * conv_weights + ni * m          # per-example expert mixing + routing Linear
        params += ni * m + m
        conv_weights *= m
    if spec.has_se:
        c, r = spec.se_channels_in, spec.se_channels
        macs += 2 * c * r
        params += 2 * c * r + c + r
    return CostRow(_block_name(spec), 1, macs, conv_weights, params + conv_weights)


def _block_name(spec: BlockSpec) -> str:
    stage = spec.stage
    name = f"Block {spec.in_channels}->{spec.out_channels} S{spec.stride}" + (" ID" if spec.has_skip else "")
    tags = []
    if stage.kernel != 3:
        tags.append(f"F{stage.kernel}")
    if stage.expansion != 4:
        tags.append(f"e{stage.expansion}")
    if spec.has_se:
        tags.append(f"SE R{stage.se_ratio}" + ("" if stage.se_position == "dw" else f" @{stage.se_position}"))
    if stage.block == "condconv":
        tags.append(f"CondConv M{stage.experts}")
    return name + (f" [{', '.join(tags)}]" if tags else "")


def resolve_genome(name: str, block: str | None = None) -> Genome:
    """``baseline`` or a genome JSON path, optionally with every stage's block type replaced."""
    if name == "baseline":
        return baseline(block or "standard")
    genome = load_genome(name)
    return genome.replace_stages(block=block) if block else genome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m space.cost", description=__doc__.splitlines()[0])
    parser.add_argument("genome", nargs="?", default="baseline", help="'baseline' (default) or a genome JSON file")
    parser.add_argument("--block", choices=BLOCK_TYPES, help="use this block type in every stage")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    try:
        genome = resolve_genome(args.genome, args.block)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    result = cost_of(genome)
    print(json.dumps(result.to_dict()) if args.json else result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
