"""The cost model: Table 4 to the unit, and exactly what the built model multiplies and holds."""

import json
import random
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from space import baseline, build, cost_of
from space.sampling import random_genome

TABLE_4 = [
    ("Conv 3x3/1 stem", 1, 1_354_752, 432),
    ("Block 16->16 S1 ID", 1, 8_228_864, 2_624),
    ("Block 16->24 S1", 1, 9_834_496, 3_136),
    ("Block 24->24 S1 ID", 1, 17_160_192, 5_472),
    ("Block 24->40 S2", 1, 10_913_280, 7_008),
    ("Block 40->40 S1 ID", 2, 22_328_320, 28_480),
    ("Block 40->80 S2", 1, 7_808_640, 20_640),
    ("Block 80->80 S1 ID", 3, 31_799_040, 162_240),
    ("Block 80->160 S2", 1, 7_667_520, 79_680),
    ("Block 160->160 S1 ID", 4, 41_269_760, 842_240),
    ("Block 160->320 S1", 1, 15_335_040, 312_960),
    ("Conv 1x1 head", 1, 20_070_400, 409_600),
    ("Global avg pool, Linear, bias", 1, 128_000, 0),
]


@pytest.mark.parametrize("index", range(len(TABLE_4)), ids=[row[0] for row in TABLE_4])
def test_table_4_row_matches_to_the_unit(index):
    row = cost_of(baseline()).rows[index]
    assert (row.operation, row.rep, row.macs, row.filter_coefficients) == TABLE_4[index]


def test_standard_baseline_totals():
    result = cost_of(baseline())
    assert result.total_macs == 193_898_304
    assert result.total_params == 2_029_572
    assert result.total_filter_coefficients == 1_874_512


def test_paper_total_excludes_only_the_classifier():
    rows = cost_of(baseline()).rows
    assert sum(r.macs for r in rows[:-1]) == 193_770_304


def _measured(genome):
    model = build(genome).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, genome.resolution, genome.resolution))
    return counter.get_total_flops(), sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("block", ["standard", "se", "condconv"])
def test_baseline_cost_equals_flop_counter_and_numel(block):
    genome = baseline(block)
    flops, params = _measured(genome)
    assert flops == 2 * cost_of(genome).total_macs
    assert params == cost_of(genome).total_params


@pytest.mark.parametrize("position", ["end", "noskip", "none"])
def test_se_position_variants_cost_exactly_what_is_built(position):
    genome = baseline("se").replace_stages(se_position=position)
    flops, params = _measured(genome)
    assert (flops, params) == (2 * cost_of(genome).total_macs, cost_of(genome).total_params)


@pytest.mark.parametrize("seed", range(24))
def test_random_genome_cost_equals_flop_counter_and_numel(seed):
    genome = random_genome(random.Random(seed), num_classes=10, resolution=32)
    flops, params = _measured(genome)
    assert flops == 2 * cost_of(genome).total_macs
    assert params == cost_of(genome).total_params


def test_se_adds_two_linear_layers_per_block():
    se, standard = cost_of(baseline("se")), cost_of(baseline())
    extra = sum(2 * b.mid_channels * (b.mid_channels // 4) for b in baseline("se").blocks())
    assert se.total_macs - standard.total_macs == extra


def test_condconv_multiplies_block_filter_coefficients_by_experts():
    standard, condconv = cost_of(baseline()).rows[1:-2], cost_of(baseline("condconv")).rows[1:-2]
    assert [c.filter_coefficients for c in condconv] == [4 * s.filter_coefficients for s in standard]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "space.cost", *args], capture_output=True, text=True)


def test_cli_json_has_the_documented_shape():
    out = _cli("--json")
    data = json.loads(out.stdout)
    assert set(data) == {"genome_id", "rows", "total_macs", "total_params"}
    assert data["total_macs"] == 193_898_304 and data["total_params"] == 2_029_572
    assert [r["operation"] for r in data["rows"]] == [row[0] for row in TABLE_4]
    assert set(data["rows"][0]) == {"operation", "rep", "macs", "filter_coefficients", "params"}


def test_cli_table_shows_rows_and_totals():
    out = _cli("baseline", "--block", "se").stdout
    assert "Block 80->80 S1 ID [SE R4]" in out
    assert out.strip().splitlines()[-1].split()[:2] == ["Total", f"{cost_of(baseline('se')).total_macs:,}"]


def test_cli_reads_a_genome_file(tmp_path):
    genome = random_genome(random.Random(7))
    data = json.loads(_cli(str(genome.save(tmp_path / "g.json")), "--json").stdout)
    assert data["genome_id"] == genome.id and data["total_macs"] == cost_of(genome).total_macs


def test_cli_bad_genome_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"stem_channels": 16, "stages": [{"out_channels": 16, "kernel": 2}]}')
    out = _cli(str(path))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {path}: stages[0].kernel: filter size must be an odd integer from 1 to 31, got 2"
