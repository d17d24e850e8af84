"""Would another proxy rank the committed fidelity study's 20 genomes more like the 56 px reference?

Trains the 20 genomes ``evaluators.fidelity`` draws (the baseline and 19 with ``--seed 0``, training seed 0) at the
``proxy`` preset with some settings overridden, on this CPU with one torch thread per training, journaling each run
in ``OUT/runs.jsonl`` (a stopped run resumes there), then prints its Spearman with the committed reference runs
beside the standard proxy's, and their paired difference: both correlations computed on the same bootstrap resamples
of genomes, so the interval of the difference is paired. With two seeds it also prints how well each repeats
its own ranking, each one's seed SD pooled within genomes, and how far the variant moves every genome's figure.

    python benchmarks/proxy_variant.py OUT --crop 32 --epochs 1 [--lr 0.01] [--head-lr-factor 0.1] [--bf16 auto]
        [--bn-recalibration-images 1000] [--seeds 1]
        [--jobs 2] [--checkpoints DIR]
        [--reference-runs JOURNAL]   # the reference on held-out images (evaluators.fidelity --held-out)
        [--report-only]              # the comparison over what OUT's journal holds so far, training nothing

Without ``--crop``/``--epochs``/``--warmup-epochs``/``--lr``/``--head-lr-factor``/``--bf16``/
``--bn-recalibration-images`` the variant is the proxy itself, and ``--seeds 2`` asks whether averaging training
seeds ranks better than one; its seed-0 runs are the committed ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evaluators.arguments import positive_float, positive_int, refuse
from evaluators.data import load_data
from evaluators.fidelity import Job, genomes_for, held_out_references, pooled_seed_noise, read_journal, run_jobs
from evaluators.presets import get_fidelity
from evaluators.ranking import (CONFIDENCE, TOP_K, Estimate, bootstrap, bootstrap_difference, bootstrap_indices,
                                chance_overlap, kendall, spearman, top_overlap)

COMMITTED = Path(__file__).resolve().parent / "fidelity-1205" / "runs.jsonl"
MIN_GENOMES = 3
PROXY = get_fidelity("proxy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the variant's runs.jsonl")
    parser.add_argument("--crop", type=positive_int, help="training crop in px (the proxy's: 24)")
    parser.add_argument("--epochs", type=positive_int, help="epochs over the 5,000 images (the proxy's: 2)")
    parser.add_argument("--warmup-epochs", type=positive_float, help="warm-up (the proxy's: 0.1 epochs)")
    parser.add_argument("--lr", type=positive_float, help="peak learning rate (the proxy's: 0.02)")
    parser.add_argument("--head-lr-factor", type=positive_float,
                        help="the classifier's fraction of the LR (the proxy's: 1)")
    parser.add_argument("--bf16", choices=("auto", "on", "off"),
                        help="bf16 autocast (the proxy's: off; the reference's: auto, on where the CPU has it)")
    parser.add_argument("--bn-recalibration-images", type=positive_int, metavar="N",
                        help="recompute BatchNorm's statistics on N centre-cropped training images before evaluating "
                             "(the proxy's: 0, the running averages training left)")
    parser.add_argument("--seeds", type=positive_int, default=1,
                        help="training seeds 0..N-1 per genome; the variant's accuracy is their mean")
    parser.add_argument("--jobs", type=positive_int, default=2)
    parser.add_argument("--checkpoints", type=Path, metavar="DIR",
                        help="each training saves itself here at epoch ends and resumes from there after a stop "
                             "(for long variants; default: a stopped training starts again)")
    parser.add_argument("--bootstrap", type=positive_int, default=2000)
    parser.add_argument("--reference-runs", type=Path, metavar="JOURNAL",
                        help="runs.jsonl of `python -m evaluators.fidelity --held-out SPEC`: judge against its "
                             "reference's seed-0 figures on SPEC's images instead of the committed reference's on "
                             "the default 1,000")
    parser.add_argument("--report-only", action="store_true",
                        help="print the comparison over the genomes OUT's journal holds so far and train nothing "
                             "(while another process trains into it)")
    args = parser.parse_args()
    overrides = {"crop": args.crop, "epochs": args.epochs, "warmup_epochs": args.warmup_epochs,
                 "lr": args.lr, "head_lr_factor": args.head_lr_factor, "bf16": args.bf16,
                 "bn_recalibration_images": args.bn_recalibration_images}
    try:
        variant = get_fidelity("proxy", **overrides)
    except ValueError as error:
        refuse(parser, error, args)
    if any(value is not None for value in overrides.values()):
        peak = f"-lr{variant.lr:g}" if variant.lr != PROXY.lr else ""
        head = f"-h{variant.head_lr_factor:g}" if variant.head_lr_factor != 1 else ""
        precision = f"-bf16{variant.bf16}" if variant.bf16 != "off" else ""
        batch_norm = f"-bn{variant.bn_recalibration_images}" if variant.bn_recalibration_images else ""
        variant = variant.replace(name=f"proxy-c{variant.crop}-e{variant.epochs:g}{peak}{head}{precision}{batch_norm}")
    elif args.seeds == 1:
        parser.exit(2, "error: --seeds 1 without --crop, --epochs, --warmup-epochs, --lr, --head-lr-factor, --bf16 or "
                       "--bn-recalibration-images is the committed proxy itself: nothing to compare\n")
    held_out = _held_out_reference(args.reference_runs) if args.reference_runs else None  # refused before training
    genomes = genomes_for(20, num_classes=10, seed=0)
    checkpoints = str(args.checkpoints) if args.checkpoints else None
    jobs = [Job(genome, variant, "synthetic", seed, "cpu", checkpoint_dir=checkpoints)
            for seed in range(args.seeds) for genome in genomes]
    committed = [json.loads(line) for line in COMMITTED.read_text().splitlines()]
    journal = args.out / "runs.jsonl"
    repeats = _committed_repeats(jobs, committed)
    if args.report_only:
        done = {record["key"]: record for record in repeats} | read_journal(journal)
        print(f"{variant.name}: the runs in {journal} so far, training nothing", flush=True)
    else:
        load_data("synthetic")  # decoded into the cache once, before the workers read it
        args.out.mkdir(parents=True, exist_ok=True)
        _append_missing(repeats, journal)
        print(f"{variant.name}: {variant.total_steps(5000)} steps of {variant.batch_size} at {variant.crop} px; "
              f"{len(genomes)} genomes x {args.seeds} seeds, {args.jobs} at a time", flush=True)

        def report(job: Job, record: dict) -> None:
            print(f"{job.genome.id} {variant.name} seed {job.seed}: {record['top1']:.2f}% in "
                  f"{record['seconds']:.0f}s", flush=True)

        done = run_jobs(jobs, journal, {"cpu": args.jobs}, report)
    by_seed = [{job.genome.id: done[job.key]["top1"] for job in jobs
                if job.seed == seed and done.get(job.key, {}).get("status") == "ok"} for seed in range(args.seeds)]
    at = {(r["genome_id"], r["fidelity"]): r["top1"] for r in committed if r["seed"] == 0 and r["status"] == "ok"}
    judged_by = "the reference (seed 0)"
    if held_out:
        references, images = held_out
        at = {key: top1 for key, top1 in at.items() if key[1] != "reference"} | references
        judged_by = f"the reference (seed 0) on {images}"
    ids = [genome.id for genome in genomes
           if all(genome.id in found for found in by_seed) and (genome.id, "reference") in at]
    if len(ids) < MIN_GENOMES:
        raise SystemExit(f"error: {len(ids)} genome(s) in {journal} with the variant's figures at every seed and a "
                         f"reference figure; a ranking needs {MIN_GENOMES} or more")
    reference = np.array([at[(i, "reference")] for i in ids])
    proxy = np.array([at[(i, "proxy")] for i in ids])
    per_seed = np.array([[found[i] for i in ids] for found in by_seed])
    mean = per_seed.mean(axis=0)
    named = f"{variant.name}, mean of {args.seeds} seeds" if args.seeds > 1 else variant.name
    print(f"over {len(ids)} genomes; Spearman with {judged_by}, {CONFIDENCE:.0%} bootstrap CI:")
    if variant.name != "proxy" or args.seeds == 1:
        print(f"  proxy, seed 0: {bootstrap(spearman, proxy, reference, samples=args.bootstrap)}")
    if args.seeds > 1:
        for seed, values in enumerate(per_seed):
            print(f"  {variant.name}, seed {seed}: {bootstrap(spearman, values, reference, samples=args.bootstrap)}")
    print(f"  {named}: {bootstrap(spearman, mean, reference, samples=args.bootstrap)}")
    print(f"  {named}: Kendall {bootstrap(kendall, mean, reference, samples=args.bootstrap)}, top-{TOP_K} overlap "
          f"{top_overlap(mean, reference)} of {TOP_K}; the proxy seed 0's Kendall "
          f"{bootstrap(kendall, proxy, reference, samples=args.bootstrap)}, top-{TOP_K} {top_overlap(proxy, reference)} "
          f"of {TOP_K} (at random {chance_overlap(TOP_K, len(ids)):.2f})")
    loss_by_seed = [{job.genome.id: done.get(job.key, {}).get("eval_loss") for job in jobs if job.seed == seed}
                    for seed in range(args.seeds)]
    losses = np.array([[found[i] for i in ids] for found in loss_by_seed], dtype=float)  # nan: not journaled
    if np.isfinite(losses).all():  # journals written before evaluation loss was recorded have none
        lower_first = -losses.mean(axis=0)
        print(f"  {named}, ranked by evaluation loss (lower first): "
              f"{bootstrap(spearman, lower_first, reference, samples=args.bootstrap)}")
    gain = bootstrap_difference(spearman, mean, proxy, reference, samples=args.bootstrap)
    print(f"  {named} - proxy seed 0 (paired over genomes): {gain.signed()}")
    if variant.name == "proxy":
        # Seed 0 starts each genome from the same initial weights as the reference's seed 0, a head start
        # in agreeing with it that seed 1 lacks: against seed 1 the gain of averaging is measured fairly.
        fair = bootstrap_difference(spearman, mean, per_seed[1], reference, samples=args.bootstrap)
        print(f"  {named} - proxy seed 1, which shares no initial weights with the reference: {fair.signed()}")
    committed_proxy = {(r["genome_id"], r["seed"]): r["top1"] for r in committed
                       if r["fidelity"] == "proxy" and r["status"] == "ok"}
    if variant.name != "proxy" and args.seeds > 1 and all((i, seed) in committed_proxy
                                                          for i in ids for seed in range(args.seeds)):
        # Like for like: both proxies averaged over the same training seeds.
        proxy_mean = np.array([np.mean([committed_proxy[(i, seed)] for seed in range(args.seeds)]) for i in ids])
        proxy_spearman = bootstrap(spearman, proxy_mean, reference, samples=args.bootstrap)
        print(f"  proxy, mean of {args.seeds} seeds: {proxy_spearman}")
        same = bootstrap_difference(spearman, mean, proxy_mean, reference, samples=args.bootstrap)
        print(f"  {named} - proxy, mean of the same {args.seeds} seeds (paired over genomes): {same.signed()}")
        # Seed 0 of any variant begins where the reference's seed 0 does (its initial weights, its batches); seed 1
        # of both proxies shares nothing with it, so there the two proxies are compared without that head start.
        proxy_seed_1 = np.array([committed_proxy[(i, 1)] for i in ids])
        unshared = bootstrap_difference(spearman, per_seed[1], proxy_seed_1, reference, samples=args.bootstrap)
        print(f"  proxy, seed 1: {bootstrap(spearman, proxy_seed_1, reference, samples=args.bootstrap)}; "
              f"{variant.name}, seed 1 - proxy, seed 1 (paired over genomes; neither shares the reference's seed): "
              f"{unshared.signed()}")
        print(f"  {variant.name}'s seed-0-against-seed-1 agreement minus the proxy's (paired over genomes): "
              f"{_repeatability_gain(per_seed, committed_proxy, ids, args.bootstrap).signed()}")
        _print_noise_and_level(variant.name, per_seed, committed_proxy, ids, args.bootstrap)
    print(f"  {named} against the proxy seed 0 itself: {spearman(mean, proxy):.3f}")
    if args.seeds > 1:
        agreement = bootstrap(spearman, per_seed[0], per_seed[1], samples=args.bootstrap)
        print(f"  {variant.name}, seed 0 against seed 1 (how well it repeats its own ranking): {agreement}")


def _repeatability_gain(per_seed: np.ndarray, committed_proxy: dict, ids: list[str], samples: int) -> Estimate:
    """spearman(variant seed 0, seed 1) - spearman(proxy seed 0, seed 1), both on each resample of genomes."""
    proxy_seeds = [np.array([committed_proxy[(i, seed)] for i in ids]) for seed in (0, 1)]
    return bootstrap_indices(lambda at: spearman(per_seed[0][at], per_seed[1][at])
                             - spearman(proxy_seeds[0][at], proxy_seeds[1][at]), len(ids), samples, vectorized=True)


def _print_noise_and_level(name: str, per_seed: np.ndarray, committed_proxy: dict, ids: list[str],
                           samples: int) -> None:
    """How much a genome's figure moves between training seeds at each proxy (the SD pooled within genomes), and
    where the variant's figures sit against the proxy's: a variant can rank alike while lowering every genome,
    which point 1's floor for the baseline would then have to absorb."""
    proxy_seeds = np.array([[committed_proxy[(i, seed)] for i in ids] for seed in range(len(per_seed))])

    def seed_sd(runs: np.ndarray, at: np.ndarray) -> float:
        return pooled_seed_noise({str(n): list(runs[:, k]) for n, k in enumerate(at)}).sd

    every = np.arange(len(ids))
    ratio = bootstrap_indices(lambda at: seed_sd(per_seed, at) / seed_sd(proxy_seeds, at), len(ids), samples)
    shift = bootstrap_indices(lambda at: per_seed[:, at].mean() - proxy_seeds[:, at].mean(), len(ids), samples)
    print(f"  seed SD pooled within genomes: proxy {seed_sd(proxy_seeds, every):.2f}, {name} "
          f"{seed_sd(per_seed, every):.2f} points; {name} / proxy {ratio} (over the same resamples of genomes)")
    print(f"  mean top-1 over the genomes and seeds: proxy {proxy_seeds.mean():.2f} %, {name} {per_seed.mean():.2f} %; "
          f"{name} - proxy {shift.signed()} points")


def _held_out_reference(journal: Path) -> tuple[dict[tuple[str, str], float], str]:
    """The reference's seed-0 top-1 on its held-out images, by genome, and which images they were."""
    try:
        runs = held_out_references(read_journal(journal).values())
    except ValueError as error:
        raise SystemExit(f"error: --reference-runs {journal}: {error}") from None
    if not runs:
        raise SystemExit(f"error: --reference-runs {journal}: no seed-0 reference run with held-out figures")
    spec = next(iter(runs.values()))["held_out"]
    return {(genome, "reference"): run["held_out_top1"] for genome, run in runs.items()}, f"{spec}'s validation images"


def _committed_repeats(jobs: list[Job], committed: list[dict]) -> list[dict]:
    """The committed runs the variant would repeat (the plain proxy at seed 0): training them again would give the
    same figures at the cost of CPU-hours."""
    wanted = {job.key for job in jobs}
    return [record for record in committed if record["key"] in wanted]


def _append_missing(records: list[dict], journal: Path) -> None:
    """Copy into the journal the records it lacks, so that ``run_jobs`` skips them."""
    present = set(read_journal(journal))
    with journal.open("a") as file:
        file.writelines(json.dumps(record) + "\n" for record in records if record["key"] not in present)


if __name__ == "__main__":
    main()
