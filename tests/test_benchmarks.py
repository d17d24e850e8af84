"""The benchmark commands run end to end and print their figures (their targets are measured, not asserted).

``evaluators.fidelity`` has its own tests in test_fidelity.py."""

import contextlib
import io
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest


def _in_process(script: Path, *args: str) -> subprocess.CompletedProcess:
    """``python SCRIPT ARGS``, run in this process: the same ``__main__`` code, printed output and exit status,
    without a fresh interpreter's seconds of importing torch. For the scripts that read journals and print, or
    refuse their arguments; a script that trains, or reads the environment as it starts, runs in a process of its own."""
    stdout, stderr, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = [str(script), *args]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as stop:  # as the interpreter reads it: None is 0, a message goes to stderr with status 1
        code = 0 if stop.code is None else stop.code
        if isinstance(code, str):
            stderr.write(f"{code}\n")
            code = 1
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess([sys.executable, str(script), *args], code, stdout.getvalue(), stderr.getvalue())


def _run(module, *args, cache):
    env = {"EFFCNN_CACHE": str(cache), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_bench_ends_with_the_speedup_line(tmp_path):
    lines = _run("evaluators.bench", "--images-per-class", "22", "--classes", "3", "--steps", "2", "--warmup", "1",
                 "--full-steps", "1", "--workers", "0", "--threads", "1", "--rounds", "2", cache=tmp_path)
    assert re.fullmatch(r"speedup: \d+\.\d+x \(median of 2 alternating rounds' ratios, range \d+\.\d+-\d+\.\d+x\)",
                        lines[-1])
    assert any(re.fullmatch(r"ours, fp32 channels_last: \d+\.\d img/s \(median of 2 rounds, range \d+\.\d-\d+\.\d\)",
                            line) for line in lines)
    assert any(re.fullmatch(r"ours, bf16 / fp32: \d+\.\d\dx \(median of 2 alternating rounds' ratios, range "
                            r"\d+\.\d\d-\d+\.\d\dx\)", line) for line in lines)
    assert any("fp32 matmul peak" in line for line in lines)


def test_bench_names_the_instruction_set_in_use_and_follows_an_emulated_one():
    from evaluators.bench import instruction_sets

    assert re.match(r"instruction set: ATen \w+, oneDNN up to the best the CPU has; this CPU has AVX-512: (yes|no)$",
                    instruction_sets())
    env = {"PATH": "/usr/bin:/bin", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run([sys.executable, "-c", "from evaluators.bench import instruction_sets as i; print(i())"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("instruction set: ATen AVX2, oneDNN up to AVX2;"), out.stderr


def test_bench_says_how_many_logical_cpus_share_a_core():
    from evaluators.bench import cpu_topology

    assert re.fullmatch(r"cpu: .+, \d+ logical CPUs usable, (\d+|unknown) per physical core \(SMT siblings share one\)",
                        cpu_topology())


def test_cpu_lists_in_the_kernels_format_expand_to_every_cpu():
    from evaluators.bench import _cpu_list

    assert _cpu_list("0-1,4\n") == [0, 1, 4]
    assert _cpu_list("3") == [3]


def test_bench_refuses_an_image_set_smaller_than_a_batch(tmp_path):
    env = {"EFFCNN_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "evaluators.bench", "--images-per-class", "8", "--classes", "3"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "--images-per-class x --classes must be at least 64" in out.stderr


@pytest.mark.parametrize("name", ["reference_device.sh", "heldout_report.sh", "proxy_cost.sh"])
def test_the_shell_scripts_parse(name):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / name
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_held_out_ceiling_sets_the_observed_spearman_beside_the_noise_ceiling():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_ceiling.py"
    out = _in_process(script)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert re.match(r"observed: proxy \(seed 0\) vs reference on the held-out images, spearman -?\d\.\d{3}$", lines[1])
    assert re.match(r"noise ceiling: proxy \(seed 0\) seed SD (\d+\.\d\d) \(pooled over 20 genomes' seeds.*reference on "
                    r"held-out images seed SD 0\.17 \(27777d5740a2, n = 5; 10,000 evaluation images", lines[2])
    single = float(re.search(r"seed SD (\d+\.\d\d)", lines[2]).group(1))
    assert lines[3].startswith("observed: proxy (mean of seeds 0 and 1) vs reference on the held-out images, spearman")
    mean = float(re.search(r"^noise ceiling: proxy \(mean of seeds 0 and 1\) seed SD (\d+\.\d\d)", lines[4]).group(1))
    assert mean == pytest.approx(single / 2 ** 0.5, abs=0.01)


def test_the_held_out_ceiling_refuses_a_journal_without_held_out_references_in_one_line(tmp_path):
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "heldout_ceiling.py"
    proxy_only = tmp_path / "runs.jsonl"
    proxy_only.write_text(script.with_name("proxy-seeds").joinpath("runs.jsonl").read_text())
    out = _in_process(script, str(proxy_only))
    assert out.returncode == 2
    assert out.stderr == (f"error: 0 genome(s) with a held-out reference in {proxy_only} and proxy seeds 0 and 1; a "
                          f"ceiling needs 3 or more\n")


def test_proxy_variant_refuses_a_reference_journal_without_held_out_figures_before_training(tmp_path):
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "proxy_variant.py"
    proxy_only = script.with_name("proxy-seeds") / "runs.jsonl"
    out = _in_process(script, str(tmp_path / "out"), "--crop", "32", "--reference-runs", str(proxy_only))
    assert out.returncode == 1
    assert out.stderr == f"error: --reference-runs {proxy_only}: no seed-0 reference run with held-out figures\n"
    assert not (tmp_path / "out").exists()


HELD_OUT_REFERENCE = Path(__file__).resolve().parent.parent / "benchmarks" / "fidelity-heldout" / "runs.jsonl"


def _partial_variant_journal(out: Path, runs: int) -> Path:
    """The first ``runs`` lines of the committed 56 px bf16 variant's journal, as a study in progress holds them."""
    committed = Path(__file__).resolve().parent.parent / "benchmarks" / "proxy-c56-bf16" / "runs.jsonl"
    out.mkdir()
    journal = out / "runs.jsonl"
    journal.write_text("".join(committed.read_text().splitlines(keepends=True)[:runs]))
    return journal


def _report_only(out: Path, *options: str) -> subprocess.CompletedProcess:
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    return _in_process(benchmarks / "proxy_variant.py", str(out), "--crop", "56", "--bf16", "auto", "--report-only",
                       "--reference-runs", str(HELD_OUT_REFERENCE), *options)


def test_proxy_variant_report_only_ranks_the_journal_s_genomes_so_far_and_writes_nothing(tmp_path):
    from scipy.stats import spearmanr

    from evaluators.fidelity import held_out_references, read_journal

    journal = _partial_variant_journal(tmp_path / "out", runs=4)
    before = journal.read_text()
    out = _report_only(tmp_path / "out")
    assert out.returncode == 0, out.stderr
    variant = {record["genome_id"]: record["top1"] for record in read_journal(journal).values()}
    references = held_out_references(read_journal(HELD_OUT_REFERENCE).values())
    expected = spearmanr([variant[i] for i in variant], [references[i]["held_out_top1"] for i in variant])[0]
    printed = re.search(r"^  proxy-c56-e2-bf16auto: (-?\d\.\d{3}) ", out.stdout, re.MULTILINE)
    assert "over 4 genomes" in out.stdout and float(printed.group(1)) == pytest.approx(expected, abs=5e-4)
    assert journal.read_text() == before and sorted(p.name for p in journal.parent.iterdir()) == ["runs.jsonl"]


def test_proxy_variant_report_gives_kendall_and_the_top_five_overlap_beside_the_stock_proxy_s(tmp_path):
    from scipy.stats import kendalltau

    from evaluators.fidelity import held_out_references, read_journal

    journal = _partial_variant_journal(tmp_path / "out", runs=6)
    out = _report_only(tmp_path / "out")
    assert out.returncode == 0, out.stderr
    variant = {record["genome_id"]: record["top1"] for record in read_journal(journal).values()}
    references = held_out_references(read_journal(HELD_OUT_REFERENCE).values())
    expected = kendalltau([variant[i] for i in variant], [references[i]["held_out_top1"] for i in variant])[0]
    printed = re.search(r"^  proxy-c56-e2-bf16auto: Kendall (-?\d\.\d{3}) .*, top-5 overlap (\d) of 5; the proxy seed "
                        r"0's Kendall .* \(at random 4\.17\)$", out.stdout, re.MULTILINE)
    assert float(printed.group(1)) == pytest.approx(expected, abs=5e-4) and 1 <= int(printed.group(2)) <= 5


def test_proxy_variant_report_compares_seed_1_of_both_proxies_which_share_nothing_with_the_reference(tmp_path):
    from scipy.stats import spearmanr

    from evaluators.fidelity import held_out_references, read_journal

    journal = _partial_variant_journal(tmp_path / "out", runs=10_000)
    out = _report_only(tmp_path / "out", "--seeds", "2")
    assert out.returncode == 0, out.stderr
    variant = {record["genome_id"]: record["top1"] for record in read_journal(journal).values() if record["seed"] == 1}
    references = held_out_references(read_journal(HELD_OUT_REFERENCE).values())
    expected = spearmanr([variant[i] for i in variant], [references[i]["held_out_top1"] for i in variant])[0]
    printed = re.search(r"^  proxy-c56-e2-bf16auto, seed 1: (-?\d\.\d{3}) ", out.stdout, re.MULTILINE)
    assert float(printed.group(1)) == pytest.approx(expected, abs=5e-4)
    assert re.search(r"^  proxy, seed 1: -?\d\.\d{3} \[.*\]; proxy-c56-e2-bf16auto, seed 1 - proxy, seed 1 \(paired over "
                     r"genomes; neither shares the reference's seed\): [+-]\d\.\d{3} \[", out.stdout, re.MULTILINE)


def test_proxy_variant_report_only_refuses_fewer_than_three_genomes_in_one_line(tmp_path):
    journal = _partial_variant_journal(tmp_path / "out", runs=2)
    out = _report_only(tmp_path / "out")
    assert out.returncode == 1
    assert out.stderr == (f"error: 2 genome(s) in {journal} with the variant's figures at every seed and a reference "
                          f"figure; a ranking needs 3 or more\n")


@pytest.mark.parametrize("options, name", [
    (["--lr", "0.01"], "proxy-c24-e2-lr0.01"),
    (["--bn-recalibration-images", "1000"], "proxy-c24-e2-bn1000"),
    (["--lr", "0.04", "--head-lr-factor", "0.1", "--bn-recalibration-images", "500"], "proxy-c24-e2-lr0.04-h0.1-bn500"),
])
def test_proxy_variant_names_the_variant_by_every_setting_it_changes(tmp_path, options, name):
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "proxy_variant.py"
    out = _in_process(script, str(tmp_path / "out"), *options, "--report-only")
    assert out.stdout.startswith(f"{name}: the runs in ") and out.returncode == 1  # no runs yet: nothing to rank


def test_proxy_cost_trains_both_arms_each_rep_and_ends_with_the_variant_s_ratio_to_the_stock_proxy():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "proxy_cost.sh"
    env = {**os.environ, "DATA": "synthetic:classes=3,train=16,val=8"}
    out = subprocess.run(["bash", str(script), "--crop 16 --bf16 off", "2"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ") and len(lines) == 6
    assert [line.split(":")[0].strip() for line in lines[1:5]] == ["stock rep 1", "variant rep 1", "stock rep 2",
                                                                      "variant rep 2"]
    seconds = [float(re.search(r"training (\d+\.\d) s", line).group(1)) for line in lines[1:5]]
    ratio = float(re.match(r"variant \(--crop 16 --bf16 off\) / stock proxy, training seconds: (\d+\.\d\d)x "
                           r"\(per pair \d+\.\d\d-\d+\.\d\dx, n = 2 pair\(s\)\)$", lines[5]).group(1))
    assert ratio == pytest.approx((seconds[1] + seconds[3]) / (seconds[0] + seconds[2]), abs=0.1)


CURVES = Path(__file__).resolve().parent.parent / "benchmarks" / "reference_curves.py"


def _curve_journal(path: Path, curves: dict[str, list[float]], held_out: dict[str, float],
                   proxy: dict[str, float]) -> Path:
    """A made-up held-out study's journal: each genome's reference at seed 0 with its curve, its proxy at seeds 0-1."""
    lines = []
    for genome, curve in curves.items():
        lines.append({"key": f"{genome}-r", "genome_id": genome, "fidelity": "reference", "seed": 0, "status": "ok",
                      "top1": curve[-1], "held_out": "synthetic:seed=1", "held_out_top1": held_out[genome],
                      "curve_top1": curve})
        lines += [{"key": f"{genome}-p{seed}", "genome_id": genome, "fidelity": "proxy", "seed": seed, "status": "ok",
                   "top1": proxy[genome] + seed} for seed in (0, 1)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_reference_curves_rank_each_epoch_against_the_final_figure_and_the_proxy(tmp_path):
    # Epoch 1 ranks the genomes as the proxy does and opposite to the final held-out figures; epoch 2 as the final.
    genomes = ["a" * 12, "b" * 12, "c" * 12, "d" * 12]
    curves = {g: [10.0 + k, 90.0 - k] for k, g in enumerate(genomes)}
    held_out = {g: 80.0 - k for k, g in enumerate(genomes)}
    proxy = {g: 40.0 + k for k, g in enumerate(genomes)}
    journal = _curve_journal(tmp_path / "runs.jsonl", curves, held_out, proxy)
    logs = tmp_path / "empty.log"
    logs.write_text("")
    out = _in_process(CURVES, str(journal), "--logs", str(logs), "--bootstrap", "200")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if re.match(r"\s+\d ", line)}
    assert (rows["1"][2], rows["1"][5], rows["1"][8]) == ("-1.000", "+0.000", "1.000")
    assert (rows["2"][2], rows["2"][5], rows["2"][8]) == ("1.000", "+2.000", "-1.000")
    assert "proxy vs final (held-out): -1.000" in out.stdout


def test_reference_curves_read_the_printed_epoch_lines_of_a_journal_without_curves(tmp_path):
    genomes = ["a" * 12, "b" * 12, "c" * 12]
    curves = {g: [20.0 + k, 95.0 + k] for k, g in enumerate(genomes)}
    journal = _curve_journal(tmp_path / "runs.jsonl", curves, {g: 90.0 + k for k, g in enumerate(genomes)},
                             {g: 50.0 - k for k, g in enumerate(genomes)})
    journal.write_text(journal.read_text().replace('"curve_top1"', '"older_field"'))
    log = tmp_path / "run.log"
    log.write_text("".join(f"  {g} reference seed 0: epoch 1/2, {curve[0]:.2f}% (60s)\n" for g, curve in curves.items()))
    out = _in_process(CURVES, str(journal), "--logs", str(log), "--bootstrap", "200")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 genomes with the reference's top-1 after each of its 2 epochs")
    assert re.search(r"^\s+1\s+21\.00\s+1\.000 .* -1\.000 ", out.stdout, re.MULTILINE)


def test_reference_curves_need_three_genomes_and_say_so_in_one_line(tmp_path):
    journal = _curve_journal(tmp_path / "runs.jsonl", {"a" * 12: [1.0, 2.0]}, {"a" * 12: 2.0}, {"a" * 12: 1.0})
    out = _in_process(CURVES, str(journal), "--logs")
    assert out.returncode == 2
    assert out.stderr == (f"error: 1 genome(s) in {journal} have a whole reference curve, a held-out figure and a "
                          f"proxy run; at least 3 are needed\n")


def test_reference_curves_take_a_variant_s_runs_from_its_own_journal(tmp_path):
    genomes = ["a" * 12, "b" * 12, "c" * 12]
    journal = _curve_journal(tmp_path / "runs.jsonl", {g: [10.0 + k, 90.0 + k] for k, g in enumerate(genomes)},
                             {g: 80.0 + k for k, g in enumerate(genomes)}, {g: 40.0 + k for k, g in enumerate(genomes)})
    variant = tmp_path / "variant.jsonl"  # ranks the genomes opposite to the stock proxy of the main journal
    variant.write_text("".join(json.dumps({"key": g, "genome_id": g, "fidelity": "proxy-c56", "seed": 0, "status": "ok",
                                           "top1": 60.0 - k}) + "\n" for k, g in enumerate(genomes)))
    out = _in_process(CURVES, str(journal), "--logs", "--proxy-journal", str(variant), "--proxy-fidelity", "proxy-c56",
                      "--bootstrap", "200")
    assert out.returncode == 0, out.stderr
    assert "the proxy's (proxy-c56) mean over seeds 0,1 (1 per genome)" in out.stdout
    assert "proxy vs final (held-out): -1.000" in out.stdout


def test_reference_curves_refuse_a_proxy_fidelity_the_journal_lacks_in_one_line(tmp_path):
    journal = _curve_journal(tmp_path / "runs.jsonl", {"a" * 12: [1.0, 2.0]}, {"a" * 12: 2.0}, {"a" * 12: 1.0})
    out = _in_process(CURVES, str(journal), "--logs", "--proxy-fidelity", "proxy-c99")
    assert out.returncode == 2
    assert out.stderr == f"error: --proxy-fidelity: {journal} has no finished 'proxy-c99' run at seeds 0,1\n"


def test_the_committed_reference_curves_print_every_epoch():
    out = _in_process(CURVES)
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines() if re.match(r"\s+\d ", line)] == list("12345678")


BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(name, *args, env=None):
    """A benchmark script in a process of its own, for ``env`` read as it starts (TMPDIR)."""
    return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("name, args, flag", [
    ("cpu_eval.py", ["--rounds", "0"], "--rounds"),
    ("cpu_eval.py", ["--batches", "500,abc"], "--batches"),
    ("cpu_eval.py", ["--blocks", "standard,foo"], "--blocks"),
    ("cpu_step.py", ["--steps", "0"], "--steps"),
    ("cpu_step.py", ["--blocks", "foo"], "--blocks"),
    ("reference_curves.py", ["--bootstrap", "0"], "--bootstrap"),
    ("search_memory.py", ["--images", "10"], "--images"),
    ("search_memory.py", ["--fraction", "2"], "--fraction"),
    ("search_memory.py", ["--concurrency", "1", "0"], "--concurrency"),
    ("latency_fit_cv.py", ["--log", "LOG", "--cache-dir", "DIR", "--splits", "0"], "--splits"),
    ("latency_fit_cv.py", ["--log", "LOG", "--cache-dir", "DIR", "--fit-sizes", "10,abc"], "--fit-sizes"),
])
def test_a_benchmark_s_bad_argument_is_refused_in_one_line_naming_the_flag(name, args, flag):
    out = _in_process(BENCHMARKS / name, *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"{name}: error: argument {flag}: must be"), out.stderr


def test_search_memory_refuses_a_bad_argument_before_writing_anything(tmp_path):
    out = _script("search_memory.py", "--images", "0", env={"TMPDIR": str(tmp_path)})
    assert out.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_fidelity_cpu_reference_refuses_a_folder_without_a_journal_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFCNN_CACHE", str(tmp_path / "cache"))
    out = _in_process(BENCHMARKS / "fidelity_cpu_reference.py", str(tmp_path))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: {tmp_path}: no runs.jsonl;") and out.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_fidelity_cpu_reference_refuses_a_journal_without_the_proxy_runs_of_the_trainings_asked_for(tmp_path,
                                                                                                   monkeypatch):
    journal = tmp_path / "runs.jsonl"
    journal.write_text((BENCHMARKS / "proxy-seeds" / "runs.jsonl").read_text())  # proxy seeds 0-1 of each genome
    monkeypatch.setenv("EFFCNN_CACHE", str(tmp_path / "cache"))
    out = _in_process(BENCHMARKS / "fidelity_cpu_reference.py", str(tmp_path), "--baseline-seeds", "5")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: {journal}: no proxy run of 3 of the 24 reference trainings asked for "
                                 f"(first 27777d5740a2 seed 2);") and out.stderr.count("\n") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs.jsonl"]


def test_the_held_out_ceiling_refuses_a_journal_whose_records_lack_fields_in_one_line(tmp_path):
    journal = tmp_path / "runs.jsonl"
    journal.write_text('{"key": "x", "genome_id": "a"}\n')
    out = _in_process(BENCHMARKS / "heldout_ceiling.py", str(journal))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {journal}: ") and out.stderr.count("\n") == 1, out.stderr
