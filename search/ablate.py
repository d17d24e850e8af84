"""``python -m search.ablate --factor kernel``: sweep one factor around the baseline, K seeds per arm.

The papers compare the three block types once each (Table 3) and list the other variations as future work
without running them. An ablation trains the baseline and its one-factor variants (``search.ablation``)
as Ray Tune trials with the search's trainer and fidelity presets, several seeds each, and reports every
arm's change against the baseline arm with a 95 % confidence interval, so a difference can be told from
seed noise.

Each finished (arm, seed) run is saved at once as ``<results-dir>/<name>/runs/<arm>-seed<k>.json``; running
the same command again trains only the runs without a file (failed runs included: delete a file to retry
it), and ``--seeds`` or ``--levels`` can grow an ablation. From those files it writes ``ablation.csv``,
``ablation.md`` and ``ablation.html`` in the same folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evaluators.arguments import refuse
from evaluators.data import default_cache_dir
from evaluators.presets import add_fidelity_arguments, fidelity_from_args

from ._cli import (add_cluster_arguments, add_latency_clock_argument, add_results_dir_argument, check_cluster,
                   check_results_dir, finish, folder_name, load_data_or_exit, resources_from_args)
from .ablation import FACTORS, AblationConfig, Arm, Factor, get_factor, make_arms, parse_levels, run_ablation
from .results import markdown_table


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.ablate", description=__doc__.splitlines()[0])
    p.add_argument("--factor", help=f"the factor to sweep: {', '.join(FACTORS)}")
    p.add_argument("--levels", help="comma-separated levels (default: the factor's, see --show-levels); write "
                                    "negative ones as --levels=-1,0,2; the baseline level is always included")
    p.add_argument("--show-levels", action="store_true",
                   help="print the arms with genome ids and analytic MACs and exit (at 100 classes, or at the "
                        "classes of --data when given)")
    p.add_argument("--seeds", type=int, default=5,
                   help="runs per arm, seeds 0..K-1, shared by every arm so changes are paired (default 5; "
                        "below 3 a warning)")
    p.add_argument("--data", default=None, help="synthetic[:k=v,...] (default synthetic), imagefolder:PATH, "
                                                "cifar100[:PATH]")
    p.add_argument("--name", type=folder_name, default=None,
                   help="names the results folder (default ablation-<factor>)")
    p.add_argument("--latency", choices=("yes", "no"), default="yes",
                   help="measure each arm's CPU inference latency (batch 1, one thread) before training (default yes)")
    add_latency_clock_argument(p)
    add_results_dir_argument(p)
    add_cluster_arguments(p)
    add_fidelity_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        factor = get_factor(args.factor)
        levels = parse_levels(factor, args.levels)
        arms = make_arms(factor, levels)  # every level checked against the genome's rules before anything runs
        fidelity = fidelity_from_args(args)
        if args.seeds < 1:
            raise ValueError(f"--seeds: must be >= 1, got {args.seeds}")
        name = args.name or f"ablation-{factor.name}"
        check_results_dir(Path(args.results_dir) / name)
        check_cluster(args)
    except ValueError as error:
        refuse(p, error, args)
    if args.show_levels and not args.data:
        print(show_levels(factor, arms, "100 classes as in Table 1 (pass --data for the arms a run on it trains)"))
        return 0
    data = load_data_or_exit(p, args.data or "synthetic")
    if args.show_fidelity:  # after the data, so that what the run would refuse is refused here too
        print(fidelity.describe())
        return 0
    arms = make_arms(factor, levels, num_classes=data.num_classes)
    if args.show_levels:
        print(show_levels(factor, arms, f"{data.num_classes} classes, as a run on {args.data} trains them"))
        return 0
    config = AblationConfig(
        name=name, out_dir=Path(args.results_dir).resolve() / name, factor=factor, arms=arms, seeds=args.seeds,
        data=args.data or "synthetic", num_classes=data.num_classes, fidelity=fidelity,
        resources=resources_from_args(args),
        cache_dir=str(default_cache_dir().resolve()), latency=args.latency == "yes", latency_clock=args.latency_clock,
    )
    try:
        outcome = run_ablation(config)
    except ValueError as error:
        refuse(p, error, args)
    print(outcome.markdown)
    return finish(outcome.paths, outcome.interrupted, "train the missing runs")


def show_levels(factor: Factor, arms: list[Arm], classes_note: str) -> str:
    """The arms an ablation would train, with the ids and MACs its results will carry."""
    rows = [[f"**{arm.name}** (baseline)" if arm.is_baseline else arm.name, arm.label, f"`{arm.genome.id}`",
             f"{arm.macs:,}", f"{arm.params:,}"] for arm in arms]
    return "\n".join([f"factor {factor.name}: {factor.description}",
                      f"base network: the {factor.base_block} Table 1 baseline at {classes_note}", "",
                      markdown_table(["arm", factor.name, "genome_id", "MACs", "params"], rows)])


if __name__ == "__main__":
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    sys.exit(main())
