"""Latency: the timing protocol, the per-block lookup table (keys, caching, the sum) and the CLI's errors."""

import dataclasses
import itertools
import json
import os

import pytest
import torch

from evaluators.latency import (InContext, LatencyPredictor, LatencyTable, MissingRows, machine_fingerprint, main,
                                measure_in_context, measure_training_step, pieces, predict_latency, time_call,
                                validation_genomes)
from evaluators.presets import get_fidelity
from space import Genome, Stage, build

TINY = Genome(stem_channels=8, stages=(Stage(8, 2, 1), Stage(16, 1, 2, block="se"), Stage(16, 2, 2, block="condconv"),
                                       Stage(24, 1, 1)), head_channels=32, num_classes=3, resolution=16)


class FakeMeasure:
    """Stands in for the stopwatch: a piece 'takes' as many ms as its key has characters, the reference network
    10 ms; the genomes measured are recorded."""

    reference_ms = 10.0

    def __init__(self):
        self.measured = []

    def __call__(self, genome):
        self.measured.append(genome)
        piece_ms = [self.piece_ms(piece) for piece in pieces(genome)]
        return InContext(tuple(ms / self.reference_ms for ms in piece_ms), sum(piece_ms) / self.reference_ms,
                         self.reference_ms)

    @staticmethod
    def piece_ms(piece):
        return float(len(piece.key))


@pytest.fixture
def machine():
    return machine_fingerprint()


def test_time_call_reports_the_median_of_repeat_medians_and_their_iqr():
    durations = iter([1.0, 2.0, 3.0, 4.0, 5.0,  10.0, 10.0, 20.0, 30.0, 40.0,  3.0, 3.0, 3.0, 3.0, 3.0])
    now = itertools.count()
    ticks = []

    def clock():  # starts and stops alternate; each stop adds the next duration in seconds
        if len(ticks) % 2 == 0:
            ticks.append(next(now))
        else:
            ticks.append(ticks[-1] + next(durations))
        return ticks[-1]

    timing = time_call(lambda: None, warmup=0, runs=5, repeats=3, clock=clock)
    assert timing.repeat_medians_ms == (3000.0, 20000.0, 3000.0)
    assert timing.median_ms == 3000.0
    assert timing.iqr_ms == 2000.0  # IQRs 2000, 20000, 0: their median


def test_time_call_refuses_fewer_than_two_runs():
    with pytest.raises(ValueError, match="runs >= 2"):
        time_call(lambda: None, runs=1)


def test_pieces_are_the_stem_every_block_and_the_head_in_order():
    keys = [piece.key for piece in pieces(TINY)]
    assert len(keys) == 1 + len(TINY.blocks()) + 1
    assert keys[0].startswith("stem 3>8 k3 s1 16px") and keys[-1].startswith("head 24>32>3 4px")


def test_identical_modules_share_a_key():
    plain = Genome(stem_channels=8, stages=(Stage(8, 1, 1),), head_channels=16, resolution=8)
    same_module = [
        plain.replace_stages(block="se", se_position="none"),         # SE switched off: a plain block
        plain.replace_stages(block="se", se_position="noskip"),       # no SE where the block has a skip
        plain.replace_stages(se_ratio=8, experts=2),                  # R and M mean nothing to a standard block
    ]
    for genome in same_module:
        assert [p.key for p in pieces(genome)] == [p.key for p in pieces(plain)]


@pytest.mark.parametrize("before, change", [({}, dict(kernel=5)), ({}, dict(expansion=6)), ({}, dict(block="se")),
                                            ({}, dict(block="condconv")), ({"block": "se"}, dict(se_position="end")),
                                            ({"block": "se"}, dict(se_ratio=2))])
def test_a_change_to_what_runs_changes_the_key(before, change):
    """Each change against the same genome without it, so a key that dropped the changed field would fail."""
    plain = Genome(stem_channels=8, stages=(Stage(8, 1, 1, se_ratio=4),), head_channels=16, resolution=8)
    unchanged = plain.replace_stages(**before)
    assert pieces(unchanged.replace_stages(**change))[1].key != pieces(unchanged)[1].key


def test_condconv_experts_are_part_of_the_key():
    two = TINY.replace_stages(experts=2)
    assert [p.key for p in pieces(two)] != [p.key for p in pieces(TINY)]


def test_every_piece_gets_the_memory_layout_it_gets_inside_the_built_model():
    """Guards the layout rule against timm/torch upgrades: the rule says CondConv hands on a contiguous tensor."""
    model = build(TINY).eval().to(memory_format=torch.channels_last)
    seen = []
    hooks = [module.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
             for module in (model.conv_stem, *model.blocks, model.conv_head)]
    with torch.inference_mode():
        model(torch.randn(1, 3, 16, 16).contiguous(memory_format=torch.channels_last))
    for hook in hooks:
        hook.remove()
    for piece, tensor in zip(pieces(TINY), seen):
        is_channels_last = tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()
        layout = "channels_last" if is_channels_last else "contiguous"
        assert layout == piece.layout, f"{piece.key}: the model feeds it {layout}"
        assert tuple(tensor.shape[1:]) == (piece.channels, piece.size, piece.size)


def test_the_prediction_is_the_sum_of_the_genomes_pieces_repeats_included(machine):
    table = LatencyTable(machine, measure=FakeMeasure())
    table.build([TINY], progress=False)
    assert table.predict(TINY) == pytest.approx(sum(len(piece.key) for piece in pieces(TINY)))


def test_rows_are_ratios_to_the_reference_times_the_tables_first_reference_latency(machine):
    table = LatencyTable(machine, measure=FakeMeasure())
    table.build([TINY], progress=False)
    slower = FakeMeasure()
    slower.reference_ms = 20.0  # the machine runs at half speed now: pieces and reference alike
    slower.piece_ms = lambda piece: 2.0 * len(piece.key)
    table._measure = slower
    wider_head = TINY.replace(head_channels=64)
    table.build([wider_head], progress=False)
    assert table.reference_ms == FakeMeasure.reference_ms
    assert table.predict(wider_head) == pytest.approx(sum(len(piece.key) for piece in pieces(wider_head)))


def test_a_second_genome_reuses_the_measured_pieces(machine, tmp_path):
    table = LatencyTable.for_machine(machine, tmp_path, measure=FakeMeasure())
    table.build([TINY], progress=False)
    first = dict(table.rows)
    assert set(first) == {piece.key for piece in pieces(TINY)}
    wider_head = TINY.replace(head_channels=64)
    assert table.build([wider_head], progress=False) == 1
    assert set(table.rows) - set(first) == {pieces(wider_head)[-1].key}
    assert all(table.rows[key] == row for key, row in first.items())


def test_a_genome_with_every_piece_in_the_table_is_not_measured(machine):
    fake = FakeMeasure()
    table = LatencyTable(machine, measure=fake)
    table.build([TINY, TINY.replace(head_channels=64)], progress=False)
    assert table.build([TINY.replace(head_channels=64), TINY], progress=False) == 0 and len(fake.measured) == 2


def test_the_table_is_cached_on_disk_for_the_same_machine(machine, tmp_path):
    LatencyTable.for_machine(machine, tmp_path, measure=FakeMeasure()).build([TINY], progress=False)
    again = FakeMeasure()
    reloaded = LatencyTable.for_machine(machine, tmp_path, measure=again)
    assert reloaded.build([TINY], progress=False) == 0 and again.measured == []
    assert reloaded.predict(TINY) == pytest.approx(sum(len(piece.key) for piece in pieces(TINY)))


@pytest.mark.parametrize("change", [dict(threads=2), dict(batch=8), dict(isa="AVX2"), dict(processor="another CPU"),
                                    dict(torch_version="0.0"), dict(clock="cpu")])
def test_a_different_machine_fingerprint_does_not_reuse_the_table(machine, tmp_path, change):
    LatencyTable.for_machine(machine, tmp_path, measure=FakeMeasure()).build([TINY], progress=False)
    other = FakeMeasure()
    LatencyTable.for_machine(dataclasses.replace(machine, **change), tmp_path, measure=other).build([TINY],
                                                                                                    progress=False)
    assert other.measured == [TINY]


def test_two_writers_of_one_machine_keep_each_others_rows_on_one_scale(machine, tmp_path):
    first = LatencyTable.for_machine(machine, tmp_path, measure=FakeMeasure())
    second_stopwatch = FakeMeasure()
    second_stopwatch.reference_ms = 20.0
    second = LatencyTable.for_machine(machine, tmp_path, measure=second_stopwatch)
    first.build([TINY], progress=False)
    second.build([TINY.replace(head_channels=64)], progress=False)
    merged = LatencyTable.for_machine(machine, tmp_path, measure=FakeMeasure())
    assert set(merged.rows) == set(first.rows) | set(second.rows)
    assert merged.reference_ms == second.reference_ms == FakeMeasure.reference_ms
    head = pieces(TINY.replace(head_channels=64))[-1].key
    assert merged.rows[head]["ms"] == second.rows[head]["ms"] == pytest.approx(len(head) / 2)


def test_predicting_without_building_names_the_missing_piece(machine):
    table = LatencyTable(machine, measure=FakeMeasure())
    with pytest.raises(MissingRows, match="lacks .* piece"):
        predict_latency(TINY, table, build=False)


def test_real_measurements_of_a_tiny_network_are_positive(machine):
    table = LatencyTable(machine)
    table.build([TINY], progress=False)
    assert table.predict(TINY) > 0 and table.reference_ms > 0
    timed = measure_in_context(TINY, TINY.replace(head_channels=64), machine, warmup=1, runs=2, repeats=1)
    assert len(timed.piece_ratios) == len(pieces(TINY)) and min(timed.piece_ratios) > 0 and timed.network_ratio > 0
    step = measure_training_step(TINY, machine, get_fidelity("smoke", batch_size=4, crop=16), warmup=1, runs=2,
                                 repeats=1)
    assert step.median_ms > 0


def test_cpu_clock_needs_one_cpu_thread():
    with pytest.raises(ValueError, match="clock: cpu"):
        machine_fingerprint(threads=2, clock="cpu")


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    return stopped.value.code, capsys.readouterr().err


def test_cli_reports_a_bad_genome_file_in_one_line(capsys, tmp_path):
    bad = tmp_path / "genome.json"
    bad.write_text("{not json")
    code, err = _cli(capsys, str(bad))
    assert code == 2 and err.strip().count("\n") == 0 and "not valid JSON" in err and str(bad) in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_refuses_cuda_without_cuda_in_one_line(capsys):
    code, err = _cli(capsys, "--device", "cuda")
    assert code == 2 and err.strip().count("\n") == 0 and "cuda" in err


@pytest.mark.parametrize("flag, value", [("--batch", "0"), ("--threads", "0"), ("--runs", "10"),
                                         ("--validate", "1"), ("--batch", "two")])
def test_cli_refuses_bad_numbers_in_one_line(capsys, flag, value):
    code, err = _cli(capsys, flag, value)
    assert code == 2 and f"error: argument {flag}: must be an integer " in err.strip().splitlines()[-1]


def test_cli_refuses_more_threads_than_the_machine_has_cpus(capsys):
    code, err = _cli(capsys, "--threads", str((os.cpu_count() or 1) + 1))
    assert code == 2 and err.strip().splitlines()[-1].endswith(
        f"error: argument --threads: must be an integer from 1 to {os.cpu_count() or 1}, got "
        f"'{(os.cpu_count() or 1) + 1}'")


def test_cli_refuses_fit_genomes_without_validate(capsys):
    code, err = _cli(capsys, "--fit-genomes", "5")
    assert code == 2 and err == "error: --fit-genomes: predicts --validate's genomes from a fit; give --validate N " \
                                "as well\n"


def test_cli_refuses_a_cache_dir_that_is_a_file(capsys, tmp_path):
    (tmp_path / "taken").write_text("")
    code, err = _cli(capsys, "--cache-dir", str(tmp_path / "taken"))
    assert code == 2 and err == f"error: --cache-dir: must be a folder, and {tmp_path / 'taken'} is a file\n"


def test_cli_refuses_a_batch_larger_than_memory_before_measuring(capsys, tmp_path):
    code, err = _cli(capsys, "--batch", "100000000", "--cache-dir", str(tmp_path))
    assert code == 2 and err.strip().count("\n") == 0 and err.startswith("error: --batch: 100000000 images at 56 px")


def test_cli_reports_running_out_of_memory_in_one_line(capsys, tmp_path, monkeypatch):
    def allocator_error(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes.\nframe #0")
    monkeypatch.setattr("evaluators.latency._cli.measure_network", allocator_error)
    code, err = _cli(capsys, "--no-train", "--cache-dir", str(tmp_path))
    assert code == 1 and err.strip().splitlines()[-1] == ("error: out of memory (inference at --batch 1): lower "
                                                          "--batch, measure a smaller genome")


def test_cli_prints_measured_and_predicted_latency_with_macs_as_json(capsys, tmp_path):
    genome = tmp_path / "tiny.json"
    TINY.save(genome)
    assert main([str(genome), "--no-train", "--json", "--cache-dir", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["genome_id"] == TINY.id and record["macs"] > 0
    assert record["latency_ms"] > 0 and record["predicted_latency_ms"] > 0 and record["runs"] == 50
    assert len(record["latency_repeat_medians_ms"]) == 3
    assert record["machine"]["isa"] == torch.backends.cpu.get_cpu_capability()


@pytest.mark.parametrize("block, prefix", [("standard", ""), ("condconv", "condconv_")])
def test_a_1x1_depthwise_convolution_is_costed_per_channel_and_element_of_its_block_kind(block, prefix):
    genome = TINY.replace_stages(kernel=1, block=block)
    features = pieces(genome)[1].features
    spec = next(iter(genome.blocks()))
    assert features[f"{prefix}depthwise_1x1_groups"] == spec.mid_channels
    assert features[f"{prefix}depthwise_1x1_elements"] == spec.mid_channels * spec.output_size ** 2
    assert not any(name.startswith("depthwise_1x1" if prefix else "condconv_depthwise_1x1") for name in features)


def _made_up_ms(piece):
    """A cost linear in the piece's features, which the fit can therefore reproduce exactly."""
    features = piece.features
    return (0.05 * features.get("stem", 0) + 0.2 * features.get("ir_block", 0) + 0.5 * features.get("condconv_block", 0)
            + 0.1 * features.get("head", 0) + 1e-7 * sum(v for n, v in features.items() if n.endswith("macs"))
            + 2e-6 * features.get("activations", 0))


class LinearMeasure(FakeMeasure):
    piece_ms = staticmethod(_made_up_ms)


def _random_genomes(seed, count):
    import random
    from space.sampling import random_genome
    rng = random.Random(seed)
    return [random_genome(rng, num_classes=3, resolution=16, se_positions=("dw", "end")) for _ in range(count)]


def test_the_fit_predicts_unmeasured_genomes_from_other_genomes_pieces(machine):
    table = LatencyTable(machine, measure=LinearMeasure())
    fitted_on = _random_genomes(0, 12)
    table.build(fitted_on, progress=False)
    predictor = table.predictor()
    for genome in _random_genomes(1, 3):
        prediction = predictor.predict(genome)
        assert prediction.ms == pytest.approx(sum(_made_up_ms(p) for p in pieces(genome)), rel=1e-4)
        assert prediction.measured_share < 1


def test_measured_pieces_are_used_as_measured(machine):
    table = LatencyTable(machine, measure=FakeMeasure())
    table.build([TINY], progress=False)
    prediction = table.predictor().predict(TINY)
    assert prediction.ms == table.predict(TINY) and prediction.measured_share == 1.0


def test_a_piece_of_a_kind_too_few_pieces_were_measured_of_is_not_extrapolated(machine):
    table = LatencyTable(machine, measure=LinearMeasure())
    table.build([g.replace_stages(block="standard") for g in _random_genomes(0, 12)], progress=False)
    with pytest.raises(MissingRows, match="too few measured pieces to estimate condconv_block"):
        table.predictor().predict(TINY.replace_stages(block="condconv", se_position="none"))


def test_a_predictor_restricted_to_some_genomes_uses_only_their_rows(machine):
    table = LatencyTable(machine, measure=FakeMeasure())
    other = TINY.replace(head_channels=64)
    table.build([TINY, other], progress=False)
    assert set(table.predictor([other]).rows) == {piece.key for piece in pieces(other)}


def test_a_predictor_round_trips_through_json(machine):
    table = LatencyTable(machine, measure=LinearMeasure())
    table.build(_random_genomes(0, 12), progress=False)
    predictor = table.predictor()
    again = LatencyPredictor.from_dict(json.loads(json.dumps(predictor.to_dict())))
    genome = _random_genomes(1, 1)[0]
    assert again == predictor and again.predict(genome) == predictor.predict(genome)


def test_validate_prints_the_share_within_ten_percent_and_both_rank_correlations(monkeypatch, tmp_path, capsys):
    """With a made-up stopwatch whose network latency is exactly the sum of its pieces, every genome is within."""
    from evaluators.latency import _table
    monkeypatch.setattr(_table, "_default_measure", lambda machine: LinearMeasure())
    monkeypatch.setattr("evaluators.latency._cli.measure_in_context",
                        lambda genome, reference, machine, runs: LinearMeasure()(genome))
    assert main(["--validate", "3", "--fit-genomes", "2", "--cache-dir", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    assert "table: within +-10%: 3/3 (100%, target >= 90%)" in out and "spearman(MACs, measured):" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["table_within_10pct"] == 1.0 and "fit_within_10pct" in summary


def test_validate_draws_from_the_search_s_default_space_unless_told(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr("evaluators.latency._cli._validate",
                        lambda table, count, seed, population, *rest: asked.append(population))
    main(["--validate", "3", "--cache-dir", str(tmp_path)])
    main(["--validate", "3", "--cache-dir", str(tmp_path), "--population", "wide"])
    assert asked == ["space", "wide"]


def test_validation_genomes_of_the_space_population_are_the_search_s_draws():
    from space import default_space, genome_params
    genomes, fitted = validation_genomes(4, 3, seed=0, population="space")
    assert len(genomes) == 4 and len(fitted) == 3
    assert all(genome_params(genome, default_space()) is not None for genome in genomes + fitted)
    assert {genome.id for genome in genomes}.isdisjoint(genome.id for genome in fitted)


def test_validation_of_the_wide_population_redraws_the_genomes_of_earlier_logs():
    """benchmarks/latency_fit_cv.py re-splits logs made before --population existed: their draws must not move."""
    import random
    from space.sampling import random_genome
    genomes, fitted = validation_genomes(2, 1, seed=3, population="wide")
    rng, fit_rng = random.Random(3), random.Random("fit-3")
    assert genomes == [random_genome(rng), random_genome(rng)] and fitted == [random_genome(fit_rng)]


def test_an_unknown_population_is_a_one_line_error_naming_it():
    with pytest.raises(ValueError, match=r"^--population: must be one of space, wide, got 'all'$"):
        validation_genomes(2, 0, seed=0, population="all")
