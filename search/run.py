"""``python -m search.run --budget 50``: multi-objective architecture search (accuracy up; MACs and/or latency down).

Each trial is a Ray Tune trial that trains one genome's proxy; Optuna (through Ray Tune's OptunaSearch)
chooses the genomes; the Table 1 baseline is trained as fixed trials, one per training seed. Successive halving
(the default scheduler) stops the genomes that rank low early. The study lives in an RDB storage, so
re-running the same command continues it, and ``--budget`` counts the study's trials. With ``--scheduler
fifo``, several runs with the same ``--study-name`` and ``--storage``, on one machine or several, share the
study.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from evaluators.arguments import positive_int, random_seed, refuse
from evaluators.data import ImageData, default_cache_dir
from evaluators.presets import Fidelity, add_fidelity_arguments, fidelity_from_args
from evaluators.trainer import check_units_fit
from space import BLOCK_TYPES

from ._cli import (add_cluster_arguments, add_latency_clock_argument, add_results_dir_argument, check_cluster,
                   check_results_dir, finish, folder_name, load_data_or_exit)
from .study import (DEFAULT_GRACE, KEEP_WEIGHTS, SAMPLERS, SCHEDULERS, Halving, chance_floor, default_space,
                    load_space, parse_objectives)

DEFAULT_MAX_UNITS = Halving.max_units
"""Units the preset is cut into unless ``--max-units`` says otherwise (fewer if it has fewer steps)."""
HALVING_DEFAULTS = {"scheduler": Halving.scheduler, "grace": Halving.grace, "eta": Halving.eta, "rung_floor": "none"}
"""The successive-halving options' defaults for a new study (a continued one keeps what it recorded). eta 4
over 16 units (rungs at 1, 4 and 16) since 2026-12-05: the default run in under 20 minutes on a 2-core AVX-512
CPU, where eta 3 over 9 units took 26 (README, "Measured here")."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.run", description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=50, help="total trials in the study, baselines included (default 50)")
    p.add_argument("--data", default="synthetic", help="synthetic[:k=v,...] (default), imagefolder:PATH, cifar100[:PATH]")
    p.add_argument("--study-name", type=folder_name, default="study",
                   help="names the study and its folder (default 'study')")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (default sqlite:///<results-dir>/<study>/study.db); PostgreSQL/MySQL work")
    p.add_argument("--resume", action="store_true", help="continue an existing study; fail if there is none")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    p.add_argument("--seed", type=random_seed, default=0, help="the sampler's seed (default 0)")
    p.add_argument("--train-seed", type=random_seed, default=0,
                   help="training seeds: trial n trains with seed TRAIN_SEED + n (default 0)")
    p.add_argument("--max-concurrent", type=positive_int, default=None,
                   help="trials at once (default: as many as the CPUs allow); results reach the sampler in trial "
                        "order, so a seed gives the same study")
    p.add_argument("--space", default=None, help="YAML/JSON file overriding the search space's bounds and choices")
    p.add_argument("--show-space", action="store_true", help="print the search space and exit")
    p.add_argument("--search-training", action="store_true", help="also search peak LR, weight decay, label smoothing")
    p.add_argument("--baseline-blocks", default="standard",
                   help="comma-separated baseline block types to train as fixed trials (default standard)")
    p.add_argument("--baseline-seeds", type=int, default=3,
                   help="trials of each baseline, each with its own training seed, so the reports can give the "
                        "baseline's mean and SD (default 3)")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="after the search, re-train every Pareto genome and the baseline with K fresh training "
                        "seeds (as search.confirm does; default 0: no confirmation)")
    p.add_argument("--time-limit", default=None, metavar="DURATION",
                   help="stop training after this long (e.g. 900, 900s, 20m, 1.5h): trials still running then are "
                        "cut short and retrained when the same command runs again; the report covers what finished")
    p.add_argument("--keep-weights", choices=KEEP_WEIGHTS, default="front",
                   help="trained weights kept in <study>/weights/: front (default: the Pareto front's and the "
                        "baseline's), all, or none; python -m search.export turns them into a usable model")
    halving = p.add_argument_group("successive halving (each trial trains the fidelity's run cut into units)",
                                    "a study continued without these options keeps the ones it was run with")
    halving.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                         help="moasha (default): multi-objective asynchronous successive halving stops trials at "
                              "rungs, one run per study; fifo: every trial trains to the top rung, and several runs "
                              "may share the study")
    halving.add_argument("--grace", type=int, default=None,
                         help=f"units to the first rung (default {HALVING_DEFAULTS['grace']})")
    halving.add_argument("--eta", type=int, default=None,
                         help="rungs at grace * eta^k units; 1 in eta of a rung's trials go on (default "
                              f"{HALVING_DEFAULTS['eta']})")
    halving.add_argument("--rung-floor", choices=("none", "chance"), default=None,
                         help="none (default): rank a rung on the objectives alone; chance: trials not above chance "
                              "accuracy there (what guessing exceeds with 5%% probability on the validation images) "
                              "rank after every trial above it (measured against none: README)")
    halving.add_argument("--max-units", type=int, default=None,
                         help=f"units the fidelity's whole run is cut into, the top rung (default {DEFAULT_MAX_UNITS}, "
                              "or the run's optimizer steps if fewer)")
    p.add_argument("--objectives", default="accuracy,macs",
                   help="accuracy,macs (default) | accuracy,latency | accuracy,macs,latency: latency is the CPU "
                        "inference latency at batch 1, one thread, predicted from a lookup table measured on this "
                        "machine before trials start")
    p.add_argument("--latency-genomes", type=int, default=30,
                   help="random genomes of the space whose pieces the latency table measures before trials start, "
                        "besides the baselines (default 30); pieces no measured genome has are fitted")
    add_latency_clock_argument(p)
    p.add_argument("--heartbeat-grace", type=int, default=DEFAULT_GRACE, metavar="SECONDS",
                   help="runs sharing a study (same --study-name and --storage) beat each trial's heartbeat in the "
                        "storage; a trial whose heartbeat is older than this belongs to a dead run and is settled "
                        f"by the others (default {DEFAULT_GRACE})")
    add_results_dir_argument(p)
    add_cluster_arguments(p)
    add_fidelity_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        space = load_space(args.space) if args.space else default_space()
        fidelity = fidelity_from_args(args)
        blocks = _baseline_blocks(args.baseline_blocks)
        objectives = parse_objectives(args.objectives)
        if args.latency_genomes < 0:
            raise ValueError(f"--latency-genomes: must be >= 0, got {args.latency_genomes}")
        if args.heartbeat_grace < 2:
            raise ValueError(f"--heartbeat-grace: must be >= 2 seconds, got {args.heartbeat_grace}")
        if args.budget < 1:
            raise ValueError(f"--budget: must be >= 1, got {args.budget}")
        if args.baseline_seeds < 1:
            raise ValueError(f"--baseline-seeds: must be >= 1, got {args.baseline_seeds}")
        if args.confirm < 0 or args.confirm == 1:
            raise ValueError(f"--confirm: must be 0 (none) or >= 2 seeds, got {args.confirm}")
        time_limit = parse_duration(args.time_limit) if args.time_limit is not None else None
        check_results_dir(Path(args.results_dir) / args.study_name)
        check_cluster(args)
    except ValueError as error:
        refuse(p, error, args)
    if args.show_space:
        print(space.describe(with_training=args.search_training))
        return 0
    data = load_data_or_exit(p, args.data)
    try:
        halving, halving_given = _halving(args, fidelity, data)
    except ValueError as error:
        refuse(p, error, args)
    if args.show_fidelity:  # after the data and the rungs, so that what the run would refuse is refused here too
        print(fidelity.describe())
        return 0

    from . import SearchConfig, run_search  # Ray loads only for a real run

    config = SearchConfig(
        study_name=args.study_name, study_dir=Path(args.results_dir) / args.study_name, storage=args.storage,
        resume=args.resume, budget=args.budget, data=args.data, num_classes=data.num_classes, fidelity=fidelity,
        space=space, search_training=args.search_training, sampler=args.sampler, seed=args.seed,
        train_seed=args.train_seed, baseline_blocks=blocks, baseline_seeds=args.baseline_seeds,
        confirm_seeds=args.confirm, keep_weights=args.keep_weights, address=args.address,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        cache_dir=str(default_cache_dir().resolve()), halving=halving, halving_given=halving_given,
        objectives=objectives, latency_genomes=args.latency_genomes, latency_clock=args.latency_clock,
        heartbeat_grace=args.heartbeat_grace, time_limit=time_limit,
    )
    started = time.monotonic()
    try:
        outcome = run_search(config)
    except ValueError as error:  # StudyError among them: resuming a missing study, other data or fidelity
        refuse(p, error, args)
    print(outcome.pareto_table)
    print(f"\n{outcome.completed} completed, {outcome.stopped} stopped at a rung, {outcome.failed} failed trials in "
          f"study '{args.study_name}' ({time.monotonic() - started:.0f}s this run)")
    print(outcome.rung_correlation)
    if outcome.time_limited:
        print(f"time limit of {time_limit:.0f}s reached: trials cut short are retrained when the same command runs "
              "again", file=sys.stderr)
    return finish(outcome.paths, outcome.interrupted, "continue the study")


def _halving(args: argparse.Namespace, fidelity: Fidelity, data: ImageData) -> tuple[Halving, frozenset[str]]:
    """The rungs, with units no finer than one optimizer step of the fidelity's run on this data, and with
    ``--rung-floor chance`` the floor of chance on this data's validation images; and the Halving fields the
    command line set (a continued study keeps its recorded values for the others)."""
    given = {name for name in (*HALVING_DEFAULTS, "max_units") if getattr(args, name) is not None}
    options = {name: getattr(args, name) if name in given else default for name, default in HALVING_DEFAULTS.items()}
    steps = fidelity.total_steps(len(data.train_labels))
    max_units = args.max_units if args.max_units is not None else min(DEFAULT_MAX_UNITS, steps)
    check_units_fit(max_units, fidelity, len(data.train_labels), "--max-units")
    floor = chance_floor(len(data.classes), len(data.val_labels)) if options["rung_floor"] == "chance" else None
    halving = Halving(options["scheduler"], options["grace"], options["eta"], max_units, floor)
    return halving, frozenset(("accuracy_floor" if name == "rung_floor" else name) for name in given)


DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in ``900``, ``900s``, ``20m`` or ``1.5h``; a one-line ValueError naming --time-limit otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", text)
    seconds = float(match[1]) * DURATION_UNITS[match[2]] if match else 0.0
    if seconds <= 0:
        raise ValueError(f"--time-limit: must be a positive duration like 900, 900s, 20m or 1.5h, got {text!r}")
    return seconds


def _baseline_blocks(text: str) -> list[str]:
    blocks = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in blocks if b not in BLOCK_TYPES]
    if bad or not blocks:
        raise ValueError(f"--baseline-blocks: must be a comma-separated list from {', '.join(BLOCK_TYPES)}, "
                         f"got {text!r}")
    return list(dict.fromkeys(blocks))


if __name__ == "__main__":
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    sys.exit(main())
